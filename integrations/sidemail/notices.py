"""Emails the platform sends a member about their own connections (through its Sidemail path)."""

import logging

from django.conf import settings
from django.urls import reverse

from integrations.models import Integration
from integrations.sidemail.services import send_template

logger = logging.getLogger(__name__)

REAUTH_TEMPLATE = "integration-reauth-required"


def send_reauth_notice(*, integration_id: int) -> int | None:
    """Tell the member who connected the account that it needs reconnecting, with an absolute link
    to the workspace's Integrations page. Called once per incident (when the account's status moves
    to reauth_required); never raises. Returns the OutboundEmail id, None when nothing was sent."""
    try:
        # A task given an integration id: it loads that row and works from its workspace.
        integration = (
            Integration.objects.unscoped()
            .filter(pk=integration_id)
            .select_related("connected_by", "workspace")
            .first()
        )
        owner = integration.connected_by if integration is not None else None
        if integration is None or owner is None or not owner.email:
            return None
        path = reverse("integrations_page", kwargs={"slug": integration.workspace.slug})
        return send_template(
            to=owner.email,
            template_name=REAUTH_TEMPLATE,
            props={
                "mailbox": integration.email,
                "integration_type": integration.get_type_display(),
                "workspace_name": integration.workspace.name,
                "reason": integration.last_error_message,
                "integrations_url": settings.SITE_URL.rstrip("/") + path,
            },
        )
    except Exception:
        logger.exception(
            "Could not send the reconnect notice",
            extra={"event": "reauth_notice_failed", "integration_id": integration_id},
        )
        return None
