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
    OAuthToken.objects.filter(integration=gmail).update(expires_at=timezone.now() - timedelta(minutes=1))
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
