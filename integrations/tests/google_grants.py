"""Real grants from the emulator, without the browser dance (that has its own tests)."""

from datetime import timedelta

from django.utils import timezone

from devtools.google_emulator import EmulatorClient
from integrations.google.scopes import scopes_for
from integrations.models import Integration
from integrations.services import GoogleGrant, connect_google_integration


def connect(
    emulator, *, workspace, user, email: str = "sender@gmail.test", integration_type: str = "gmail"
) -> Integration:
    """An integration with a live grant at the emulator (anything with a `.url`), saved through
    the real service."""
    data = EmulatorClient(emulator.url).issue_grant(email=email, scopes=scopes_for(integration_type))
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
    )
