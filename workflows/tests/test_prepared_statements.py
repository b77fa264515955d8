"""On PostgreSQL the app binds parameters on the server, and a run's own statements are kept
prepared (galaxyco.db.prepared): once a connection has run a one-step Gmail run a few times,
every statement of the next run is one PostgreSQL has already parsed. Other reads are not: the
run list's best plan depends on the workspace's size, so it is planned with its values each time.
SQLite takes neither.
"""

import pytest
from django.conf import settings
from django.db import connection

from integrations.tests.google_grants import connect
from workflows.tests.helpers import create_workflow, execute, welcome_with_account

pytestmark = pytest.mark.django_db(transaction=True)

TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def as_sent(sql: str) -> str:
    """The statement as psycopg sends it to the server: each `%s` numbered, `$1`, `$2`, …"""
    pieces = sql.split("%s")
    return pieces[0] + "".join(f"${number}{piece}" for number, piece in enumerate(pieces[1:], start=1))


def run_once(key_client, workspace, workflow_id: int, index: int) -> None:
    # A mailbox sends 2.5 emails a second: each run after the first waits for its moment to send.
    response = execute(
        key_client, workspace, workflow_id, {"name": f"P{index}", "email": f"p{index}@example.com"}
    )
    assert response.json()["success"] is True


def statements_of(call) -> list[str]:
    ran: list[str] = []

    def record(execute, sql, params, many, context):
        if not sql.lstrip().upper().startswith(TRANSACTION_CONTROL):
            ran.append(as_sent(sql))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        call()
    return ran


def prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_a_repeated_runs_statements_are_prepared_and_a_run_lists_are_not(
    google, workspace, member, key_client
):
    if connection.vendor != "postgresql":
        assert "server_side_binding" not in connection.settings_dict.get("OPTIONS", {})
        return
    assert connection.settings_dict["OPTIONS"]["server_side_binding"] is True
    threshold = settings.DATABASE_PREPARE_THRESHOLD
    assert threshold is not None
    gmail = connect(google, workspace=workspace, user=member, email="sender@gmail.test")
    workflow_id = create_workflow(key_client, workspace, welcome_with_account(gmail))
    repeats = threshold + 1
    for index in range(repeats):
        run_once(key_client, workspace, workflow_id, index)
    runs_url = f"/api/workspaces/{workspace.pk}/runs/"
    for _ in range(repeats):
        assert key_client.get(runs_url).status_code == 200

    ran = statements_of(lambda: run_once(key_client, workspace, workflow_id, repeats))
    listed = statements_of(lambda: key_client.get(runs_url))

    assert len(ran) >= 5
    assert [sql for sql in ran if sql not in prepared()] == []
    assert any("workflows_workflowrun" in sql for sql in listed)
    assert [sql for sql in listed if sql in prepared()] == []
