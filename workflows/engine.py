"""Executes one run, step by step. Each call of `advance` moves the run as far as it can:

- a step that succeeded is never run again;
- RetryableError (429, 5xx, timeouts): the step waits (exponential backoff with jitter,
  at least the provider's Retry-After) and `advance` returns how long; at most 5 attempts;
- PermanentError (and any AppError): the step and the run fail with its user-facing message
  (where Google refused a grant, the Google layer has marked the integration `reauth_required`);
- anything unexpected: logged with its traceback, the run fails with a generic message;
- a paced send whose mailbox slot is more than PACING_INLINE_SECONDS away is not claimed: the
  step keeps its booked slot and `advance` returns the wait, so no lease runs out while it waits;
  the send itself goes out at the account's next moment to send, at least one pace interval after
  the previous one, so steps that came back late for their slots never go out in a burst;
- an at-most-once call (a Gmail send) is made at most once without a person's word: its attempt
  is claimed once everything the request needs is ready (params, message, token, reads), just
  before it goes out, by the one conditional UPDATE that also records, committed, that the call
  is under way (`provider_call_started_at`); an executor whose step another executor took
  meanwhile matches nothing and sends nothing. (A lookup of an earlier send is made under a
  claim taken first, and a send may wait a moment for its turn: then the mark follows on its
  own, fenced the same way, and renews the lease.) The mark is cleared when the answer is
  recorded. A call that failed before that point (reading attachments or the message
  replied to, a token refresh, an executor that died there), or was answered 429/5xx, was not
  sent and is retried as above. One whose outcome is unknown (a read timeout after sending, or
  an executor that died with the mark set) is settled by looking the message up where the
  account can read its Sent mail (found: succeeded; not found: sent again, with the same
  Message-ID, its send slot booked as a fresh attempt's is); otherwise the step ends
  `outcome_unknown` and the run fails with that code, until a person checks the Sent folder and
  chooses "Send again".
"""

import base64
import hashlib
import logging
import random
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q, QuerySet
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from galaxyco import context
from galaxyco.db.prepared import prepared_statements
from galaxyco.errors import AppError, ErrorCode, RetryableError, SendOutcomeUnknown, StepGaveUp
from hooks import notifications
from hooks.selectors import endpoints_exist
from integrations.health import (
    book_send,
    needs_use_noted,
    reserve_send_moment,
    reserve_send_slot,
    send_moment_wait,
)
from integrations.models import Integration
from integrations.selectors import integration_for_step, owner_is_member
from workflows.actions.base import Action, StepContext
from workflows.actions.registry import get_action
from workflows.models import RunStatus, StepRun, StepStatus, WorkflowRun

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
MAX_BACKOFF_SECONDS = 60.0
# How long after a call whose outcome is unknown it is looked up (in units of the retry base),
# so the provider has had time to file what it did.
LOOKUP_DELAY_BASES = 5
# Message-IDs we give our emails: <run-…-step-…-…@MESSAGE_ID_DOMAIN>.
MESSAGE_ID_DOMAIN = "galaxyco.app"
# A send slot at most this far away is waited for inside the attempt; a later one is waited
# for outside it (the step is rescheduled for its slot, unclaimed).
PACING_INLINE_SECONDS = 2.0
# A provider asking for a longer pause than this gets the run failed rather than parked for hours.
MAX_RETRY_AFTER_SECONDS = 300.0
# The database dropped or refused the connection: retried by the task, never a step's failure.
DATABASE_ERRORS = (OperationalError, InterfaceError)
# Waits between tries to record a step that succeeded (about a minute, well inside the lease).
RECORD_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
INTERNAL_ERROR_MESSAGE = "Something went wrong on our side while running this step. It has been logged."


@dataclass(frozen=True)
class Progress:
    finished: bool
    retry_in: float | None = None
    # The run as this call left it, its steps prefetched (`run.step_runs.all()`): what the
    # execute API answers with when the run ran in its request. None when there was no run.
    run: WorkflowRun | None = None


@dataclass(frozen=True)
class StepOutcome:
    succeeded: bool = False
    retry_in: float | None = None
    error: AppError | None = None


def backoff_seconds(*, attempt: int, retry_after: float | None) -> float:
    base = float(settings.WORKFLOW_RETRY_BASE_SECONDS)
    ceiling = min(MAX_BACKOFF_SECONDS, base * 2 ** (attempt - 1))
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # "equal jitter"
    return max(delay, retry_after or 0.0)


@prepared_statements()
def advance(*, run_id: int, run: WorkflowRun | None = None) -> Progress:
    """Move the run on as far as it can go now.

    `run`: the run as the request that created it holds it (`services.start_run`), its steps
    prefetched with their accounts and tokens; saves loading what was just written. Otherwise
    the run is loaded by id.
    """
    step_runs = list(run.step_runs.all()) if run is not None else _load(run_id)
    if not step_runs or step_runs[0].run.is_finished:
        return Progress(finished=True, run=step_runs[0].run if step_runs else None)
    run = step_runs[0].run
    context.bind(run_id=run.pk, workspace_id=run.workspace_id)
    now = timezone.now()
    if run.status == RunStatus.QUEUED:
        run.status, run.started_at = RunStatus.RUNNING, now
        # Conditional: a run canceled since it was read stays canceled.
        if (
            not WorkflowRun.objects.unscoped()
            .filter(pk=run.pk, status=RunStatus.QUEUED)
            .update(status=run.status, started_at=now)
        ):
            run.refresh_from_db(fields=["status", "started_at"])
            if run.is_finished:
                return Progress(finished=True, run=run)

    last = step_runs[-1]
    for step_run in step_runs:
        if step_run.status == StepStatus.SUCCEEDED:
            continue
        if step_run.next_attempt_at and step_run.next_attempt_at > now:
            # waiting to retry or for its send slot, or another executor holds the attempt's lease
            wait = (step_run.next_attempt_at - now).total_seconds()
            return Progress(finished=False, retry_in=wait, run=run)
        outcome = _attempt(
            run=run,
            step_run=step_run,
            step_outputs=_outputs_before(step_runs, step_run),
            last=step_run is last,
        )
        if outcome.retry_in is not None:
            return Progress(finished=False, retry_in=outcome.retry_in, run=run)
        if outcome.error is not None:
            _finish_run(run=run, status=RunStatus.FAILED, error=outcome.error, remaining=step_runs)
            return Progress(finished=True, run=run)
    if not run.is_finished:  # the last step's success finished it; else nothing was left to do
        _finish_run(run=run, status=RunStatus.SUCCEEDED, error=None, remaining=[])
    return Progress(finished=True, run=run)


def _load(run_id: int) -> list[StepRun]:
    # The engine is handed a run id by its task: it reads that run's rows by id (unscoped) and
    # works from the run's workspace; the same holds for the row updates below.
    step_runs: list[StepRun] = list(
        StepRun.objects.unscoped()
        .filter(run_id=run_id)
        .select_related("run__workspace", "run__workflow", "integration__token")
        .annotate(
            integration_owner_is_member=owner_is_member("integration"),
            workspace_notifies=endpoints_exist("workspace_id"),
        )
        .order_by("position")
    )
    if step_runs:
        run = step_runs[0].run
        run.notifies = step_runs[0].workspace_notifies  # type: ignore[attr-defined]
        for step_run in step_runs:
            step_run.run = run  # one run object for all, so what the steps change shows on it
            if step_run.integration is not None:
                step_run.integration.owner_is_member = step_run.integration_owner_is_member  # type: ignore[attr-defined]
        hold_steps(run=run, step_runs=step_runs)
    return step_runs


def hold_steps(*, run: WorkflowRun, step_runs: list[StepRun]) -> None:
    """Make `run.step_runs.all()` answer with these objects, as `prefetch_related` would, so the
    engine and the API read the steps as they were written and changed, not loaded again."""
    held = run.step_runs.all()
    held._result_cache = step_runs
    held._prefetch_done = True  # type: ignore[attr-defined]
    run._prefetched_objects_cache = {"step_runs": held}  # type: ignore[attr-defined]


def _resolve_integration(*, run: WorkflowRun, step_run: StepRun, action: Action) -> Integration | None:
    if action.integration_type is None:
        return None
    integration = integration_for_step(
        workspace=run.workspace,
        integration_type=action.integration_type,
        # Loaded with the step (the run's snapshot of the account it names).
        named=step_run.integration if step_run.integration_id is not None else None,
        requester_id=run.requested_by_id,
        step_label=action.label,
    )
    context.bind(integration_id=integration.pk)
    return integration


def _claim(step_run: StepRun, *, mark: bool = False) -> bool:
    """Take the next attempt of this step, unless another executor already did.

    A redelivered task or a resumed run may reach the same step at the same time; the one
    conditional UPDATE that wins runs the attempt (the send slot it saw, if any, must still be
    the step's: see `_start_attempt`; so must the mark of a send under way, so that a step
    marked since it was read is looked up, never taken for a fresh send). The attempt's lease
    lets a later executor take over a step whose executor died mid-attempt. `mark`: the call
    goes out now, so the same UPDATE records that it is under way (`_CallStart`).
    """
    now = timezone.now()
    changes = _claim_changes(step_run, now=now)
    if mark:
        changes["provider_call_started_at"] = now
    claimable = Q(status__in=CLAIMABLE_STATUSES) | Q(status=StepStatus.RUNNING, next_attempt_at__lt=now)
    claimed = (
        StepRun.objects.unscoped()
        .filter(
            claimable,
            pk=step_run.pk,
            attempts=step_run.attempts,
            send_slot_at=step_run.send_slot_at,
            provider_call_started_at=step_run.provider_call_started_at,
        )
        .update(**changes)
    )
    if claimed:
        for field, value in changes.items():
            setattr(step_run, field, value)
    return bool(claimed)


# A step in one of these may be claimed; a running one too once its attempt's lease has run out.
CLAIMABLE_STATUSES = (StepStatus.PENDING, StepStatus.RETRYING)


def _claim_changes(step_run: StepRun, *, now: datetime) -> dict[str, Any]:
    """What a claim writes (besides the mark of a call under way)."""
    return {
        "attempts": step_run.attempts + 1,
        "status": StepStatus.RUNNING,
        "started_at": step_run.started_at or now,
        "next_attempt_at": now + timedelta(seconds=attempt_lease_seconds()),
        "send_slot_at": None,  # this attempt uses the slot; a retry books its own
    }


def _books_in_one() -> bool:
    """Whether a near booking and its claim are one statement (PostgreSQL: `_book_and_claim`)."""
    return connection.vendor == "postgresql"


def _book_and_claim(
    *, step_run: StepRun, integration: Integration, interval: float, mark: bool
) -> float | None:
    """On PostgreSQL, `health.book_send` and `_claim` in one statement (the function of migration
    workflows 0011): one round trip and one commit instead of four round trips. Seconds to wait
    for the moment to send; None when the slot or the moment is further than
    PACING_INLINE_SECONDS (nothing was written: the bookings one at a time say what to do).
    Raises _NotTaken when another executor has the attempt (nothing was written either)."""
    now = timezone.now()
    changes = _claim_changes(step_run, now=now)
    kept_slot = step_run.send_slot_at
    note_use = needs_use_noted(integration=integration, now=now)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT near, claimed, wait FROM book_and_claim_attempt("
            "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                integration.pk,
                interval,
                kept_slot.timestamp() if kept_slot is not None else None,
                now.timestamp(),
                PACING_INLINE_SECONDS,
                now if note_use else None,
                step_run.pk,
                step_run.attempts,
                kept_slot,
                step_run.provider_call_started_at,
                list(CLAIMABLE_STATUSES),
                StepStatus.RUNNING,
                now,
                changes["started_at"],
                changes["next_attempt_at"],
                now if mark else None,
            ],
        )
        near, claimed, wait = cursor.fetchone()
    if not near:
        return None
    if not claimed:
        raise _NotTaken()
    if mark and wait == 0:
        changes["provider_call_started_at"] = now
    for field, value in changes.items():
        setattr(step_run, field, value)
    if note_use:
        integration.last_used_at = now
    return float(wait)


def attempt_lease_seconds() -> float:
    """How long an attempt may take before another executor may assume it died: the call's
    timeout plus the short pacing wait, with room to spare (120 s unless configured)."""
    return float(settings.WORKFLOW_ATTEMPT_LEASE_SECONDS)


class _NotTaken(Exception):
    """Another executor has this attempt: what `_start_attempt` wrote is rolled back."""


def _start_attempt(
    *,
    step_run: StepRun,
    action: Action,
    integration: Integration | None,
    held: bool = False,
    mark: bool = False,
) -> float | StepOutcome:
    """Book the mailbox's send slot and its moment to send (a paced action) and claim the
    attempt, in one transaction: seconds to wait before sending (at most PACING_INLINE_SECONDS),
    or the outcome when the step is not to run now.

    A slot is booked once per attempt and kept on the step (`send_slot_at`): a step that waits
    for it outside a lease (a slot further away than PACING_INLINE_SECONDS) comes back to the
    same slot instead of taking one behind every later booking, which keeps the mailbox's pace
    exact across processes. The send itself goes out at the account's next moment to send, no
    earlier than its slot (`health.reserve_send_moment`), so steps that came back late for their
    slots never go out in a burst. When both are near (nearly always) one UPDATE books them
    (`health.book_send`). Of two executors of one step, the one whose claim loses rolls back what
    it booked (lock order: integration, then step run; no HTTP call is made under them). On
    PostgreSQL a near booking and its claim are one statement instead (`_book_and_claim`), which
    books nothing for a lost claim. `held`:
    this executor already holds the attempt (it has just looked up an earlier send and found it
    was not done): nothing is claimed, and a slot or moment too far away to wait for gives the
    attempt up (the step waits for it, `retrying`, like any other). `mark`: the call goes out as
    soon as this returns (`_CallStart`), so with nothing to wait for the claim also marks it under
    way; after a wait the mark is written on its own, for it must not cover a wait before the
    request, when nothing could have been sent.
    """
    wait = 0.0
    found_far = False  # by _book_and_claim, which then wrote nothing
    try:
        if integration is not None and action.pace_interval is not None and not held and _books_in_one():
            near_wait = _book_and_claim(
                step_run=step_run, integration=integration, interval=action.pace_interval, mark=mark
            )
            if near_wait is not None:
                return near_wait
            found_far = True
        with transaction.atomic():
            if integration is not None and action.pace_interval is not None:
                slot = step_run.send_slot_at
                near = (
                    None
                    if found_far
                    else book_send(
                        integration=integration,
                        interval=action.pace_interval,
                        slot=slot.timestamp() if slot is not None else None,
                        within=PACING_INLINE_SECONDS,
                    )
                )
                if near is not None:
                    wait = near
                else:
                    outcome = _book_one_at_a_time(
                        step_run=step_run,
                        pace_interval=action.pace_interval,
                        integration=integration,
                        held=held,
                    )
                    if isinstance(outcome, StepOutcome):
                        return outcome
                    wait = outcome
            if not held and not _claim(step_run, mark=mark and wait == 0):
                raise _NotTaken()
    except _NotTaken:
        return StepOutcome(retry_in=1.0)  # another executor has it: look again shortly
    return wait


def _book_one_at_a_time(
    *, step_run: StepRun, pace_interval: float, integration: Integration, held: bool
) -> float | StepOutcome:
    """The slot (unless the step kept one), then the moment to send: seconds to wait, or the
    outcome of a step that waits for either outside its attempt."""
    slot = step_run.send_slot_at
    booked = slot is None
    if slot is None:
        slot_wait = reserve_send_slot(integration_id=integration.pk, interval=pace_interval)
        slot = timezone.now() + timedelta(seconds=slot_wait)
        if slot_wait > PACING_INLINE_SECONDS:
            return _wait_unclaimed(
                step_run=step_run,
                until=slot,
                booked=slot,
                wait=slot_wait,
                for_what="its send slot",
                release=held,
            )
    moment_wait = reserve_send_moment(
        integration_id=integration.pk,
        interval=pace_interval,
        earliest=slot.timestamp(),
        within=PACING_INLINE_SECONDS,
    )
    if moment_wait is None:  # sends before it went out late: come back, keeping the slot
        wait = max(send_moment_wait(integration_id=integration.pk, within=PACING_INLINE_SECONDS), 0.1)
        return _wait_unclaimed(
            step_run=step_run,
            until=timezone.now() + timedelta(seconds=wait),
            booked=slot if booked else None,
            wait=wait,
            for_what="its moment to send",
            release=held,
        )
    return moment_wait


def _wait_unclaimed(
    *,
    step_run: StepRun,
    until: datetime,
    booked: datetime | None,
    wait: float,
    for_what: str,
    release: bool = False,
) -> StepOutcome:
    """Come back at `until` without holding a lease while waiting; `booked`: the send slot this
    attempt just booked, kept on the step for its return; `release`: give up the attempt this
    executor holds (the step is `retrying` until then)."""
    changes: dict[str, Any] = {"next_attempt_at": until}
    if release:
        changes["status"] = StepStatus.RETRYING
    if booked is not None:
        changes["send_slot_at"] = booked
    kept = (
        StepRun.objects.unscoped()
        .filter(
            pk=step_run.pk,
            attempts=step_run.attempts,
            status=step_run.status,
            send_slot_at=step_run.send_slot_at,
        )
        .update(**changes)
    )
    if not kept:
        raise _NotTaken()
    for field, value in changes.items():
        setattr(step_run, field, value)
    logger.info("Step waits %.1f s for %s", wait, for_what, extra={"event": "step_paced", "wait": wait})
    return StepOutcome(retry_in=wait)


def _setup(*, run: WorkflowRun, step_run: StepRun) -> tuple[Action, Integration | None]:
    action = get_action(step_run.action)
    if action is None:
        raise AppError(
            f"This step's action “{step_run.action}” no longer exists.", code=ErrorCode.UNKNOWN_ACTION
        )
    return action, _resolve_integration(run=run, step_run=step_run, action=action)


def _outputs_before(step_runs: list[StepRun], step_run: StepRun) -> dict[str, dict[str, Any]]:
    """What `{{ steps.<key>.<field> }}` reads: the outputs of the earlier steps that succeeded."""
    return {
        earlier.key: earlier.output
        for earlier in step_runs
        if earlier.position < step_run.position and earlier.status == StepStatus.SUCCEEDED and earlier.key
    }


def _attempt(
    *, run: WorkflowRun, step_run: StepRun, step_outputs: dict[str, dict[str, Any]], last: bool
) -> StepOutcome:
    try:
        action, integration = _setup(run=run, step_run=step_run)
    except AppError as error:
        if not _claim(step_run):
            return StepOutcome(retry_in=1.0)
        return _fail_step(step_run=step_run, error=error)
    settling = action.at_most_once and step_run.provider_call_started_at is not None
    # A send takes its attempt just before its request (`_CallStart`): what comes before it
    # (params, the message, the token, reads) changes nothing a claim guards, so the claim and
    # the mark can be one UPDATE. A lookup of an earlier send decides whether to send, so it is
    # made under the attempt, claimed first; so is any other action's call.
    call_start = _CallStart(
        step_run=step_run, action=action, integration=integration, claim=action.at_most_once and not settling
    )
    slot_wait = 0.0
    if settling:
        # Find out first (no slot needed for a lookup); a send that follows books its slot then.
        if not _claim(step_run):
            return StepOutcome(retry_in=1.0)
    elif not action.at_most_once:
        started = _start_attempt(step_run=step_run, action=action, integration=integration)
        if isinstance(started, StepOutcome):
            return started
        slot_wait = started
    step = StepContext(
        workspace_id=run.workspace_id,
        run_id=run.pk,
        position=step_run.position,
        started_at=step_run.started_at,
        idempotency_key=idempotency_key(run=run, step_run=step_run),
    )
    if action.at_most_once:
        step = replace(
            step, message_id_header=_message_id_header(run=run, step_run=step_run), on_call=call_start
        )
    try:
        params = action.prepare(params=step_run.params, run_input=run.input, step_outputs=step_outputs)
        if settling:
            settled = _settle(
                action=action,
                integration=integration,
                step_run=step_run,
                step=step,
                params=params,
                run=run,
                last=last,
            )
            if settled is not None:
                return settled
            settling = False
            # Not done: sent now, as a fresh attempt sends (a slot too far away is waited for
            # outside this attempt).
            started = _start_attempt(step_run=step_run, action=action, integration=integration, held=True)
            if isinstance(started, StepOutcome):
                return started
            slot_wait = started
        if slot_wait > 0:
            _sleep(slot_wait)
        output = action.run(params=params, integration=integration, step=step)
    except _NotNow as not_now:
        return not_now.outcome
    except _Overtaken:
        logger.warning(
            "Step taken over by another executor before its send; nothing sent",
            extra={"event": "step_overtaken", "attempt": step_run.attempts},
        )
        return StepOutcome(retry_in=1.0)  # the step is the other executor's now
    except SendOutcomeUnknown as error:
        return _outcome_unknown(action=action, integration=integration, step_run=step_run, error=error)
    except RetryableError as error:
        if not call_start.holds():
            return StepOutcome(retry_in=1.0)
        if not settling:
            step_run.provider_call_started_at = None  # answered, or never sent: not ambiguous
        return _retry_or_give_up(step_run=step_run, error=error, action=action, integration=integration)
    except AppError as error:
        if not call_start.holds():
            return StepOutcome(retry_in=1.0)
        return _fail_step(step_run=step_run, error=error)
    except DATABASE_ERRORS:
        raise  # not the step's fault: the task retries the run once the database answers again
    except Exception:
        logger.exception("Step crashed", extra={"event": "step_crashed", "action": step_run.action})
        if not call_start.holds():
            return StepOutcome(retry_in=1.0)
        crash = AppError(INTERNAL_ERROR_MESSAGE, code=ErrorCode.INTERNAL_ERROR, status=500)
        _finish_step(step_run=step_run, status=StepStatus.FAILED, error=crash)
        return StepOutcome(error=crash)
    _record_success(step_run=step_run, output=output, run=run if last else None)
    return StepOutcome(succeeded=True)


def new_message_id(*, run_id: int, position: int) -> str:
    """Our Message-ID for a step's email (`<run-…-step-…-…@MESSAGE_ID_DOMAIN>`)."""
    return f"<run-{run_id}-step-{position}-{uuid.uuid4().hex}@{MESSAGE_ID_DOMAIN}>"


def _message_id_header(*, run: WorkflowRun, step_run: StepRun) -> str:
    """The step's Message-ID, committed before its first send; every retry reuses it. A run is
    created with one per step (`services.start_run`); a step sent again on a person's word gets a
    new one here."""
    if not step_run.message_id_header:
        made = new_message_id(run_id=run.pk, position=step_run.position)
        StepRun.objects.unscoped().filter(pk=step_run.pk, message_id_header="").update(message_id_header=made)
        step_run.message_id_header = (
            StepRun.objects.unscoped()
            .filter(pk=step_run.pk)
            .values_list("message_id_header", flat=True)
            .get()
        )
    return step_run.message_id_header


def idempotency_key(*, run: WorkflowRun, step_run: StepRun) -> str:
    """The step's key for a provider that deduplicates by a client-chosen id (a Calendar event's):
    the same for every attempt of the step and for no other step, in this database or another.
    Lowercase base32hex, 32 characters."""
    seed = f"{run.pk}:{step_run.pk}:{run.created_at.isoformat()}".encode()
    return base64.b32hexencode(hashlib.sha256(seed).digest()[:20]).decode().lower()


class _Overtaken(Exception):
    """This attempt's lease ran out and another executor took the step over: nothing is sent."""


class _NotNow(Exception):
    """The send's slot or moment is too far away to wait for inside an attempt (or another
    executor has the attempt): nothing is sent, and the step comes back as `outcome` says."""

    def __init__(self, outcome: StepOutcome) -> None:
        super().__init__()
        self.outcome = outcome


class _CallStart:
    """An at-most-once call's `on_call`: what is written, committed, just before its request.

    `claim`: the attempt is not taken yet. The first call books the mailbox's slot and moment and
    claims the attempt (`_start_attempt`): with no wait, that one conditional UPDATE also marks
    the call under way, and its commit is the last thing before the request; after a wait for
    the moment it is marked on its own. Otherwise (the attempt was claimed before a lookup, or
    this is the call repeated after a token refresh) it only marks: one conditional UPDATE, its
    own commit (autocommit outside a transaction), so a worker that dies after it leaves the mark
    for the next executor. Every mark matches only while the attempt is still this executor's,
    and renews its lease.
    """

    def __init__(
        self, *, step_run: StepRun, action: Action, integration: Integration | None, claim: bool
    ) -> None:
        self.step_run, self.action, self.integration = step_run, action, integration
        self.unclaimed = claim

    def __call__(self) -> None:
        if self.unclaimed:
            started = _start_attempt(
                step_run=self.step_run, action=self.action, integration=self.integration, mark=True
            )
            if isinstance(started, StepOutcome):
                raise _NotNow(started)
            self.unclaimed = False
            if self.step_run.provider_call_started_at is not None:
                return  # claimed and marked in one
            _sleep(started)
        self._mark()

    def holds(self) -> bool:
        """Whether this executor has the attempt, to record what happened to it: taken now if the
        call failed before it was claimed (reading, refreshing the token, building the message)."""
        if self.unclaimed and _claim(self.step_run):
            self.unclaimed = False
        return not self.unclaimed

    def _mark(self) -> None:
        step_run = self.step_run
        now = timezone.now()
        lease_until = now + timedelta(seconds=attempt_lease_seconds())
        marked = (
            StepRun.objects.unscoped()
            .filter(pk=step_run.pk, attempts=step_run.attempts, status=StepStatus.RUNNING)
            .update(provider_call_started_at=now, next_attempt_at=lease_until)
        )
        if not marked:
            raise _Overtaken()
        step_run.provider_call_started_at, step_run.next_attempt_at = now, lease_until


def _settle(
    *,
    action: Action,
    integration: Integration | None,
    step_run: StepRun,
    step: StepContext,
    params: dict[str, Any],
    run: WorkflowRun,
    last: bool,
) -> StepOutcome | None:
    """An earlier call's outcome is unknown: find out before sending anything. None: it was not
    done, send it now."""
    if not action.can_find_done(integration=integration):
        return _finish_outcome_unknown(step_run=step_run, integration=integration)
    found = action.find_done(integration=integration, step=step, params=params)
    if found is not None:
        logger.info("Settled an unknown outcome: it was done", extra={"event": "step_settled_done"})
        _record_success(step_run=step_run, output=found, run=run if last else None)
        return StepOutcome(succeeded=True)
    logger.info("Settled an unknown outcome: it was not done", extra={"event": "step_settled_not_done"})
    # Only while the step is still this attempt's: another executor's mark is never cleared.
    if (
        not StepRun.objects.unscoped()
        .filter(pk=step_run.pk, attempts=step_run.attempts, status=StepStatus.RUNNING)
        .update(provider_call_started_at=None)
    ):
        raise _Overtaken()
    step_run.provider_call_started_at = None
    return None


def _outcome_unknown(
    *, action: Action, integration: Integration | None, step_run: StepRun, error: SendOutcomeUnknown
) -> StepOutcome:
    """The request went out and no answer came: look it up later, or ask the person."""
    if not action.can_find_done(integration=integration):
        return _finish_outcome_unknown(step_run=step_run, integration=integration)
    base = float(settings.WORKFLOW_RETRY_BASE_SECONDS)
    delay = max(backoff_seconds(attempt=step_run.attempts, retry_after=None), LOOKUP_DELAY_BASES * base)
    _schedule_retry(step_run=step_run, error=error, delay=delay)
    return StepOutcome(retry_in=delay)


def _finish_outcome_unknown(*, step_run: StepRun, integration: Integration | None) -> StepOutcome:
    mailbox = integration.email if integration is not None else "the sending account"
    error = AppError(
        "We asked Gmail to send this email but got no answer, so we cannot tell whether it was sent. "
        f"Check the Sent folder of {mailbox}: if the email is not there, choose Send again.",
        code=ErrorCode.OUTCOME_UNKNOWN,
        status=502,
    )
    _finish_step(step_run=step_run, status=StepStatus.OUTCOME_UNKNOWN, error=error)
    logger.warning("Step outcome unknown", extra={"event": "step_outcome_unknown"})
    return StepOutcome(error=error)


def _record_success(*, step_run: StepRun, output: dict[str, Any], run: WorkflowRun | None) -> None:
    """The provider has done the step's work: recording it must outlast a short database outage,
    or the step would be claimed again once its lease ran out and its email sent twice.
    `run`: the step was the run's last, so the run succeeds with it (`_finish_step`)."""
    # One statement needs no transaction of its own: the last step's success and the run's end
    # are one on PostgreSQL, two elsewhere.
    one_statement = run is None or connection.vendor == "postgresql"
    for delay in [*RECORD_RETRY_DELAYS, None]:
        try:
            with nullcontext() if one_statement else transaction.atomic():
                _finish_step(step_run=step_run, status=StepStatus.SUCCEEDED, output=output, run=run)
            return
        except DATABASE_ERRORS:
            if delay is None:
                raise
            logger.warning(
                "Could not record a step that succeeded; trying again in %.1f s",
                delay,
                extra={"event": "step_record_retry"},
            )
            close_broken_connection()
            _sleep(delay)


def _fail_step(*, step_run: StepRun, error: AppError) -> StepOutcome:
    _finish_step(step_run=step_run, status=StepStatus.FAILED, error=error)
    logger.warning("Step failed: %s", error.code, extra={"event": "step_failed", "error_code": error.code})
    return StepOutcome(error=error)


def _retry_or_give_up(
    *, step_run: StepRun, error: RetryableError, action: Action, integration: Integration | None = None
) -> StepOutcome:
    giving_up = (error.retry_after or 0.0) > MAX_RETRY_AFTER_SECONDS or step_run.attempts >= MAX_ATTEMPTS
    if giving_up and step_run.provider_call_started_at is not None:
        # Still unsettled when we stop trying: the person decides.
        return _finish_outcome_unknown(step_run=step_run, integration=integration)
    if error.retry_after is not None and error.retry_after > MAX_RETRY_AFTER_SECONDS:
        final = StepGaveUp(
            f"{action.provider_name} asked us to wait {error.retry_after / 60:.0f} minutes before trying again. "
            "Run the workflow again later.",
            code=error.code,
        )
        _finish_step(step_run=step_run, status=StepStatus.FAILED, error=final)
        logger.warning(
            "Step gave up: retry-after too long", extra={"event": "step_gave_up", "error_code": error.code}
        )
        return StepOutcome(error=final)
    if step_run.attempts >= MAX_ATTEMPTS:
        final = StepGaveUp(
            f"{error.message.removesuffix(' We will try again shortly.')} "
            f"We gave up after {step_run.attempts} attempts; run the workflow again later.",
            code=error.code,
        )
        _finish_step(step_run=step_run, status=StepStatus.FAILED, error=final)
        logger.warning(
            "Step gave up: %s", error.code, extra={"event": "step_gave_up", "error_code": error.code}
        )
        return StepOutcome(error=final)
    delay = backoff_seconds(attempt=step_run.attempts, retry_after=error.retry_after)
    _schedule_retry(step_run=step_run, error=error, delay=delay)
    return StepOutcome(retry_in=delay)


def _schedule_retry(*, step_run: StepRun, error: AppError, delay: float) -> None:
    step_run.status = StepStatus.RETRYING
    step_run.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    step_run.error_code, step_run.error_message = error.code, error.message
    step_run.save(
        update_fields=["status", "next_attempt_at", "error_code", "error_message", "provider_call_started_at"]
    )
    logger.info(
        "Step will retry in %.1f s: %s",
        delay,
        error.code,
        extra={"event": "step_retry", "error_code": error.code, "attempt": step_run.attempts},
    )


def _finish_step(
    *,
    step_run: StepRun,
    status: str,
    error: AppError | None = None,
    output: dict[str, Any] | None = None,
    run: WorkflowRun | None = None,
) -> None:
    """`run`: the step was the run's last and succeeded, so the run succeeds with it: on
    PostgreSQL in the same statement, elsewhere in the caller's transaction."""
    step_run.status = status
    step_run.finished_at = timezone.now()
    step_run.next_attempt_at = None
    step_run.output = output or {}
    step_run.error_code = error.code if error else ""
    step_run.error_message = error.message if error else ""
    if status != StepStatus.OUTCOME_UNKNOWN:
        step_run.provider_call_started_at = None  # the answer is recorded
    fields = [
        "status",
        "finished_at",
        "next_attempt_at",
        "output",
        "error_code",
        "error_message",
        "provider_call_started_at",
    ]
    if run is None or connection.vendor != "postgresql":
        step_run.save(update_fields=fields)
        if run is not None:
            _finish_run(run=run, status=RunStatus.SUCCEEDED, error=None, remaining=[])
        return
    ending = _ending(status=RunStatus.SUCCEEDED, error=None)
    step_sql, step_params = _update_sql(
        StepRun.objects.unscoped().filter(pk=step_run.pk),
        {field: getattr(step_run, field) for field in fields},
    )
    run_sql, run_params = _update_sql(WorkflowRun.objects.unscoped().filter(pk=run.pk), ending)
    with connection.cursor() as cursor:
        # A data-modifying WITH runs whether or not the statement reads it.
        cursor.execute(f"WITH finished_step AS ({step_sql}) {run_sql}", (*step_params, *run_params))
    _ended(run=run, ending=ending)


def _update_sql(rows: QuerySet[Any], values: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """The UPDATE that `rows.update(**values)` would send, for a statement that holds two."""
    query = cast(UpdateQuery, rows.query.chain(UpdateQuery))
    query.add_update_values(values)
    sql, params = query.get_compiler(rows.db).as_sql()
    return sql, tuple(params)


def _finish_run(*, run: WorkflowRun, status: str, error: AppError | None, remaining: list[StepRun]) -> None:
    pending = [s for s in remaining if s.status in (StepStatus.PENDING, StepStatus.RETRYING)]
    if pending:
        StepRun.objects.unscoped().filter(pk__in=[s.pk for s in pending]).update(status=StepStatus.SKIPPED)
        for step_run in pending:
            step_run.status = StepStatus.SKIPPED
    ending = _ending(status=status, error=error)
    WorkflowRun.objects.unscoped().filter(pk=run.pk).update(**ending)
    _ended(run=run, ending=ending)


def _ending(*, status: str, error: AppError | None) -> dict[str, Any]:
    return {
        "status": status,
        "finished_at": timezone.now(),
        "error_code": error.code if error else "",
        "error_message": error.message if error else "",
    }


def _ended(*, run: WorkflowRun, ending: dict[str, Any]) -> None:
    """The run as `ending` left it written; its end is logged and, once committed, told."""
    for field, value in ending.items():
        setattr(run, field, value)
    logger.info(
        "Run %s", run.status, extra={"event": f"run_{run.status}", "error_code": run.error_code or None}
    )
    if run.notifies is not False:  # read with the run: no endpoint, nobody to tell
        transaction.on_commit(lambda: notifications.run_finished(run=run))


def fail_unstarted_run(*, run_id: int, code: ErrorCode, message: str) -> None:
    run = WorkflowRun.objects.unscoped().filter(pk=run_id, status=RunStatus.QUEUED).first()
    if run is not None:
        steps = list(StepRun.objects.unscoped().filter(workspace_id=run.workspace_id, run=run))
        _finish_run(run=run, status=RunStatus.FAILED, error=AppError(message, code=code), remaining=steps)


def close_broken_connection() -> None:
    """The next query opens a fresh connection. Inside a transaction (a test's) the connection
    is not ours to close."""
    if not connection.in_atomic_block:
        connection.close()


def _sleep(seconds: float) -> None:
    time.sleep(seconds)
