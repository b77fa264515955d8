"""SQL statements and commits per run, counted in this process: K runs through the execute API
with Django's test client (the run executes inside the request), on the bench's PostgreSQL
database, first with few earlier runs in the workspace and then with many.

Statements are the SQL statements Django sends, savepoints included, less transaction control
(BEGIN, COMMIT, ROLLBACK), which the commits count. Commits are pg_stat_database's xact_commit
for the database, so each autocommit statement counts as the transaction it is. A backend
reports its counters when it exits, or once idle after `pg_stat_force_next_flush()` (PostgreSQL
15): the batch is counted on a connection that has already run a few runs, as a served
connection has, since what a connection does once (Django sets the time zone; a run's statements
are prepared, each Parse a transaction of its own) is not what a run costs.
"""

import time
from dataclasses import dataclass
from typing import Any

from galaxyco_stack import Seeded, seed

TRANSACTION_CONTROL = frozenset({"BEGIN", "COMMIT", "ROLLBACK"})
# After a run from each mailbox, this many more: more than DATABASE_PREPARE_THRESHOLD (5), so the
# batch's statements are prepared before it, in each form they take (psycopg prepares a statement
# per set of parameter types: an account's first send in a minute passes the moment of its use,
# later ones None).
WARM_UP_RUNS = 8


@dataclass(frozen=True)
class Counted:
    earlier_runs: int
    runs: int
    statements: list[int]  # per run
    commits: float  # per run
    # The statements of the run that sent the most, so the output can say what its extra ones were.
    costliest: list[str]

    @property
    def max_statements(self) -> int:
        return max(self.statements)

    def describe(self) -> str:
        median = sorted(self.statements)[len(self.statements) // 2]
        described = (
            f"{self.runs} runs after {self.earlier_runs:,} earlier: statements per run median {median}, "
            f"max {self.max_statements}; commits per run {self.commits:.2f}"
        )
        if self.max_statements > median:
            described += "\n  the run with the most: " + "\n  ".join(sql[:160] for sql in self.costliest)
        return described


def xact_commit(*, keep_connection: bool = False) -> int:
    """The database's commits so far, this process's included: its connection is closed first (its
    backend exits and reports its counters), or kept and asked to report them as soon as it is
    idle (pg_stat_force_next_flush, PostgreSQL 15): that request is a transaction of its own,
    counted in what this returns."""
    import psycopg
    from django.conf import settings
    from django.db import connection

    if keep_connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")
    else:
        connection.close()
    time.sleep(0.5)
    database = settings.DATABASES["default"]
    with psycopg.connect(
        host=database["HOST"], port=database["PORT"] or 5432, user=database["USER"], dbname="postgres"
    ) as admin:
        admin.execute("SELECT pg_stat_clear_snapshot()")
        row = admin.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", [database["NAME"]]
        ).fetchone()
    return int(row[0]) if row else 0


def count(seeded: Seeded, *, runs: int, earlier_runs: int) -> Counted:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {seeded.api_key}")
    paths = seeded.execute_paths()
    statements: list[int] = []
    costliest: list[str] = []

    def execute(index: int) -> Any:
        return client.post(
            paths[index % len(paths)],
            {"input": {"name": f"Person {index}", "email": f"person{index}@example.com"}},
            content_type="application/json",
        )

    # What a connection does once, before the batch: opened, and its first runs' statements prepared.
    connection.ensure_connection()
    warm_up = len(paths) + WARM_UP_RUNS
    for index in range(warm_up):
        execute(index)
    before = xact_commit(keep_connection=True)

    for index in range(runs):
        with CaptureQueriesContext(connection) as captured:
            response = execute(index)
        if response.status_code != 200 or not response.json().get("success"):
            raise SystemExit(
                f"A counted run did not succeed: {response.status_code} {response.content[:300]!r}"
            )
        sent = [
            query["sql"] for query in captured.captured_queries if query["sql"] not in TRANSACTION_CONTROL
        ]
        if len(sent) > max(statements, default=0):
            costliest = sent
        statements.append(len(sent))
    # Each reading counts its own flush request: the second's is not the batch's.
    batch = xact_commit(keep_connection=True) - before - 1
    return Counted(earlier_runs + warm_up, runs, statements, batch / runs, costliest)


def add_earlier_runs(seeded: Seeded, *, count: int) -> None:
    """`count` finished runs with one step each in the workspace, copied in SQL from its latest
    run (a million in under a minute), then VACUUM ANALYZE, as autovacuum would after a bulk
    insert (it is off on these machines)."""
    from django.db import connection

    from workflows.models import StepRun, WorkflowRun

    def columns(model: type[WorkflowRun] | type[StepRun]) -> list[str]:
        return [field.column for field in model._meta.concrete_fields if not field.primary_key]

    runs, steps = WorkflowRun._meta.db_table, StepRun._meta.db_table
    run_columns, step_columns = columns(WorkflowRun), columns(StepRun)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT max(id) FROM {runs} WHERE workspace_id = %s", [seeded.workspace_id])
        (template,) = cursor.fetchone() or (None,)
        if template is None:
            raise SystemExit("No run to copy: count some runs first.")
        listed = ", ".join(run_columns)
        cursor.execute(
            f"INSERT INTO {runs} ({listed}) SELECT {listed} FROM {runs}, generate_series(1, %s) "
            f"WHERE id = %s",
            [count, template],
        )
        copied = ", ".join("r.id" if column == "run_id" else f"s.{column}" for column in step_columns)
        cursor.execute(
            f"INSERT INTO {steps} ({', '.join(step_columns)}) SELECT {copied} FROM {runs} r "
            f"JOIN {steps} s ON s.run_id = %s WHERE r.id > %s AND r.workspace_id = %s",
            [template, template, seeded.workspace_id],
        )
        cursor.execute(f"VACUUM ANALYZE {runs}")
        cursor.execute(f"VACUUM ANALYZE {steps}")


def statements_and_commits(*, runs: int, earlier_runs: int) -> tuple[Counted, Counted]:
    """Counts in a workspace of its own (seeded here): after the warm-up runs, then after adding
    `earlier_runs` more. Needs this process configured as the app with Celery eager."""
    from devtools.celery_broker import use_broker

    use_broker(task_always_eager=True)
    seeded = seed(mailboxes=min(runs, 50), workspace_name="Counting")
    few = count(seeded, runs=runs, earlier_runs=0)
    add_earlier_runs(seeded, count=earlier_runs)
    # The warm-up also outlasts the API key's per-process cache (5 s) after adding the runs: both
    # batches count what a run costs, not the key's lookup.
    many = count(seeded, runs=runs, earlier_runs=few.earlier_runs + runs + earlier_runs)
    return few, many
