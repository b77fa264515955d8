"""The API keys this process authenticated lately (workspaces.authentication), kept apart so the
services that revoke or delete a key can drop it."""

import threading
import time
from typing import TypeVar

from cachetools import TTLCache
from django.db.models import Model
from django.db.models.base import ModelState

from workspaces.models import ApiKey

M = TypeVar("M", bound=Model)

# A key found in the database is trusted for this long by this process without looking again:
# a revoked or deleted key stops working at once in the process that revoked or deleted it
# (workspaces.services, workspaces.signals), and in every other process within it.
API_KEY_CACHE_SECONDS = 5.0
# Keys remembered per process (the least recently used go first).
API_KEY_CACHE_SIZE = 1024


def own_copy(instance: M) -> M:
    """What copy.copy makes of a loaded row (its field values, a state and a cache of related rows
    of its own), without the pickling protocol copy.copy goes through for a model, which cost
    more than the rest of authenticating a remembered key."""
    clone = instance.__class__.__new__(instance.__class__)
    clone.__dict__.update(instance.__dict__)
    state = ModelState()
    state.__dict__.update(instance._state.__dict__)
    state.fields_cache = dict(instance._state.fields_cache)
    clone._state = state
    return clone


def _with_own_workspace(api_key: ApiKey) -> ApiKey:
    """A copy of the key and of its workspace."""
    copied = own_copy(api_key)
    copied.workspace = own_copy(api_key.workspace)
    return copied


class _RecentKeys:
    """Active keys this process looked up lately, by the key's hash, with their workspace. Only
    keys that were found: a refused one is looked up (and counted) every time."""

    def __init__(self) -> None:
        self.clock = time.monotonic
        self._keys: TTLCache[str, ApiKey] = TTLCache(
            maxsize=API_KEY_CACHE_SIZE, ttl=API_KEY_CACHE_SECONDS, timer=lambda: self.clock()
        )
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> ApiKey | None:
        with self._lock:
            api_key = self._keys.get(key_hash)
        # A copy per request, so no request shares an instance.
        return _with_own_workspace(api_key) if api_key is not None else None

    def add(self, key_hash: str, api_key: ApiKey) -> None:
        # Apart from the instances the adding request goes on to use (and may change).
        kept = _with_own_workspace(api_key)
        with self._lock:
            self._keys[key_hash] = kept

    def forget(self, key_hash: str) -> None:
        """Drop a revoked or deleted key, so this process refuses it from its next request."""
        with self._lock:
            self._keys.pop(key_hash, None)


recent_keys = _RecentKeys()
