"""Request id and log context for every request, the input guard, the error pages, and the
middleware every API request passes, trimmed of work an API key's request does not need."""

import re
import uuid
from collections.abc import Callable
from typing import Any, cast

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.contrib.auth import middleware as auth_middleware
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages import middleware as messages_middleware
from django.contrib.sessions import middleware as sessions_middleware
from django.core.signals import setting_changed
from django.db import InterfaceError, OperationalError
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from rest_framework.authentication import get_authorization_header
from rest_framework.request import Request

from galaxyco import context
from galaxyco.errors import AppError, RefusedInput, error_payload
from galaxyco.query import MAX_ID

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")  # not .headers: that builds a dict of all
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        context.clear()
        context.bind(request_id=request_id)
        try:
            response = self.get_response(request)
        finally:
            context.clear()
        response["X-Request-ID"] = request_id
        return response

    def process_view(self, request: HttpRequest, *args: object, **kwargs: object) -> None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            context.bind(user_id=user.pk)


class AppErrorPageMiddleware:
    """Pages show an AppError's message on the error page for its status (the API's views answer
    through galaxyco.api; both map with galaxyco.errors.error_payload)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, AppError | OperationalError | InterfaceError):
            return None
        payload = error_payload(exception, request_id=context.request_id())
        template = "404.html" if payload.status == 404 else "error.html"
        return render(request, template, {"error_message": payload.message}, status=payload.status)


class InputGuardMiddleware:
    """Refuses, for every page and API view at once, input no view could use: NUL in the path or
    query string (PostgreSQL cannot store or compare it: 400), and ids in the path beyond the
    databases' 64-bit range (SQLite overflows: 404, as for any id that names nothing)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or any(
            "\x00" in name or "\x00" in value for name, values in request.GET.lists() for value in values
        ):
            return self._refused(
                request, RefusedInput("The address may not contain the NUL character (%00).")
            )
        return self.get_response(request)

    @staticmethod
    def _refused(request: HttpRequest, error: Exception) -> HttpResponse:
        """The error handlers' answer, returned rather than raised: with DEBUG on, Django would
        answer a raised one with its HTML debug page, and the API must keep its JSON shape."""
        from galaxyco import views

        if isinstance(error, Http404):
            return views.page_not_found(request, error)
        return views.bad_request(request, error)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponse],
        view_args: tuple[object, ...],
        view_kwargs: dict[str, object],
    ) -> HttpResponse | None:
        named = [(None, value) for value in view_args] + list(view_kwargs.items())
        for name, value in named:
            lowest = 0 if name == "position" else 1  # a step's position counts from 0; ids from 1
            if isinstance(value, int) and not lowest <= value <= MAX_ID:
                return self._refused(request, Http404())
        return None


# --- The settings' Content-Security-Policy, built once.

# What a view sets (django-csp's decorators) to change its own response's policy.
_PER_RESPONSE_POLICY = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
)
_POLICY_HEADERS = (
    (HEADER, "CONTENT_SECURITY_POLICY", "_csp_exempt", False),
    (HEADER_REPORT_ONLY, "CONTENT_SECURITY_POLICY_REPORT_ONLY", "_csp_exempt_ro", True),
)
_settings_policies: dict[bool, str] = {}


@receiver(setting_changed)
def _forget_settings_policies(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _settings_policies.clear()


def settings_policy(*, report_only: bool) -> str:
    """The header django-csp builds from the settings alone (no view's changes, no nonce)."""
    policy = _settings_policies.get(report_only)
    if policy is None:
        policy = _settings_policies[report_only] = build_policy(report_only=report_only)
    return policy


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, except that a response with the settings' policy (every API
    response, most pages) gets the header built once per process instead of twice per response.
    A view's own policy (csp_update and the other decorators) or a nonce goes through django-csp."""

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if getattr(request, "_csp_nonce", None) is not None or any(
            getattr(response, name, None) is not None for name in _PER_RESPONSE_POLICY
        ):
            return super().process_response(request, response)
        if response.status_code in (500, 404) and settings.DEBUG:
            return response  # Django's debug pages, as django-csp leaves them
        for header, setting, exempt, report_only in _POLICY_HEADERS:
            policy = settings_policy(report_only=report_only)
            if not policy or header in response or getattr(response, exempt, False) is not False:
                continue
            excluded = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES", None) or ()
            if not request.path_info.startswith(tuple(excluded)):
                response[header] = policy
        # As django-csp: a nonce asked for after the header was written is an error, not a page
        # whose policy silently lacks it.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore[attr-defined]
        return response


# --- An API key's request skips the browser's state.


def is_api_key_request(request: HttpRequest) -> bool:
    """An API request whose Authorization names the Bearer scheme. The API's first authentication
    class (workspaces.authentication.ApiKeyAuthentication, first on every /api/ view) then
    authenticates it by the key or refuses it: the session is never consulted, so it is neither
    loaded nor saved, and no messages are kept. Parsed as DRF parses it."""
    known: bool | None = getattr(request, "_is_api_key_request", None)
    if known is None:
        known = False
        if request.path_info.startswith("/api/"):
            parts = get_authorization_header(cast(Request, request)).split()  # it reads only META
            known = bool(parts) and parts[0].lower() == b"bearer"
        request._is_api_key_request = known  # type: ignore[attr-defined]  # asked by three middleware
    return known


class _SkippedForApiKeys:
    # Sync only (an ASGI server adapts it): the skip calls the next handler directly.
    async_capable = False
    get_response: Callable[[HttpRequest], Any]

    def next_response(self, request: HttpRequest) -> HttpResponseBase:
        return cast(HttpResponseBase, self.get_response(request))


class SessionMiddleware(_SkippedForApiKeys, sessions_middleware.SessionMiddleware):
    """Django's, without a session for an API key's request (`is_api_key_request`). Its response
    still varies by Cookie, as every API response did when the session was read for its log line."""

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not is_api_key_request(request):
            return cast(HttpResponseBase, super().__call__(request))
        response = self.next_response(request)
        patch_vary_headers(response, ("Cookie",))
        return response


class AuthenticationMiddleware(_SkippedForApiKeys, auth_middleware.AuthenticationMiddleware):
    """Django's; an API key's request is anonymous to Django until DRF authenticates its key."""

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not is_api_key_request(request):
            return cast(HttpResponseBase, super().__call__(request))
        request.user = AnonymousUser()
        return self.next_response(request)


class MessageMiddleware(_SkippedForApiKeys, messages_middleware.MessageMiddleware):
    """Django's, without message storage for an API key's request (pages show messages)."""

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not is_api_key_request(request):
            return cast(HttpResponseBase, super().__call__(request))
        return self.next_response(request)
