"""What one run costs the database, counted rather than timed: a one-step Gmail run through the
execute API (an API key, the emulator answering) sends the same SQL statements and commits whether
the workspace has 1 earlier run or 1,000.

Commits are what make a database write to disk: each `COMMIT` of a transaction, and each write
made outside one (autocommit: a transaction of its own). Counted the same way on SQLite and
PostgreSQL.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.models import Integration
from integrations.tests.google_grants import connect
from workflows.models import RunStatus, StepRun, Workflow, WorkflowRun
from workflows.tests.helpers import WELCOME, create_workflow, execute, welcome_with_account

pytestmark = pytest.mark.django_db(transaction=True)

# 1. read the steps (with their workflow, accounts, tokens, whether each account's owner is still
#    a member and whether the workspace has notification endpoints), in the transaction that
# 2. creates the run and
# 3. its step: commit 1;
# the message is built and the token read, then, just before the request, in one transaction:
# 4. the mailbox's send slot, its moment to send and its use (`last_used_at`, at most once a
#    minute), one UPDATE of the account, and
# 5. the attempt claimed and its send marked under way, one UPDATE fenced by the attempt: commit 2
#    (on PostgreSQL 4 and 5 are one statement, the function `book_and_claim_attempt`, committed
#    on its own);
# after the answer:
# 6. the step and the run succeeded: one statement on PostgreSQL (a data-modifying WITH), two
#    elsewhere, in one transaction: commit 3.
STATEMENTS = 5 if connection.vendor == "postgresql" else 7
COMMITS = 3
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
# Called by a SELECT, these write: outside a transaction each such SELECT is a commit.
WRITING_FUNCTIONS = ("book_and_claim_attempt(",)


@dataclass
class Cost:
    statements: list[str] = field(default_factory=list)
    commits: int = 0
    # What PostgreSQL counts as committed (pg_stat_database.xact_commit, the bench's figure): the
    # commits and every read made outside a transaction, a transaction of its own.
    transactions: int = 0


@contextmanager
def counted() -> Iterator[Cost]:
    cost = Cost()

    def count_autocommitted(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if not connection.in_atomic_block and not sql.lstrip().upper().startswith(TRANSACTION_CONTROL):
            cost.transactions += 1
            if not sql.lstrip().upper().startswith("SELECT") or any(
                name in sql for name in WRITING_FUNCTIONS
            ):
                cost.commits += 1
        return execute(sql, params, many, context)

    with (
        CaptureQueriesContext(connection) as captured,
        connection.execute_wrapper(count_autocommitted),
    ):
        yield cost
    sql = [query["sql"] for query in captured.captured_queries]
    cost.statements = [s for s in sql if not s.upper().startswith(TRANSACTION_CONTROL)]
    cost.commits += sql.count("COMMIT")
    cost.transactions += sql.count("COMMIT")


def add_earlier_runs(workspace, count: int) -> None:
    workflow = Workflow.objects.for_workspace(workspace).get()
    runs = WorkflowRun.objects.bulk_create(
        WorkflowRun(workspace=workspace, workflow=workflow, status=RunStatus.SUCCEEDED, trigger="api")
        for _ in range(count)
    )
    StepRun.objects.bulk_create(
        StepRun(workspace=workspace, run=run, position=0, action="gmail.send_email", status="succeeded")
        for run in runs
    )


@pytest.mark.parametrize("earlier_runs", [1, 1000])
@pytest.mark.parametrize(
    ("account", "lookups"),
    [("named", 0), ("workspace default", 1)],  # the default account is looked up when the run starts
)
def test_a_one_step_gmail_run_costs_the_same_few_statements_and_commits(
    google, workspace, member, key_client, earlier_runs, account, lookups
):
    gmail = connect(google, workspace=workspace, user=member, email="sender@gmail.test")
    definition = welcome_with_account(gmail) if account == "named" else WELCOME
    workflow_id = create_workflow(key_client, workspace, definition)
    # The first run also looks the API key up and notes the account's use (at most once a minute).
    assert execute(key_client, workspace, workflow_id, {"name": "Ada", "email": "ada@example.com"}).json()[
        "success"
    ]
    add_earlier_runs(workspace, earlier_runs - 1)
    # A mailbox sends 2.5 emails a second: one that sent just now would wait for its next moment.
    # Its use is noted again, as on an account's first use in a minute.
    Integration.objects.unscoped().filter(pk=gmail.pk).update(
        paced_until=None, sent_until=None, last_used_at=None
    )

    with counted() as cost:
        response = execute(
            key_client, workspace, workflow_id, {"name": "Grace", "email": "grace@example.com"}
        )

    assert response.status_code == 200
    assert response.json()["success"] is True
    assert len(google.state.messages()) == 2
    assert len(cost.statements) == STATEMENTS + lookups, "\n".join(cost.statements)
    assert cost.commits == COMMITS
    assert cost.transactions == COMMITS + lookups
    assert Integration.objects.unscoped().get(pk=gmail.pk).last_used_at is not None
