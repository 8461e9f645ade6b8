"""Client-side rate limit of the operator's own API requests (a token bucket).

``kubernetes.controller.kube-api.qps`` requests per second on average, with bursts of up to
``kube-api.burst`` at once: a thousand DaskClusters applied together queue their writes here
instead of flooding the API server (client-go's QPS/burst, which kubernetes_asyncio lacks).
Watches are kopf's and are not limited. A qps of 0 (or less) turns the limit off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up. Each request reserves one token,
    waiting for it if none is left; reservations are served in order (like Go's
    ``rate.Limiter.Reserve``), so waiting is bounded by the queue ahead divided by ``rate``."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = float(rate)
        self.burst = max(1, int(burst))
        self._clock = clock
        self._tokens = float(self.burst)
        self._updated = clock()

    @property
    def unlimited(self) -> bool:
        return self.rate <= 0

    def reserve(self) -> float:
        """Take one token; the seconds to wait before using it (0 when one was saved up)."""
        if self.unlimited:
            return 0.0
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)
