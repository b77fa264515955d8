"""The builder's Triggers section and the settings page's Notifications section, each one tag, so
the pages that show them need only a line (their data comes from hooks.selectors)."""

from typing import Any

from django import template

from hooks import selectors
from hooks.models import TriggerType
from hooks.serializers import authorization_url, schedule_next_times, trigger_health, webhook_url
from hooks.views import EndpointForm
from integrations.models import IntegrationType
from integrations.selectors import usable_integrations
from workflows.models import Workflow
from workspaces.models import Membership, Workspace

register = template.Library()

RECENT_DELIVERIES = 20


@register.inclusion_tag("hooks/_triggers.html", takes_context=True)
def workflow_triggers(context: template.Context, workspace: Workspace, workflow: Workflow) -> dict[str, Any]:
    triggers = list(selectors.trigger_list(workspace=workspace, workflow_id=workflow.pk))
    user = context["request"].user
    return {
        "workspace": workspace,
        "workflow": workflow,
        "gmail_accounts": usable_integrations(workspace=workspace, user_id=user.pk).filter(
            type=IntegrationType.GMAIL
        ),
        "rows": [
            {
                "trigger": trigger,
                "url": webhook_url(trigger) if trigger.type == TriggerType.WEBHOOK else "",
                "next_times": schedule_next_times(trigger),
                "authorization_url": authorization_url(trigger),
                "health": trigger_health(trigger),
            }
            for trigger in triggers
        ],
    }


@register.inclusion_tag("hooks/_endpoints.html")
def notification_endpoints(workspace: Workspace, membership: Membership) -> dict[str, Any]:
    return {
        "workspace": workspace,
        "membership": membership,
        "endpoints": selectors.endpoint_list(workspace=workspace),
        "deliveries": selectors.recent_deliveries(workspace=workspace, limit=RECENT_DELIVERIES),
        "form": EndpointForm(),
    }
