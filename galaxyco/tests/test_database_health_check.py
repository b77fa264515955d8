"""The PostgreSQL backend's health check (galaxyco/db/postgresql): a reused, healthy connection
costs no `SELECT 1`, and one the server cut by restarting is still replaced before the request's
first query.

Requests go through Django's WSGI handler, as gunicorn calls it (the test Client turns the
per-request connection handling off), to `/readyz`, whose one query is a `SELECT 1` of its own.
The server is the test's own (devtools/postgres_server.py), logging every statement it receives.
"""

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import environ
import psycopg
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connections
from django.db.utils import ConnectionHandler
from django.test import RequestFactory

from devtools.postgres_server import PostgresServer, PostgresServerMissing, private_postgres_server

OURS = "galaxyco.db.postgresql"
DJANGOS = "django.db.backends.postgresql"


class Database:
    def __init__(self, server: PostgresServer) -> None:
        self.server = server

    def select_ones(self) -> int:
        """How many `SELECT 1` the server has received."""
        return self.server.log.read_text().count("statement: SELECT 1")

    def restart(self) -> None:
        self.server.restart(down_seconds=0.2)


@pytest.fixture
def database(django_db_blocker) -> Iterator[Callable[..., Database]]:
    """Call with `engine=` and `health_checks=`: this thread's default connection then points at
    a PostgreSQL server of the test's own, kept between requests as in production."""
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(private_postgres_server())
        except PostgresServerMissing as missing:
            pytest.fail(str(missing))
        previous = connections["default"]
        stack.callback(lambda: connections.__setitem__("default", previous))
        stack.callback(lambda: connections["default"].close())
        stack.enter_context(django_db_blocker.unblock())

        def point(*, engine: str, health_checks: bool = True) -> Database:
            settings = {
                **environ.Env.db_url_config(server.url()),
                "ENGINE": engine,
                "CONN_MAX_AGE": 60,
                "CONN_HEALTH_CHECKS": health_checks,
                "OPTIONS": {"options": "-c log_statement=all"},
            }
            connections["default"] = ConnectionHandler({"default": settings})["default"]
            return Database(server)

        yield point


def readyz() -> dict[str, Any]:
    """One request to /readyz through the WSGI handler, finished (as gunicorn does) before it returns."""
    statuses = []
    environ = RequestFactory().get("/readyz").environ
    response = WSGIHandler()(environ, lambda status, headers: statuses.append(status))
    try:
        body = b"".join(response)
    finally:
        response.close()  # request_finished: Django keeps the connection or closes it
    assert statuses == ["200 OK"], (statuses, body)
    return {"connection": connections["default"].connection}


@pytest.mark.parametrize(("engine", "health_check_queries"), [(OURS, 0), (DJANGOS, 1)])
def test_a_healthy_reused_connection_is_checked_without_a_query(database, engine, health_check_queries):
    db = database(engine=engine)
    first = readyz()
    before = db.select_ones()

    second = readyz()

    assert second["connection"] is first["connection"]  # reused
    assert db.select_ones() - before == 1 + health_check_queries  # /readyz's own, and the check's


def test_a_connection_the_server_cut_by_restarting_is_replaced_before_the_request_uses_it(database):
    db = database(engine=OURS)
    first = readyz()
    db.restart()

    second = readyz()  # 200: the stale connection never met the request's query

    assert second["connection"] is not first["connection"]
    # The server's log spans the restart: the two requests' own queries, no check reached it.
    assert db.select_ones() == 2


def test_without_a_health_check_the_restart_fails_the_request(database):
    """What the check is for: the same restart, unchecked, fails the next request's query."""
    db = database(engine=OURS, health_checks=False)
    readyz()
    db.restart()

    with pytest.raises(AssertionError, match="503"):
        readyz()


def test_a_notification_on_an_idle_connection_costs_the_real_check_not_the_connection(database):
    """Something to read on an idle connection is not proof it is dead: `SELECT 1` decides."""
    db = database(engine=OURS)
    first = readyz()
    with connections["default"].cursor() as cursor:
        cursor.execute("LISTEN health")
    with psycopg.connect(db.server.url(), autocommit=True) as other:
        other.execute("NOTIFY health")
    before = db.select_ones()

    second = readyz()

    assert second["connection"] is first["connection"]
    assert db.select_ones() - before == 2
