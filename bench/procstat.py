"""CPU time of processes from /proc, and the machine's load, for cost-per-run figures."""

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


@dataclass(frozen=True)
class Stat:
    pid: int
    name: str
    parent: int
    own: float  # seconds: utime + stime
    reaped: float  # seconds: cutime + cstime, the children it has waited for


def read_stat(pid: int) -> Stat | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None  # it exited meanwhile
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    # After the name: state ppid ... utime(14) stime(15) cutime(16) cstime(17), counted from 1.
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return Stat(pid, name, int(fields[1]), (utime + stime) / TICKS, (cutime + cstime) / TICKS)


def all_stats() -> list[Stat]:
    return [stat for entry in PROC.iterdir() if entry.name.isdigit() and (stat := read_stat(int(entry.name)))]


def _tree(stats: list[Stat], root: int) -> list[Stat]:
    children: dict[int, list[Stat]] = {}
    for stat in stats:
        children.setdefault(stat.parent, []).append(stat)
    found = [stat for stat in stats if stat.pid == root]
    pending = list(children.get(root, []))
    while pending:
        stat = pending.pop()
        found.append(stat)
        pending.extend(children.get(stat.pid, []))
    return found


def _cpu(select: Callable[[list[Stat]], list[Stat]]) -> float:
    """CPU seconds of the selected processes, children they have reaped included. A child reaped
    while /proc is being read would be counted twice or not at all: read again until every
    selected process's reaped time is the same after the read as in it."""
    for _ in range(50):
        selected = select(all_stats())
        if all((again := read_stat(stat.pid)) is None or again.reaped == stat.reaped for stat in selected):
            break
    return sum(stat.own + stat.reaped for stat in selected)


def tree_cpu(root: int) -> float:
    """CPU seconds of `root` and every process under it."""
    return _cpu(lambda stats: _tree(stats, root))


def named_cpu(prefix: str) -> float:
    """CPU seconds of every process whose name starts with `prefix` (e.g. all of PostgreSQL's:
    its postmaster's reaped children are the backends that have exited)."""
    return _cpu(lambda stats: [stat for stat in stats if stat.name.startswith(prefix)])


def loadavg() -> str:
    return " ".join((PROC / "loadavg").read_text().split()[:3])


class CpuMeter:
    """CPU seconds used by some process trees and by PostgreSQL over a window of wall time."""

    def __init__(self, roots: Iterable[int]) -> None:
        self.roots = list(roots)
        self.app = sum(tree_cpu(root) for root in self.roots)
        self.postgres = named_cpu("postgres")
        self.wall = time.monotonic()

    def read(self) -> tuple[float, float, float]:
        """(app CPU s, PostgreSQL CPU s, wall s) since the meter started."""
        app = sum(tree_cpu(root) for root in self.roots) - self.app
        return app, named_cpu("postgres") - self.postgres, time.monotonic() - self.wall


def idle_postgres_rate(seconds: float = 3.0) -> float:
    """PostgreSQL's CPU seconds per second while the bench sends nothing: what other activity on
    this machine costs it, to subtract from a measured window (an estimate: other activity
    varies)."""
    meter = CpuMeter([])
    time.sleep(seconds)
    _, postgres, wall = meter.read()
    return postgres / wall
