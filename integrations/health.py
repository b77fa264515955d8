"""An account's health: the one writer of its use, refresh, reconnect-needed status, last error
and send pacing (connecting and disconnecting live in `integrations.services`).

A write that follows a call to the provider applies only while the account's credentials are
the ones that call used (the `updated_at` of its OAuthToken or SidemailAccount row: their
generation). A reconnect saves new credentials, so a late failure of the old ones cannot mark
the fresh connection "Reconnect needed"; a disconnect deletes them, so nothing revives a
disconnected account.
"""

import time
from datetime import datetime, timedelta
from typing import Any, Literal

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from galaxyco.errors import AppError
from integrations.models import Integration, IntegrationStatus
from integrations.status_cache import forget as forget_status

# last_used_at is written at most this often, so a busy account does not write per call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _while_credentials_are(*, integration_id: int, credentials_generation: datetime) -> QuerySet[Integration]:
    """The account's row, only while its credentials are still the ones the call used."""
    # By primary key: the caller already holds the account (loaded inside its workspace).
    return Integration.objects.unscoped().filter(
        Q(token__updated_at=credentials_generation) | Q(sidemail_account__updated_at=credentials_generation),
        pk=integration_id,
    )


def needs_use_noted(*, integration: Integration, now: datetime) -> bool:
    """Whether a use of the account now is to be written: at most once a minute, not per call."""
    return integration.last_used_at is None or now - integration.last_used_at >= LAST_USED_RESOLUTION


def record_use(*, integration: Integration) -> None:
    """Note that the account was used; written at most once a minute, not per call."""
    now = timezone.now()
    if needs_use_noted(integration=integration, now=now):
        Integration.objects.unscoped().filter(pk=integration.pk).update(last_used_at=now)
        integration.last_used_at = now


def record_refresh(*, integration_id: int, credentials_generation: datetime) -> None:
    """A refresh saved the token of this generation: the connection is healthy."""
    _while_credentials_are(
        integration_id=integration_id, credentials_generation=credentials_generation
    ).update(last_refreshed_at=timezone.now(), status=IntegrationStatus.ACTIVE)
    forget_status(workspace_id=None)  # the workspace is not at hand: every workspace's status


def record_reauth_required(*, integration_id: int, error: AppError, credentials_generation: datetime) -> bool:
    """The provider refused the credentials of this generation (a lost Google grant, a revoked
    Sidemail key): the person must reconnect, unless they already did (or disconnected) since.
    Returns whether the status moved.

    The workspace's notification endpoints, and the member who connected the account (by
    email), hear of it once, when it moves, not on every later refusal."""
    rows = _while_credentials_are(
        integration_id=integration_id, credentials_generation=credentials_generation
    )
    last_error = {
        "last_error_code": error.code,
        "last_error_message": error.message,
        "last_error_at": timezone.now(),
    }
    moved = rows.exclude(status=IntegrationStatus.REAUTH_REQUIRED).update(
        status=IntegrationStatus.REAUTH_REQUIRED, **last_error
    )
    if not moved:
        rows.update(**last_error)
        forget_status(workspace_id=None)
        return False
    forget_status(workspace_id=None)

    def notify() -> None:
        from hooks.notifications import integration_reauth_required
        from integrations.sidemail.notices import send_reauth_notice

        integration_reauth_required(integration_id=integration_id)
        send_reauth_notice(integration_id=integration_id)

    transaction.on_commit(notify)
    return True


# Gmail's per-mailbox quota, and what its calls cost, in Google's own units.
GMAIL_QUOTA_UNITS_PER_MINUTE = 15_000
GMAIL_UNITS = {"send": 100, "get": 5, "list": 5, "history": 2, "profile": 1}


def quota_interval(units: int) -> float:
    """Seconds of the mailbox's minute budget a call of `units` takes up."""
    return units * 60.0 / GMAIL_QUOTA_UNITS_PER_MINUTE


def reserve_quota(*, integration_id: int, units: int) -> float:
    """Book `units` of the mailbox's Gmail quota; returns how many seconds to wait first. Sends
    and a trigger's reads share one pace per mailbox (paced_until), so together they stay under
    Google's limit."""
    return reserve_send_slot(integration_id=integration_id, interval=quota_interval(units))


def reserve_send_slot(*, integration_id: int, interval: float) -> float:
    """Book this account's next send slot; returns how many seconds to wait for it.

    One atomic UPDATE ... RETURNING in the database, so every worker process shares one pace
    per account and concurrent bookings each get their own slot.
    """
    wait = _book_next(integration_id=integration_id, column="paced_until", interval=interval)
    return 0.0 if wait is None else wait


def reserve_send_moment(
    *, integration_id: int, interval: float, earliest: float, within: float
) -> float | None:
    """Take this account's next moment to send, no earlier than ``earliest`` (Unix time); returns
    the seconds to wait for it, or None when it is more than ``within`` seconds away (nothing is
    taken: `send_moment_wait` tells when to come back).

    Booked slots (`reserve_send_slot`) spread a burst's sends out, but a send whose executor came
    back late for its slot would otherwise go out at once, right behind the sends that came back
    late with it: a burst above the rate. Moments are counted from the sends themselves, one
    ``interval`` apart, in one atomic UPDATE ... RETURNING shared by every process.
    """
    return _book_next(
        integration_id=integration_id,
        column="sent_until",
        interval=interval,
        earliest=earliest,
        within=within,
    )


def _book_next(
    *,
    integration_id: int,
    column: Literal["paced_until", "sent_until"],
    interval: float,
    earliest: float | None = None,
    within: float | None = None,
) -> float | None:
    """Move the account's ``column`` (the Unix time its booked uses run until) one ``interval``
    past the latest of itself, ``earliest`` and now, in one atomic UPDATE ... RETURNING shared by
    every process; returns the seconds to wait for the use just booked. None when there is no
    such account or, with ``within``, the column is more than ``within`` seconds away (nothing
    is booked)."""
    greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    table = Integration._meta.db_table
    now = time.time()
    sql = f"UPDATE {table} SET {column} = {greatest}(COALESCE({column}, %s), %s) + %s WHERE id = %s"  # noqa: S608
    params = [now, now if earliest is None else max(earliest, now), interval, integration_id]
    if within is not None:
        sql += f" AND COALESCE({column}, %s) <= %s"
        params += [now, now + within]
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {column}", params)
        row = cursor.fetchone()
    if row is None:
        return None
    return max(0.0, float(row[0]) - interval - now)


def book_send(
    *, integration: Integration, interval: float, slot: float | None, within: float
) -> float | None:
    """Book a send in one UPDATE ... RETURNING: the account's next send slot (`reserve_send_slot`;
    ``slot``: the Unix time of one booked earlier, kept) and its next moment to send no earlier
    than that slot (`reserve_send_moment`), when both are at most ``within`` seconds away; returns
    the seconds to wait for the moment. None when either is further (or there is no such
    account): nothing is booked, and the two bookings one at a time say what to do.

    The send follows at once, so the same UPDATE notes the account's use (`record_use`: at most
    once a minute), which the call's own note then finds already made."""
    now = time.time()
    if slot is not None and slot > now + within:
        return None
    greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    params: list[Any]
    # SET and WHERE read the row as it was: the slot is the same expression in all three.
    if slot is None:
        slot_sql, slot_params = f"{greatest}(COALESCE(paced_until, %s), %s)", [now, now]
        sets, params = [f"paced_until = {slot_sql} + %s"], [*slot_params, interval]
        where, where_params = f" AND {slot_sql} <= %s", [*slot_params, now + within]
    else:
        slot_sql, slot_params = "%s", [max(slot, now)]
        sets, params, where, where_params = [], [], "", []
    sets.append(f"sent_until = {greatest}(COALESCE(sent_until, %s), {slot_sql}) + %s")
    params += [now, *slot_params, interval]
    used = timezone.now()
    note_use = needs_use_noted(integration=integration, now=used)
    if note_use:
        sets.append("last_used_at = %s")
        params.append(connection.ops.adapt_datetimefield_value(used))
    sql = (
        f"UPDATE {Integration._meta.db_table} SET {', '.join(sets)} "  # noqa: S608
        f"WHERE id = %s{where} AND COALESCE(sent_until, %s) <= %s RETURNING sent_until"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, integration.pk, *where_params, now, now + within])
        row = cursor.fetchone()
    if row is None:
        return None
    if note_use:
        integration.last_used_at = used
    return max(0.0, float(row[0]) - interval - now)


def send_moment_wait(*, integration_id: int, within: float) -> float:
    """Seconds until this account's next moment to send is ``within`` seconds away."""
    sent_until = (
        Integration.objects.unscoped().filter(pk=integration_id).values_list("sent_until", flat=True).first()
    )
    return max(0.0, (sent_until or 0.0) - within - time.time())
