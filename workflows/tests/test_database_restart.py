"""PostgreSQL restarted during a burst of runs: every run finishes by itself (the scheduled sweep,
through beat, is all that resumes them), no email goes out twice, none is lost.

The test starts its own PostgreSQL server (never the shared one) and needs its server programs:
without them it fails with the command that installs them. `make soak` runs 500 runs
(workflows/tests/soak_database_outage.py); this is the small version.
"""

import pytest

from workflows.tests.database_restart import (  # noqa: F401  (fixtures)
    burst_through_a_database_restart,
    restartable_database,
)
from workflows.tests.test_celery_worker import broker, tasks_go_to_the_broker  # noqa: F401  (fixtures)

pytestmark = pytest.mark.worker

RUNS = 40


def test_a_database_restart_during_a_burst_sends_every_email_once(
    burst_through_a_database_restart,  # noqa: F811
):
    burst_through_a_database_restart(runs=RUNS)
