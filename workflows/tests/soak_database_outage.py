"""`make soak` only: PostgreSQL restarted during a burst of SOAK_RUNS runs (default 500) through
real workers, on a server the test starts for itself (workflows/tests/database_restart.py; `make
test` runs 40 in test_database_restart.py). Every run finishes by itself, no email goes out twice,
none is lost; the counts are printed last."""

import os

import pytest

from workflows.models import RunStatus
from workflows.tests.database_restart import burst_through_a_restart, restartable_database  # noqa: F401
from workflows.tests.test_celery_worker import broker, tasks_go_to_the_broker  # noqa: F401  (fixtures)

pytestmark = pytest.mark.worker

RUNS = int(os.environ.get("SOAK_RUNS", "500"))


def test_a_database_restart_during_a_burst_loses_no_run_and_sends_none_twice(
    google,
    restartable_database,  # noqa: F811
    broker,  # noqa: F811  (the fixture)
    tasks_go_to_the_broker,  # noqa: F811
    tmp_path,
):
    outcome = burst_through_a_restart(
        google=google, server=restartable_database, broker=broker, runs=RUNS, folder=tmp_path
    )
    print("\n" + outcome.report())  # noqa: T201  (the counts, asked for last)
    assert (outcome.sent, outcome.duplicates, outcome.unknown, outcome.lost) == (RUNS, 0, 0, 0)
    assert outcome.statuses == {RunStatus.SUCCEEDED: RUNS}
