"""Fill an empty database with many workspaces and runs, to measure the app at scale.

    python manage.py seed_scale --workspaces 10000 --runs 1000000

Each workspace gets an owner (every fourth one a second member), a shared default Gmail account
and two one-step Gmail workflows; the runs, each with its step run, are spread over the last 180
days, most succeeded, some failed or canceled. One workspace, slug `scale-busiest`, gets
--busiest-runs of them; the others share the rest evenly. Rows are written in chunks with COPY on
PostgreSQL (plain inserts elsewhere), then VACUUM ANALYZE (ANALYZE outside PostgreSQL) leaves the
tables as autovacuum would after a bulk load: planner statistics and the visibility map.

It refuses a database that already has a workspace: it is for a benchmark's own database, never
one with people's data in it.
"""

import json
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.utils import timezone

from galaxyco.errors import ErrorCode
from integrations.models import Integration, IntegrationStatus, IntegrationType
from workflows.models import RunStatus, RunTrigger, StepRun, StepStatus, Workflow, WorkflowRun, WorkflowStep
from workspaces.models import Membership, Plan, Role, Workspace

BUSIEST_SLUG = "scale-busiest"
WORKFLOWS_PER_WORKSPACE = 2
HISTORY = timedelta(days=180)
ACTION = "gmail.send_email"
STEP_PARAMS = {
    "to": ["{{ input.email }}"],
    "subject": "Hi {{ input.name }}",
    "text": "Hello {{ input.name }}",
}
# Out of every 50 runs: 45 succeeded, 4 failed, 1 canceled (run i has outcome 7i mod 50: mixed).
OUTCOMES = [RunStatus.SUCCEEDED] * 45 + [RunStatus.FAILED] * 4 + [RunStatus.CANCELED]
TRIGGERS = [RunTrigger.API, RunTrigger.API, RunTrigger.UI, RunTrigger.WEBHOOK, RunTrigger.SCHEDULE]


class Table:
    """Rows for one model, given as {attname: value}; the fields left out take their defaults."""

    def __init__(self, model: type[models.Model]) -> None:
        self.model = model
        self.fields = list(model._meta.concrete_fields)
        self.defaults = {field.attname: field.get_default() for field in self.fields}
        self.adapters: list[Callable[[Any], Any]] = [self._adapter(field) for field in self.fields]

    @staticmethod
    def _adapter(field: "models.Field[Any, Any]") -> Callable[[Any], Any]:
        if isinstance(field, models.JSONField):
            return lambda value: None if value is None else json.dumps(value)
        if isinstance(field, models.DateTimeField):
            return connection.ops.adapt_datetimefield_value
        return lambda value: value

    def row(self, values: dict[str, Any]) -> tuple[Any, ...]:
        merged = self.defaults | values
        return tuple(
            adapt(merged[field.attname]) for field, adapt in zip(self.fields, self.adapters, strict=True)
        )

    def write(self, rows: Iterable[dict[str, Any]], *, chunk: int) -> int:
        table = connection.ops.quote_name(self.model._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(field.column) for field in self.fields)
        written = 0
        iterator = iter(rows)
        while batch := [self.row(values) for values in islice(iterator, chunk)]:
            with transaction.atomic(), connection.cursor() as cursor:
                if connection.vendor == "postgresql":
                    with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                        for row in batch:
                            copy.write_row(row)
                else:
                    marks = ", ".join(["%s"] * len(self.fields))
                    cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", batch)  # noqa: S608
            written += len(batch)
        return written


class Command(BaseCommand):
    help = "Seed an empty database with many workspaces and runs (for scale benchmarks)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspaces", type=int, default=10_000)
        parser.add_argument("--runs", type=int, default=1_000_000)
        parser.add_argument(
            "--busiest-runs", type=int, default=100_000, help="runs of the workspace `scale-busiest`"
        )
        parser.add_argument("--chunk", type=int, default=50_000, help="rows per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        workspaces, runs, chunk = options["workspaces"], options["runs"], options["chunk"]
        busiest = min(options["busiest_runs"], runs)
        if workspaces < 1 or runs < 0:
            raise CommandError("Give at least one workspace and no negative number of runs.")
        if Workspace.objects.exists():
            raise CommandError("This database already has workspaces: seed_scale fills an empty one only.")
        started = time.monotonic()
        seeder = _Seeder(workspaces=workspaces, now=timezone.now(), chunk=chunk)
        seeder.workspaces()
        written = seeder.runs(runs=runs, busiest=busiest)
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), seeder.models):
                cursor.execute(statement)
            # The planner's statistics; on PostgreSQL also the visibility map that autovacuum
            # would set after a bulk insert, without which every count reads the table itself
            # (VACUUM cannot run inside a transaction, as in a test).
            vacuum = connection.vendor == "postgresql" and not connection.in_atomic_block
            cursor.execute("VACUUM ANALYZE" if vacuum else "ANALYZE")
        self.stdout.write(
            f"Seeded {workspaces} workspaces and {written} runs in {time.monotonic() - started:.1f} s "
            f"({busiest} in workspace {BUSIEST_SLUG})."
        )


class _Seeder:
    """Ids are given, not generated: each table starts after its highest id, so rows can name their
    parents without reading them back."""

    def __init__(self, *, workspaces: int, now: datetime, chunk: int) -> None:
        self.count = workspaces
        self.now = now
        self.chunk = chunk
        self.models: list[type[models.Model]] = [
            get_user_model(),
            Workspace,
            Membership,
            Integration,
            Workflow,
            WorkflowStep,
            WorkflowRun,
            StepRun,
        ]
        self.first_id = {model: _next_id(model) for model in self.models}

    def _id(self, model: type[models.Model], index: int) -> int:
        return self.first_id[model] + index

    def _write(self, model: type[models.Model], rows: Iterable[dict[str, Any]]) -> int:
        return Table(model).write(rows, chunk=self.chunk)

    def workspaces(self) -> None:
        user_model = get_user_model()
        created = self.now - HISTORY
        self._write(Workspace, self._workspace_rows(created))
        # Owner i is user i; the second member of every fourth workspace comes after the owners.
        self._write(
            user_model,
            (
                {
                    "id": self._id(user_model, index),
                    "password": "!",  # unusable: nobody signs in as a seeded user
                    "username": f"scale-user-{index}",
                    "email": f"user{index}@scale.example",
                    "date_joined": created,
                }
                for index in range(self.count + self.count // 4)
            ),
        )
        self._write(Membership, self._membership_rows(created))
        self._write(
            Integration,
            (
                {
                    "id": self._id(Integration, index),
                    "workspace_id": self._id(Workspace, index),
                    "connected_by_id": self._id(user_model, index),
                    "shared": True,
                    "is_default": True,
                    "type": IntegrationType.GMAIL,
                    "status": IntegrationStatus.ACTIVE,
                    "email": f"team{index}@scale.example",
                    "display_name": f"Team {index}",
                    "provider_account_id": f"scale-{index}",
                    "scopes": ["openid", "email", "https://www.googleapis.com/auth/gmail.send"],
                    "connected_at": created,
                    "created_at": created,
                    "updated_at": created,
                }
                for index in range(self.count)
            ),
        )
        self._write(Workflow, self._workflow_rows(created))
        self._write(
            WorkflowStep,
            (
                {
                    "id": self._id(WorkflowStep, index),
                    "workspace_id": self._id(Workspace, index // WORKFLOWS_PER_WORKSPACE),
                    "workflow_id": self._id(Workflow, index),
                    "position": 0,
                    "key": "send_email",
                    "action": ACTION,
                    "params": STEP_PARAMS,
                }
                for index in range(self.count * WORKFLOWS_PER_WORKSPACE)
            ),
        )

    def _workspace_rows(self, created: datetime) -> Iterator[dict[str, Any]]:
        for index in range(self.count):
            slug = BUSIEST_SLUG if index == 0 else f"scale-{index}"
            yield {
                "id": self._id(Workspace, index),
                "name": f"Scale {index}",
                "slug": slug,
                "plan": Plan.PAID,
                "created_at": created,
            }

    def _membership_rows(self, created: datetime) -> Iterator[dict[str, Any]]:
        user_model = get_user_model()
        for index in range(self.count):
            yield {
                "id": self._id(Membership, index),
                "workspace_id": self._id(Workspace, index),
                "user_id": self._id(user_model, index),
                "role": Role.OWNER,
                "created_at": created,
            }
        for extra in range(self.count // 4):
            yield {
                "id": self._id(Membership, self.count + extra),
                "workspace_id": self._id(Workspace, extra * 4),
                "user_id": self._id(user_model, self.count + extra),
                "role": Role.MEMBER,
                "created_at": created,
            }

    def _workflow_rows(self, created: datetime) -> Iterator[dict[str, Any]]:
        for index in range(self.count * WORKFLOWS_PER_WORKSPACE):
            workspace = index // WORKFLOWS_PER_WORKSPACE
            yield {
                "id": self._id(Workflow, index),
                "workspace_id": self._id(Workspace, workspace),
                "name": f"Welcome email {index % WORKFLOWS_PER_WORKSPACE + 1}",
                "created_by_id": self._id(get_user_model(), workspace),
                "created_at": created,
                "updated_at": created,
            }

    def runs(self, *, runs: int, busiest: int) -> int:
        """The busiest workspace's runs, then the others' in turn; step run i belongs to run i."""
        others = max(self.count - 1, 1)
        shares = [busiest] + [
            (runs - busiest) // others + (1 if index < (runs - busiest) % others else 0)
            for index in range(self.count - 1)
        ]
        written = self._write(WorkflowRun, self._run_rows(shares, steps=False))
        self._write(StepRun, self._run_rows(shares, steps=True))
        return written

    def _run_rows(self, shares: list[int], *, steps: bool) -> Iterator[dict[str, Any]]:
        index = 0
        for workspace, share in enumerate(shares):
            workspace_id = self._id(Workspace, workspace)
            integration_id = self._id(Integration, workspace)
            spacing = HISTORY / max(share, 1)
            for number in range(share):
                created = self.now - HISTORY + spacing * number
                status = OUTCOMES[index * 7 % len(OUTCOMES)]
                run_id = self._id(WorkflowRun, index)
                finished = created + timedelta(milliseconds=300)
                if steps:
                    yield _step_row(
                        id=self._id(StepRun, index),
                        workspace_id=workspace_id,
                        run_id=run_id,
                        integration_id=integration_id,
                        status=status,
                        started=created,
                        finished=finished,
                    )
                else:
                    yield {
                        "id": run_id,
                        "workspace_id": workspace_id,
                        "workflow_id": self._id(Workflow, workspace * WORKFLOWS_PER_WORKSPACE + number % 2),
                        "status": status,
                        "input": {"name": f"Person {number}", "email": f"person{number}@example.com"},
                        "trigger": TRIGGERS[index % len(TRIGGERS)],
                        "created_at": created,
                        "started_at": created,
                        "finished_at": finished,
                        **_run_error(status),
                    }
                index += 1


def _run_error(status: str) -> dict[str, str]:
    """A failed run's error (a canceled run has none)."""
    if status == RunStatus.FAILED:
        return {"error_code": ErrorCode.PROVIDER_UNAVAILABLE, "error_message": "Gmail did not answer (503)."}
    return {}


def _step_row(
    *,
    id: int,
    workspace_id: int,
    run_id: int,
    integration_id: int,
    status: str,
    started: datetime,
    finished: datetime,
) -> dict[str, Any]:
    step_status = {
        RunStatus.SUCCEEDED: StepStatus.SUCCEEDED,
        RunStatus.FAILED: StepStatus.FAILED,
        RunStatus.CANCELED: StepStatus.SKIPPED,
    }[RunStatus(status)]
    row: dict[str, Any] = {
        "id": id,
        "workspace_id": workspace_id,
        "run_id": run_id,
        "position": 0,
        "key": "send_email",
        "action": ACTION,
        "integration_id": integration_id,
        "params": STEP_PARAMS,
        "status": step_status,
        "attempts": 0 if step_status == StepStatus.SKIPPED else 1,
        "started_at": started,
        "finished_at": finished,
    }
    if step_status == StepStatus.SUCCEEDED:
        row["output"] = {"message_id": f"scale-{run_id}", "thread_id": f"scale-{run_id}"}
    elif step_status == StepStatus.FAILED:
        row |= _run_error(RunStatus.FAILED)
    return row


def _next_id(model: type[models.Model]) -> int:
    highest = model._default_manager.using(connection.alias)
    if hasattr(highest, "unscoped"):
        highest = highest.unscoped()
    return int(highest.aggregate(top=models.Max("pk"))["top"] or 0) + 1
