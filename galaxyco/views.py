import logging
from urllib.parse import urlsplit

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.conf import settings
from django.core.exceptions import BadRequest, PermissionDenied
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.views import SpectacularSwaggerSplitView

from galaxyco import context
from galaxyco.errors import NotFound, error_payload

logger = logging.getLogger(__name__)


def _swagger_ui_policy() -> dict[str, list[str]]:
    """Swagger UI's files are our own static files (drf-spectacular-sidecar), or its CDN's when
    SWAGGER_UI_DIST names one; its page has one inline <style>, which cannot run code. Its init
    script is a file: the split view."""
    dist = urlsplit(spectacular_settings.SWAGGER_UI_DIST)
    cdn = [f"{dist.scheme}://{dist.netloc}"] if dist.netloc else []
    return {"script-src": cdn, "style-src": [*cdn, UNSAFE_INLINE], "img-src": cdn}


api_docs = csp_update(_swagger_ui_policy())(SpectacularSwaggerSplitView.as_view(url_name="api_schema"))


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """The database answers, and the broker too when one is configured."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:
        logger.exception("Readiness check: the database is unreachable")
        checks["database"] = "unavailable"
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        from galaxyco.celery import app

        try:
            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
            checks["broker"] = "ok"
        except Exception:
            logger.exception("Readiness check: the broker is unreachable")
            checks["broker"] = "unavailable"
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


def _error_page(request: HttpRequest, template: str, exception: Exception) -> HttpResponse:
    payload = error_payload(exception, request_id=context.request_id())
    if request.path.startswith("/api/"):
        return JsonResponse(payload.body, status=payload.status, headers=payload.headers)
    if payload.status != 400 and template == "400.html":
        template = "error.html"
    return render(request, template, {"error_message": payload.message}, status=payload.status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error_page(request, "400.html", exception or BadRequest())


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error_page(request, "403.html", exception or PermissionDenied())


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error_page(request, "404.html", exception or Http404())


@csrf_exempt
def api_not_found(request: HttpRequest) -> HttpResponse:
    """Any /api/ path no endpoint matches, with any method: the API's 404, DEBUG on or off
    (with DEBUG on, Django would answer its HTML debug page instead of calling handler404)."""
    if not request.path.endswith("/"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not api_not_found:
            return _error_page(
                request, "404.html", NotFound(f"API paths end with a slash: try {request.path}/")
            )
    return _error_page(request, "404.html", Http404())


def server_error(request: HttpRequest) -> HttpResponse:
    return _error_page(request, "500.html", Exception())
