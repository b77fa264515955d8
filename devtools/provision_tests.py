"""What `make test` needs beyond Python packages, provisioned before the suite starts: Debian's
Chromium for the browser tests, `redis-server` for the Celery worker test on Redis (the suite
starts its own on a free port unless `CELERY_TEST_BROKER_URL` names one) and PostgreSQL's server
programs for the test that restarts a PostgreSQL server of its own (devtools/postgres_server.py).

As root with apt-get, the missing packages are installed; otherwise this stops at once with the
one command to run, instead of a wall of test errors later. `make test E2E=0` skips this step
along with the tests that need it.
"""

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from devtools.postgres_server import DEBIAN_SERVERS, server_programs

DEFAULT_CHROMIUM = "/usr/bin/chromium"


def missing_packages(
    *, environ: Mapping[str, str], redis_server: str | None, postgres_programs: Path | None
) -> list[str]:
    """The Debian packages the suite needs that this machine lacks."""
    missing = []
    chromium = Path(environ.get("CHROMIUM_PATH", DEFAULT_CHROMIUM))
    if not (chromium.is_file() and os.access(chromium, os.X_OK)):
        missing.append("chromium")
    if not environ.get("CELERY_TEST_BROKER_URL") and redis_server is None:
        missing.append("redis-server")
    if postgres_programs is None:
        missing.append("postgresql")
    return missing


def install_command(packages: list[str]) -> str:
    names = " ".join(packages)
    return f"sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {names}"


def provision(
    *,
    environ: Mapping[str, str],
    redis_server: str | None,
    postgres_programs: Path | None,
    apt_get: str | None,
    is_root: bool,
) -> str | None:
    """Installs what is missing when it can; returns what to tell the person when it cannot."""
    missing = missing_packages(
        environ=environ, redis_server=redis_server, postgres_programs=postgres_programs
    )
    if not missing:
        return None
    needs = " and ".join(missing)
    if apt_get is None:
        return (
            f"make test needs {needs} (the browser tests and the worker tests), and this machine "
            "has no apt-get to install them. Install them (CHROMIUM_PATH names the browser), "
            "or run `make test E2E=0` to leave those tests out."
        )
    if not is_root:
        return (
            f"make test needs {needs} (the browser tests and the worker tests). Run:\n"
            f"  {install_command(missing)}\n"
            "or `make test E2E=0` to leave those tests out."
        )
    sys.stdout.write(f"Installing {needs} for the browser and worker tests (apt-get)…\n")
    sys.stdout.flush()
    quiet = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([apt_get, "update", "-qq"], check=True, env=quiet)
    subprocess.run(
        [apt_get, "install", "-y", "-qq", *missing], check=True, env=quiet, stdout=subprocess.DEVNULL
    )
    return None


def main() -> int:
    problem = provision(
        environ=os.environ,
        redis_server=shutil.which("redis-server"),
        postgres_programs=server_programs(debian_servers=DEBIAN_SERVERS),
        apt_get=shutil.which("apt-get"),
        is_root=os.geteuid() == 0,
    )
    if problem is None:
        return 0
    sys.stderr.write(problem + "\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
