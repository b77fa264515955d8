"""The Redis cache the abuse limits count in (CACHE_URL=redis://…): Django's, with its client built
once per connection pool instead of on every call."""

import redis

from galaxyco.cache import RedisCache


def test_the_redis_cache_counts_with_one_client(redis_url, monkeypatch):
    cache = RedisCache(redis_url, {"KEY_PREFIX": "cache-test"})
    built = []
    real_client = redis.Redis

    def counted_client(*args, **kwargs):
        built.append(kwargs)
        return real_client(*args, **kwargs)

    monkeypatch.setattr(cache._cache, "_client", counted_client)
    cache.set("history", [3.0, 2.0, 1.0], 60)
    assert cache.get("history") == [3.0, 2.0, 1.0]
    assert cache.get("absent", []) == []
    assert cache.add("history", [], 60) is False
    cache.delete("history")
    assert cache.get("history") is None
    assert len(built) == 1
