"""On PostgreSQL the app binds parameters on the server and keeps the statements it repeats
prepared (settings: `server_side_binding`, `prepare_threshold` from DATABASE_PREPARE_THRESHOLD):
once a connection has run a one-step Gmail run a few times, every statement of the next run is
one PostgreSQL has already parsed and planned. SQLite takes neither option.
"""

import pytest
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


def test_the_statements_of_a_repeated_run_are_prepared_on_postgresql(google, workspace, member, key_client):
    options = connection.settings_dict.get("OPTIONS", {})
    if connection.vendor != "postgresql":
        assert "server_side_binding" not in options and "prepare_threshold" not in options
        return
    assert options["server_side_binding"] is True
    threshold = options["prepare_threshold"]
    assert threshold is not None
    gmail = connect(google, workspace=workspace, user=member, email="sender@gmail.test")
    workflow_id = create_workflow(key_client, workspace, welcome_with_account(gmail))
    repeats = threshold + 1
    for index in range(repeats):
        run_once(key_client, workspace, workflow_id, index)

    ran: list[str] = []

    def record(execute, sql, params, many, context):
        if not sql.lstrip().upper().startswith(TRANSACTION_CONTROL):
            ran.append(as_sent(sql))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        run_once(key_client, workspace, workflow_id, repeats)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]

    assert len(ran) >= 5
    assert [sql for sql in ran if sql not in prepared] == []
