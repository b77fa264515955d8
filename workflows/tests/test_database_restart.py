"""PostgreSQL restarted during a burst of runs: every run finishes by itself (the scheduled sweep,
through beat, is all that resumes them), no email goes out twice, none is lost.

The test starts its own PostgreSQL server (never the shared one) and needs its server programs:
without them it fails with the command that installs them. `make soak` runs 500 runs
(workflows/tests/soak_database_outage.py); this is the small version.
"""

import pytest

from workflows.models import RunStatus
from workflows.tests.database_restart import burst_through_a_restart, restartable_database  # noqa: F401
from workflows.tests.test_celery_worker import broker, tasks_go_to_the_broker  # noqa: F401  (fixtures)

pytestmark = pytest.mark.worker

RUNS = 40


def test_a_database_restart_during_a_burst_sends_every_email_once(
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
