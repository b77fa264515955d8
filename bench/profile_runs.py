"""Where a run's CPU goes: K runs through the execute API in this process (Django's test client,
the run executed inside the request) under cProfile, against the sink, on galaxyco_bench.

    .venv/bin/python bench/profile_runs.py --runs 300
    .venv/bin/python bench/profile_runs.py --runs 300 --top 40    # and cProfile's own table

The profile counts this process's CPU time (not wall time: waiting on PostgreSQL or the sink is
left out, and so is PostgreSQL's own CPU). cProfile slows Python code down: compare parts, not
totals.
"""

import argparse
import cProfile
import pstats
import time

import galaxyco_stack
from served import free_port
from sink import running_sink

# (label, file suffix, function): cumulative time per run.
BREAKDOWN = [
    ("whole request (middleware, DRF, view)", "django/core/handlers/base.py", "get_response"),
    ("  API-key authentication", "workspaces/authentication.py", "authenticate"),
    ("  start_run: create the run and its steps", "workflows/services.py", "start_run"),
    ("  run_here: the run, in the request", "workflows/tasks.py", "run_here"),
    ("    engine.advance", "workflows/engine.py", "advance"),
    ("      prepare params (render + validate)", "workflows/actions/base.py", "prepare"),
    ("      build and check the MIME message", "workflows/actions/gmail_send_email.py", "message_bytes"),
    ("      Gmail call (request building + HTTP)", "integrations/google/clients.py", "_execute_once"),
    ("  the response body", "workflows/serializers.py", "run_data"),
    ("SQL: compile", "django/db/models/sql/compiler.py", "as_sql"),
    ("SQL: execute (round trips)", "django/db/backends/utils.py", "_execute"),
]


def print_breakdown(stats: pstats.Stats, *, runs: int) -> None:
    table = stats.stats  # type: ignore[attr-defined]  # pstats keeps its table undocumented

    def per_run(suffix: str, name: str) -> float:
        seconds = sum(v[3] for (file, _, func), v in table.items() if file.endswith(suffix) and func == name)
        return 1000 * seconds / runs

    print("CPU ms per run, cumulative (a part at 0 was not called or has been renamed):")
    for label, suffix, name in BREAKDOWN:
        print(f"  {label:<48} {per_run(suffix, name):6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--mailboxes", type=int, default=200)
    parser.add_argument("--top", type=int, default=0, help="also print cProfile's top N by cumulative time")
    args = parser.parse_args()
    with running_sink(port=free_port()) as sink_url:
        galaxyco_stack.recreate_database()
        galaxyco_stack.configure(sink_url=sink_url, broker_url="redis://127.0.0.1:1/0")
        from django.test import Client

        from devtools.celery_broker import use_broker

        use_broker(task_always_eager=True)
        seeded = galaxyco_stack.seed(mailboxes=args.mailboxes)
        client = Client(HTTP_AUTHORIZATION=f"Bearer {seeded.api_key}")
        paths = seeded.execute_paths()

        def execute(index: int) -> None:
            body = {"input": {"name": f"Person {index}", "email": f"person{index}@example.com"}}
            response = client.post(paths[index % len(paths)], body, content_type="application/json")
            if response.status_code != 200 or not response.json().get("success"):
                raise SystemExit(f"Run {index} did not succeed: {response.content[:300]!r}")

        for index in range(10):
            execute(index)  # warm-up
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for index in range(args.runs):
            execute(index)
        profiler.disable()
    stats = pstats.Stats(profiler)
    print_breakdown(stats, runs=args.runs)
    if args.top:
        stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
