"""The headers that mark an email as sent by one of a workspace's runs.

Every email the gmail.send_email action sends carries `X-GalaxyCo-Step`, the step's id (its own
Message-ID, which Gmail's API replaces in the Message-ID header), and `X-GalaxyCo-Origin`, an HMAC
of that id keyed with SECRET_KEY and the workspace. A Gmail trigger recomputes it for the email's
own step id and skips mail carrying its own workspace's value, so a run's email that lands in a
mailbox the workspace watches (sent to itself, to another of its mailboxes, or forwarded back
unchanged) never starts another run: no loop. Mail from other workspaces' runs starts runs, as any
mail does.

Every email carries a different value (each step has its own id), so recipients cannot tell which
mailboxes belong to one workspace, and a value cannot be made without the key: one moved onto
another step id, or both headers copied into mail to another workspace, are not that workspace's.
Both headers copied unchanged into new mail to the workspace that sent them are accepted: the
copier only makes that workspace skip their own email, and that is also what an auto-forward of
the workspace's email back into one of its mailboxes looks like, which must be skipped.
"""

from datetime import UTC, datetime

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

ORIGIN_HEADER = "X-GalaxyCo-Origin"
STEP_HEADER = "X-GalaxyCo-Step"
_SALT = "galaxyco.gmail.origin.step"
# Before the value named the step it was one per workspace (an HMAC of its id under _LEGACY_SALT).
# Mail Gmail received before this date may carry it (a trigger paused for days reads such mail when
# it resumes), so it is still recognised there; mail we send no longer carries it, and mail received
# since that carries it is no run's. Once the date has passed the legacy branch can go.
LEGACY_ORIGIN_UNTIL = datetime(2027, 1, 1, tzinfo=UTC)
_LEGACY_SALT = "galaxyco.gmail.origin"


def _step_id(step: str) -> str:
    # A message id holds no white space: what a folded or padded header adds is not part of it.
    return "".join(step.split())


def origin_value(*, workspace_id: int, step: str, secret: str | None = None) -> str:
    """The header's value for the email of this step (its X-GalaxyCo-Step) that this workspace's
    run sends, under the current SECRET_KEY unless `secret` is given."""
    return salted_hmac(
        f"{_SALT}:{workspace_id}", _step_id(step), secret=secret, algorithm="sha256"
    ).hexdigest()[:32]


def is_own_origin(*, value: str, step: str, workspace_id: int, received_at: datetime | None) -> bool:
    """Whether a received email's origin value says this workspace's runs sent it: made for the
    email's own step header under the current SECRET_KEY or one of SECRET_KEY_FALLBACKS (a key
    rotation keeps recognising it), or the legacy value on mail received before
    LEGACY_ORIGIN_UNTIL (`received_at`: Gmail's internalDate)."""
    value = value.strip()
    if not value:
        return False
    secrets = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    expected = (
        [origin_value(workspace_id=workspace_id, step=step, secret=secret) for secret in secrets]
        if _step_id(step)
        else []
    )
    if received_at is not None and received_at < LEGACY_ORIGIN_UNTIL:
        expected += [
            salted_hmac(_LEGACY_SALT, str(workspace_id), secret=secret, algorithm="sha256").hexdigest()[:32]
            for secret in secrets
        ]
    return any(constant_time_compare(value, candidate) for candidate in expected)
