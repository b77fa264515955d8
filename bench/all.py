"""Every goal of the performance work, one script each, then one line per goal and the count met.

    .venv/bin/python bench/all.py          # what `make bench` runs
    .venv/bin/python bench/all.py --only peer,latency

Each script runs as `.venv/bin/python bench/<name>.py` with its output passed through, and prints
its goals' lines last, `P<n> <what> <figure> (baseline <baseline>, goal <goal>): met|missed`;
a missing script, or one that fails before printing its line, leaves that goal not measured
(missed). The machine's load is read before and after: figures on a busy machine are lower.
"""

import argparse
import re
import subprocess
import sys
from pathlib import Path

from procstat import loadavg

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
# Script name → the goals whose lines it prints.
SCRIPTS = {"peer": (1, 2), "latency": (3,), "status": (4,), "scale": (5,), "quota": (6,)}
GOAL_LINE = re.compile(r"^P([1-6]) .*: (met|missed)\s*$")


def run(name: str) -> tuple[dict[int, str], str | None]:
    """The script's goal lines by goal number, and why it has none if it failed."""
    script = ROOT / "bench" / f"{name}.py"
    if not script.exists():
        return {}, f"bench/{name}.py missing"
    print(f"\n=== bench/{name}.py (load {loadavg()})", flush=True)
    python = str(PYTHON) if PYTHON.exists() else sys.executable
    process = subprocess.Popen([python, str(script)], cwd=ROOT, stdout=subprocess.PIPE, text=True, bufsize=1)
    assert process.stdout is not None
    lines: dict[int, str] = {}
    for line in process.stdout:
        print(line, end="", flush=True)
        if match := GOAL_LINE.match(line):
            lines[int(match[1])] = line.rstrip()
    code = process.wait()
    return lines, None if code == 0 else f"bench/{name}.py failed (exit {code})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default=",".join(SCRIPTS), help="scripts to run, by name")
    args = parser.parse_args()
    chosen = args.only.split(",")
    load_before = loadavg()
    goals: dict[int, str] = {}
    for name, numbers in SCRIPTS.items():
        if name not in chosen:
            continue
        lines, failure = run(name)
        for number in numbers:
            goals[number] = lines.get(number) or f"P{number} not measured: {failure or 'no goal line'}"
    print(f"\nmachine load (1, 5, 15 min): before {load_before}, after {loadavg()}; 2 cores")
    for number in range(1, 7):
        print(goals.get(number, f"P{number} not measured: not run"))
    met = sum(1 for line in goals.values() if line.endswith(": met"))
    print(f"bench: {met} of 6 goals met")


if __name__ == "__main__":
    main()
