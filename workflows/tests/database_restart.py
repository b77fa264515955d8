"""A burst of runs through real Celery workers while the PostgreSQL server under them restarts.

The server is the test's own (devtools/postgres_server.py): a shared one is never restarted. This
process's database connection points at a fresh database there for the test; the workers (on a
private Redis) and `celery beat` (django-celery-beat's scheduler, as the Procfile runs it) use it
too. Nothing outside the app resumes a run: its task retries through the outage, and the
scheduled sweep is the net for a task that died; beat sends `resume_stalled_runs`, whose row is set
to every few seconds (schedules are data), and a worker runs it. Emails are counted in the
emulator's mailbox by our Message-ID, which names the run.
"""

import contextlib
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import environ
import pytest
from django.core.management import call_command
from django.db import connections, transaction
from django.db.utils import ConnectionHandler
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from devtools.postgres_server import PostgresServer, PostgresServerMissing, private_postgres_server
from integrations.tests.google_grants import connect
from workflows.models import RunStatus, WorkflowRun
from workflows.services import StepSpec, create_workflow, start_run
from workflows.tests.fault_counts import counts_line
from workflows.tests.test_celery_worker import ROOT, running_worker, wait_for
from workspaces.tests.factories import MembershipFactory, UserFactory, WorkspaceFactory

READONLY = "https://www.googleapis.com/auth/gmail.readonly"
MAILBOXES = 5  # each paced at 2.5 sends a second
WORKERS = 2
DOWN_SECONDS = 1.0
# Short enough for a test, in the production relation: the lease outlasts a call's timeout plus
# the inline pacing wait, and the sweep waits past a lease before it calls a run stalled.
TIMINGS = {
    "GOOGLE_HTTP_TIMEOUT": "4",
    "WORKFLOW_ATTEMPT_LEASE_SECONDS": "10",
    "WORKFLOW_RESUME_AFTER_SECONDS": "15",
}
SWEEP_EVERY_SECONDS = 3
RUN_IN_MESSAGE_ID = re.compile(r"<run-(\d+)-step-")
SWEPT = re.compile(r"Task workflows\.tasks\.resume_stalled_runs\[[^]]+\] succeeded in [0-9.e-]+s: (\d+)")


@dataclass(frozen=True)
class Outcome:
    runs: int
    statuses: Counter[str]
    sent: int
    duplicates: int
    unknown: int
    lost: int
    sweeps: int
    resumed_by_the_sweep: int
    seconds: float

    def report(self) -> str:
        """What the test prints: how long, what the sweep did, and the counts last."""
        return (
            f"{self.seconds:.0f} s; the scheduled sweep ran {self.sweeps} times and enqueued again "
            f"{self.resumed_by_the_sweep} runs it found stalled\n{self._counts()}"
        )

    def _counts(self) -> str:
        return counts_line(
            runs=self.runs,
            statuses=self.statuses,
            sent=self.sent,
            duplicates=self.duplicates,
            unknown=self.unknown,
            lost=self.lost,
        )


@pytest.fixture
def restartable_database(django_db_blocker) -> Iterator[PostgresServer]:
    """This thread's default connection points at a migrated database on a PostgreSQL server of
    the test's own, started for it; restored, and the server stopped and removed, afterwards.
    Without PostgreSQL's server programs the test fails with the command that installs them."""
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(private_postgres_server())
        except PostgresServerMissing as missing:
            pytest.fail(str(missing))
        settings = {**environ.Env.db_url_config(server.url()), "CONN_MAX_AGE": 0, "CONN_HEALTH_CHECKS": True}
        previous = connections["default"]
        connections["default"] = ConnectionHandler({"default": settings})["default"]
        try:
            with django_db_blocker.unblock():
                call_command("migrate", interactive=False, verbosity=0)
                yield server
        finally:
            connections["default"].close()
            connections["default"] = previous


@pytest.fixture
def burst_through_a_database_restart(
    google, restartable_database: PostgresServer, broker: str, tasks_go_to_the_broker, tmp_path: Path
) -> Callable[..., None]:
    """Call with `runs=`: that many runs through a restart (`burst_through_a_restart`), whose
    counts are printed last; every email goes out once and every run succeeds. A module using it
    imports it with `restartable_database`, `broker` and `tasks_go_to_the_broker`."""

    def burst(*, runs: int) -> None:
        outcome = burst_through_a_restart(
            google=google, server=restartable_database, broker=broker, runs=runs, folder=tmp_path
        )
        print("\n" + outcome.report())  # noqa: T201  (the counts, asked for last)
        counts = (outcome.sent, outcome.duplicates, outcome.unknown, outcome.lost)
        assert counts == (runs, 0, 0, 0), f"sent, duplicates, unknown, lost: {counts}"
        assert outcome.statuses == {RunStatus.SUCCEEDED: runs}, outcome.statuses

    return burst


@contextlib.contextmanager
def running_beat(*, log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """`celery beat` as the Procfile runs it, stopped with SIGTERM on exit, and killed if it is
    still there 30 s later: one was seen outliving its test on a loaded machine."""
    command = [
        sys.executable, "-m", "celery", "-A", "galaxyco", "beat",
        "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler", "--loglevel", "INFO",
    ]  # fmt: skip
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for(
            lambda: process.poll() is None and "beat: Starting" in log.read_text(), timeout=30, what="beat"
        )
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def sweep_every(seconds: int) -> None:
    """The scheduled resume's row, set to run every `seconds` (before beat reads its schedule)."""
    every, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
    assert PeriodicTask.objects.filter(task="workflows.tasks.resume_stalled_runs").update(interval=every) == 1


def burst_through_a_restart(
    *, google, server: PostgresServer, broker: str, runs: int, folder: Path
) -> Outcome:
    """`runs` one-email runs through WORKERS real workers; the server restarts (down DOWN_SECONDS)
    once a third of the emails are out; returns once every run has finished (or fails the test
    when they do not within the sends' time plus a few sweeps)."""
    started = time.monotonic()
    workspace = WorkspaceFactory(name="Burst", slug="burst")
    member = MembershipFactory(workspace=workspace, user=UserFactory(email="owner@burst.test")).user
    workflows = [
        create_workflow(
            workspace=workspace,
            created_by=member,
            name=f"Burst {index}",
            steps=[
                StepSpec(
                    action="gmail.send_email",
                    params={"to": ["{{ input.email }}"], "subject": "Burst {{ input.n }}", "text": "Hello"},
                    # A read scope: a send whose answer the restart cut off is looked up, not left unknown.
                    integration=connect(
                        google,
                        workspace=workspace,
                        user=member,
                        email=f"sender{index}@gmail.test",
                        extra_scopes=(READONLY,),
                    ),
                )
            ],
        )
        for index in range(MAILBOXES)
    ]
    sweep_every(SWEEP_EVERY_SECONDS)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(folder)),
        "DJANGO_SETTINGS_MODULE": "galaxyco.test_settings",
        "DATABASE_URL": server.url(),
        "CELERY_BROKER_URL": broker,
        **TIMINGS,
    }
    with contextlib.ExitStack() as processes:
        workers = [
            processes.enter_context(
                running_worker(google=google, log=folder / f"worker{n}.log", broker_env=env, concurrency=4)
            )
            for n in range(WORKERS)
        ]
        beat = processes.enter_context(running_beat(log=folder / "beat.log", env=env))
        with transaction.atomic():  # every run's task is sent when this commits: one burst
            run_ids = [
                start_run(
                    workspace=workspace,
                    workflow_id=workflows[index % MAILBOXES].pk,
                    run_input={"email": f"person{index}@example.com", "n": str(index)},
                    trigger="api",
                    requested_by=member,
                )[0].pk
                for index in range(runs)
            ]

        def alive() -> bool:
            for process in (*workers, beat):
                assert process.poll() is None, f"a worker or beat exited: see {folder}"
            return True

        wait_for(lambda: alive() and len(google.state.messages()) >= runs // 3, timeout=120, what="a third")
        sweeps_before = _sweeps(folder)
        server.restart(down_seconds=DOWN_SECONDS)
        connections["default"].close()  # this process's connection was cut too

        sends = runs / (2.5 * MAILBOXES)  # at Gmail's pace, on a machine with nothing else to do
        wait_for(
            lambda: (
                alive()
                and not WorkflowRun.objects.unscoped()
                .filter(pk__in=run_ids, finished_at__isnull=True)
                .exists()
            ),
            timeout=3 * sends + 120,
            what="every run to finish",
        )
        # The schedule outlived the restart too: beat still sends the sweep, and a worker runs it
        # once the tasks queued before it are done.
        wait_for(lambda: _sweeps(folder) > sweeps_before, timeout=120, what="a sweep after the restart")
    runs_by_id = {run.pk: run for run in WorkflowRun.objects.unscoped().filter(pk__in=run_ids)}
    per_run = Counter(
        int(match.group(1))
        for message in google.state.messages()
        if (match := RUN_IN_MESSAGE_ID.match(message["headers"].get("Message-ID", "")))
    )
    return Outcome(
        runs=runs,
        statuses=Counter(run.status for run in runs_by_id.values()),
        sent=sum(1 for run_id in run_ids if per_run[run_id] >= 1),
        duplicates=sum(per_run[run_id] - 1 for run_id in run_ids if per_run[run_id] > 1),
        unknown=sum(1 for run in runs_by_id.values() if run.error_code == "outcome_unknown"),
        lost=sum(1 for run_id in run_ids if per_run[run_id] == 0),
        sweeps=_sweeps(folder),
        resumed_by_the_sweep=sum(int(count) for count in SWEPT.findall(_worker_logs(folder))),
        seconds=time.monotonic() - started,
    )


def _worker_logs(folder: Path) -> str:
    return "".join(log.read_text() for log in sorted(folder.glob("worker*.log")))


def _sweeps(folder: Path) -> int:
    """How many scheduled sweeps the workers have run."""
    return len(SWEPT.findall(_worker_logs(folder)))
