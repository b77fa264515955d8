"""The API's exception handler: every error answers the one shape of galaxyco.errors.error_payload."""

import logging
from typing import Any

from django.db import InterfaceError, OperationalError
from rest_framework.response import Response
from rest_framework.views import set_rollback

from galaxyco import context
from galaxyco.errors import error_payload, is_known

logger = logging.getLogger(__name__)


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


def log_unavailable_database(exc: Exception) -> None:
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning(
            "The database is unavailable: %s", type(exc).__name__, extra={"event": "database_unavailable"}
        )


def exception_handler(exc: Exception, ctx: dict[str, Any]) -> Response:
    log_unavailable_database(exc)
    if not is_known(exc):
        view = ctx.get("view")
        logger.error(
            "Unhandled error in API view %s", type(view).__name__ if view else "unknown", exc_info=exc
        )
    set_rollback()
    payload = error_payload(exc, request_id=context.request_id())
    return Response(payload.body, status=payload.status, headers=payload.headers)
