"""A new run and its steps written together.

On PostgreSQL one statement writes both, a data-modifying WITH whose steps read the run's id from
the run's own INSERT: one round trip, and atomic by itself (the run is never there without its
steps). Elsewhere the run's INSERT and its steps' follow each other, and the caller's transaction
must hold them together. `start_run` holds either in the transaction that also reads the steps:
on its own that read would be a transaction (a commit) of its own.
"""

from typing import Any

from django.db import connections
from django.db.models import Field, Model
from django.db.models.expressions import RawSQL
from django.db.models.sql import InsertQuery

from workflows.models import StepRun, WorkflowRun

# What the steps' INSERT reads for the run's id: the WITH's first part.
_RUN_ID = "SELECT id FROM new_run"


def in_one_statement() -> bool:
    """Whether `insert_run_with_steps` writes in one statement, atomic without a transaction."""
    return connections[WorkflowRun.objects.db].vendor == "postgresql"


def insert_run_with_steps(
    *, run: WorkflowRun, step_runs: list[StepRun], message_ids: dict[int, tuple[str, str]]
) -> None:
    """Write `run` and `step_runs` (unsaved, their run not set): afterwards they are saved objects,
    each step's run set. `message_ids`: for a step's position, its Message-ID around the run's id
    (before, after), which is only known once the run is written."""
    database = WorkflowRun.objects.db
    if not in_one_statement():
        run.save(force_insert=True, using=database)
        for step_run in step_runs:
            step_run.run = run
            if step_run.position in message_ids:
                before, after = message_ids[step_run.position]
                step_run.message_id_header = f"{before}{run.pk}{after}"
        StepRun.objects.bulk_create(step_runs)
        return
    run_sql, run_params = _insert_sql([run], returning=[WorkflowRun._meta.pk], database=database)
    for step_run in step_runs:
        step_run.run_id = RawSQL(_RUN_ID, ())  # noqa: S611 (constant SQL)
        if step_run.position in message_ids:
            before, after = message_ids[step_run.position]
            step_run.message_id_header = RawSQL(  # noqa: S611 (constant SQL, the values as parameters)
                f"%s || ({_RUN_ID}) || %s", (before, after)
            )
    fields = StepRun._meta
    steps_sql, steps_params = _insert_sql(
        step_runs,
        returning=[fields.pk, fields.get_field("run"), fields.get_field("message_id_header")],
        database=database,
    )
    with connections[database].cursor() as cursor:
        cursor.execute(f"WITH new_run AS ({run_sql}) {steps_sql}", (*run_params, *steps_params))
        rows = cursor.fetchall()
    # PostgreSQL returns a multi-row INSERT's rows in the order of its VALUES (bulk_create relies on it).
    run.pk = rows[0][1]
    _saved(run, database=database)
    for step_run, (step_id, _run_id, message_id) in zip(step_runs, rows, strict=True):
        step_run.pk, step_run.message_id_header = step_id, message_id
        step_run.run = run
        _saved(step_run, database=database)


def _insert_sql(
    objects: list[Any], *, returning: list["Field[Any, Any]"], database: str
) -> tuple[str, tuple[Any, ...]]:
    """The INSERT of `objects` (one model's, unsaved) that the ORM would send, RETURNING `returning`."""
    options = objects[0]._meta
    fields = [field for field in options.local_concrete_fields if field is not options.auto_field]
    query = InsertQuery(type(objects[0]))
    query.insert_values(fields, objects)
    compiler = query.get_compiler(using=database)
    compiler.returning_fields = returning
    [(sql, params)] = compiler.as_sql()
    return sql, tuple(params)


def _saved(instance: Model, *, database: str) -> None:
    instance._state.adding = False
    instance._state.db = database
