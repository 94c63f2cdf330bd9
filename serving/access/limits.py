"""Request limits: a token bucket per key (rate and burst by role) and the body-size ceiling.

By default the buckets live in each worker's memory (a cache: a restart refills them), right for the
embedded one-worker service. With several workers or replicas, ``settings.rate_limit_url``
(``redis://host:port/db``) moves them to Redis (:class:`RedisBuckets`): one bucket per key for the
whole service, taken atomically by a Lua script on Redis's own clock.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """One bucket per caller: ``rate`` tokens a second up to ``burst``; each request takes one."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, who: str, rate: float, burst: int) -> float:
        """Take one token from ``who``'s bucket: 0.0 when allowed, else seconds until one is back."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(who)
            if bucket is None:
                if len(self._buckets) >= self.max_keys:
                    self._buckets.clear()
                bucket = self._buckets[who] = _Bucket(float(burst), now)
            bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.at) * rate)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / rate if rate > 0 else math.inf


_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(held[1]) or burst, tonumber(held[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return tostring(wait)
"""


class RedisBuckets:
    """The same buckets as :class:`TokenBuckets`, held in Redis and shared by every worker and replica.

    A key's bucket expires once it would be full again, so Redis holds only the recently active keys.
    When Redis cannot be reached the request is allowed (logged): rate limiting never takes the service
    down with it.
    """

    def __init__(self, url: str, prefix: str = "opsmatch:bucket:") -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix
        self._take = self.client.register_script(_TAKE)

    def take(self, who: str, rate: float, burst: int) -> float:
        """Take one token from ``who``'s shared bucket: 0.0 when allowed, else seconds until one is back."""
        import redis

        try:
            return float(self._take(keys=[self.prefix + who], args=[repr(rate), burst]))
        except redis.RedisError:
            logging.getLogger("opsmatch.serving").warning("rate limits: Redis unreachable; allowed")
            return 0.0


def buckets_for(url: str) -> TokenBuckets | RedisBuckets:
    """In-process buckets (``url`` empty) or the Redis ones shared by every worker (``redis://...``)."""
    if not url:
        return TokenBuckets()
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"rate_limit_url {url!r}: expected redis://host:port/db (or empty: in process)")
    return RedisBuckets(url)


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds))) if math.isfinite(seconds) else "3600"
