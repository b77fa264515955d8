"""Fault proofs of "sends are at most once" (the suite runs small versions; `make soak` large ones).

1. Runs while the emulator fails a share of token and Gmail calls at random (500, 429, a hang
   before the send is done, a send done and its answer held back past the client's timeout):
   every run ends succeeded or `outcome_unknown`; each succeeded run's email is in the inbox
   exactly once, each unknown one's at most once; `outcome_unknown` only where a hang left the
   send's outcome open and the account could not read its Sent mail. FAULT_PROOF_RUNS sets the
   number of runs (60; `make soak`: 1,000).
2. A real worker killed with SIGKILL while step 2 of a three-step run is in Gmail's hands: the
   run completes on another worker, no step that succeeded runs again, the ambiguous one is
   settled (looked up with a read scope; otherwise `outcome_unknown`, and Send again sends one).
"""

import os
import signal
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection

from integrations.tests.google_grants import connect
from workflows import engine
from workflows.models import RunStatus, StepRun, StepStatus, WorkflowRun
from workflows.services import StepSpec, create_workflow, resume_stalled_runs, send_step_again, start_run
from workflows.tests.fault_counts import counts_line, duplicates_in
from workflows.tests.test_celery_worker import embedded_broker, running_worker, wait_for  # noqa: F401  (a fixture)

READONLY = "https://www.googleapis.com/auth/gmail.readonly"
RUNS = int(os.environ.get("FAULT_PROOF_RUNS", "60"))
MAILBOXES = 6
TIMEOUT = 1.0  # the client's: far above a healthy answer on a loaded machine, so only hangs time out
HANG = 1.5  # the emulator's, past it


@pytest.mark.django_db
@pytest.mark.parametrize("read_scope", [False, True], ids=["send-only", "read-scope"])
def test_random_faults_never_send_an_email_twice(
    google, workspace, member, settings, monkeypatch, django_capture_on_commit_callbacks, read_scope
):
    settings.GOOGLE_HTTP_TIMEOUT = TIMEOUT
    # The proof is about sends, not about giving up: enough attempts that 20% faults never exhaust them.
    monkeypatch.setattr(engine, "MAX_ATTEMPTS", 12)
    # Tokens that always need refreshing (within our 5 minutes of expiry, past google-auth's 3¾):
    # every attempt calls the token endpoint.
    google.state.set_access_token_lifetime(280)
    extra = (READONLY,) if read_scope else ()
    workflows = []
    for index in range(MAILBOXES):
        mailbox = connect(
            google, workspace=workspace, user=member, email=f"sender{index}@gmail.test", extra_scopes=extra
        )
        workflows.append(
            create_workflow(
                workspace=workspace,
                created_by=member,
                name=f"Proof {index}",
                steps=[
                    StepSpec(
                        action="gmail.send_email",
                        params={"to": ["{{ input.email }}"], "subject": "Hi", "text": "Hello"},
                        integration=mailbox,
                    )
                ],
            )
        )
    google.state.set_random_faults(
        rate=0.2, seed=20261126, endpoints=("token", "gmail.send", "gmail.list"), hang_seconds=HANG
    )

    run_ids = []
    for index in range(RUNS):
        with django_capture_on_commit_callbacks(execute=True):  # the run executes in place (eager)
            run, _ = start_run(
                workspace=workspace,
                workflow_id=workflows[index % MAILBOXES].pk,
                run_input={"email": f"person{index}@example.com"},
                trigger="api",
                requested_by=member,
            )
        run_ids.append(run.pk)
    google.state.set_random_faults(rate=0)

    runs = {run.pk: run for run in WorkflowRun.objects.unscoped().filter(pk__in=run_ids)}
    steps = {step.run_id: step for step in StepRun.objects.unscoped().filter(run_id__in=run_ids)}
    recipients = Counter(message["to"][0] for message in google.state.messages())
    unknown = [pk for pk, run in runs.items() if run.error_code == "outcome_unknown"]
    succeeded = [pk for pk, run in runs.items() if run.status == RunStatus.SUCCEEDED]
    applied = google.state.applied_faults()
    hung_sends = {
        fault["message_id"]
        for fault in applied
        if fault["endpoint"] == "gmail.send" and fault["kind"] in ("hang", "deliver_then_hang")
    }
    to = {pk: runs[pk].input["email"] for pk in run_ids}
    lost = sum(1 for pk in run_ids if pk not in succeeded and pk not in unknown) + sum(
        1 for pk in succeeded if recipients[to[pk]] != 1
    )
    line = counts_line(
        runs=RUNS,
        statuses=Counter(run.status for run in runs.values()),
        sent=len(recipients),
        duplicates=duplicates_in(message["to"][0] for message in google.state.messages()),
        unknown=len(unknown),
        lost=lost,
    )
    print(f"\n{'read scope' if read_scope else 'send only'}: {Counter(f['kind'] for f in applied)}")  # noqa: T201
    print(line)  # noqa: T201  (the counts, asked for last)

    assert sorted(succeeded + unknown) == sorted(run_ids)  # every run: succeeded or outcome_unknown
    assert all(recipients[to[pk]] == 1 for pk in succeeded)  # exactly once
    assert all(recipients[to[pk]] <= 1 for pk in unknown)  # at most once
    assert all(count == 1 for count in recipients.values())
    assert all(steps[pk].status == StepStatus.OUTCOME_UNKNOWN for pk in unknown)
    # unknown only where a hang really left the send's outcome open
    unexplained = [pk for pk in unknown if steps[pk].message_id_header not in hung_sends]
    assert unexplained == [], [(pk, steps[pk].error_message) for pk in unexplained]
    if read_scope:
        assert unknown == []  # every open outcome settled by looking in the Sent mail
    assert any(f["kind"] == "deliver_then_hang" and f["endpoint"] == "gmail.send" for f in applied)


# ------------------------------------------------------------------ a worker killed mid-send


def three_step_workflow(workspace, member, gmail, calendar):
    send = {"subject": "Hi", "text": "Hello"}
    return create_workflow(
        workspace=workspace,
        created_by=member,
        name="Onboarding",
        steps=[
            StepSpec(
                action="calendar.create_event",
                params={"summary": "Kickoff", "start": "2026-12-01T09:00:00", "end": "2026-12-01T10:00:00"},
                integration=calendar,
            ),
            StepSpec(
                action="gmail.send_email", params={"to": ["second@example.com"], **send}, integration=gmail
            ),
            StepSpec(
                action="gmail.send_email", params={"to": ["third@example.com"], **send}, integration=gmail
            ),
        ],
    )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("read_scope", [True, False], ids=["read-scope", "send-only"])
def test_a_worker_killed_mid_send_leaves_no_duplicate(
    google,
    workspace,
    member,
    embedded_broker,  # noqa: F811  (the fixture)
    tmp_path,
    read_scope,
):
    extra = (READONLY,) if read_scope else ()
    gmail = connect(google, workspace=workspace, user=member, email="sender@gmail.test", extra_scopes=extra)
    calendar = connect(
        google, workspace=workspace, user=member, email="sender@gmail.test", integration_type="calendar"
    )
    workflow = three_step_workflow(workspace, member, gmail, calendar)
    # Step 2's send is done at Google, and its answer held back until long after the kill.
    google.state.add_fault("gmail.send", hang_seconds=30, hang_after=True)
    broker_env = {**embedded_broker, "WORKFLOW_ATTEMPT_LEASE_SECONDS": "2"}

    with running_worker(google=google, log=tmp_path / "first.log", broker_env=broker_env) as first:
        run, _ = start_run(
            workspace=workspace, workflow_id=workflow.pk, run_input={}, trigger="api", requested_by=member
        )
        wait_for(
            lambda: (
                len(google.state.messages()) == 1
                and StepRun.objects.unscoped()
                .filter(run=run, position=1, provider_call_started_at__isnull=False)
                .exists()
            ),
            timeout=30,
            what="step 2's send to be in flight",
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    connection.close()

    with running_worker(google=google, log=tmp_path / "second.log", broker_env=broker_env):
        # What the scheduled sweep does: the first worker's task died with it.
        wait_for(
            lambda: (
                resume_stalled_runs(older_than=timedelta(0)) > 0
                or WorkflowRun.objects.unscoped().filter(pk=run.pk, finished_at__isnull=False).exists()
            ),
            timeout=30,
            what="the run to be resumed",
        )
        wait_for(
            lambda: WorkflowRun.objects.unscoped().filter(pk=run.pk, finished_at__isnull=False).exists(),
            timeout=60,
            what="the run to finish on the second worker",
        )
        run.refresh_from_db()
        steps = {step.position: step for step in run.step_runs.all()}
        assert google.state.stats()["calendar.insert"] == 1  # step 1 succeeded once and never ran again
        assert steps[0].attempts == 1
        if read_scope:
            assert run.status == RunStatus.SUCCEEDED
            assert steps[1].output["message_id"] == google.state.messages()[0]["id"]
        else:
            assert (run.status, run.error_code) == (RunStatus.FAILED, "outcome_unknown")
            assert steps[1].status == StepStatus.OUTCOME_UNKNOWN
            assert [m["to"][0] for m in google.state.messages()] == ["second@example.com"]
            send_step_again(workspace=workspace, run_id=run.pk, position=1)  # the person's word
            wait_for(
                lambda: WorkflowRun.objects.unscoped().filter(pk=run.pk, status=RunStatus.SUCCEEDED).exists(),
                timeout=60,
                what="the run to finish after Send again",
            )

    to = [message["to"][0] for message in google.state.messages()]
    expected_second = 1 if read_scope else 2  # the second one only because the person asked
    assert Counter(to) == {"second@example.com": expected_second, "third@example.com": 1}
    assert google.state.stats()["calendar.insert"] == 1
    print(  # noqa: T201  (the counts, asked for last)
        "\n"
        + counts_line(
            runs=1,
            statuses=Counter([WorkflowRun.objects.unscoped().get(pk=run.pk).status]),
            sent=len(set(to)),
            duplicates=duplicates_in(to) - (expected_second - 1),
            unknown=0 if read_scope else 1,
            lost=0,
        )
    )
