"""Real grants from the emulator, without the browser dance (that has its own tests)."""

from datetime import timedelta

from django.utils import timezone

from devtools.google_emulator import EmulatorClient
from integrations.google.scopes import scopes_for
from integrations.models import Integration
from integrations.services import (
    GoogleGrant,
    connect_google_integration,
    first_shared_account_would_be_default,
)
from workspaces.models import Membership


def connect(
    emulator,
    *,
    workspace,
    user,
    email: str = "sender@gmail.test",
    integration_type: str = "gmail",
    share: bool | None = None,
    extra_scopes: tuple[str, ...] = (),
) -> Integration:
    """An integration with a live grant at the emulator (anything with a `.url`), saved through
    the real service. `share` None: as the connect form's box is ticked for this person (shared
    and the default when it is the type's first shared account and they are an owner or admin)."""
    if share is None:
        membership = Membership.objects.unscoped().filter(workspace=workspace, user=user).first()
        share = membership is not None and first_shared_account_would_be_default(
            workspace=workspace, integration_type=integration_type, role=membership.role
        )
    data = EmulatorClient(emulator.url).issue_grant(
        email=email, scopes=[*scopes_for(integration_type), *extra_scopes]
    )
    return connect_google_integration(
        workspace=workspace,
        user=user,
        integration_type=integration_type,
        grant=GoogleGrant(
            account_id=data["account_id"],
            email=email,
            display_name=email.split("@")[0].title(),
            access_token=data["access_token"],
            refresh_token=data["refresh_token"],
            expires_at=timezone.now() + timedelta(seconds=data["expires_in"]),
            granted_scopes=data["scope"].split(),
        ),
        share=share,
    )
