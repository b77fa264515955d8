"""Django's Redis cache with one client per connection pool.

Django's RedisCacheClient builds a new `redis.Redis` for every cache call, and redis-py fills
each new client's table of about 170 response callbacks: more CPU than the call's own round trip.
The abuse limits read and write this cache on API requests, so the client is built once per pool
and kept (a redis-py client is safe to share; Django keeps one cache object per thread anyway).
"""

from typing import Any

from django.core.cache.backends import redis as django_redis


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, servers: list[str], **options: Any) -> None:
        super().__init__(servers, **options)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # Django's own private helpers (the stubs leave them out): the pool for this call, as its
        # get_client picks it, and the client class it would build around it.
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(id(pool))  # pools live as long as this object
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient
