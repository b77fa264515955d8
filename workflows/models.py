from django.conf import settings
from django.db import models
from django.db.models import Q

from integrations.models import Integration
from workspaces.models import ApiKey, Workspace
from workspaces.querysets import WorkspaceQuerySet


class Workflow(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="workflows")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Deleting a workflow that has runs archives it: hidden and not runnable, its runs kept.
    archived_at = models.DateTimeField(null=True, blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["workspace", "name"], name="workflow_list_idx")]

    def __str__(self) -> str:
        return self.name


class WorkflowStep(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    # How later steps name this one: {{ steps.<key>.<field> }}. Defaulted from the action.
    key = models.CharField(max_length=60)
    action = models.CharField(max_length=60)
    integration = models.ForeignKey(
        Integration,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty: the workspace's default account of the action's type.",
    )
    params = models.JSONField(default=dict, blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "position"], name="unique_step_position"),
            # Services always give a key; a row written without one (fixtures, admin) is not named.
            models.UniqueConstraint(fields=["workflow", "key"], condition=~Q(key=""), name="unique_step_key"),
        ]

    def __str__(self) -> str:
        return f"{self.position + 1}. {self.action}"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


FINISHED_RUN_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED})


class RunTrigger(models.TextChoices):
    UI = "ui", "Web"
    API = "api", "API"
    WEBHOOK = "webhook", "Webhook"
    SCHEDULE = "schedule", "Schedule"
    GMAIL = "gmail", "New Gmail email"


class WorkflowRun(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED)
    input = models.JSONField(default=dict, blank=True)
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices)
    # The trigger (hooks.Trigger) that started the run; empty for runs started in the UI or the API.
    source_trigger = models.ForeignKey(
        "hooks.Trigger", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    idempotency_key = models.CharField(max_length=255, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When the sweep last enqueued it again: a run still waiting behind a backlog is enqueued
    # again at most once per sweep age, not on every tick.
    resumed_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=50, blank=True)
    error_message = models.TextField(blank=True)
    # A re-run: the run it repeats. Its steps that had succeeded are carried over, not run again.
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )

    objects = WorkspaceQuerySet.as_manager()

    # Not a column: whether the workspace had an enabled notification endpoint when the run was
    # read with its steps (`start_run`, the engine); None where nobody looked.
    notifies: bool | None = None

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="unique_run_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["workspace", "-created_at", "-id"], name="run_list_idx"),
            models.Index(fields=["workspace", "workflow", "-created_at"], name="run_by_workflow_idx"),
            models.Index(fields=["workspace", "status", "-created_at"], name="run_by_status_idx"),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.workflow_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_RUN_STATUSES


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    RETRYING = "retrying", "Waiting to retry"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    # The provider may or may not have done the work (an email sent, no answer): never redone
    # without a person's word ("Send again").
    OUTCOME_UNKNOWN = "outcome_unknown", "Outcome unknown"


class StepRun(models.Model):
    """One step of one run. Key, action, integration and params are copied from the step when the
    run is created, so editing a workflow never changes a run already under way."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="step_runs")
    position = models.PositiveIntegerField()
    key = models.CharField(max_length=60, blank=True)
    action = models.CharField(max_length=60)
    integration = models.ForeignKey(
        Integration, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=StepStatus.choices, default=StepStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    output = models.JSONField(default=dict, blank=True)
    error_code = models.CharField(max_length=50, blank=True)
    error_message = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The mailbox send slot booked for the next attempt; kept while the step waits for it, so
    # coming back does not book (and push every later send back by) another one.
    send_slot_at = models.DateTimeField(null=True, blank=True)
    # Set (committed) just before a call the provider cannot deduplicate goes out, cleared when
    # its answer is recorded: still set, the call's outcome is unknown and it is not made blindly.
    provider_call_started_at = models.DateTimeField(null=True, blank=True)
    # Our Message-ID for this step's email: kept across retries, so a lookup finds any of them.
    message_id_header = models.CharField(max_length=255, blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["run", "position"], name="unique_step_run_position")]

    def __str__(self) -> str:
        return f"Step {self.position + 1} of run {self.run_id}: {self.action} ({self.status})"

    @property
    def carried_over(self) -> bool:
        """Succeeded in the run this one re-runs: its output was copied, nothing was attempted."""
        return self.status == StepStatus.SUCCEEDED and self.attempts == 0
