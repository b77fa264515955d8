"""`make test`'s first step: install what the browser and worker tests need, or stop at once
with the one command to run."""

import stat
from pathlib import Path

import psycopg
import pytest
import redis

from devtools.postgres_server import PostgresServerMissing, private_postgres_server, server_programs
from devtools.provision_tests import provision
from devtools.redis_server import RedisServerMissing, private_redis_server

POSTGRES = Path("/usr/lib/postgresql/15/bin")  # where Debian keeps a server's programs


@pytest.fixture
def chromium(tmp_path) -> Path:
    """Where the suite looks for Chromium (CHROMIUM_PATH); nothing there until a test puts it."""
    (tmp_path / "bin").mkdir()
    return tmp_path / "bin" / "chromium"


def executable(path: Path, script: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def apt_get(tmp_path, chromium) -> tuple[str, Path]:
    """A stand-in apt-get that records its arguments and 'installs' Chromium."""
    calls = tmp_path / "apt-calls"
    script = f'echo "$@" >> {calls}\ncase "$*" in *chromium*) cp /bin/true {chromium};; esac'
    return executable(tmp_path / "sbin" / "apt-get", script), calls


def test_nothing_to_do_when_chromium_and_redis_server_are_there(chromium, apt_get):
    executable(chromium, "exit 0")
    apt, calls = apt_get
    environ = {"CHROMIUM_PATH": str(chromium)}
    assert (
        provision(
            environ=environ,
            postgres_programs=POSTGRES,
            redis_server="/usr/bin/redis-server",
            apt_get=apt,
            is_root=True,
        )
        is None
    )
    assert not calls.exists()


def test_not_root_stops_with_the_one_command_to_run(chromium, apt_get):
    apt, calls = apt_get
    problem = provision(
        environ={"CHROMIUM_PATH": str(chromium)},
        postgres_programs=POSTGRES,
        redis_server=None,
        apt_get=apt,
        is_root=False,
    )
    assert problem is not None
    assert (
        "sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium redis-server"
        in problem
    )
    assert "make test E2E=0" in problem
    assert not calls.exists()


def test_without_apt_it_names_what_is_missing_and_the_way_out(chromium):
    problem = provision(
        environ={"CHROMIUM_PATH": str(chromium)},
        postgres_programs=POSTGRES,
        redis_server="/x",
        apt_get=None,
        is_root=True,
    )
    assert problem is not None
    assert "chromium" in problem and "redis-server" not in problem
    assert "make test E2E=0" in problem


def test_as_root_with_apt_it_installs_what_is_missing(chromium, apt_get):
    apt, calls = apt_get
    environ = {"CHROMIUM_PATH": str(chromium)}
    assert (
        provision(environ=environ, postgres_programs=POSTGRES, redis_server=None, apt_get=apt, is_root=True)
        is None
    )
    assert calls.read_text().splitlines() == ["update -qq", "install -y -qq chromium redis-server"]
    assert (
        provision(
            environ=environ,
            postgres_programs=POSTGRES,
            redis_server="/usr/bin/redis-server",
            apt_get=apt,
            is_root=False,
        )
        is None
    )


def test_a_named_redis_needs_no_redis_server(chromium, apt_get):
    executable(chromium, "exit 0")
    apt, calls = apt_get
    environ = {"CHROMIUM_PATH": str(chromium), "CELERY_TEST_BROKER_URL": "redis://127.0.0.1:6379/15"}
    assert (
        provision(environ=environ, postgres_programs=POSTGRES, redis_server=None, apt_get=apt, is_root=False)
        is None
    )
    assert not calls.exists()


@pytest.mark.worker
def test_a_private_redis_server_answers_and_is_stopped_afterwards():
    with private_redis_server() as url:
        client = redis.Redis.from_url(url)
        assert client.ping() is True
        client.close()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()


def test_without_postgresqls_server_programs_the_one_command_installs_them(chromium, apt_get):
    executable(chromium, "exit 0")
    apt, calls = apt_get
    environ = {"CHROMIUM_PATH": str(chromium)}
    problem = provision(
        environ=environ,
        postgres_programs=None,
        redis_server="/usr/bin/redis-server",
        apt_get=apt,
        is_root=False,
    )
    assert problem is not None
    assert "apt-get install -y -qq postgresql\n" in problem
    assert (
        provision(
            environ=environ,
            postgres_programs=None,
            redis_server="/usr/bin/redis-server",
            apt_get=apt,
            is_root=True,
        )
        is None
    )
    assert calls.read_text().splitlines() == ["update -qq", "install -y -qq postgresql"]


def test_the_newest_debian_server_is_used_and_none_is_none(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert server_programs(debian_servers=tmp_path) is None
    for version in ("13", "15", "9"):
        for program in ("initdb", "pg_ctl"):
            executable(tmp_path / version / "bin" / program, "exit 0")
    assert server_programs(debian_servers=tmp_path) == tmp_path / "15" / "bin"


def test_without_postgresql_a_private_server_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr("devtools.postgres_server.DEBIAN_SERVERS", tmp_path)
    with (
        pytest.raises(PostgresServerMissing, match="apt-get install -y postgresql"),
        private_postgres_server(),
    ):
        pass


@pytest.mark.worker
def test_a_private_postgresql_server_restarts_cutting_its_connections_and_is_removed_afterwards():
    with private_postgres_server() as server:
        connection = psycopg.connect(server.url(), autocommit=True)
        assert connection.execute("SHOW fsync").fetchone() == ("off",)
        server.restart(down_seconds=0.1)
        with pytest.raises(psycopg.OperationalError):
            connection.execute("SELECT 1")
        with psycopg.connect(server.url(), autocommit=True) as again:
            assert again.execute("SELECT 1").fetchone() == (1,)
        folder = server.folder
    assert not folder.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.url(), connect_timeout=1)


def test_without_redis_server_it_says_how_to_install_it():
    missing = private_redis_server(executable="/nonexistent/redis-server")
    with pytest.raises(RedisServerMissing, match="apt-get install -y redis-server"), missing:
        pass
