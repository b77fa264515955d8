"""The API's one error shape: {"success": false, "error": {"code", "message", "request_id"}}."""

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from galaxyco import context
from galaxyco.errors import AppError, DatabaseUnavailable, RequestTooLarge

logger = logging.getLogger(__name__)

_DRF_CODES: dict[type[exceptions.APIException], tuple[str, str]] = {
    exceptions.NotAuthenticated: (
        "not_authenticated",
        "Authentication is required: send an API key as 'Authorization: Bearer <key>' or log in.",
    ),
    exceptions.AuthenticationFailed: ("authentication_failed", "The credentials you sent are not valid."),
    exceptions.PermissionDenied: ("forbidden", "You do not have permission to do that."),
    exceptions.NotFound: (
        "not_found",
        "We could not find that. It may have been removed, or you may not have access.",
    ),
    exceptions.MethodNotAllowed: ("method_not_allowed", "That method is not allowed here."),
    exceptions.ParseError: ("malformed_request", "The request body could not be read. Send valid JSON."),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", "Send the request body as JSON."),
    exceptions.Throttled: ("rate_limited", "Too many requests. Please slow down and try again."),
    exceptions.NotAcceptable: ("not_acceptable", "That response format is not available."),
}


def error_messages(detail: Any) -> list[str]:
    """Every message in a DRF error detail (lists, dicts keyed by field or index), flattened."""
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            inner = error_messages(value)
            if isinstance(key, int):
                inner = [f"Item {key + 1}: {message}" for message in inner]
            out.extend(inner)
        return out
    if isinstance(detail, list | tuple):
        return [message for item in detail for message in error_messages(item)]
    return [str(detail)]


def error_body(*, code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "request_id": context.request_id()}
    if details:
        error.update(details)
    return {"success": False, "error": error}


def request_too_large() -> RequestTooLarge:
    limit_mb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024)
    return RequestTooLarge(f"The request body is too large. Send at most {limit_mb:g} MB.")


def exception_handler(exc: Exception, ctx: dict[str, Any]) -> Response:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = request_too_large()
    elif isinstance(exc, OperationalError | InterfaceError):
        logger.warning(
            "The database is unavailable: %s", type(exc).__name__, extra={"event": "database_unavailable"}
        )
        exc = DatabaseUnavailable()

    if isinstance(exc, AppError):
        set_rollback()
        return Response(
            error_body(code=exc.code, message=exc.message, details=exc.details), status=exc.status
        )

    if isinstance(exc, exceptions.ValidationError):
        set_rollback()
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return Response(
            error_body(
                code="invalid",
                message="Some of the information you sent is not valid. See 'fields' for details.",
                details={"fields": fields},
            ),
            status=status.HTTP_400_BAD_REQUEST,
        )

    if isinstance(exc, exceptions.APIException):
        set_rollback()
        code, message = _DRF_CODES.get(type(exc), ("error", "The request could not be completed."))
        headers: dict[str, str] = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
        return Response(error_body(code=code, message=message), status=exc.status_code, headers=headers)

    view = ctx.get("view")
    logger.error("Unhandled error in API view %s", type(view).__name__ if view else "unknown", exc_info=exc)
    set_rollback()
    return Response(
        error_body(
            code="server_error",
            message="Something went wrong on our side. It has been logged; please try again.",
        ),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
