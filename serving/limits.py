"""Request limits: a token bucket per key (rate and burst by role) and the body-size ceiling.

The buckets live in each worker's memory (a cache: a restart refills them); with ``n`` workers a key
gets at most ``n`` times its rate. At scale the same buckets move to Redis behind this interface.
"""

from __future__ import annotations

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


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds))) if math.isfinite(seconds) else "3600"
