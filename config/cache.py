"""Django's Redis cache backend, with one Redis client per connection pool instead of one
per call.

Django's RedisCacheClient builds a new ``redis.Redis`` object for every cache command, and
redis-py's constructor copies ~170 response callbacks each time: about 0.1 ms of CPU per
command, paid several times per webhook request (duplicate claim, rate-limit counters,
instrument lookups). A ``redis.Redis`` object is thread-safe (each command borrows a
connection from the pool), so one per pool serves every thread of a worker.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient
