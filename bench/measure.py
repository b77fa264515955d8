"""One measured window: load from wrk (or at a fixed rate) with the CPU the server's processes and
PostgreSQL used meanwhile, turned into figures per run."""

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from loadgen import LoadResult
from procstat import CpuMeter


@dataclass(frozen=True)
class Measured:
    system: str
    load: LoadResult
    app_ms: float  # CPU per run of the server's processes
    postgres_ms: float  # CPU per run of all PostgreSQL processes, less their idle rate
    commits: float | None = None  # per run, for GalaxyCo

    def describe(self) -> str:
        commits = "" if self.commits is None else f"  {self.commits:.2f} commits/run"
        return (
            f"{self.system:<28} {self.load.describe()}  CPU/run: app {self.app_ms:5.1f} ms, "
            f"PostgreSQL {self.postgres_ms:4.1f} ms{commits}"
        )


def measured_window(
    system: str, *, pids: list[int], idle_postgres: float, run_load: Callable[[], LoadResult]
) -> Measured:
    """Runs the load and reads the CPU of `pids` (their trees) and of PostgreSQL around it."""
    meter = CpuMeter(pids)
    load = run_load()
    app, postgres, wall = meter.read()
    runs = max(load.requests, 1)
    postgres_busy = max(0.0, postgres - idle_postgres * wall)
    return Measured(system, load, 1000 * app / runs, 1000 * postgres_busy / runs)


def median(values: list[Measured]) -> Measured:
    """The round whose throughput is the median (the lower middle one for an even count)."""
    ordered = sorted(values, key=lambda measured: measured.load.per_second)
    return ordered[(len(ordered) - 1) // 2]


def spread(values: list[Measured]) -> str:
    rates = [measured.load.per_second for measured in values]
    if len(rates) == 1:
        return f"{rates[0]:.1f}"
    return f"{statistics.median(rates):.1f} ({min(rates):.1f}-{max(rates):.1f})"
