import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celery.exceptions import TimeoutError as ResultTimeout
from celery.result import AsyncResult
from django.contrib.auth.models import User
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from galaxyco import context
from galaxyco.db.prepared import prepared_statements
from galaxyco.errors import AppError, Conflict, ErrorCode, InvalidInput, NotFound
from integrations.models import Integration, IntegrationStatus
from integrations.selectors import usable_integrations
from workflows import inputs, rendering
from workflows.actions.registry import get_action
from workflows.models import (
    RunStatus,
    RunTrigger,
    StepRun,
    StepStatus,
    Workflow,
    WorkflowRun,
    WorkflowStep,
)
from workflows.selectors import get_run, get_workflow, run_by_idempotency_key, stalled_runs, steps_to_run
from workspaces.models import ApiKey, Workspace

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepSpec:
    """A validated step: the action's params already passed its serializer."""

    action: str
    params: dict[str, Any]
    integration: Integration | None = None
    key: str = ""  # empty: one from the action, unique in the workflow


def _check_steps(
    *, workspace: Workspace, steps: list[StepSpec], saved_by_id: int | None, workflow: Workflow | None = None
) -> None:
    for step in steps:
        action = get_action(step.action)
        if action is None:
            raise InvalidInput(f"Unknown action “{step.action}”.")
        if step.integration is not None:
            if step.integration.workspace_id != workspace.pk:
                raise InvalidInput("No integration with this id exists in this workspace.")
            if step.integration.type != action.integration_type:
                raise InvalidInput(
                    f"The step “{action.label}” needs a {action.integration_type} integration."
                )
    _check_accounts_named(workspace=workspace, steps=steps, saved_by_id=saved_by_id, workflow=workflow)


def _check_accounts_named(
    *, workspace: Workspace, steps: list[StepSpec], saved_by_id: int | None, workflow: Workflow | None
) -> None:
    """A step may name only an account its author may use: their own or a shared one (an API key:
    a shared one). A connected account the workflow already names may stay, so a teammate can edit
    it. Whoever runs it must be allowed to use the account too: the engine checks at run time."""
    named = {step.integration.pk for step in steps if step.integration is not None}
    if not named:
        return
    allowed = set(
        usable_integrations(workspace=workspace, user_id=saved_by_id)
        .filter(pk__in=named)
        .values_list("pk", flat=True)
    )
    if workflow is not None:
        allowed |= set(
            WorkflowStep.objects.for_workspace(workspace)
            .filter(workflow=workflow, integration_id__in=named)
            .exclude(integration__status=IntegrationStatus.DISCONNECTED)
            .values_list("integration_id", flat=True)
        )
    for position, step in enumerate(steps, start=1):
        if step.integration is not None and step.integration.pk not in allowed:
            raise InvalidInput(
                _not_namable_message(position=position, integration=step.integration, saved_by_id=saved_by_id)
            )


def _not_namable_message(*, position: int, integration: Integration, saved_by_id: int | None) -> str:
    account = f"{integration.get_type_display()} account {integration.email}"
    if integration.status == IntegrationStatus.DISCONNECTED:
        return (
            f"Step {position}: the {account} is disconnected. "
            "Connect an account on the Integrations page and choose it, or leave the account empty."
        )
    if saved_by_id is None:
        return (
            f"Step {position}: the {account} is private to the person who connected it, and a workflow "
            "saved with an API key may name only shared accounts. Leave the account empty to use the "
            "workspace's default, or ask its owner to share it."
        )
    return (
        f"Step {position}: the {account} is private to the person who connected it. Choose your own "
        "or a shared account, or leave the account empty to use the workspace's default."
    )


def _step_keys(steps: list[StepSpec]) -> list[str]:
    """Each step's key, and every `{{ steps.… }}` naming an earlier step (the serializer says
    which field is wrong; this guards every other caller)."""
    keys = inputs.assign_step_keys(actions=[s.action for s in steps], keys=[s.key for s in steps])
    for key in keys:
        if not rendering.STEP_KEY.fullmatch(key):
            raise InvalidInput(
                f"“{key}” is not a valid step key: use lowercase letters, digits and underscores."
            )
    if len(set(keys)) != len(keys):
        raise InvalidInput("Two steps have the same key: each step's key must be unique in the workflow.")
    errors = inputs.step_reference_errors(
        keys=keys, actions=[s.action for s in steps], params=[s.params for s in steps]
    )
    if errors:
        index, fields = min(errors.items())
        param, messages = next(iter(fields.items()))
        raise InvalidInput(f"Step {index + 1}, {param}: {messages[0]}")
    return keys


def _replace_steps(*, workflow: Workflow, steps: list[StepSpec]) -> None:
    keys = _step_keys(steps)
    workflow.steps.all().delete()
    WorkflowStep.objects.bulk_create(
        WorkflowStep(
            workspace=workflow.workspace,
            workflow=workflow,
            position=position,
            key=key,
            action=step.action,
            integration=step.integration,
            params=step.params,
        )
        for position, (step, key) in enumerate(zip(steps, keys, strict=True))
    )


@transaction.atomic
def create_workflow(
    *,
    workspace: Workspace,
    created_by: User | None,
    name: str,
    description: str = "",
    is_active: bool = True,
    steps: list[StepSpec],
) -> Workflow:
    _check_steps(
        workspace=workspace, steps=steps, saved_by_id=created_by.pk if created_by is not None else None
    )
    workflow = Workflow.objects.create(
        workspace=workspace, created_by=created_by, name=name, description=description, is_active=is_active
    )
    _replace_steps(workflow=workflow, steps=steps)
    return workflow


@transaction.atomic
def update_workflow(
    *,
    workspace: Workspace,
    workflow_id: int,
    saved_by: User | None,
    name: str | None = None,
    description: str | None = None,
    is_active: bool | None = None,
    steps: list[StepSpec] | None = None,
) -> Workflow:
    workflow = (
        Workflow.objects.for_workspace(workspace)
        .select_for_update()
        .filter(pk=workflow_id, archived_at__isnull=True)
        .first()
    )
    if workflow is None:
        raise NotFound()
    for field, value in (("name", name), ("description", description), ("is_active", is_active)):
        if value is not None:
            setattr(workflow, field, value)
    workflow.save()
    if steps is not None:
        _check_steps(
            workspace=workspace,
            steps=steps,
            saved_by_id=saved_by.pk if saved_by is not None else None,
            workflow=workflow,
        )
        _replace_steps(workflow=workflow, steps=steps)
    return workflow


@transaction.atomic
def delete_workflow(*, workspace: Workspace, workflow_id: int) -> bool:
    """Delete a workflow; one that has runs is archived instead, so its run history stays: hidden
    from the lists and not runnable, its runs still listed. Returns whether it was archived."""
    workflow = (
        Workflow.objects.for_workspace(workspace)
        .select_for_update()
        .filter(pk=workflow_id, archived_at__isnull=True)
        .first()
    )
    if workflow is None:
        raise NotFound()
    if not WorkflowRun.objects.for_workspace(workspace).filter(workflow=workflow).exists():
        workflow.delete()
        return False
    workflow.archived_at = timezone.now()
    workflow.save(update_fields=["archived_at", "updated_at"])
    return True


def request_fingerprint(*, workflow_id: int, run_input: dict[str, Any]) -> str:
    canonical = json.dumps(
        {"workflow": workflow_id, "input": run_input}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


# Stored whole or refused: a key cut to fit would collide with every key sharing its start.
IDEMPOTENCY_KEY_MAX_LENGTH = 255
_IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]+")


def _check_idempotency_key(key: str) -> None:
    if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH or not _IDEMPOTENCY_KEY.fullmatch(key):
        raise InvalidInput(
            f"The Idempotency-Key header must be 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII "
            "characters. A UUID works well.",
            code=ErrorCode.INVALID_IDEMPOTENCY_KEY,
        )


def _existing_run_for_key(
    *, workspace: Workspace, key: str, fingerprint: str, release_unstarted: bool = False
) -> WorkflowRun | None:
    existing = run_by_idempotency_key(workspace=workspace, key=key)
    if (
        release_unstarted
        and existing is not None
        and existing.status == RunStatus.FAILED
        and existing.started_at is None
    ):
        # Nothing was attempted (the task queue could not take it): the key is free for the retry.
        # Conditional, so that of two concurrent retries one frees it and both then race to create.
        WorkflowRun.objects.for_workspace(workspace).filter(pk=existing.pk, idempotency_key=key).update(
            idempotency_key=""
        )
        return None
    if existing is not None and existing.request_fingerprint != fingerprint:
        raise Conflict(
            "This Idempotency-Key was already used for a different request. Use a new key for a new run.",
            code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
        )
    return existing


@prepared_statements()
def start_run(
    *,
    workspace: Workspace,
    workflow_id: int,
    run_input: dict[str, Any],
    trigger: str,
    requested_by: User | None = None,
    api_key: ApiKey | None = None,
    idempotency_key: str = "",
    source_trigger_id: int | None = None,
    run_here: bool = False,
) -> tuple[WorkflowRun, bool]:
    """Create a run (one StepRun per step) and enqueue it after commit. With an idempotency key
    already used for the same request, return that run instead: (run, created). A run that failed
    before it started does not hold its key.

    `run_here`: the caller executes the run at once (`tasks.run_here`), so it is created running
    and not enqueued; its steps come prefetched (`run.step_runs.all()`) with their accounts."""
    fingerprint = request_fingerprint(workflow_id=workflow_id, run_input=run_input)
    return _start_once(
        workspace=workspace,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        create=lambda: _create_run(
            workspace=workspace,
            workflow_id=workflow_id,
            run_input=run_input,
            trigger=RunTrigger(trigger),
            requested_by=requested_by,
            api_key=api_key,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            source_trigger_id=source_trigger_id,
            run_here=run_here,
        ),
    )


def _start_once(
    *, workspace: Workspace, idempotency_key: str, fingerprint: str, create: Callable[[], WorkflowRun]
) -> tuple[WorkflowRun, bool]:
    """`create` a run in a transaction, unless the idempotency key names one already: (run, created)."""
    if idempotency_key:
        _check_idempotency_key(idempotency_key)
        existing = _existing_run_for_key(
            workspace=workspace, key=idempotency_key, fingerprint=fingerprint, release_unstarted=True
        )
        if existing is not None:
            return existing, False
    try:
        with transaction.atomic():
            run = create()
    except IntegrityError:
        # Another request with the same key won the race: answer with its run.
        existing = _existing_run_for_key(workspace=workspace, key=idempotency_key, fingerprint=fingerprint)
        if existing is None:
            raise
        return existing, False
    return run, True


def _create_run(
    *,
    workspace: Workspace,
    workflow_id: int,
    run_input: dict[str, Any],
    trigger: RunTrigger,
    requested_by: User | None,
    api_key: ApiKey | None,
    idempotency_key: str,
    fingerprint: str,
    source_trigger_id: int | None,
    run_here: bool,
) -> WorkflowRun:
    from workflows.engine import hold_steps, new_message_id
    from workflows.tasks import enqueue_run

    # The accounts the steps name come with them (token, and whether their owner is still a
    # member), for the engine of a run executed at once.
    steps = steps_to_run(workspace=workspace, workflow_id=workflow_id)
    if not steps:
        if (
            not Workflow.objects.for_workspace(workspace)
            .filter(pk=workflow_id, archived_at__isnull=True)
            .exists()
        ):
            raise NotFound()
        raise Conflict(
            "This workflow has no steps yet. Add a step, then run it.", code=ErrorCode.WORKFLOW_EMPTY
        )
    workflow = steps[0].workflow
    if workflow.archived_at is not None:
        raise NotFound()
    if not workflow.is_active:
        raise Conflict(
            "This workflow is paused. Turn it on before running it.", code=ErrorCode.WORKFLOW_INACTIVE
        )
    inputs.require_valid_input(steps=steps, run_input=run_input)
    now = timezone.now()
    run = WorkflowRun.objects.create(
        workspace=workspace,
        workflow=workflow,
        input=run_input,
        trigger=trigger,
        requested_by=requested_by,
        api_key=api_key,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        source_trigger_id=source_trigger_id,
        # Executed at once by the caller: committed first all the same, so a process that dies
        # mid-run leaves it for the scheduled resume.
        **({"status": RunStatus.RUNNING, "started_at": now} if run_here else {}),
    )
    run.notifies = steps[0].workspace_notifies  # type: ignore[attr-defined]
    for step in steps:
        if step.integration is not None:
            step.integration.owner_is_member = step.integration_owner_is_member  # type: ignore[attr-defined]
    step_runs = StepRun.objects.bulk_create(
        StepRun(
            workspace=workspace,
            run=run,
            position=step.position,
            key=step.key,
            action=step.action,
            integration=step.integration,
            params=step.params,
            # An email's own Message-ID, made with the step rather than by a write of its own.
            message_id_header=new_message_id(run_id=run.pk, position=step.position)
            if (action := get_action(step.action)) is not None and action.at_most_once
            else "",
        )
        for step in steps
    )
    # The engine and the response read the run as written instead of loading it again.
    hold_steps(run=run, step_runs=step_runs)
    context.bind(run_id=run.pk)
    logger.info(
        "Run queued", extra={"event": "run_queued", "workflow_id": workflow.pk, "trigger": trigger.value}
    )
    if not run_here:
        transaction.on_commit(lambda: enqueue_run(run_id=run.pk))
    return run


# A run that ended without doing all its work may be re-run; one that succeeded has nothing left.
RERUNNABLE_STATUSES = frozenset({RunStatus.FAILED, RunStatus.CANCELED})


def rerun_refusal(*, run_id: int, steps: Iterable[StepRun]) -> str:
    """Why this run may not be re-run, or "": a step whose email may have gone out (its outcome is
    unknown) would be sent again without anyone checking. Send again on that step is the way."""
    for step in steps:
        if step.status == StepStatus.OUTCOME_UNKNOWN:
            return (
                f"Run #{run_id} cannot be re-run: step {step.position + 1} may already have sent its "
                "email, and a re-run would send it again. Check the Sent folder of the sending account; "
                f"if the email is not there, use Send again on step {step.position + 1}."
            )
    return ""


def rerun(
    *,
    workspace: Workspace,
    run_id: int,
    trigger: str,
    requested_by: User | None = None,
    api_key: ApiKey | None = None,
    idempotency_key: str = "",
) -> tuple[WorkflowRun, bool]:
    """Run a failed or canceled run again, as a new run (`retry_of` the old one) with the old run's
    input and steps as they were snapshotted: a re-run repeats what failed, whatever the workflow
    has become since. Steps that had succeeded are carried over (their output copied, not run
    again), so later steps still read them. Like `start_run`: (run, created), idempotency key
    honoured."""
    fingerprint = hashlib.sha256(f"retry_of:{run_id}".encode()).hexdigest()
    return _start_once(
        workspace=workspace,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        create=lambda: _create_rerun(
            workspace=workspace,
            run_id=run_id,
            trigger=RunTrigger(trigger),
            requested_by=requested_by,
            api_key=api_key,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
        ),
    )


def _create_rerun(
    *,
    workspace: Workspace,
    run_id: int,
    trigger: RunTrigger,
    requested_by: User | None,
    api_key: ApiKey | None,
    idempotency_key: str,
    fingerprint: str,
) -> WorkflowRun:
    from workflows.tasks import enqueue_run

    # Locked: of two requests to re-run it, the second sees the first's re-run.
    old = (
        WorkflowRun.objects.for_workspace(workspace)
        .select_for_update()
        .select_related("workflow")
        .filter(pk=run_id)
        .first()
    )
    if old is None:
        raise NotFound()
    if old.status not in RERUNNABLE_STATUSES:
        raise Conflict(
            f"Run #{old.pk} is {old.get_status_display().lower()}: only a failed or canceled run can be re-run.",
            code=ErrorCode.RUN_NOT_RERUNNABLE,
        )
    if old.workflow.archived_at is not None:
        raise Conflict(
            "This run's workflow was deleted, so it cannot be run again.", code=ErrorCode.WORKFLOW_DELETED
        )
    if not old.workflow.is_active:
        raise Conflict(
            "This workflow is paused. Turn it on before running it.", code=ErrorCode.WORKFLOW_INACTIVE
        )
    refusal = rerun_refusal(
        run_id=old.pk, steps=StepRun.objects.for_workspace(workspace).filter(run=old).order_by("position")
    )
    if refusal:
        raise Conflict(refusal, code=ErrorCode.OUTCOME_UNKNOWN)
    under_way = (
        WorkflowRun.objects.for_workspace(workspace)
        .filter(retry_of=old)
        .exclude(status__in=RERUNNABLE_STATUSES)
        .order_by("-created_at", "-id")
        .first()
    )
    if under_way is not None:
        raise Conflict(
            f"Run #{old.pk} was already re-run as run #{under_way.pk}, which is "
            f"{under_way.get_status_display().lower()}. Open that run instead.",
            code=ErrorCode.ALREADY_RERUN,
        )
    run = WorkflowRun.objects.create(
        workspace=workspace,
        workflow=old.workflow,
        input=old.input,
        trigger=trigger,
        requested_by=requested_by,
        api_key=api_key,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        retry_of=old,
    )
    now = timezone.now()
    StepRun.objects.bulk_create(
        StepRun(
            workspace=workspace,
            run=run,
            position=step.position,
            key=step.key,
            action=step.action,
            integration_id=step.integration_id,
            params=step.params,
            **(
                {"status": StepStatus.SUCCEEDED, "output": step.output, "started_at": now, "finished_at": now}
                if step.status == StepStatus.SUCCEEDED
                else {}
            ),
        )
        for step in StepRun.objects.for_workspace(workspace).filter(run=old).order_by("position")
    )
    context.bind(run_id=run.pk)
    logger.info(
        "Run queued", extra={"event": "run_queued", "workflow_id": old.workflow_id, "retry_of": old.pk}
    )
    transaction.on_commit(lambda: enqueue_run(run_id=run.pk))
    return run


# A step in one of these may be skipped by a cancel: nothing is under way for it.
_CANCELABLE_STEP_STATUSES = [StepStatus.PENDING, StepStatus.RETRYING]


def cancel_run(*, workspace: Workspace, run_id: int) -> WorkflowRun:
    """Cancel a run that is queued or waiting (to retry a step, or for a send slot): its remaining
    steps are skipped. A step under way (claimed), or one whose send's outcome is still to be looked
    up, cannot be called back: 409, as for a finished run.

    The steps are skipped with one conditional UPDATE, which a concurrent claim (the engine's own
    conditional UPDATE on the same rows) either precedes, and then the cancel finds the step under
    way and is rolled back, or follows, and then it finds nothing to claim."""
    with transaction.atomic():
        run = WorkflowRun.objects.for_workspace(workspace).select_for_update().filter(pk=run_id).first()
        if run is None:
            raise NotFound()
        if run.is_finished:
            raise Conflict(
                f"Run #{run.pk} has already finished ({run.get_status_display().lower()}): "
                "there is nothing left to cancel.",
                code=ErrorCode.RUN_FINISHED,
            )
        steps = StepRun.objects.for_workspace(workspace).filter(run=run)
        if steps.filter(provider_call_started_at__isnull=False).exists():
            # Waiting to look up a send whose answer never came: skipping the step would hide an
            # email that may have gone out.
            raise Conflict(
                f"Run #{run.pk} is finding out whether an email it sent went out, so it cannot be "
                "canceled. Wait for the run to finish; it says whether the email was sent.",
                code=ErrorCode.RUN_IN_PROGRESS,
            )
        skipped = steps.filter(status__in=_CANCELABLE_STEP_STATUSES).update(
            status=StepStatus.SKIPPED, next_attempt_at=None, send_slot_at=None
        )
        if not skipped or steps.exclude(status__in=[StepStatus.SUCCEEDED, StepStatus.SKIPPED]).exists():
            raise Conflict(  # leaving the transaction undoes the skips
                f"Run #{run.pk} is running a step right now, so it cannot be canceled. "
                "Wait for the step to finish, then cancel it if it is still waiting.",
                code=ErrorCode.RUN_IN_PROGRESS,
            )
        run.status, run.finished_at = RunStatus.CANCELED, timezone.now()
        run.error_code, run.error_message = "", ""
        run.save(update_fields=["status", "finished_at", "error_code", "error_message"])
        context.bind(run_id=run.pk)
        logger.info("Run canceled", extra={"event": "run_canceled"})
    return run


@dataclass(frozen=True)
class StepPreview:
    position: int
    key: str
    action: str
    params: dict[str, Any] | None
    error: str | None


def preview_run(*, workspace: Workspace, workflow_id: int, run_input: dict[str, Any]) -> list[StepPreview]:
    """Each step's params as a run with this input would send them: nothing is sent and no run is
    created. The input is checked as for a run. What earlier steps will output is not known yet,
    so `{{ steps.… }}` shows as written."""
    workflow = get_workflow(workspace=workspace, workflow_id=workflow_id)
    if workflow is None:
        raise NotFound()
    steps = list(workflow.steps.all())
    inputs.require_valid_input(steps=steps, run_input=run_input)
    previews = []
    for index, step in enumerate(steps):
        action = get_action(step.action)
        if action is None:
            previews.append(
                StepPreview(step.position, step.key, step.action, None, f"Unknown action “{step.action}”.")
            )
            continue
        as_written = {
            earlier.key: {
                field: "{{ steps." + earlier.key + "." + field + " }}"
                for field in earlier_action.output_fields
            }
            for earlier in steps[:index]
            if (earlier_action := get_action(earlier.action)) is not None
        }
        try:
            params = action.prepare(params=step.params, run_input=run_input, step_outputs=as_written)
        except AppError as error:
            previews.append(StepPreview(step.position, step.key, step.action, None, error.message))
        else:
            previews.append(StepPreview(step.position, step.key, step.action, params, None))
    return previews


# How long a wait on a run's task result lasts before the run is read from the database again.
RUN_WAIT_SLICE_SECONDS = 1.0


def wait_for_run(*, workspace: Workspace, run_id: int, timeout: float) -> WorkflowRun | None:
    """The run once it has finished, or as it stands when `timeout` seconds have passed.

    Waits on the run's task result (Celery's result backend: Redis publishes it; the embedded
    file backend is read every 100 ms) at most RUN_WAIT_SLICE_SECONDS at a time, reading the run
    from the database between the slices: the database stays the truth, and it also tells of a
    run that finishes without a task (one a request executes in place, whose repeat with the
    same Idempotency-Key waits here). A result backend that cannot answer only means the run is
    read at every slice.
    """
    from workflows.tasks import run_task_id

    run = get_run(workspace=workspace, run_id=run_id)
    if run is None or run.is_finished or timeout <= 0:
        return run
    result: AsyncResult[Any] = AsyncResult(run_task_id(run_id))
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        slice_ends = time.monotonic() + min(left, RUN_WAIT_SLICE_SECONDS)
        try:
            # A request is never a task: Celery's "no join inside a task" guard is a process-wide
            # flag that an in-process worker component can leave set, so it must not apply here.
            result.get(
                timeout=min(left, RUN_WAIT_SLICE_SECONDS),
                interval=0.1,
                propagate=False,
                disable_sync_subtasks=False,
            )
        except ResultTimeout:
            pass
        except Exception:
            logger.warning(
                "Could not wait on the run's result", exc_info=True, extra={"event": "run_wait_failed"}
            )
        run = get_run(workspace=workspace, run_id=run_id)
        if run is None or run.is_finished:
            return run
        # A result already there (an earlier task of the run's) answers at once: wait out the slice.
        time.sleep(max(0.0, min(slice_ends, deadline) - time.monotonic()))
    return run


@dataclass(frozen=True)
class UnreadRun:
    """A run that exists and goes on (through the broker) but that the database could not give
    back just now: what an answer can still say about it."""

    pk: int
    workspace_id: int


def wait_for_started_run(
    *, workspace: Workspace, run_id: int, timeout: float
) -> WorkflowRun | UnreadRun | None:
    """`wait_for_run` for a run that exists: should the database drop meanwhile, the run is not
    lost to the caller (an error would invite a second run): it is answered by its id."""
    try:
        return wait_for_run(workspace=workspace, run_id=run_id, timeout=timeout)
    except (OperationalError, InterfaceError) as error:
        if not connection.in_atomic_block:
            connection.close()
        logger.warning(
            "Could not read a started run: the database is unavailable",
            extra={"event": "run_read_failed", "run_id": run_id, "error_type": type(error).__name__},
        )
        return UnreadRun(pk=run_id, workspace_id=workspace.pk)


def run_now_and_wait(
    *, workspace: Workspace, run: WorkflowRun, timeout: float
) -> WorkflowRun | UnreadRun | None:
    """Execute a run created with `start_run(run_here=True)` here and now (`tasks.run_here`) and
    return it as the engine left it; a run that had to wait longer than a moment, or lost the
    database, went on in a worker, and is waited for like any other (`wait_for_started_run`) for
    what is left of `timeout`."""
    from workflows.tasks import run_here

    started = time.monotonic()
    progress = run_here(run=run)
    if progress.finished and progress.run is not None:
        return progress.run
    return wait_for_started_run(
        workspace=workspace, run_id=run.pk, timeout=timeout - (time.monotonic() - started)
    )


def send_step_again(*, workspace: Workspace, run_id: int, position: int) -> WorkflowRun:
    """On a person's word, send again a step whose outcome was unknown (they checked the Sent
    folder): the step gets a fresh attempt and Message-ID, the steps after it run again, and the
    run carries on from there. Only once: a second request finds the run under way (409)."""
    from workflows.tasks import enqueue_run

    with transaction.atomic():
        run = get_run(workspace=workspace, run_id=run_id)
        if run is None:
            raise NotFound()
        step = StepRun.objects.for_workspace(workspace).filter(run=run, position=position).first()
        if step is None:
            raise NotFound()
        if step.status != StepStatus.OUTCOME_UNKNOWN:
            raise Conflict("Only a step whose outcome is unknown can be sent again.")
        reopened = (
            WorkflowRun.objects.for_workspace(workspace)
            .filter(pk=run.pk, status=RunStatus.FAILED)
            .update(status=RunStatus.QUEUED, finished_at=None, error_code="", error_message="")
        )
        if not reopened:
            raise Conflict("This run is already under way again.")
        StepRun.objects.for_workspace(workspace).filter(pk=step.pk, status=StepStatus.OUTCOME_UNKNOWN).update(
            status=StepStatus.PENDING,
            attempts=0,
            error_code="",
            error_message="",
            finished_at=None,
            next_attempt_at=None,
            send_slot_at=None,
            provider_call_started_at=None,
            message_id_header="",
        )
        StepRun.objects.for_workspace(workspace).filter(
            run=run, position__gt=position, status=StepStatus.SKIPPED
        ).update(status=StepStatus.PENDING)
        logger.info("Step sent again on request", extra={"event": "step_send_again", "position": position})
        transaction.on_commit(lambda: enqueue_run(run_id=run.pk))
    run.refresh_from_db()
    return run


def resume_stalled_runs(*, older_than: timedelta) -> int:
    """Enqueue again every run (of every workspace: an operator's sweep) left queued or running
    with no attempt waiting or under way, at most once per `older_than` each. Safe at any time: a step that succeeded never runs
    again and an attempt under way keeps its lease. Returns how many runs were enqueued."""
    from workflows.tasks import enqueue_run

    run_ids = list(stalled_runs(older_than=older_than).values_list("pk", flat=True))
    WorkflowRun.objects.unscoped().filter(pk__in=run_ids).update(resumed_at=timezone.now())
    for run_id in run_ids:
        enqueue_run(run_id=run_id)
    if run_ids:
        logger.info("Resumed %d stalled run(s)", len(run_ids), extra={"event": "runs_resumed"})
    return len(run_ids)
