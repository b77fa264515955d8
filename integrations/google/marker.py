"""The header that marks an email as sent by one of a workspace's runs.

Every email the gmail.send_email action sends carries `X-GalaxyCo-Origin`, a keyed hash of its
workspace (`salted_hmac` over SECRET_KEY: it names no workspace to whoever receives it). A Gmail
trigger skips new mail carrying its own workspace's value, so a run's email that lands in a
mailbox the workspace watches (sent to itself, or to another of its mailboxes) never starts
another run: no loop. Mail from other workspaces' runs still starts runs, as any mail does.
"""

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

ORIGIN_HEADER = "X-GalaxyCo-Origin"
_SALT = "galaxyco.gmail.origin"


def origin_value(*, workspace_id: int, secret: str | None = None) -> str:
    """The header's value for mail this workspace's runs send (under the current SECRET_KEY)."""
    return salted_hmac(_SALT, str(workspace_id), secret=secret, algorithm="sha256").hexdigest()[:32]


def is_own_origin(value: str, *, workspace_id: int) -> bool:
    """Whether a received header value says the mail came from this workspace's runs (under the
    current SECRET_KEY or one of SECRET_KEY_FALLBACKS, so a key rotation keeps recognising it)."""
    value = value.strip()
    return bool(value) and any(
        constant_time_compare(value, origin_value(workspace_id=workspace_id, secret=secret))
        for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    )
