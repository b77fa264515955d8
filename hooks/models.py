from django.conf import settings
from django.db import models

from integrations.fields import EncryptedTextField
from integrations.models import Integration
from workflows.models import Workflow
from workspaces.models import Workspace
from workspaces.querysets import WorkspaceQuerySet


class TriggerType(models.TextChoices):
    WEBHOOK = "webhook", "Webhook"
    SCHEDULE = "schedule", "Schedule"
    GMAIL_NEW_EMAIL = "gmail.new_email", "New Gmail email"


class TriggerPause(models.TextChoices):
    """Why a polling trigger is not polling though it is enabled."""

    NONE = "", "Not paused"
    READ_ACCESS_MISSING = "read_access_missing", "Waiting for read access to the mailbox"
    REAUTH_REQUIRED = "reauth_required", "The account needs reconnecting"


class Trigger(models.Model):
    """Something that starts runs of one workflow on its own.

    Every type shares the columns here. A type's own settings (a schedule's cron, zone and input;
    a mailbox's query) live in `config`, checked by that type's serializer (hooks.trigger_types),
    the way a step's params are checked by its action's. What the database must index, encrypt or
    reference gets a column instead: the webhook token's hash (looked up on every call), the
    signing secret (encrypted), and later a mailbox's integration (a foreign key) and its cursor
    (advanced in the transaction that creates the runs).
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="triggers")
    type = models.CharField(max_length=30, choices=TriggerType.choices)
    enabled = models.BooleanField(default=True)
    config = models.JSONField(default=dict, blank=True)
    # Webhook: the URL's token, hashed (SHA-256) for the lookup, and encrypted so the builder can
    # show the URL again.
    token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    token = EncryptedTextField(blank=True, editable=False)
    signing_secret = EncryptedTextField(blank=True, editable=False)
    # New Gmail email: the mailbox read, and the history id read up to (advanced in the
    # transaction that creates the runs of what was read).
    integration = models.ForeignKey(
        Integration, null=True, blank=True, on_delete=models.SET_NULL, related_name="triggers"
    )
    cursor = models.CharField(max_length=40, blank=True, editable=False)
    # Schedule: the next cron time; Gmail: the next poll. The minute tick picks the due ones.
    due_at = models.DateTimeField(null=True, blank=True, editable=False)
    paused = models.CharField(max_length=30, choices=TriggerPause.choices, blank=True, default="")
    # When its owner was told it stopped working; cleared when it works again, so they hear once.
    unhealthy_notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Health: when it last started a run, last looked for work (polling types), last failed.
    last_fired_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["workspace", "workflow"], name="trigger_by_workflow_idx"),
            models.Index(fields=["type", "due_at"], name="trigger_due_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(type="gmail.new_email") | models.Q(integration__isnull=False),
                name="gmail_trigger_has_integration",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} trigger of workflow {self.workflow_id}"

    @property
    def signing(self) -> bool:
        return bool(self.signing_secret)


class TriggerFiring(models.Model):
    """One thing a trigger acted on: a schedule's tick (its ISO time) or a Gmail message (its id).
    Unique per trigger, so however many schedulers or pollers race, each starts one run."""

    trigger = models.ForeignKey(Trigger, on_delete=models.CASCADE, related_name="firings")
    key = models.CharField(max_length=100)
    run = models.ForeignKey(
        "workflows.WorkflowRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["trigger", "key"], name="one_firing_per_trigger_key")]

    def __str__(self) -> str:
        return f"{self.key} of trigger {self.trigger_id}"


class NotificationEvent(models.TextChoices):
    RUN_FAILED = "run.failed", "A run failed"
    RUN_SUCCEEDED = "run.succeeded", "A run succeeded"
    INTEGRATION_REAUTH_REQUIRED = "integration.reauth_required", "An account needs reconnecting"
    TRIGGER_UNHEALTHY = "trigger.unhealthy", "A trigger stopped working"


class NotificationEndpoint(models.Model):
    """A URL of the workspace's that receives signed (Standard Webhooks) notifications."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list, help_text="The NotificationEvent values it receives.")
    secret = EncryptedTextField(editable=False)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.url


class DeliveryOutcome(models.TextChoices):
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One attempt to deliver one notification to one endpoint. Retries of a notification share
    its `message_id` (the `webhook-id` header), so the receiver can tell them apart from new ones."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(NotificationEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.CharField(max_length=64)
    event = models.CharField(max_length=40, choices=NotificationEvent.choices)
    attempt = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=10, choices=DeliveryOutcome.choices)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The start of the endpoint's answer.")
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["workspace", "endpoint", "-created_at"], name="delivery_by_endpoint_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} to endpoint {self.endpoint_id}, attempt {self.attempt} ({self.outcome})"
