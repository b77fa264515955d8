"""Attachments of the email that started a run, read from Gmail when a step sends them on.

gmail.send_email's `{"from_trigger": true, "filename": "invoice.pdf"}` names an attachment of the
email a new Gmail email trigger started the run for (a re-run: the run it repeats). Which email,
and which mailbox holds it, come from the trigger's own record (its TriggerFiring and account),
never from the run's input, so an API caller cannot name another message of the mailbox. The
bytes are read with users.messages.attachments.get through the trigger's account, which has
read access (the trigger needed it).
"""

import base64
from typing import Any

from galaxyco.errors import ErrorCode, PermanentError
from hooks.models import Trigger, TriggerFiring, TriggerType
from integrations.google import clients
from integrations.models import Integration
from workflows.models import RunTrigger, WorkflowRun

# A re-run of a re-run of ...: how far back the run a trigger started is looked for.
MAX_RERUN_DEPTH = 100


def _refused(message: str) -> PermanentError:
    return PermanentError(message, code=ErrorCode.INVALID_PARAMS)


def _started_by(*, workspace_id: int, run_id: int) -> WorkflowRun | None:
    """The run a trigger started, following re-runs back to it; None when no email started it."""
    # A step loads its run by id and works inside the run's workspace.
    runs = WorkflowRun.objects.unscoped().filter(workspace_id=workspace_id)
    run = runs.filter(pk=run_id).first()
    for _ in range(MAX_RERUN_DEPTH):
        if run is None or run.retry_of_id is None:
            break
        run = runs.filter(pk=run.retry_of_id).first()
    return run if run is not None and run.trigger == RunTrigger.GMAIL else None


def attachments_of_triggering_email(
    *, workspace_id: int, run_id: int, filenames: list[str]
) -> dict[str, dict[str, str]]:
    """By file name: `{"filename", "content_type", "content_base64"}` of each named attachment of
    the email that started the run. Raises PermanentError saying what is missing."""
    quoted = ", ".join(f"“{name}”" for name in filenames)
    run = _started_by(workspace_id=workspace_id, run_id=run_id)
    if run is None:
        raise _refused(
            f"The attachment {quoted} is to come from the email that started the run, but this run "
            "was not started by a new Gmail email trigger. Attach the file's content instead."
        )
    trigger = (
        Trigger.objects.unscoped().filter(pk=run.source_trigger_id, workspace_id=workspace_id).first()
        if run.source_trigger_id is not None
        else None
    )
    firing = TriggerFiring.objects.filter(trigger=trigger, run=run).first() if trigger else None
    if trigger is None or trigger.type != TriggerType.GMAIL_NEW_EMAIL or firing is None:
        raise _refused(
            f"The trigger that started this run was deleted, so the attachment {quoted} of its email "
            "cannot be read."
        )
    integration = trigger.integration
    if integration is None or not clients.can_read_sent_mail(integration):
        raise _refused(
            f"Reading the attachment {quoted} of the email that started this run needs read access to "
            "the trigger's mailbox: allow GalaxyCo to read it on the workflow's Triggers section."
        )
    try:
        message = clients.gmail_get_message(integration=integration, message_id=firing.key)
        found = _named_parts(message)
        missing = [name for name in filenames if name not in found]
        if missing:
            has = ", ".join(f"“{name}”" for name in found) or "none"
            raise _refused(
                f"The email that started this run has no attachment named “{missing[0]}” "
                f"(its attachments: {has})."
            )
        return {
            name: {
                "filename": name,
                "content_type": found[name].get("mimeType") or "application/octet-stream",
                "content_base64": _standard_base64(_data(integration, firing.key, found[name])),
            }
            for name in filenames
        }
    except clients.HistoryExpired:
        raise _refused(
            f"The email that started this run is no longer in {integration.email}, so its attachment "
            f"{quoted} cannot be sent."
        ) from None


def _named_parts(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The message's attachments by file name (the first, where two share a name)."""
    named: dict[str, dict[str, Any]] = {}
    pending = [message.get("payload", {})]
    while pending:
        part = pending.pop(0)
        if part.get("filename"):
            named.setdefault(part["filename"], part)
        pending[:0] = part.get("parts", [])
    return named


def _data(integration: Integration, message_id: str, part: dict[str, Any]) -> str:
    body = part.get("body", {})
    if body.get("attachmentId"):
        return clients.gmail_attachment(
            integration=integration, message_id=message_id, attachment_id=body["attachmentId"]
        )
    return str(body.get("data") or "")  # Gmail's inline form: the data in the part itself


def _standard_base64(urlsafe: str) -> str:
    return base64.b64encode(base64.urlsafe_b64decode(urlsafe + "=" * (-len(urlsafe) % 4))).decode()
