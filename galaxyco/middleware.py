"""Request id and log context for every request."""

import re
import uuid
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from galaxyco import context
from galaxyco.errors import AppError, RefusedInput, error_payload
from galaxyco.query import MAX_ID

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
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
