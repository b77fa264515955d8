from django.db import models
from django.db.models import Q


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
