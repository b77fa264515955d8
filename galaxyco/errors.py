"""The one error hierarchy and the one place that maps an exception to what a person or a
client sees: (status, code, message). Messages are shown to people as they are: write them so
a person can act on them. The API handler, the page middleware and the 4xx/5xx views all call
`error_payload`.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions


class ErrorCode(StrEnum):
    """Every code the app answers or records (`error.code` in the API, a run's or step's
    `error.code`, an integration's `last_error.code`). A StrEnum: JSON and stored rows hold the
    same strings as before, and comparing with a string still works."""

    # Requests
    BAD_REQUEST = "bad_request"
    MALFORMED_REQUEST = "malformed_request"
    REQUEST_TOO_LARGE = "request_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    NOT_ACCEPTABLE = "not_acceptable"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INVALID = "invalid"
    NOT_AUTHENTICATED = "not_authenticated"
    AUTHENTICATION_FAILED = "authentication_failed"
    INVALID_SIGNATURE = "invalid_signature"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    RATE_LIMITED = "rate_limited"
    # Our side
    ERROR = "error"
    SERVER_ERROR = "server_error"
    INTERNAL_ERROR = "internal_error"
    DATABASE_UNAVAILABLE = "database_unavailable"
    QUEUE_UNAVAILABLE = "queue_unavailable"
    # Workflows and runs
    INVALID_INPUT = "invalid_input"
    INVALID_PARAMS = "invalid_params"
    INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    WORKFLOW_EMPTY = "workflow_empty"
    WORKFLOW_INACTIVE = "workflow_inactive"
    WORKFLOW_ARCHIVED = "workflow_archived"
    UNKNOWN_ACTION = "unknown_action"
    WORKFLOW_DELETED = "workflow_deleted"
    RUN_NOT_RERUNNABLE = "run_not_rerunnable"
    ALREADY_RERUN = "already_rerun"
    RUN_FINISHED = "run_finished"
    RUN_IN_PROGRESS = "run_in_progress"
    # Webhooks
    NOT_A_WEBHOOK = "not_a_webhook"
    UNKNOWN_EVENT = "unknown_event"
    NO_EVENTS = "no_events"
    INVALID_URL = "invalid_url"
    PRIVATE_URL = "private_url"
    UNKNOWN_HOST = "unknown_host"
    INVALID_INTEGRATION = "invalid_integration"
    # Providers
    PROVIDER_ERROR = "provider_error"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    PROVIDER_TIMEOUT = "provider_timeout"
    PROVIDER_UNREACHABLE = "provider_unreachable"
    OUTCOME_UNKNOWN = "outcome_unknown"
    SIDEMAIL_UNAVAILABLE = "sidemail_unavailable"
    SIDEMAIL_KEY_REFUSED = "sidemail_key_refused"
    PROVIDER_REJECTED = "provider_rejected"
    INSUFFICIENT_PERMISSIONS = "insufficient_permissions"
    TOKEN_REFRESH_FAILED = "token_refresh_failed"
    INTEGRATION_NOT_CONNECTED = "integration_not_connected"
    REAUTH_REQUIRED = "reauth_required"
    NO_REFRESH_TOKEN = "no_refresh_token"
    HISTORY_EXPIRED = "history_expired"
    # Connecting a Google account
    CONNECTION_FAILED = "connection_failed"
    SCOPE_NOT_GRANTED = "scope_not_granted"
    STATE_INVALID = "state_invalid"
    CONSENT_DENIED = "consent_denied"
    WRONG_ACCOUNT = "wrong_account"


class AppError(Exception):
    code: ErrorCode = ErrorCode.ERROR
    status = 400
    message = "Something went wrong. Please try again."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: ErrorCode | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.status = status or self.status
        self.details = details or {}
        super().__init__(self.message)


class InvalidInput(AppError):
    code = ErrorCode.INVALID
    status = 400
    message = "Some of the information you sent is not valid."


class MalformedRequest(AppError):
    """The request itself could not be read: not JSON, or JSON we will not store."""

    code = ErrorCode.MALFORMED_REQUEST
    status = 400
    message = "The request could not be read. Send valid JSON."


class RequestTooLarge(AppError):
    code = ErrorCode.REQUEST_TOO_LARGE
    status = 413
    message = "The request body is too large. Send a smaller one."


class DatabaseUnavailable(AppError):
    """The database refused or dropped the connection (a restart, a failover)."""

    code = ErrorCode.DATABASE_UNAVAILABLE
    status = 503
    message = "Our database is not answering right now. Please try again in a minute."


class NotFound(AppError):
    code = ErrorCode.NOT_FOUND
    status = 404
    message = "We could not find that. It may have been removed, or you may not have access."


class Forbidden(AppError):
    code = ErrorCode.FORBIDDEN
    status = 403
    message = "You do not have permission to do that in this workspace."


class Conflict(AppError):
    code = ErrorCode.CONFLICT
    status = 409
    message = "That conflicts with the current state. Reload and try again."


# --- Talking to providers (Google, Sidemail). Actions raise these; the engine reads them.


class ProviderError(AppError):
    """A provider call failed. `retryable` tells the engine whether trying again can help."""

    code = ErrorCode.PROVIDER_ERROR
    status = 502
    message = "Google did not answer as expected. Please try again in a moment."
    retryable = False

    def __init__(
        self, message: str | None = None, *, retry_after: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class RetryableError(ProviderError):
    """429, 5xx, timeouts: worth another attempt, honouring `retry_after` when given."""

    code = ErrorCode.PROVIDER_UNAVAILABLE
    status = 503
    message = "Google is busy or unavailable right now. We will keep trying."
    retryable = True


class SendOutcomeUnknown(ProviderError):
    """The request went out and no answer came back: the provider may or may not have done it."""

    code = ErrorCode.OUTCOME_UNKNOWN
    status = 502
    message = "Google did not answer after the request was sent, so it may or may not have been done."


class PermanentError(ProviderError):
    """The provider refused the request itself; trying again will not help."""

    code = ErrorCode.PROVIDER_REJECTED
    status = 422
    message = "Google rejected the request."


class IntegrationNotConnected(PermanentError):
    code = ErrorCode.INTEGRATION_NOT_CONNECTED
    status = 409
    message = "No connected Google account was found for this step. Connect one on the Integrations page."


class ReauthRequired(PermanentError):
    code = ErrorCode.REAUTH_REQUIRED
    status = 409
    message = "Your Google connection has expired or was revoked. Reconnect it on the Integrations page."


class StepGaveUp(PermanentError):
    """A step stopped retrying: its attempts ran out, or the provider asked us to wait longer
    than a run stays open. Permanent, not a 503: the run has failed, and trying again is the
    person's choice. It keeps the code of the failure it gave up on (`rate_limited`, ...)."""

    message = "We gave up on this step; run the workflow again later."


# --- Connecting a Google account.


class ConnectionFailed(AppError):
    """The Google connect flow did not complete; nothing was saved."""

    code = ErrorCode.CONNECTION_FAILED
    status = 400
    message = "Google did not complete the connection, so nothing was saved. Please try connecting again."


class ScopeNotGranted(ConnectionFailed):
    code = ErrorCode.SCOPE_NOT_GRANTED
    message = (
        "You did not give GalaxyCo the permission it needs, so nothing was connected. "
        "Connect again and leave the permission ticked on Google's consent screen."
    )


# --- Mapping any exception to what the API or a page shows.


def message_for_page(error: AppError) -> str:
    """What a page that caught `error` shows next to its form or as a flash message. An error
    that means "not found" is raised again instead: the page middleware answers it with the 404
    page, as for any id that names nothing."""
    if error.status == 404:
        raise error
    return error.message


class RefusedInput(BadRequest):
    """A request refused before any view runs; its message is shown as it is."""


_DRF_ERRORS: dict[type[exceptions.APIException], tuple[ErrorCode, str]] = {
    exceptions.NotAuthenticated: (
        ErrorCode.NOT_AUTHENTICATED,
        "Authentication is required: send an API key as 'Authorization: Bearer <key>' or log in.",
    ),
    exceptions.AuthenticationFailed: (
        ErrorCode.AUTHENTICATION_FAILED,
        "The credentials you sent are not valid.",
    ),
    exceptions.PermissionDenied: (ErrorCode.FORBIDDEN, "You do not have permission to do that."),
    exceptions.NotFound: (ErrorCode.NOT_FOUND, NotFound.message),
    exceptions.MethodNotAllowed: (ErrorCode.METHOD_NOT_ALLOWED, "That method is not allowed here."),
    exceptions.ParseError: (
        ErrorCode.MALFORMED_REQUEST,
        "The request body could not be read. Send valid JSON.",
    ),
    exceptions.UnsupportedMediaType: (ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Send the request body as JSON."),
    exceptions.Throttled: (ErrorCode.RATE_LIMITED, "Too many requests. Please slow down and try again."),
    exceptions.NotAcceptable: (ErrorCode.NOT_ACCEPTABLE, "That response format is not available."),
}

SERVER_ERROR_MESSAGE = "Something went wrong on our side. It has been logged; please try again."


@dataclass(frozen=True)
class ErrorPayload:
    """What one error shows: the HTTP status, the API's body and headers, the page's message."""

    status: int
    code: ErrorCode
    message: str
    request_id: str | None
    details: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def body(self) -> dict[str, Any]:
        """The API's one error shape: {"success": false, "error": {"code", "message", "request_id", ...}}."""
        error: dict[str, Any] = {
            "code": str(self.code),
            "message": self.message,
            "request_id": self.request_id,
        }
        error.update(self.details)
        return {"success": False, "error": error}


def request_too_large(*, limit: int | None = None) -> RequestTooLarge:
    """`limit`: the endpoint's, in bytes (galaxyco.body_limits); by default Django's backstop."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE if limit is None else limit
    size = f"{limit / (1024 * 1024):g} MB" if limit >= 1024 * 1024 else f"{limit / 1024:g} KB"
    return RequestTooLarge(f"The request body is too large. Send at most {size}.")


def _as_known(exc: Exception) -> Exception:
    """Django's and the database's exceptions as the AppError or DRF exception they mean."""
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, RequestDataTooBig):
        return request_too_large()
    if isinstance(exc, RefusedInput):
        return MalformedRequest(str(exc))
    if isinstance(exc, BadRequest):
        return AppError("The request could not be understood.", code=ErrorCode.BAD_REQUEST)
    if isinstance(exc, OperationalError | InterfaceError):
        return DatabaseUnavailable()
    return exc


def is_known(exc: Exception) -> bool:
    """Whether `error_payload` maps `exc` to its own answer (else it is a 500)."""
    return isinstance(_as_known(exc), AppError | exceptions.APIException)


def error_payload(exc: Exception, *, request_id: str | None) -> ErrorPayload:
    """The one mapping from an exception to (status, code, message); anything unknown is a 500."""
    known = _as_known(exc)
    if isinstance(known, AppError):
        return ErrorPayload(known.status, known.code, known.message, request_id, dict(known.details))
    if isinstance(known, exceptions.ValidationError):
        fields = known.detail if isinstance(known.detail, dict) else {"non_field_errors": known.detail}
        return ErrorPayload(
            400,
            ErrorCode.INVALID,
            "Some of the information you sent is not valid. See 'fields' for details.",
            request_id,
            {"fields": fields},
        )
    if isinstance(known, exceptions.APIException):
        code, message = _DRF_ERRORS.get(type(known), (ErrorCode.ERROR, "The request could not be completed."))
        headers: dict[str, str] = {}
        if getattr(known, "auth_header", None):
            headers["WWW-Authenticate"] = known.auth_header  # type: ignore[attr-defined]
        if getattr(known, "wait", None):
            headers["Retry-After"] = str(int(known.wait))  # type: ignore[attr-defined]
        return ErrorPayload(known.status_code, code, message, request_id, headers=headers)
    return ErrorPayload(500, ErrorCode.SERVER_ERROR, SERVER_ERROR_MESSAGE, request_id)
