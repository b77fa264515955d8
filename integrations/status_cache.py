"""The integration status of the workspaces this process answered for lately
(integrations.selectors.integration_status), kept apart so that whatever writes an account can
drop it."""

import threading
import time
from typing import Any

from cachetools import TTLCache
from django.db import connection, transaction

# A workspace's status is answered from this process's memory for this long without reading
# again: a change is seen at once by the process that wrote it, which drops its copy when it
# writes and again when the write commits (integrations.services, integrations.health,
# integrations.signals), and by every other process within it.
STATUS_CACHE_SECONDS = 1.0
# Workspaces remembered per process (the least recently used go first).
STATUS_CACHE_SIZE = 1024

Status = dict[str, dict[str, Any]]


class _RecentStatus:
    def __init__(self) -> None:
        self.clock = time.monotonic
        self._entries: TTLCache[int, Status] = TTLCache(
            maxsize=STATUS_CACHE_SIZE, ttl=STATUS_CACHE_SECONDS, timer=lambda: self.clock()
        )
        # Bumped by every drop: a status read before a drop is not kept after it.
        self._generation = 0
        self._lock = threading.Lock()

    def generation(self) -> int:
        return self._generation

    def get(self, workspace_id: int) -> Status | None:
        with self._lock:
            status = self._entries.get(workspace_id)
        if status is None:
            return None
        # A copy per caller, so no request changes another's.
        return {kind: dict(summary) for kind, summary in status.items()}

    def add(self, workspace_id: int, status: Status, *, read_in_generation: int) -> None:
        """Keep a status read while the generation was `read_in_generation`, unless something was
        dropped since (the read may predate that write)."""
        with self._lock:
            if self._generation != read_in_generation:
                return
            self._entries[workspace_id] = {kind: dict(summary) for kind, summary in status.items()}

    def drop(self, workspace_id: int | None) -> None:
        """Drop a workspace's status (None: every workspace's)."""
        with self._lock:
            self._generation += 1
            if workspace_id is None:
                self._entries.clear()
            else:
                self._entries.pop(workspace_id, None)


recent_status = _RecentStatus()


def forget(*, workspace_id: int | None) -> None:
    """An account of this workspace (None: of a workspace not at hand) was written: drop its status
    now and, inside a transaction, again once it commits (a read by another thread meanwhile
    still saw the row as it was)."""
    recent_status.drop(workspace_id)
    if connection.in_atomic_block:
        transaction.on_commit(lambda: recent_status.drop(workspace_id))
