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
from hooks.selectors import gmail_trigger_firing, run_started_by_email
from integrations.google import clients
from integrations.models import Integration


def _refused(message: str) -> PermanentError:
    return PermanentError(message, code=ErrorCode.INVALID_PARAMS)


def attachments_of_triggering_email(
    *, workspace_id: int, run_id: int, filenames: list[str]
) -> dict[str, dict[str, str]]:
    """By file name: `{"filename", "content_type", "content_base64"}` of each named attachment of
    the email that started the run. Raises PermanentError saying what is missing."""
    quoted = ", ".join(f"“{name}”" for name in filenames)
    run = run_started_by_email(workspace_id=workspace_id, run_id=run_id)
    if run is None:
        raise _refused(
            f"The attachment {quoted} is to come from the email that started the run, but this run "
            "was not started by a new Gmail email trigger. Attach the file's content instead."
        )
    firing = gmail_trigger_firing(workspace_id=workspace_id, run=run)
    if firing is None:
        raise _refused(
            f"The trigger that started this run was deleted, so the attachment {quoted} of its email "
            "cannot be read."
        )
    integration = firing.trigger.integration
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
