"""Point this process's Celery app at another broker (and result backend) after it has been used
(tests, bench)."""

import sys

import kombu.pools

from galaxyco.celery import app


def use_broker(**conf: object) -> None:
    """Update Celery's configuration and drop the pools built from the old broker URL."""
    kombu.pools.reset()  # closes and forgets the process-wide connection and producer pools
    app._pool = None  # type: ignore[attr-defined]  # Celery builds these lazily; no public reset
    app.amqp._producer_pool = None  # type: ignore[attr-defined]
    app._backend_cache = None  # type: ignore[attr-defined]  # the result backend, rebuilt from conf
    app._local.__dict__.pop("backend", None)  # type: ignore[attr-defined]
    app.conf.update(**conf)


def worker_command(*, concurrency: int, loglevel: str = "INFO") -> list[str]:
    """A Celery worker for this project: threads, and none of the cluster chatter a test needs."""
    return [
        sys.executable, "-m", "celery", "-A", "galaxyco", "worker", "--pool", "threads",
        "--concurrency", str(concurrency), "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--loglevel", loglevel,
    ]  # fmt: skip
