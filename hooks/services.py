"""Writes: triggers of a workflow and the workspace's notification endpoints."""

from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from galaxyco.errors import ErrorCode, InvalidInput, NotFound
from hooks import selectors
from hooks.destinations import check_destination
from hooks.gmail_trigger import has_read_access
from hooks.keys import new_signing_secret, new_token, token_hash
from hooks.models import NotificationEndpoint, NotificationEvent, Trigger, TriggerPause, TriggerType
from hooks.schedules import schedule_due_at
from integrations.models import IntegrationType
from integrations.selectors import get_integration, may_use_integration
from workflows.selectors import get_workflow
from workspaces.models import Workspace

# --- Triggers


def create_trigger(
    *,
    workspace: Workspace,
    workflow_id: int,
    created_by: User | None,
    trigger_type: str,
    enabled: bool = True,
    signing: bool = False,
    config: dict[str, Any] | None = None,
) -> Trigger:
    """`config` is the type's settings, already checked by hooks.trigger_types."""
    workflow = get_workflow(workspace=workspace, workflow_id=workflow_id)
    if workflow is None:
        raise NotFound()
    kind = TriggerType(trigger_type)
    trigger = Trigger(
        workspace=workspace, workflow=workflow, type=kind, enabled=enabled, created_by=created_by
    )
    config = dict(config or {})
    if kind == TriggerType.WEBHOOK:
        _set_token(trigger)
        trigger.signing_secret = new_signing_secret() if signing else ""
    elif kind == TriggerType.SCHEDULE:
        trigger.config = config
        trigger.due_at = schedule_due_at(config=config, now=timezone.now())
    elif kind == TriggerType.GMAIL_NEW_EMAIL:
        integration = get_integration(workspace=workspace, integration_id=config.pop("integration"))
        if (
            integration is None
            or integration.type != IntegrationType.GMAIL
            or not may_use_integration(integration=integration, user_id=created_by.pk if created_by else None)
        ):
            raise InvalidInput(
                "Choose a Gmail account of this workspace that you may use.",
                code=ErrorCode.INVALID_INTEGRATION,
            )
        trigger.integration = integration
        trigger.config = config
        # Read access is asked for now, by the trigger's authorization_url; it polls once granted.
        trigger.paused = "" if has_read_access(integration) else TriggerPause.READ_ACCESS_MISSING
    trigger.save()
    return trigger


def _set_token(trigger: Trigger) -> None:
    trigger.token = new_token()
    trigger.token_hash = token_hash(trigger.token)


def _trigger(*, workspace: Workspace, workflow_id: int, trigger_id: int) -> Trigger:
    trigger = selectors.get_trigger(workspace=workspace, workflow_id=workflow_id, trigger_id=trigger_id)
    if trigger is None:
        raise NotFound()
    return trigger


def update_trigger(
    *, workspace: Workspace, workflow_id: int, trigger_id: int, enabled: bool | None
) -> Trigger:
    trigger = _trigger(workspace=workspace, workflow_id=workflow_id, trigger_id=trigger_id)
    if enabled is not None and enabled != trigger.enabled:
        trigger.enabled = enabled
        fields = ["enabled", "updated_at"]
        if enabled and trigger.type == TriggerType.SCHEDULE:
            # Back on: from the next time, with no catch-up for the time it was off.
            trigger.due_at = schedule_due_at(config=trigger.config, now=timezone.now())
            fields.append("due_at")
        trigger.save(update_fields=fields)
    return trigger


def rotate_trigger_token(*, workspace: Workspace, workflow_id: int, trigger_id: int) -> Trigger:
    """A new URL for a webhook trigger, and a new signing secret for a signing one: the old URL
    stops answering and the old secret stops verifying at once (a leaked URL often leaked with
    its secret, so both are replaced in one step)."""
    trigger = _trigger(workspace=workspace, workflow_id=workflow_id, trigger_id=trigger_id)
    if trigger.type != TriggerType.WEBHOOK:
        raise InvalidInput("Only a webhook trigger has a URL to replace.", code=ErrorCode.NOT_A_WEBHOOK)
    _set_token(trigger)
    if trigger.signing:
        trigger.signing_secret = new_signing_secret()
    trigger.save(update_fields=["token", "token_hash", "signing_secret", "updated_at"])
    return trigger


def delete_trigger(*, workspace: Workspace, workflow_id: int, trigger_id: int) -> None:
    _trigger(workspace=workspace, workflow_id=workflow_id, trigger_id=trigger_id).delete()


# --- Notification endpoints


def _checked_events(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - set(NotificationEvent.values))
    if unknown:
        raise InvalidInput(f"Unknown event “{unknown[0]}”.", code=ErrorCode.UNKNOWN_EVENT)
    if not events:
        raise InvalidInput("Choose at least one event.", code=ErrorCode.NO_EVENTS)
    return sorted(set(events))


def create_endpoint(
    *, workspace: Workspace, created_by: User | None, url: str, events: list[str], enabled: bool = True
) -> NotificationEndpoint:
    check_destination(url)
    return NotificationEndpoint.objects.create(
        workspace=workspace,
        url=url,
        events=_checked_events(events),
        secret=new_signing_secret(),
        enabled=enabled,
        created_by=created_by,
    )


def update_endpoint(
    *,
    workspace: Workspace,
    endpoint_id: int,
    url: str | None = None,
    events: list[str] | None = None,
    enabled: bool | None = None,
) -> NotificationEndpoint:
    endpoint = selectors.get_endpoint(workspace=workspace, endpoint_id=endpoint_id)
    if endpoint is None:
        raise NotFound()
    if url is not None:
        check_destination(url)  # resolves the host: outside any transaction
        endpoint.url = url
    if events is not None:
        endpoint.events = _checked_events(events)
    if enabled is not None:
        endpoint.enabled = enabled
    endpoint.save()
    return endpoint


def delete_endpoint(*, workspace: Workspace, endpoint_id: int) -> None:
    deleted, _ = selectors.endpoint_list(workspace=workspace).filter(pk=endpoint_id).delete()
    if not deleted:
        raise NotFound()
