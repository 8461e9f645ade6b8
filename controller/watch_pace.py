"""Pacing of bulk writes by the operator's own watch: never run far ahead of what it has seen.

Creating hundreds of pods costs the operator more than the requests: every pod comes back as
several watch events (added, scheduled, running, ready) that it must read before it sees any
other change. Created as fast as the API server accepts them, a runaway group's pods fill the
watch stream, and every other cluster's changes wait behind them. So a bulk creation sends its
next batch only once the watch has delivered the batch before the previous one: at most two
batches are unseen at any time, and a slow watch slows the creation down instead of the
whole operator.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .cache import Cache

POLL = 0.05  # seconds between two looks at the cache
TIMEOUT = 10.0  # seconds; pacing only: the cache's overlay keeps the pass right without the watch


async def until_watched(cache: Cache, objects: Sequence[Mapping[str, Any]], timeout: float = TIMEOUT) -> bool:
    """Wait until the watch has delivered ``objects`` (at most ``timeout`` seconds); whether it did."""
    deadline = time.monotonic() + timeout
    while not cache.watched(objects):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL)
    return True
