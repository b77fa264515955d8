"""P1 (throughput against n8n) and P2 (cost per run), back to back in one script.

    .venv/bin/python bench/peer.py                          # n8n both engines, GalaxyCo both modes
    .venv/bin/python bench/peer.py --rounds 2 --seconds 20  # interleaved: every system once per round
    .venv/bin/python bench/peer.py --skip-n8n --modes inprocess --workers 2 --worker-class gthread --threads 4

Every system answers the same POST with wrk (16 connections) and sends one email to the same
sink (bench/sink.py, answering in well under a millisecond):
- n8n 1.123.81 (installed once into bench/.n8n/): Webhook → HTTP Request POST to the sink, with
  its default expression engine and with N8N_EXPRESSION_ENGINE=legacy; SQLite, its default;
- GalaxyCo on PostgreSQL (database galaxyco_bench, recreated, ANALYZEd after seeding), served by
  gunicorn: POST /api/workspaces/<id>/workflows/<id>/execute/ with an API key, one one-step Gmail
  workflow per connected mailbox (--mailboxes of them, so Gmail's pace of 2.5 sends a second per
  mailbox is not what is measured), in each --modes (see galaxyco_stack).

CPU per run is read from /proc over the measured window: the server's process tree (gunicorn and
any Celery worker; n8n's node) and every PostgreSQL process, less PostgreSQL's rate in an idle
window of 3 s just before (PostgreSQL's figure includes other activity on this machine). Commits per run are the bench
database's xact_commit over the server's life. Statements per run are counted in process (Django's
test client, runs executed inside the request) with 1 and with --earlier-runs earlier runs.
The last two lines are the P1 and P2 goals.
"""

import argparse
import contextlib
import sys
from dataclasses import dataclass

import galaxyco_stack
import n8n
import statements
from galaxyco_stack import MODES, Seeded, ServerOptions
from loadgen import wrk
from measure import Measured, measured_window, median, spread
from procstat import idle_postgres_rate, loadavg
from served import analyze_after_warm_up, free_port
from sink import running_sink

P1_RUNS_PER_SECOND = 220
P1_RATIO = 2.2
P2_APP_MS, P2_POSTGRES_MS, P2_STATEMENTS, P2_COMMITS = 6.0, 2.0, 6, 3.0


@dataclass(frozen=True)
class Plan:
    seconds: float
    warmup: float
    connections: int
    options: ServerOptions


def measure_n8n(engine: str, *, sink_url: str, plan: Plan) -> Measured:
    with n8n.running_n8n(sink_url=sink_url, port=free_port(), engine=engine) as (base_url, pid):
        paths = [n8n.WEBHOOK_PATH]
        wrk(base_url, paths=paths, headers={}, connections=plan.connections, seconds=plan.warmup)
        return measured_window(
            f"n8n {engine}",
            pids=[pid],
            idle_postgres=idle_postgres_rate(),
            run_load=lambda: wrk(
                base_url, paths=paths, headers={}, connections=plan.connections, seconds=plan.seconds
            ),
        )


def measure_galaxyco(mode: str, *, seeded: Seeded, broker_url: str, plan: Plan) -> Measured:
    from workflows.models import RunStatus, WorkflowRun

    def runs_after(first: int) -> dict[str, int]:
        rows = WorkflowRun.objects.unscoped().filter(id__gt=first).values_list("status", flat=True)
        counts: dict[str, int] = {}
        for status in rows:
            counts[status] = counts.get(status, 0) + 1
        return counts

    last_run = WorkflowRun.objects.unscoped().order_by("-id").values_list("id", flat=True).first() or 0
    commits_before = statements.xact_commit()
    paths, headers = seeded.execute_paths(), {"Authorization": f"Bearer {seeded.api_key}"}
    with galaxyco_stack.running_app(
        mode=mode, port=free_port(), options=plan.options, broker_url=broker_url
    ) as (base_url, pids):
        wrk(base_url, paths=paths, headers=headers, connections=plan.connections, seconds=plan.warmup)
        analyze_after_warm_up(galaxyco_stack.DATABASE_URL)
        measured = measured_window(
            f"GalaxyCo {mode}",
            pids=pids,
            idle_postgres=idle_postgres_rate(),
            run_load=lambda: wrk(
                base_url, paths=paths, headers=headers, connections=plan.connections, seconds=plan.seconds
            ),
        )
    commits = statements.xact_commit() - commits_before
    counts = runs_after(last_run)
    unfinished = {status: n for status, n in counts.items() if status != RunStatus.SUCCEEDED}
    if unfinished:
        print(f"  warning: GalaxyCo {mode}: runs not succeeded: {unfinished}", flush=True)
    total = sum(counts.values()) or 1
    return Measured(measured.system, measured.load, measured.app_ms, measured.postgres_ms, commits / total)


def verdict(met: bool) -> str:
    return "met" if met else "missed"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15, help="measured window per system")
    parser.add_argument("--warmup", type=float, default=5, help="unmeasured load before each window")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1, help="every system once per round, interleaved")
    parser.add_argument("--mailboxes", type=int, default=400)
    parser.add_argument(
        "--modes", default="fastest", help="inprocess, worker, both, or fastest (both; best counts)"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class (sync, gthread)")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    parser.add_argument("--celery-concurrency", type=int, default=8, help="threads of the Celery worker")
    parser.add_argument("--engines", default="default,legacy", help="n8n's expression engines to measure")
    parser.add_argument("--skip-n8n", action="store_true")
    parser.add_argument("--count-runs", type=int, default=50, help="runs whose statements are counted")
    parser.add_argument("--earlier-runs", type=int, default=1_000_000)
    args = parser.parse_args()

    modes = list(MODES) if args.modes in ("both", "fastest") else args.modes.split(",")
    engines = [] if args.skip_n8n else [engine for engine in args.engines.split(",") if engine]
    if unknown := set(engines) - set(n8n.ENGINES):
        parser.error(f"unknown n8n engines: {', '.join(sorted(unknown))}")
    if engines:
        n8n.install()
    plan = Plan(
        args.seconds,
        args.warmup,
        args.connections,
        ServerOptions(args.workers, args.worker_class, args.threads, args.celery_concurrency),
    )
    load_before = loadavg()
    print(f"load before: {load_before}", flush=True)
    results: dict[str, list[Measured]] = {}
    with contextlib.ExitStack() as stack:
        sink_url = stack.enter_context(running_sink(port=free_port()))
        broker_url, seeded = galaxyco_stack.seeded_stack(
            stack, sink_url=sink_url, modes=modes, mailboxes=args.mailboxes
        )
        print(
            f"{len(seeded.workflow_ids)} workflows over as many mailboxes; gunicorn {args.workers} x "
            f"{args.worker_class} x {args.threads} threads; wrk {args.connections} connections, "
            f"{args.seconds:g} s per window after {args.warmup:g} s of warm-up",
            flush=True,
        )
        for round_number in range(args.rounds):
            for engine in engines:
                measured = measure_n8n(engine, sink_url=sink_url, plan=plan)
                results.setdefault(measured.system, []).append(measured)
                print(f"round {round_number + 1}: {measured.describe()}", flush=True)
            for mode in modes:
                measured = measure_galaxyco(mode, seeded=seeded, broker_url=broker_url, plan=plan)
                results.setdefault(measured.system, []).append(measured)
                print(f"round {round_number + 1}: {measured.describe()}", flush=True)
        few, many = statements.statements_and_commits(runs=args.count_runs, earlier_runs=args.earlier_runs)
    load_after = loadavg()
    print(f"\nstatements (in process): {few.describe()}\n{'':<24}{many.describe()}")
    print(f"load after: {load_after}\n")
    print("median over rounds:")
    for rounds in results.values():
        print(f"  {median(rounds).describe()}   runs/s: {spread(rounds)}")
    report_goals(results, few=few, many=many, modes=modes, load=f"{load_before} → {load_after}")


def report_goals(
    results: dict[str, list[Measured]],
    *,
    few: statements.Counted,
    many: statements.Counted,
    modes: list[str],
    load: str,
) -> None:
    galaxyco = max((median(results[f"GalaxyCo {mode}"]) for mode in modes), key=lambda m: m.load.per_second)
    legacy = median(results["n8n legacy"]) if "n8n legacy" in results else None
    rate = galaxyco.load.per_second
    print(f"GalaxyCo's figure is its fastest mode: {galaxyco.system}; machine load {load}")
    if legacy is None:
        print(
            f"P1 throughput {rate:.1f} runs/s (baseline n8n not measured, goal ≥ {P1_RUNS_PER_SECOND}): missed"
        )
    else:
        ratio = rate / legacy.load.per_second
        met = rate >= P1_RUNS_PER_SECOND and ratio >= P1_RATIO
        print(
            f"P1 throughput {rate:.1f} runs/s = {ratio:.2f}x n8n legacy, p50 {galaxyco.load.p50_ms:.0f} ms "
            f"p99 {galaxyco.load.p99_ms:.0f} ms (baseline n8n legacy {legacy.load.per_second:.1f} runs/s, "
            f"goal ≥ {P1_RUNS_PER_SECOND} runs/s and ≥ {P1_RATIO}x): {verdict(met)}"
        )
    worst_statements = max(few.max_statements, many.max_statements)
    worst_commits = max(few.commits, many.commits)
    met = (
        galaxyco.app_ms <= P2_APP_MS
        and galaxyco.postgres_ms <= P2_POSTGRES_MS
        and worst_statements <= P2_STATEMENTS
        and worst_commits <= P2_COMMITS
    )
    baseline = f"n8n legacy {legacy.app_ms:.1f} ms CPU/run" if legacy else "n8n not measured"
    print(
        f"P2 cost per run app {galaxyco.app_ms:.1f} ms + PostgreSQL {galaxyco.postgres_ms:.1f} ms CPU, "
        f"{worst_statements} statements, {worst_commits:.1f} commits (served: "
        f"{galaxyco.commits or 0:.1f}) (baseline {baseline}, goal ≤ {P2_APP_MS:g} ms, ≤ {P2_POSTGRES_MS:g} ms, "
        f"≤ {P2_STATEMENTS}, ≤ {P2_COMMITS:g}): {verdict(met)}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
