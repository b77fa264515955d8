"""Schemathesis against /api/schema/, in process through Django's WSGI app, with every check on.

`make test` runs a small budget (a few hundred cases); `make fuzz` sets FUZZ_MAX_EXAMPLES for a large one.
Path ids point at the seeded workspace, integration, workflow and run part of the time, so requests
reach real objects and not only "not found".
"""

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.generation.meta import ParameterLocation

from integrations.models import Integration, IntegrationStatus
from integrations.tests.google_grants import connect
from workflows import services as workflow_services
from workflows.models import RunTrigger, Workflow
from workflows.tests.helpers import WELCOME
from workspaces.models import Membership, Role
from workspaces.tests.factories import UserFactory, WorkspaceFactory, api_key_for

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db(transaction=True)]

# The whole run's budget in cases, shared out over every operation and both generation modes.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "300"))
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
# Every response check but positive_data_acceptance: a step's params are checked per action (addresses,
# single-line headers, placeholders), which the schema describes only as an object.
CHECKS = [
    getattr(schemathesis.checks, name)
    for name in (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "missing_required_header",
        "unsupported_method",
    )
]


@dataclass
class Seed:
    """Real objects the generated ids are swapped for, re-made when a case deletes or disconnects them."""

    google: Any
    workspace: Any
    user: Any
    ids: dict[str, int] = field(default_factory=dict)

    def refresh(self) -> None:
        if (
            not Integration.objects.unscoped()
            .filter(pk=self.ids.get("integration_id"), status=IntegrationStatus.ACTIVE)
            .exists()
        ):
            integration = connect(
                self.google, workspace=self.workspace, user=self.user, email="fuzz@gmail.test"
            )
            self.ids["integration_id"] = integration.pk
        if not Workflow.objects.unscoped().filter(pk=self.ids.get("workflow_id")).exists():
            workflow = workflow_services.create_workflow(
                workspace=self.workspace,
                created_by=self.user,
                name=WELCOME["name"],
                description=WELCOME["description"],
                is_active=True,
                steps=[
                    workflow_services.StepSpec(action=step["action"], params=step["params"], integration=None)
                    for step in WELCOME["steps"]
                ],
            )
            self.ids["workflow_id"] = workflow.pk
        if "run_id" not in self.ids:
            run, _ = workflow_services.start_run(
                workspace=self.workspace,
                workflow_id=self.ids["workflow_id"],
                run_input={"name": "Ada", "email": "ada@example.com"},
                trigger=RunTrigger.API,
                requested_by=self.user,
            )
            self.ids["run_id"] = run.pk


@dataclass
class Report:
    cases: int = 0
    server_errors: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def record(self, label: str, failures: FailureGroup) -> None:
        for failure in failures.exceptions:
            kind = type(failure).__name__
            self.failures[kind] += 1
            self.examples.setdefault(f"{kind} {label}", f"{failure.title}: {failure.message}"[:600])

    @property
    def schema_violations(self) -> int:
        return self.failures["JsonSchemaError"]

    def summary(self, seconds: float) -> str:
        lines = [
            f"fuzz: {self.cases} cases, {self.server_errors} responses with status 5xx, "
            f"{self.schema_violations} schema violations, {sum(self.failures.values())} check failures "
            f"in {seconds:.0f} s",
            "  statuses: "
            + ", ".join(f"{status}: {count}" for status, count in sorted(self.statuses.items())),
            *(f"  {kind}: {count}" for kind, count in sorted(self.failures.items())),
            *(f"  e.g. {where}\n    {what}" for where, what in sorted(self.examples.items())),
        ]
        return "\n".join(lines)


# Per case: every id real (half the time), only the workspace real, or the ids as generated.
ID_CHOICES = ("real", "real", "workspace", "generated")


def swap_in_real_ids(case: schemathesis.Case, seed: Seed, choice: str) -> None:
    """Use the seeded objects' ids for a case whose path was generated as valid."""
    if choice == "generated" or case.meta is None:
        return
    path = case.meta.components.get(ParameterLocation.PATH)
    if path is not None and path.mode is GenerationMode.NEGATIVE:
        return
    params = dict(case.path_parameters or {})
    if "workspace_id" in params:
        params["workspace_id"] = seed.workspace.pk
    if choice == "real":
        params.update({name: seed.ids[name] for name in params if name in seed.ids})
    case.path_parameters = params


def run_operation(
    operation: Any, mode: GenerationMode, budget: int, seed: Seed, auth: dict, report: Report
) -> None:
    label = f"{operation.label} ({mode.value})"

    @settings(
        max_examples=budget,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), choice=st.sampled_from(ID_CHOICES))
    def fuzz(case: schemathesis.Case, choice: str) -> None:
        seed.refresh()
        swap_in_real_ids(case, seed, choice)
        response = case.call(headers=auth)
        report.cases += 1
        report.statuses[response.status_code] += 1
        if response.status_code >= 500:
            report.server_errors += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=auth, transport_kwargs={"headers": auth})
        except FailureGroup as failures:
            report.record(label, failures)

    fuzz()


def test_the_api_answers_every_generated_request_as_its_schema_says(google, settings, request, capsys):
    # Thousands of requests with one key: the rate limits (tested on their own) would answer most.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": dict.fromkeys(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]),
    }
    user = UserFactory(email="fuzz@example.com")
    workspace = WorkspaceFactory(name="Fuzz", slug="fuzz")
    Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER)
    seed = Seed(google=google, workspace=workspace, user=user)
    seed.refresh()
    auth = {"Authorization": f"Bearer {api_key_for(workspace)}"}

    schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler())
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"The schema has an operation schemathesis cannot read: {result.err()}"
        operations.append(result.ok())
    budget = -(-MAX_EXAMPLES // (len(operations) * len(MODES)))  # rounded up: at least MAX_EXAMPLES
    report = Report()
    started = time.monotonic()
    for operation in operations:
        for mode in MODES:
            run_operation(operation, mode, budget, seed, auth, report)
    summary = report.summary(time.monotonic() - started)
    with capsys.disabled():
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        reporter.write_line("\n" + summary)

    assert report.cases >= len(operations) * len(MODES)
    assert report.server_errors == 0 and not report.failures, summary
