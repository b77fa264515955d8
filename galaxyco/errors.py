"""The one error hierarchy. Its messages are shown to people as they are: write them so
a person can act on them. galaxyco.api maps these to API responses; pages show `message`.
"""

from typing import Any


class AppError(Exception):
    code = "error"
    status = 400
    message = "Something went wrong. Please try again."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.status = status or self.status
        self.details = details or {}
        super().__init__(self.message)


class InvalidInput(AppError):
    code = "invalid"
    status = 400
    message = "Some of the information you sent is not valid."


class MalformedRequest(AppError):
    """The request itself could not be read: not JSON, or JSON we will not store."""

    code = "malformed_request"
    status = 400
    message = "The request could not be read. Send valid JSON."


class RequestTooLarge(AppError):
    code = "request_too_large"
    status = 413
    message = "The request body is too large. Send a smaller one."


class DatabaseUnavailable(AppError):
    """The database refused or dropped the connection (a restart, a failover)."""

    code = "database_unavailable"
    status = 503
    message = "Our database is not answering right now. Please try again in a minute."


class NotFound(AppError):
    code = "not_found"
    status = 404
    message = "We could not find that. It may have been removed, or you may not have access."


class Forbidden(AppError):
    code = "forbidden"
    status = 403
    message = "You do not have permission to do that in this workspace."


class Conflict(AppError):
    code = "conflict"
    status = 409
    message = "That conflicts with the current state. Reload and try again."


# --- Talking to providers (Google, Sidemail). Actions raise these; the engine reads them.


class ProviderError(AppError):
    """A provider call failed. `retryable` tells the engine whether trying again can help."""

    code = "provider_error"
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

    code = "provider_unavailable"
    status = 503
    message = "Google is busy or unavailable right now. We will keep trying."
    retryable = True


class SendOutcomeUnknown(ProviderError):
    """The request went out and no answer came back: the provider may or may not have done it."""

    code = "outcome_unknown"
    status = 502
    message = "Google did not answer after the request was sent, so it may or may not have been done."


class PermanentError(ProviderError):
    """The provider refused the request itself; trying again will not help."""

    code = "provider_rejected"
    status = 422
    message = "Google rejected the request."


class IntegrationNotConnected(PermanentError):
    code = "integration_not_connected"
    status = 409
    message = "No connected Google account was found for this step. Connect one on the Integrations page."


class ReauthRequired(PermanentError):
    code = "reauth_required"
    status = 409
    message = "Your Google connection has expired or was revoked. Reconnect it on the Integrations page."


# --- Connecting a Google account.


class ConnectionFailed(AppError):
    """The Google connect flow did not complete; nothing was saved."""

    code = "connection_failed"
    status = 400
    message = "Google did not complete the connection, so nothing was saved. Please try connecting again."


class ScopeNotGranted(ConnectionFailed):
    code = "scope_not_granted"
    message = (
        "You did not give GalaxyCo the permission it needs, so nothing was connected. "
        "Connect again and leave the permission ticked on Google's consent screen."
    )
