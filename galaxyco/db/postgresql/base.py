"""Django's PostgreSQL backend with a health check that costs no round trip when the connection
is idle and healthy.

With CONN_HEALTH_CHECKS, Django checks a reused connection at its first use in every request (and
Celery task) with `SELECT 1`: a transaction of its own, a quarter of a one-step run's commits.
An idle connection in autocommit has nothing to read, so its socket answers the question first:
a server that shut down or restarted sends a FATAL and closes, and a backend the kernel killed
closes too; either way the socket turns readable (and stays so at EOF). Only then, or when
psycopg already knows the connection is bad or not idle, does Django's `SELECT 1` decide. A
notice or TLS record arriving on an idle connection just means the real check runs. A peer that
vanished without closing (no FIN) is missed by both checks alike: the query then waits as
`SELECT 1` would have.
"""

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        # After an error Django asks whether the connection still works: it gets the round trip.
        if self.connection is None or self.errors_occurred or not self._idle_and_quiet():
            return super().is_usable()
        return True

    def _idle_and_quiet(self) -> bool:
        """psycopg sees an open, idle connection and its socket has nothing to read."""
        pgconn = self.connection.pgconn
        if pgconn.status != pq.ConnStatus.OK or pgconn.transaction_status != pq.TransactionStatus.IDLE:
            return False
        poller = select.poll()  # not select.select: a socket number past 1024 is fine
        poller.register(pgconn.socket, select.POLLIN)
        return not poller.poll(0)
