"""P5: the app with 10,000 workspaces and 1,000,000 runs.

    .venv/bin/python bench/scale.py                                  # the full size
    .venv/bin/python bench/scale.py --runs 100000 --busiest-runs 20000 --requests 60

1. Seeds its own PostgreSQL database (DATABASE_URL, default galaxyco_scale_bench, dropped and
   created again) with `manage.py seed_scale` (COPY in chunks, then VACUUM ANALYZE: statistics and
   the visibility map, as autovacuum would leave them after a bulk load) and times it.
2. Runs list: sequential GET requests from one client to gunicorn (one sync worker, a real HTTP
   server on loopback) for the workspace with the most runs, through the API with its API key
   (GET /api/workspaces/<id>/runs/) and the history page with its owner's session
   (/w/<slug>/runs/): the first page, the second and the tenth, and the first page filtered by
   status, by workflow and by a 30-day range, in turn. p95 is over all of them, per surface.
3. Execute throughput with the P1 harness's pieces (bench/galaxyco_stack.py, loadgen.py,
   sink.py): gunicorn with two sync workers, each run executed inside its execute request,
   Gmail answered by the sink, wrk with --connections, one one-step workflow per shared mailbox
   (--mailboxes, so Gmail's per-mailbox pace is not what is measured). In the busiest seeded
   workspace, and in a fresh workspace of an empty database (<name>_empty), alternating (each
   first in every other round), --rounds times; the figures are the medians. On a shared machine single rounds vary a lot.
The last line is the P5 summary.
"""

import argparse
import os
import statistics
import time
import urllib.request
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

import galaxyco_stack
from galaxyco_stack import Seeded, ServerOptions
from loadgen import wrk
from served import (
    DEFAULT_DATABASE_URL,
    ROOT,
    analyze,
    analyze_after_warm_up,
    configure_environment,
    database_url_named,
    free_port,
    gunicorn,
    recreate_database,
    setup_django,
    using_database,
)
from sink import google_settings, running_sink

LIST_P95_GOAL_MS = 50.0
EXECUTE_WITHIN = 0.10
UNUSED_BROKER = "redis://127.0.0.1:1/0"  # with each run executed in its request, nothing is queued


def prepare_execute(*, workspace: Any, user: Any, mailboxes: int, label: str) -> Seeded:
    """`mailboxes` shared Gmail accounts in the workspace (grants valid for an hour: the sink
    answers Google), a one-step workflow sending from each, and an API key."""
    from workspaces.services import create_api_key

    workflow_ids = galaxyco_stack.gmail_workflows(
        workspace=workspace, user=user, mailboxes=mailboxes, label=label, name="Execute"
    )
    _, key = create_api_key(workspace=workspace, name=f"{label} bench")
    return Seeded(workspace.pk, workflow_ids, key)


def execute_rate(database_url: str, seeded: Seeded, *, connections: int, seconds: float) -> float:
    """Runs per second through gunicorn (bench/galaxyco_stack: two sync workers, each run executed
    inside its request) with wrk, on the given database; fails on any failed request."""
    os.environ["DATABASE_URL"] = database_url
    paths, headers = seeded.execute_paths(), {"Authorization": f"Bearer {seeded.api_key}"}
    with galaxyco_stack.running_app(
        mode="inprocess", port=free_port(), options=ServerOptions(), broker_url=UNUSED_BROKER
    ) as (base, _):
        wrk(base, paths=paths, headers=headers, connections=connections, seconds=1)  # warm up
        analyze_after_warm_up(database_url)
        result = wrk(base, paths=paths, headers=headers, connections=connections, seconds=seconds)
    if result.errors:
        raise RuntimeError(f"{result.errors} execute requests failed")
    return result.per_second


def list_urls(*, workspace: Any) -> tuple[list[str], list[str], list[str]]:
    """Query strings (the same for both surfaces) with their labels, and the two paths."""
    from django.utils import timezone

    from workflows.models import Workflow

    workflow = Workflow.objects.for_workspace(workspace).order_by("pk").first()
    since = (timezone.now() - timedelta(days=30)).date().isoformat()
    queries = [
        "",
        "?page=2",
        "?page=10",
        "?status=failed",
        f"?workflow={workflow.pk if workflow else 0}",
        f"?since={since}",
    ]
    paths = [f"/api/workspaces/{workspace.pk}/runs/", f"/w/{workspace.slug}/runs/"]
    return (
        queries,
        paths,
        ["first page", "page 2", "page 10", "status=failed", "one workflow", "last 30 days"],
    )


def timed_get(url: str, *, header: tuple[str, str]) -> float:
    request = urllib.request.Request(url, headers={header[0]: header[1]})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")
    return (time.perf_counter() - started) * 1000


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def measure_lists(base: str, *, workspace: Any, key: str, cookie: str, requests: int) -> tuple[float, float]:
    queries, (api_path, page_path), labels = list_urls(workspace=workspace)
    result = []
    for name, path, header in (
        ("API", api_path, ("Authorization", f"Bearer {key}")),
        ("page", page_path, ("Cookie", cookie)),
    ):
        for query in queries:  # warm up: each plan once
            timed_get(base + path + query, header=header)
        times: dict[str, list[float]] = {label: [] for label in labels}
        for index in range(requests):
            label = labels[index % len(labels)]
            times[label].append(timed_get(base + path + queries[index % len(queries)], header=header))
        every = [value for values in times.values() for value in values]
        medians = ", ".join(f"{label} {statistics.median(values):.0f}" for label, values in times.items())
        print(
            f"runs list {name}: p95 {p95(every):.1f} ms over {len(every)} requests (medians, ms: {medians})"
        )
        result.append(p95(every))
    return result[0], result[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workspaces", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--busiest-runs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=120, help="list requests per surface")
    parser.add_argument("--seconds", type=float, default=8, help="each execute measurement")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--mailboxes", type=int, default=400)
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    empty_url = database_url_named(database_url, urlparse(database_url).path.lstrip("/") + "_empty")
    with running_sink(port=free_port()) as sink_url:
        configure_environment(database_url=database_url, extra=google_settings(sink_url))
        for url in (database_url, empty_url):
            recreate_database(url)
        run(args, database_url=database_url, empty_url=empty_url)


def run(args: argparse.Namespace, *, database_url: str, empty_url: str) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    empty_name = urlparse(empty_url).path.lstrip("/")
    setup_django(migrate=True)
    with using_database(empty_name):
        setup_django(migrate=True)
    if not (ROOT / "staticfiles" / "staticfiles.json").exists():
        call_command("collectstatic", "--noinput", verbosity=0)  # the page's CSS, as in production

    from workflows.management.commands.seed_scale import BUSIEST_SLUG
    from workflows.models import WorkflowRun
    from workspaces.models import Membership, Workspace
    from workspaces.services import create_api_key, create_workspace

    started = time.monotonic()
    call_command("seed_scale", workspaces=args.workspaces, runs=args.runs, busiest_runs=args.busiest_runs)
    seed_seconds = time.monotonic() - started
    runs = WorkflowRun.objects.unscoped().count()

    busiest = Workspace.objects.get(slug=BUSIEST_SLUG)
    owner = Membership.objects.for_workspace(busiest).select_related("user").get(role="owner").user
    _, list_key = create_api_key(workspace=busiest, name="list bench")
    client = Client()
    client.force_login(owner)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    print(
        f"PostgreSQL; seeded {args.workspaces} workspaces and {runs} runs in {seed_seconds:.0f} s; "
        f"the busiest workspace has {args.busiest_runs} runs"
    )
    # The lists as seeded: before the execute measurement adds its workflows and runs.
    with gunicorn(workers=1) as base:
        api_p95, page_p95 = measure_lists(
            base, workspace=busiest, key=list_key, cookie=cookie, requests=args.requests
        )

    seeded = prepare_execute(workspace=busiest, user=owner, mailboxes=args.mailboxes, label="seeded")
    analyze()
    with using_database(empty_name):
        user = get_user_model().objects.create_user(username="empty", email="empty@example.com")
        empty = prepare_execute(
            workspace=create_workspace(name="Empty", owner=user),
            user=user,
            mailboxes=args.mailboxes,
            label="empty",
        )
        analyze()

    databases = {"empty": (empty_url, empty), "seeded": (database_url, seeded)}
    rates: dict[str, list[float]] = {label: [] for label in databases}
    for round_number in range(args.rounds):
        # Each database first in every other round: a machine getting busier or quieter meanwhile
        # weighs on both alike.
        order = list(databases.items())
        for label, (url, setup) in order if round_number % 2 == 0 else reversed(order):
            rates[label].append(execute_rate(url, setup, connections=args.connections, seconds=args.seconds))
    seeded_rate, empty_rate = statistics.median(rates["seeded"]), statistics.median(rates["empty"])
    print(
        f"execute, gunicorn 2 sync workers, run inside the request, Gmail sink, wrk {args.connections} "
        "connections: "
        + "; ".join(
            f"{label} {', '.join(f'{rate:.0f}' for rate in values)} runs/s" for label, values in rates.items()
        )
    )
    met = (
        api_p95 < LIST_P95_GOAL_MS
        and page_p95 < LIST_P95_GOAL_MS
        and seeded_rate >= empty_rate * (1 - EXECUTE_WITHIN)
    )
    print(
        f"P5 scale seeded {args.workspaces} workspaces/{runs} runs in {seed_seconds:.0f} s; "
        f"runs list p95 API {api_p95:.0f} ms page {page_p95:.0f} ms; "
        f"execute {seeded_rate:.1f} runs/s vs empty {empty_rate:.1f} runs/s "
        f"(goal p95 < {LIST_P95_GOAL_MS:.0f} ms, within {EXECUTE_WITHIN:.0%}): {'met' if met else 'missed'}"
    )


if __name__ == "__main__":
    main()
