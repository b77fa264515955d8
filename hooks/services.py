"""Writes: triggers of a workflow and the workspace's notification endpoints."""

from django.contrib.auth.models import User

from galaxyco.errors import InvalidInput, NotFound
from hooks import selectors
from hooks.destinations import check_destination
from hooks.keys import new_signing_secret, new_token, token_hash
from hooks.models import NotificationEndpoint, NotificationEvent, Trigger, TriggerType
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
) -> Trigger:
    workflow = get_workflow(workspace=workspace, workflow_id=workflow_id)
    if workflow is None:
        raise NotFound()
    kind = TriggerType(trigger_type)
    trigger = Trigger(
        workspace=workspace, workflow=workflow, type=kind, enabled=enabled, created_by=created_by
    )
    if kind == TriggerType.WEBHOOK:
        _set_token(trigger)
        trigger.signing_secret = new_signing_secret() if signing else ""
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
    if enabled is not None:
        trigger.enabled = enabled
        trigger.save(update_fields=["enabled", "updated_at"])
    return trigger


def rotate_trigger_token(*, workspace: Workspace, workflow_id: int, trigger_id: int) -> Trigger:
    """A new URL for a webhook trigger; the old one stops answering at once."""
    trigger = _trigger(workspace=workspace, workflow_id=workflow_id, trigger_id=trigger_id)
    if trigger.type != TriggerType.WEBHOOK:
        raise InvalidInput("Only a webhook trigger has a URL to replace.", code="not_a_webhook")
    _set_token(trigger)
    trigger.save(update_fields=["token", "token_hash", "updated_at"])
    return trigger


def delete_trigger(*, workspace: Workspace, workflow_id: int, trigger_id: int) -> None:
    _trigger(workspace=workspace, workflow_id=workflow_id, trigger_id=trigger_id).delete()


# --- Notification endpoints


def _checked_events(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - set(NotificationEvent.values))
    if unknown:
        raise InvalidInput(f"Unknown event “{unknown[0]}”.", code="unknown_event")
    if not events:
        raise InvalidInput("Choose at least one event.", code="no_events")
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
