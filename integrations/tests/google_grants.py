"""Real grants from the emulator, without the browser dance (that has its own tests)."""

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import requests
from django.utils import timezone

from devtools.google_emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from integrations.google.scopes import scopes_for
from integrations.models import Integration
from integrations.services import GoogleGrant, connect_google_integration

REDIRECT_URI = "http://127.0.0.1/callback"


def issue_grant(emulator, *, email: str, scopes: list[str]) -> dict:
    emulator.state.set_consent(email=email, name=email.split("@")[0].title())
    authorize = requests.get(
        f"{emulator.url}/o/oauth2/v2/auth",
        params={
            "client_id": DEFAULT_CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "response_type": "code",
            "scope": " ".join(scopes),
            "state": "test",
            "access_type": "offline",
        },
        allow_redirects=False,
        timeout=10,
    )
    code = parse_qs(urlparse(authorize.headers["Location"]).query)["code"][0]
    token = requests.post(
        f"{emulator.url}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
        },
        timeout=10,
    )
    token.raise_for_status()
    return token.json()


def connect(
    emulator, *, workspace, user, email: str = "sender@gmail.test", integration_type: str = "gmail"
) -> Integration:
    """An integration with a live grant at the emulator, saved through the real service."""
    scopes = scopes_for(integration_type)
    data = issue_grant(emulator, email=email, scopes=scopes)
    account = next(a for a in emulator.state.accounts() if a["email"] == email)
    return connect_google_integration(
        workspace=workspace,
        user=user,
        integration_type=integration_type,
        grant=GoogleGrant(
            account_id=str(account["sub"]),
            email=email,
            display_name=email.split("@")[0].title(),
            access_token=data["access_token"],
            refresh_token=data["refresh_token"],
            expires_at=timezone.now() + timedelta(seconds=data["expires_in"]),
            granted_scopes=data["scope"].split(),
        ),
    )
