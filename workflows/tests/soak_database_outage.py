"""`make soak` only: PostgreSQL restarted during a burst of SOAK_RUNS runs (default 500) through
real workers, on a server the test starts for itself (workflows/tests/database_restart.py; `make
test` runs 40 in test_database_restart.py). Every run finishes by itself, no email goes out twice,
none is lost; the counts are printed last."""

import os

import pytest

from workflows.tests.database_restart import (  # noqa: F401  (fixtures)
    burst_through_a_database_restart,
    restartable_database,
)
from workflows.tests.test_celery_worker import broker, tasks_go_to_the_broker  # noqa: F401  (fixtures)

pytestmark = pytest.mark.worker

RUNS = int(os.environ.get("SOAK_RUNS", "500"))


def test_a_database_restart_during_a_burst_loses_no_run_and_sends_none_twice(
    burst_through_a_database_restart,  # noqa: F811
):
    burst_through_a_database_restart(runs=RUNS)
