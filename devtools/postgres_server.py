"""A private PostgreSQL server: its own cluster in a temporary folder, on a free loopback port, for
the tests that restart their database (a shared server is never restarted by a test).

Debian keeps each major version's server programs in /usr/lib/postgresql/<version>/bin; the
newest is used. initdb refuses to run as root, so as root the cluster belongs to the `postgres`
user and its programs run as that user (runuser). Nothing is made durable (fsync off): the
cluster is thrown away with its folder.
"""

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devtools.redis_server import free_port

INSTALL_COMMAND = "sudo apt-get install -y postgresql"
DEBIAN_SERVERS = Path("/usr/lib/postgresql")
CLUSTER_OWNER = "postgres"
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


class PostgresServerMissing(Exception):
    pass


def server_programs(*, debian_servers: Path) -> Path | None:
    """The folder holding initdb and pg_ctl: the newest Debian server's, else the one on PATH."""
    versions = sorted(
        (int(folder.name), folder / "bin")
        for folder in (debian_servers.iterdir() if debian_servers.is_dir() else ())
        if folder.name.isdigit()
        and (folder / "bin" / "initdb").is_file()
        and (folder / "bin" / "pg_ctl").is_file()
    )
    if versions:
        return versions[-1][1]
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent:
        return Path(initdb).parent
    return None


@dataclass
class PostgresServer:
    """A running cluster; `restart` takes it down for a moment as a real restart does."""

    programs: Path
    folder: Path
    port: int
    run_as: tuple[str, ...]

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgres://{CLUSTER_OWNER}@127.0.0.1:{self.port}/{database}"

    def run(self, program: str, *args: str) -> None:
        """One of the server's programs, as the cluster's owner; its output in the error if it fails."""
        command = [*self.run_as, str(self.programs / program), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{program} {' '.join(args)} failed:\n{done.stdout}{done.stderr}\n{log}")

    def start(self) -> None:
        options = [f"-p {self.port}", f"-k {self.folder}"] + [
            f"-c {name}={value}" for name, value in SETTINGS.items()
        ]
        self.run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            " ".join(options),
        )

    def stop(self, *, mode: str = "fast") -> None:
        self.run("pg_ctl", "stop", "-w", "-t", "60", "-D", str(self.data), "-m", mode)

    def restart(self, *, down_seconds: float) -> None:
        """Stop (every connection is cut, as `pg_ctl restart -m fast` does), stay down
        `down_seconds` refusing connections, start again."""
        self.stop(mode="fast")
        time.sleep(down_seconds)
        self.start()

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


def _cluster_owner() -> tuple[tuple[str, ...], int | None]:
    """How to run the server's programs, and whom the folder must belong to."""
    if os.geteuid() != 0:
        return (), None
    try:
        owner = pwd.getpwnam(CLUSTER_OWNER)
    except KeyError:
        raise PostgresServerMissing(
            f"initdb will not run as root and there is no `{CLUSTER_OWNER}` user to run it as: "
            f"run `{INSTALL_COMMAND}` (which creates it)."
        ) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresServerMissing("runuser (util-linux) is needed to run PostgreSQL as its own user.")
    return (runuser, "-u", CLUSTER_OWNER, "--"), owner.pw_uid


@contextlib.contextmanager
def private_postgres_server() -> Iterator[PostgresServer]:
    """Makes a cluster in a temporary folder, starts it, yields it; stops it and removes the folder."""
    programs = server_programs(debian_servers=DEBIAN_SERVERS)
    if programs is None:
        raise PostgresServerMissing(
            f"PostgreSQL's server programs (initdb, pg_ctl) are not installed: run `{INSTALL_COMMAND}`."
        )
    run_as, owner_uid = _cluster_owner()
    folder = Path(tempfile.mkdtemp(prefix="postgres-"))
    try:
        if owner_uid is not None:
            os.chown(folder, owner_uid, -1)
        server = PostgresServer(programs=programs, folder=folder, port=free_port(), run_as=run_as)
        server.run(
            "initdb", "-D", str(server.data), "-U", CLUSTER_OWNER, "-A", "trust", "-E", "UTF8",
            "--locale=C", "--no-sync",
        )  # fmt: skip
        server.start()
        try:
            yield server
        finally:
            if server.is_running():
                server.stop(mode="immediate")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
