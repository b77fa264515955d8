"""Request id and log context for every request."""

import re
import uuid
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from galaxyco import context
from galaxyco.errors import AppError, DatabaseUnavailable

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
    """Pages show an AppError's message on the error page for its status (the API maps its own)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, OperationalError | InterfaceError):
            exception = DatabaseUnavailable()
        if not isinstance(exception, AppError):
            return None
        template = "404.html" if exception.status == 404 else "error.html"
        return render(request, template, {"error_message": exception.message}, status=exception.status)
