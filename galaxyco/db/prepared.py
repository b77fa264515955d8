"""Prepared statements on PostgreSQL, only where they pay and cannot hurt: a run's own statements.

psycopg keeps a statement prepared on its connection once it has run DATABASE_PREPARE_THRESHOLD
times: PostgreSQL then parses it once, and after five executions may plan it once too, for any
parameters (a generic plan). That saves most of PostgreSQL's CPU on a run, whose statements
look rows up by key or insert them. It is wrong for reads whose best plan depends on how many
rows the workspace has: a generic plan for a run list, made without knowing the workspace,
read a large workspace's step runs by workspace instead of by run, 4x slower. So connections
prepare nothing (Django's default), except inside `prepared_statements()`.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection


@contextmanager
def prepared_statements() -> Iterator[None]:
    """Statements run within, on this thread's open PostgreSQL connection, are prepared once they
    have run DATABASE_PREPARE_THRESHOLD times, and run prepared from then on. A connection opened
    within (or none at all, or a threshold of None) prepares nothing."""
    threshold = settings.DATABASE_PREPARE_THRESHOLD
    raw = connection.connection
    if threshold is None or connection.vendor != "postgresql" or raw is None:
        yield
        return
    previous = raw.prepare_threshold
    raw.prepare_threshold = threshold
    try:
        yield
    finally:
        raw.prepare_threshold = previous
