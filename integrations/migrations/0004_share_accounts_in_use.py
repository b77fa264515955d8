"""Existing accounts get owners' sharing settings that keep every run that worked still working.

Before sharing existed, a step naming an account sent from it whoever ran the workflow (API keys
included), a step naming none sent from the requester's own account (the newest when they had
two) or, for an API key, the workflow creator's. So, for each workspace and type, counting only
connected accounts whose owner is still a member:
- exactly one account: it becomes shared and the workspace's default (steps naming none keep
  sending from it, now for teammates and API keys too);
- more than one: no default is guessed. A step naming none is pinned to the account its
  workflow's creator (and so an API key) sent from, which becomes shared;
- every account a step names becomes shared: any member's run of that workflow already sent from it.
Every other account stays private: only its owner's runs send from it, as before.
"""

from collections import defaultdict

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

# The integration type each action needs, as the actions declared it when this was written.
ACTION_INTEGRATION_TYPE = {"gmail.send_email": "gmail", "calendar.create_event": "calendar"}
STATUS_ORDER = {"active": 0, "reauth_required": 1, "error": 2}


def share_accounts_in_use(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    Integration = apps.get_model("integrations", "Integration")
    Membership = apps.get_model("workspaces", "Membership")
    WorkflowStep = apps.get_model("workflows", "WorkflowStep")

    members = set(Membership.objects.values_list("workspace_id", "user_id"))
    accounts = defaultdict(list)
    for integration in Integration.objects.exclude(status="disconnected").order_by("-connected_at", "-id"):
        if (integration.workspace_id, integration.connected_by_id) in members:
            accounts[(integration.workspace_id, integration.type)].append(integration)

    for found in accounts.values():
        if len(found) == 1:
            Integration.objects.filter(pk=found[0].pk).update(shared=True, is_default=True)

    shared_ids: set[int] = set()
    for step in WorkflowStep.objects.select_related("workflow").order_by("pk"):
        kind = ACTION_INTEGRATION_TYPE.get(step.action)
        if kind is None:
            continue
        if step.integration_id is not None:
            shared_ids.add(step.integration_id)
            continue
        candidates = accounts.get((step.workspace_id, kind), [])
        if len(candidates) < 2:
            continue  # none, or the one that is now the default
        creators = [i for i in candidates if i.connected_by_id == step.workflow.created_by_id]
        if creators:
            pinned = min(creators, key=lambda i: STATUS_ORDER.get(i.status, 3))
            WorkflowStep.objects.filter(pk=step.pk).update(integration_id=pinned.pk)
            shared_ids.add(pinned.pk)
    Integration.objects.filter(pk__in=shared_ids).exclude(status="disconnected").update(shared=True)


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0003_integration_owner_sharing_default"),
        ("workflows", "0004_workflow_archived_at"),
        ("workspaces", "0003_viewer_role_and_api_key_role"),
    ]

    operations = [migrations.RunPython(share_accounts_in_use, migrations.RunPython.noop)]
