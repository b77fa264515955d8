"""Onboarding and trial sequences: enrol people, send each due step once, stop enrolments.

Steps are rows and the schedule is `next_send_at` in the database: a beat task calls
`send_due_steps` every minute, so nothing waits in a countdown and a restart loses nothing. A step
is claimed by one conditional UPDATE that advances the enrolment, in the transaction that creates
its OutboundEmail row: two ticks at once (or a tick rerun after a crash) send it once.

Before a step is claimed its person's Sidemail contact is read (one GET per due step, outside the
claim's transaction): an unsubscribed contact stops all their enrolments and nothing is sent. A
contact Sidemail does not have yet (404) is sent to, since the contact sync creates it; a transient
error (429, 5xx, timeout) leaves the step due and ends the tick, so the next minute's tick retries.
Any other refusal (a key Sidemail rejects, say) does not hold the step up: the send itself then
fails visibly on its OutboundEmail."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from integrations.sidemail.api_client import SidemailClient, SidemailError
from integrations.sidemail.models import Enrollment, Sequence, SequenceStep
from workspaces.models import Membership, Plan, Role, Workspace

logger = logging.getLogger(__name__)

ONBOARDING = "onboarding"
TRIAL = "trial"
# Due enrolments one tick looks at; the rest wait for the next minute's tick.
TICK_LIMIT = 500

Anchor = SequenceStep.Anchor
StopReason = Enrollment.StopReason


def _steps(sequence: Sequence) -> list[SequenceStep]:
    return sorted(sequence.steps.all(), key=lambda step: step.position)


def _send_at(*, step: SequenceStep, enrollment: Enrollment) -> datetime | None:
    if step.anchor == Anchor.TRIAL_END:
        workspace = enrollment.workspace
        if workspace is None or workspace.trial_ends_at is None:
            return None
        return workspace.trial_ends_at + step.delay
    return enrollment.enrolled_at + step.delay


def enroll(*, user: Any, sequence_slug: str, workspace: Workspace | None = None) -> Enrollment | None:
    """Enrol the person at the sequence's first step; None when the sequence is missing or
    inactive, has no steps, or the person is already enrolled."""
    sequence = Sequence.objects.filter(slug=sequence_slug, is_active=True).prefetch_related("steps").first()
    steps = _steps(sequence) if sequence is not None else []
    if sequence is None or not steps:
        return None
    enrollment = Enrollment(
        sequence=sequence,
        user=user,
        workspace=workspace,
        next_step=steps[0].position,
        enrolled_at=timezone.now(),
    )
    enrollment.next_send_at = _send_at(step=steps[0], enrollment=enrollment)
    try:
        with transaction.atomic():
            enrollment.save()
    except IntegrityError:
        return None
    logger.info(
        "Enrolled in a sequence",
        extra={"event": "sequence_enrolled", "sequence": sequence.slug, "user_id": user.pk},
    )
    return enrollment


def enroll_new_user(*, user_id: int) -> Enrollment | None:
    user = get_user_model().objects.filter(pk=user_id).first()
    return enroll(user=user, sequence_slug=ONBOARDING) if user is not None else None


def enroll_trial_owner(*, workspace_id: int) -> Enrollment | None:
    """The trial sequence for the owner of a workspace that is on a trial (once per workspace)."""
    workspace = Workspace.objects.filter(pk=workspace_id, plan=Plan.TRIAL).first()
    if workspace is None:
        return None
    owner = (
        Membership.objects.for_workspace(workspace)
        .filter(role=Role.OWNER)
        .select_related("user")
        .order_by("created_at", "id")
        .first()
    )
    if owner is None:
        return None
    return enroll(user=owner.user, sequence_slug=TRIAL, workspace=workspace)


def _stop(enrollments: Any, *, reason: str) -> int:
    stopped = enrollments.filter(stopped_at__isnull=True, completed_at__isnull=True).update(
        stopped_at=timezone.now(), stop_reason=reason, next_send_at=None
    )
    if stopped:
        logger.info("Sequence enrolments stopped", extra={"event": "sequence_stopped", "reason": reason})
    return stopped


def stop_for_address(*, email: str, reason: str = StopReason.UNSUBSCRIBED) -> int:
    """The person behind this address unsubscribed (a bounce, a complaint): none of their
    sequences sends again."""
    return _stop(Enrollment.objects.filter(user__email__iexact=email), reason=reason)


def _unsubscribed(*, email: str, client: SidemailClient | None) -> bool:
    """True when Sidemail's contact for this address says isSubscribed false. Raises the
    retryable SidemailError of a read that may succeed next time."""
    if client is None:
        return False
    try:
        contact = client.get_contact(email)
    except SidemailError as error:
        if error.retryable:
            raise
        logger.warning(
            "Could not read a Sidemail contact before a sequence step; sending anyway",
            extra={"event": "sequence_contact_unreadable", "code": error.code},
        )
        return False
    return contact is not None and contact.get("isSubscribed") is False


def stop_trial(*, workspace_id: int) -> int:
    """The workspace converted to paid: its trial sequence ends."""
    return _stop(
        Enrollment.objects.filter(workspace_id=workspace_id, sequence__slug=TRIAL),
        reason=StopReason.CONVERTED,
    )


def _props(enrollment: Enrollment) -> dict[str, Any]:
    user = enrollment.user
    name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    props: dict[str, Any] = {
        "name": name or user.email.split("@")[0],
        "email": user.email,
        "app_url": settings.SITE_URL.rstrip("/") + "/",
    }
    if enrollment.workspace is not None:
        props["workspace_name"] = enrollment.workspace.name
        if enrollment.workspace.trial_ends_at is not None:
            props["trial_ends_at"] = enrollment.workspace.trial_ends_at.isoformat()
    return props


def _send_step(enrollment: Enrollment, *, now: datetime, client: SidemailClient | None) -> bool:
    """Claim the enrolment's current step and queue its email in one transaction: True if this
    call sent it, False if another tick already had (or the enrolment stopped meanwhile)."""
    from integrations.sidemail.services import send_template

    if not enrollment.user.email:
        return bool(_stop(Enrollment.objects.filter(pk=enrollment.pk), reason=StopReason.NO_ADDRESS))
    workspace = enrollment.workspace
    if enrollment.sequence.slug == TRIAL and (workspace is None or workspace.plan != Plan.TRIAL):
        _stop(Enrollment.objects.filter(pk=enrollment.pk), reason=StopReason.CONVERTED)
        return False
    if _unsubscribed(email=enrollment.user.email, client=client):
        _stop(Enrollment.objects.filter(user_id=enrollment.user_id), reason=StopReason.UNSUBSCRIBED)
        return False
    steps = _steps(enrollment.sequence)
    step = next((s for s in steps if s.position == enrollment.next_step), None)
    following = next((s for s in steps if step is not None and s.position > step.position), None)
    next_send_at = _send_at(step=following, enrollment=enrollment) if following is not None else None
    advance: dict[str, Any] = {"next_send_at": next_send_at}
    if following is not None and next_send_at is not None:
        advance["next_step"] = following.position
    else:
        advance["completed_at"] = now
    still_due = Q(
        pk=enrollment.pk, next_step=enrollment.next_step, stopped_at__isnull=True, completed_at__isnull=True
    )
    with transaction.atomic():
        if not Enrollment.objects.filter(still_due).update(**advance):
            return False
        if step is not None:
            send_template(
                to=enrollment.user.email, template_name=step.template_name, props=_props(enrollment)
            )
    return step is not None


def send_due_steps(*, now: datetime | None = None) -> int:
    """Send every step that is due (each once, whoever else is ticking); returns how many."""
    now = now or timezone.now()
    due = (
        Enrollment.objects.filter(stopped_at__isnull=True, completed_at__isnull=True, next_send_at__lte=now)
        .select_related("sequence", "user", "workspace")
        .prefetch_related("sequence__steps")
        .order_by("next_send_at", "pk")[:TICK_LIMIT]
    )
    # Without a key there is no Sidemail to ask (email goes to the console backend).
    client = SidemailClient() if settings.SIDEMAIL_API_KEY else None
    sent = 0
    for enrollment in due:
        try:
            sent += _send_step(enrollment, now=now, client=client)
        except Exception as error:
            if isinstance(error, SidemailError) and error.retryable:
                # Sidemail is struggling: the rest stay due for the next tick rather than each
                # waiting out its own timeout now.
                logger.warning(
                    "Sidemail contacts unavailable; due sequence steps wait for the next tick",
                    extra={"event": "sequence_tick_deferred", "code": error.code},
                )
                break
            # One enrolment that cannot be sent (its claim was rolled back) holds up no other.
            logger.exception(
                "A sequence step could not be queued",
                extra={"event": "sequence_step_failed", "enrollment_id": enrollment.pk},
            )
    return sent
