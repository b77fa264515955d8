from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class OutboundEmail(models.Model):
    """One system email to one recipient, from the moment Django hands it over until Sidemail
    reports what became of it. The row is the queue: a task sends it, a sweep finds it again."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # waiting for its first attempt
        SENDING = "sending", "Sending"  # an attempt holds it until lease_until
        RETRYING = "retrying", "Retrying"  # a transient failure; next attempt at next_attempt_at
        SENT = "sent", "Sent"  # Sidemail accepted it (its status "queued")
        FAILED = "failed", "Failed"  # refused for good, or out of attempts: error_* say why
        DELIVERED = "delivered", "Delivered"
        OPENED = "opened", "Opened"
        BOUNCED = "bounced", "Bounced"
        COMPLAINED = "complained", "Complained"

    to_address = models.EmailField(max_length=254, db_index=True)
    from_address = models.EmailField(max_length=254)
    template_name = models.CharField(max_length=200, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    # Sidemail's request body (toAddress included) until it is accepted, then emptied: bodies can
    # hold one-time links that need not outlive their delivery.
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    sidemail_id = models.CharField(max_length=100, blank=True, db_index=True)
    error_code = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="sidemail_due_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["sidemail_id"],
                condition=~Q(sidemail_id=""),
                name="sidemail_outbound_unique_sidemail_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template_name or self.subject} → {self.to_address} ({self.status})"


class WebhookEvent(models.Model):
    """A Sidemail webhook event once applied: the unique pair makes a replayed event change nothing."""

    sidemail_id = models.CharField(max_length=100)
    event_type = models.CharField(max_length=40)
    outbound_email = models.ForeignKey(OutboundEmail, null=True, blank=True, on_delete=models.SET_NULL)
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["sidemail_id", "event_type"], name="sidemail_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.sidemail_id}"


class Sequence(models.Model):
    """A series of emails (templates) sent to one person at set delays after they enrol."""

    class Audience(models.TextChoices):
        NEW_USERS = "new_users", "Every new user"
        TRIAL_OWNERS = "trial_owners", "A trial workspace's owner"

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    audience = models.CharField(max_length=20, choices=Audience.choices)
    is_active = models.BooleanField(default=True, help_text="An inactive sequence enrols no one new.")

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class SequenceStep(models.Model):
    """One email of a sequence: `delay` after the enrolment, or, relative to the trial's end,
    `delay` after trial_ends_at (negative: before it)."""

    class Anchor(models.TextChoices):
        ENROLLED = "enrolled", "After enrolment"
        TRIAL_END = "trial_end", "Relative to the trial's end"

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    template_name = models.CharField(max_length=200)
    delay = models.DurationField(help_text="e.g. 2 00:00:00 for two days; negative before the trial's end.")
    anchor = models.CharField(max_length=12, choices=Anchor.choices, default=Anchor.ENROLLED)

    class Meta:
        ordering = ["sequence", "position"]
        constraints = [
            models.UniqueConstraint(fields=["sequence", "position"], name="sidemail_step_position_once"),
        ]

    def __str__(self) -> str:
        return f"{self.sequence.slug} #{self.position}: {self.template_name}"


class Enrollment(models.Model):
    """One person going through one sequence. `next_step` is the position of the step to send at
    `next_send_at`; sending it advances both in one conditional UPDATE, so it is sent once."""

    class StopReason(models.TextChoices):
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        CONVERTED = "converted", "Workspace converted to paid"
        NO_ADDRESS = "no_address", "No email address"

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="enrollments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    workspace = models.ForeignKey(
        "workspaces.Workspace", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    next_step = models.PositiveSmallIntegerField(default=0)
    next_send_at = models.DateTimeField(null=True, blank=True, db_index=True)
    enrolled_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=20, choices=StopReason.choices, blank=True)

    class Meta:
        ordering = ["-enrolled_at", "-id"]
        constraints = [
            # One enrolment per person and sequence (and workspace, for a trial's sequence).
            models.UniqueConstraint(
                fields=["sequence", "user", "workspace"], name="sidemail_enrollment_once"
            ),
            models.UniqueConstraint(
                fields=["sequence", "user"],
                condition=Q(workspace__isnull=True),
                name="sidemail_enrollment_once_without_workspace",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.sequence}"


class WorkflowEmail(models.Model):
    """An email a workflow step sent through the workspace's own Sidemail account, one per
    recipient, recorded as soon as Sidemail accepts it: a retried step skips the recipients that
    already have one, and delivery webhooks move its status on."""

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    run_id = models.BigIntegerField()
    position = models.PositiveIntegerField()
    to_address = models.EmailField(max_length=254)
    sidemail_id = models.CharField(max_length=100, unique=True)
    status = models.CharField(max_length=20, default="queued")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["run_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run_id", "position", "to_address"], name="sidemail_workflow_email_once"
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} step {self.position} → {self.to_address} ({self.status})"
