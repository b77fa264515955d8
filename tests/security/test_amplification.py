"""Cheap requests must stay cheap to refuse: limits are checked before per-item work, and the
accounts a workflow names are looked up in one query whatever the number of steps."""

import copy

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.models import Integration
from integrations.tests.factories import IntegrationFactory
from workflows.models import Workflow
from workflows.tests.helpers import WELCOME, workflows_url


def steps_naming(integration_id: int, count: int) -> dict:
    definition = copy.deepcopy(WELCOME)
    definition["steps"] = [{**WELCOME["steps"][0], "integration": integration_id} for _ in range(count)]
    return definition


@pytest.mark.django_db
def test_a_workflow_with_10000_steps_is_refused_before_any_step_is_checked(
    workspace, member, session_client, django_assert_max_num_queries
):
    gmail = IntegrationFactory(workspace=workspace, connected_by=member)
    body = steps_naming(gmail.pk, 10_000)

    # Authentication, the workspace and the membership: nothing per step.
    with django_assert_max_num_queries(8):
        response = session_client.post(workflows_url(workspace), body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["steps"] == ["A workflow has at most 20 steps."]
    assert not Workflow.objects.unscoped().exists()


@pytest.mark.django_db
def test_the_accounts_of_20_steps_are_read_in_one_query(workspace, member, session_client):
    gmail = IntegrationFactory(workspace=workspace, connected_by=member)

    with CaptureQueriesContext(connection) as queries:
        response = session_client.post(workflows_url(workspace), steps_naming(gmail.pk, 20), format="json")

    assert response.status_code == 201, response.json()
    table = Integration._meta.db_table
    reads = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT") and table in q["sql"]
    ]
    assert len(reads) <= 2, reads  # the serializer's lookup, and the ownership check when saving
