"""Bulk writes wait for the operator's own watch, with a bound."""

from __future__ import annotations

import asyncio
from typing import Any

from dask_operator import cache, watch_pace
from test_cache import LiveIndices, Watched, pod


def test_waits_until_the_watch_delivers_then_returns_true() -> None:
    watched = Watched()
    c = cache.Cache(LiveIndices(watched))
    created = pod("w1", 3)
    c.wrote(created)

    async def deliver_later() -> None:
        await asyncio.sleep(0.2)
        watched.deliver(created)

    async def main() -> tuple[bool, Any]:
        delivery = asyncio.ensure_future(deliver_later())
        seen = await watch_pace.until_watched(c, [created], timeout=5)
        return seen, delivery.done()

    seen, delivered_first = asyncio.run(main())
    assert seen and delivered_first


def test_gives_up_after_the_timeout_when_the_watch_never_delivers() -> None:
    c = cache.Cache(LiveIndices(Watched()))
    created = pod("w1", 3)
    c.wrote(created)
    assert asyncio.run(watch_pace.until_watched(c, [created], timeout=0.2)) is False
