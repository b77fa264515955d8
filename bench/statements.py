"""SQL statements and commits per run, counted in this process: K runs through the execute API
with Django's test client (the run executes inside the request), on the bench's PostgreSQL
database, first with few earlier runs in the workspace and then with many.

Statements are the SQL statements Django sends, savepoints included, less transaction control
(BEGIN, COMMIT, ROLLBACK), which the commits count. Commits are pg_stat_database's xact_commit
for the database, read after this process's connection has closed (a backend reports its
counters when it exits), so each autocommit statement counts as the transaction it is.
"""

import time
from dataclasses import dataclass

from galaxyco_stack import Seeded, seed

TRANSACTION_CONTROL = frozenset({"BEGIN", "COMMIT", "ROLLBACK"})


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


def xact_commit() -> int:
    import psycopg
    from django.conf import settings
    from django.db import connection

    connection.close()  # its backend exits and reports its counters
    database = settings.DATABASES["default"]
    time.sleep(0.5)
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
    # Reading the counters closes this process's connection (its backend reports them when it
    # exits), so the batch opens a new one; what opening it costs (Django sets the time zone)
    # happens once per connection, not per run, and is measured apart and left out.
    opened = xact_commit()
    connection.ensure_connection()
    before = xact_commit()
    connecting = before - opened

    for index in range(runs):
        with CaptureQueriesContext(connection) as captured:
            response = client.post(
                paths[index % len(paths)],
                {"input": {"name": f"Person {index}", "email": f"person{index}@example.com"}},
                content_type="application/json",
            )
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
    # The last xact_commit reading's own connection is not to this database: nothing to subtract.
    return Counted(earlier_runs, runs, statements, (xact_commit() - before - connecting) / runs, costliest)


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
    """Counts in a workspace of its own (seeded here): after a warm-up run, then after adding
    `earlier_runs` and another warm-up run. Needs this process configured as the app with Celery eager."""
    from devtools.celery_broker import use_broker

    use_broker(task_always_eager=True)
    seeded = seed(mailboxes=min(runs, 50), workspace_name="Counting")
    count(seeded, runs=1, earlier_runs=0)
    few = count(seeded, runs=runs, earlier_runs=1)
    add_earlier_runs(seeded, count=earlier_runs)
    # Adding the runs outlasts the API key's per-process cache (5 s): as before the first batch, one
    # uncounted run looks the key up again, so both batches count what a run costs, not the lookup.
    count(seeded, runs=1, earlier_runs=earlier_runs + runs + 1)
    many = count(seeded, runs=runs, earlier_runs=earlier_runs + runs + 2)
    return few, many
