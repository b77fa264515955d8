"""How large a request body each endpoint takes: the one place the limits are decided.

Most endpoints take REQUEST_BODY_LIMIT (2.5 MB), saving a workflow through the API among them:
a step's params are copied into every run's steps, so a file stored in a workflow is a small one
(a logo, a short PDF). The endpoints whose JSON carries a run's input, where large Gmail
attachments come as base64 (25 MB of them, once encoded, and the rest of the body), take
LARGE_REQUEST_BODY_LIMIT: the execute API and its preview. A webhook trigger keeps its 256 KB
contract. A request whose Content-Length is past its endpoint's limit answers 413 in the
error shape before its body is read; Django's own DATA_UPLOAD_MAX_MEMORY_SIZE, the largest of
these, stays the backstop wherever a body is read.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.views import APIView

from galaxyco import context
from galaxyco.errors import error_payload, request_too_large

WEBHOOK_BODY_LIMIT = 256 * 1024
# URL name -> its limit in bytes; a setting's name where it is configurable.
LIMITS: dict[str, int | str] = {
    "api_workflow_execute": "LARGE_REQUEST_BODY_LIMIT",
    "api_workflow_preview": "LARGE_REQUEST_BODY_LIMIT",
    "webhook_receive": WEBHOOK_BODY_LIMIT,
}


def body_limit(url_name: str | None) -> int:
    limit = LIMITS.get(url_name or "", "REQUEST_BODY_LIMIT")
    return limit if isinstance(limit, int) else int(getattr(settings, limit))


class BodyLimitMiddleware:
    """Answers 413 for a body past its endpoint's limit, before any view or middleware reads it
    (it comes before CsrfViewMiddleware, which reads a form's body)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponse],
        view_args: tuple[object, ...],
        view_kwargs: dict[str, object],
    ) -> HttpResponse | None:
        declared = request.META.get("CONTENT_LENGTH") or "0"
        # Under WSGI the body Django reads is cut at Content-Length: the declared size is the size.
        length = int(declared) if declared.isdigit() else 0
        match = request.resolver_match
        limit = body_limit(match.url_name if match else None)
        if length <= limit:
            return None
        error = request_too_large(limit=limit)
        view_class = getattr(view_func, "cls", None)
        if isinstance(view_class, type) and issubclass(view_class, APIView):  # the API, webhook triggers
            payload = error_payload(error, request_id=context.request_id())
            return JsonResponse(payload.body, status=payload.status, headers=payload.headers)
        from galaxyco import views

        return views.bad_request(request, error)
