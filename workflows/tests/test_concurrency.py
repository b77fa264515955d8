"""Twenty executions at once, over real HTTP, with an expired token: one refresh reaches Google."""

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
import requests
from django.utils import timezone

from integrations.models import OAuthToken
from integrations.tests.google_grants import connect
from workflows.tests.helpers import WELCOME, create_workflow

pytestmark = pytest.mark.django_db(transaction=True)

CONCURRENT_RUNS = 20


def test_concurrent_runs_with_an_expired_token_cause_one_refresh(
    live_server, google, workspace, member, key_client, api_key
):
    gmail = connect(google, workspace=workspace, user=member, email="busy@gmail.test")
    workflow_id = create_workflow(key_client, workspace, WELCOME)
    OAuthToken.objects.unscoped().filter(integration=gmail).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    url = f"{live_server.url}/api/workspaces/{workspace.pk}/workflows/{workflow_id}/execute/"

    def execute(index: int) -> dict:
        response = requests.post(
            url,
            json={"input": {"name": f"Person {index}", "email": f"person{index}@example.com"}},
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(max_workers=CONCURRENT_RUNS) as pool:
        results = list(pool.map(execute, range(CONCURRENT_RUNS)))

    assert all(result["success"] for result in results), [r.get("error") for r in results]
    assert google.state.stats()["token.refresh_token"] == 1
    assert len(google.state.messages()) == CONCURRENT_RUNS
    assert {m["to"][0] for m in google.state.messages()} == {
        f"person{i}@example.com" for i in range(CONCURRENT_RUNS)
    }
    # One mailbox: the sends were paced to Gmail's 2.5 a second (0.4 s apart), one call each.
    assert google.state.stats()["gmail.send"] == CONCURRENT_RUNS
    sent_at = sorted(datetime.fromisoformat(m["received_at"]) for m in google.state.messages())
    assert (sent_at[-1] - sent_at[0]).total_seconds() >= 0.9 * 0.4 * (CONCURRENT_RUNS - 1)


def test_two_executors_of_one_run_send_its_email_once(google, workspace, member):
    import threading

    from django.db import connections

    from workflows import engine
    from workflows.services import StepSpec, create_workflow, start_run

    connect(google, workspace=workspace, user=member)
    google.state.add_fault("gmail.send", hang_seconds=1.0)  # both executors arrive while the first sends
    workflow = create_workflow(
        workspace=workspace,
        created_by=member,
        name="Once",
        steps=[
            StepSpec(
                action="gmail.send_email", params={"to": ["a@example.com"], "subject": "Hi", "text": "Hello"}
            )
        ],
    )
    with pytest.MonkeyPatch.context() as patch:  # keep the run from executing at commit: two executors will
        patch.setattr("workflows.tasks.enqueue_run", lambda *, run_id: None)
        run, _ = start_run(workspace=workspace, workflow_id=workflow.pk, run_input={}, trigger="api")

    def execute() -> None:
        try:
            engine.advance(run_id=run.pk)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=execute) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    engine.advance(run_id=run.pk)  # whichever lost the race comes back and finds it done

    assert len(google.state.messages()) == 1
    assert google.state.stats()["gmail.send"] == 1
