"""A webhook trigger receiving a call: who may call, what the body must be, and the run it starts.

The run is made by the same service the execute API uses (workflows.services.start_run), with the
body checked by the execute API's serializer, and deduplicated by its idempotency keys: an
`Idempotency-Key` header, or else Standard Webhooks' `webhook-id`, scoped to the trigger.
"""

import logging
from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from galaxyco import context
from galaxyco.body_limits import WEBHOOK_BODY_LIMIT
from galaxyco.errors import AppError, Conflict, ErrorCode, MalformedRequest, NotFound
from galaxyco.parsers import UnsafeJSON, loads_strict
from hooks import selectors
from hooks.models import Trigger
from workflows.models import RunTrigger, WorkflowRun
from workflows.serializers import ExecuteSerializer
from workflows.services import start_run

logger = logging.getLogger(__name__)

# galaxyco.body_limits refuses a larger body before it is read; checked here too, for the service's sake.
MAX_BODY_BYTES = WEBHOOK_BODY_LIMIT


class SignatureRequired(AppError):
    code = ErrorCode.INVALID_SIGNATURE
    status = 401
    message = (
        "This webhook requires a valid Standard Webhooks signature: send the webhook-id, "
        "webhook-timestamp and webhook-signature headers, signed with the trigger's signing secret."
    )


class BodyTooLarge(AppError):
    code = ErrorCode.REQUEST_TOO_LARGE
    status = 413
    message = f"The request body is too large. Send at most {MAX_BODY_BYTES // 1024} KB."


UNKNOWN_HOOK = NotFound(
    "No webhook answers at this address. It may have been rotated, disabled or deleted.",
    code=ErrorCode.NOT_FOUND,
)


def receive_webhook(*, token: str, body: bytes, headers: Mapping[str, str]) -> WorkflowRun:
    """Start a run of the token's workflow with the body (a JSON object) as its input, or return
    the run an earlier call with the same idempotency key started."""
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge()
    trigger = selectors.webhook_trigger_for_token(token=token)
    if trigger is None:
        raise UNKNOWN_HOOK
    context.bind(workspace_id=trigger.workspace_id)
    try:
        if trigger.signing:
            _verify_signature(trigger=trigger, body=body, headers=headers)
        run_input = _input_from(body)
        if trigger.workflow.archived_at is not None:
            raise Conflict(
                "This workflow was deleted, so its webhook starts no runs. Remove the webhook's sender.",
                code=ErrorCode.WORKFLOW_ARCHIVED,
            )
        run, _ = start_run(
            workspace=trigger.workspace,
            workflow_id=trigger.workflow_id,
            run_input=run_input,
            trigger=RunTrigger.WEBHOOK,
            idempotency_key=_idempotency_key(trigger=trigger, headers=headers),
            source_trigger_id=trigger.pk,
        )
    except AppError as error:
        _record_refusal(trigger=trigger, error=error)
        raise
    Trigger.objects.unscoped().filter(pk=trigger.pk).update(
        last_fired_at=timezone.now(), last_error="", last_error_at=None
    )
    return run


def _verify_signature(*, trigger: Trigger, body: bytes, headers: Mapping[str, str]) -> None:
    try:
        Webhook(trigger.signing_secret).verify(body, dict(headers), json_parse=False)
    except (WebhookVerificationError, ValueError):
        # ValueError: headers or a body the library cannot even read (bad base64, not UTF-8).
        raise SignatureRequired() from None


def _input_from(body: bytes) -> dict[str, Any]:
    try:
        parsed = loads_strict(body.decode("utf-8"))
    except UnsafeJSON as error:
        raise MalformedRequest(f"The request body could not be used. {error}") from None
    except ValueError:
        raise MalformedRequest("The request body is not valid JSON. Send a JSON object.") from None
    serializer = ExecuteSerializer(data={"input": parsed})
    if not serializer.is_valid():
        raise MalformedRequest("The request body must be a JSON object: its fields become the run's input.")
    run_input: dict[str, Any] = serializer.validated_data["input"]
    return run_input


def _idempotency_key(*, trigger: Trigger, headers: Mapping[str, str]) -> str:
    """Scoped to the trigger: two senders' ids never meet. A key too long to store is refused
    by start_run, as in the execute API."""
    sent = (headers.get("Idempotency-Key") or headers.get("webhook-id") or "").strip()
    return f"hook-{trigger.pk}:{sent}" if sent else ""


def _record_refusal(*, trigger: Trigger, error: AppError) -> None:
    """The trigger's health shows why its last call was refused (a sender with a stale secret)."""
    Trigger.objects.unscoped().filter(pk=trigger.pk).update(
        last_error=error.message, last_error_at=timezone.now()
    )
    logger.info(
        "Webhook call refused: %s",
        error.code,
        extra={"event": "webhook_refused", "trigger_id": trigger.pk, "error_code": error.code},
    )
