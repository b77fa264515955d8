"""`make soak` only (it cuts the database off): a burst of runs through a real worker while every
connection to the test database is dropped and new ones are refused for a moment, as a
PostgreSQL restart does. Every run finishes by itself; the counts are printed last.

Only the test's own database is cut off (pg_terminate_backend, ALLOW_CONNECTIONS), so a shared
PostgreSQL server keeps serving everyone else. SOAK_RUNS sets the burst (default 500).
"""

import os
import time
from collections import Counter

import psycopg
import pytest
from django.db import connection
from psycopg import sql

from integrations.tests.google_grants import connect
from workflows.models import RunStatus, WorkflowRun
from workflows.services import StepSpec, create_workflow, start_run
from workflows.tests.fault_counts import counts_line, duplicates_in
from workflows.tests.test_celery_worker import embedded_broker, running_worker  # noqa: F401  (a fixture)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RUNS = int(os.environ.get("SOAK_RUNS", "500"))
MAILBOXES = 5  # 2.5 sends a second each
OUTAGE_SECONDS = 0.8


def cut_off_the_database(seconds: float) -> None:
    """Drop every connection to the test database and refuse new ones for `seconds` (from the
    server's maintenance database: a database cannot refuse its own connections)."""
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(db["NAME"])))
        try:
            admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
                [db["NAME"]],
            )
            time.sleep(seconds)
        finally:
            admin.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(db["NAME"]))
            )


def test_a_database_outage_during_a_burst_loses_no_run(google, workspace, member, embedded_broker, tmp_path):  # noqa: F811
    assert connection.vendor == "postgresql", "run with DATABASE_URL=postgres://… (make soak)"
    workflows = []
    for index in range(MAILBOXES):
        mailbox = connect(google, workspace=workspace, user=member, email=f"sender{index}@gmail.test")
        workflows.append(
            create_workflow(
                workspace=workspace,
                created_by=member,
                name=f"Burst {index}",
                steps=[
                    StepSpec(
                        action="gmail.send_email",
                        params={"to": ["{{ input.email }}"], "subject": "Hi", "text": "Hello"},
                        integration=mailbox,
                    )
                ],
            )
        )
    with running_worker(
        google=google, log=tmp_path / "worker.log", broker_env=embedded_broker, concurrency=8
    ) as worker:
        run_ids = [
            start_run(
                workspace=workspace,
                workflow_id=workflows[index % MAILBOXES].pk,
                run_input={"email": f"person{index}@example.com"},
                trigger="api",
                requested_by=member,
            )[0].pk
            for index in range(RUNS)
        ]
        while len(google.state.messages()) < RUNS // 3:
            assert worker.poll() is None
            time.sleep(0.2)
        cut_off_the_database(OUTAGE_SECONDS)
        connection.close()  # this process's connection was dropped too

        deadline = time.monotonic() + RUNS / (2.5 * MAILBOXES) + 300  # the sends, plus a lease or two
        while WorkflowRun.objects.unscoped().filter(pk__in=run_ids, finished_at__isnull=True).exists():
            assert time.monotonic() < deadline, "runs were left unfinished"
            time.sleep(1)

    statuses = Counter(WorkflowRun.objects.unscoped().filter(pk__in=run_ids).values_list("status", flat=True))
    recipients = [message["to"][0] for message in google.state.messages()]
    delivered = set(recipients)
    unknown = WorkflowRun.objects.unscoped().filter(pk__in=run_ids, error_code="outcome_unknown").count()
    lost = sum(1 for index in range(RUNS) if f"person{index}@example.com" not in delivered)
    duplicates = duplicates_in(recipients)
    line = counts_line(
        runs=RUNS,
        statuses=statuses,
        sent=len(delivered),
        duplicates=duplicates,
        unknown=unknown,
        lost=lost,
    )
    print("\n" + line)  # noqa: T201  (the counts, asked for last)
    assert statuses == {RunStatus.SUCCEEDED: RUNS}
    assert lost == 0
    assert duplicates == 0
