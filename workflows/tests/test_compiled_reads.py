"""A read compiled once and run again with new ids (`workflows.compiled_reads`) gives exactly what
Django's own read of the same queryset gives, in one statement, and keeps tenancy: another
workspace's rows are never read, and a queryset that could not be reused safely is refused."""

import threading

import pytest
from django.db import connection, connections
from django.db.models.expressions import RawSQL
from django.test.utils import CaptureQueriesContext

from hooks.models import NotificationEndpoint
from integrations.tests.google_grants import connect
from workflows.compiled_reads import CompiledRead
from workflows.models import Workflow, WorkflowStep
from workflows.selectors import _STEPS_TO_RUN, steps_to_run
from workspaces.models import Workspace
from workspaces.querysets import UnscopedQuery

pytestmark = pytest.mark.django_db


def _fields(instance) -> dict:
    return {name: value for name, value in instance.__dict__.items() if name != "_state"}


def _assert_same(got: list[WorkflowStep], expected: list[WorkflowStep]) -> None:
    assert [step.pk for step in got] == [step.pk for step in expected]
    for step, want in zip(got, expected, strict=True):
        assert _fields(step) == _fields(want)
        assert (step._state.db, step._state.adding) == (want._state.db, want._state.adding)
        assert _fields(step.workflow) == _fields(want.workflow)
        if want.integration is None or step.integration is None:
            assert step.integration is want.integration is None
        else:
            assert _fields(step.integration) == _fields(want.integration)
            assert _fields(step.integration.token) == _fields(want.integration.token)


def _workflow(workspace, *, name: str, accounts: list) -> Workflow:
    workflow = Workflow.objects.create(workspace=workspace, name=name)
    # Written out of order: the read orders them by position.
    WorkflowStep.objects.bulk_create(
        WorkflowStep(
            workspace=workspace,
            workflow=workflow,
            position=position,
            key=f"send_{position}",
            action="gmail.send_email",
            integration=account,
            params={"to": ["{{ input.email }}"], "subject": name, "text": "Hi"},
        )
        for position, account in reversed(list(enumerate(accounts)))
    )
    return workflow


def test_the_steps_a_run_starts_from_are_read_as_django_reads_them(google, workspace, member):
    account = connect(google, workspace=workspace, user=member, email="sender@gmail.test", share=True)
    first = _workflow(workspace, name="First", accounts=[account, None])
    second = _workflow(workspace, name="Second", accounts=[None, None, account])

    for workflow, notifies in ((first, False), (second, False), (first, True)):
        if notifies:
            NotificationEndpoint.objects.create(workspace=workspace, url="https://hooks.test/", secret="s")
        with CaptureQueriesContext(connection) as queries:
            steps = steps_to_run(workspace=workspace, workflow_id=workflow.pk)
        assert len(queries) == 1
        _assert_same(steps, list(_STEPS_TO_RUN._build(workspace_id=workspace.pk, workflow_id=workflow.pk)))
        assert [step.workspace_notifies for step in steps] == [notifies] * len(steps)
        assert [step.integration_owner_is_member for step in steps if step.integration] == [True]


def test_another_workspaces_steps_are_not_read(workspace, other_workspace):
    workflow = _workflow(workspace, name="Ours", accounts=[None])

    assert steps_to_run(workspace=other_workspace, workflow_id=workflow.pk) == []
    assert [step.pk for step in steps_to_run(workspace=workspace, workflow_id=workflow.pk)] == [
        workflow.steps.get().pk
    ]


def test_an_id_no_row_can_have_reads_nothing_without_a_query(workspace):
    with CaptureQueriesContext(connection) as queries:
        assert steps_to_run(workspace=workspace, workflow_id=2**63) == []
        assert steps_to_run(workspace=workspace, workflow_id=-(2**63) - 1) == []
    assert len(queries) == 0


@pytest.mark.django_db(transaction=True)
def test_each_thread_reads_with_its_own_connection(workspace):
    workflow = _workflow(workspace, name="Threads", accounts=[None, None])
    expected = [step.pk for step in steps_to_run(workspace=workspace, workflow_id=workflow.pk)]
    read: list[int] = []

    def in_a_thread() -> None:
        try:
            read.extend(step.pk for step in steps_to_run(workspace=workspace, workflow_id=workflow.pk))
        finally:
            connections.close_all()

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert read == expected


def test_an_unscoped_queryset_fails_closed():
    read = CompiledRead(
        lambda *, workflow_id: WorkflowStep.objects.filter(workflow_id=workflow_id), names=("workflow_id",)
    )
    with pytest.raises(UnscopedQuery):
        read.read(workflow_id=1)


def test_an_id_left_out_of_the_query_is_refused():
    read = CompiledRead(
        lambda *, workspace_id, workflow_id: WorkflowStep.objects.for_workspace(Workspace(pk=workspace_id)),
        names=("workspace_id", "workflow_id"),
    )
    with pytest.raises(ValueError, match="Every id must be a parameter"):
        read.read(workspace_id=1, workflow_id=1)


def test_an_id_written_into_the_sql_is_refused():
    read = CompiledRead(
        lambda *, workspace_id: WorkflowStep.objects.for_workspace(Workspace(pk=workspace_id)).annotate(
            marker=RawSQL(str(workspace_id), [])
        ),
        names=("workspace_id",),
    )
    with pytest.raises(ValueError, match="depends on the ids' values"):
        read.read(workspace_id=1)


@pytest.mark.parametrize(
    "ids",
    [{"workspace_id": "1", "workflow_id": 1}, {"workspace_id": True, "workflow_id": 1}, {"workspace_id": 1}],
)
def test_ids_are_ints_and_all_given(workspace, ids):
    with pytest.raises(TypeError):
        _STEPS_TO_RUN.read(**ids)
