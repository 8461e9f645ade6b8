"""Around every requested pass: bounded concurrency and the "changed -> pass finished" latency.

:func:`gated` wraps the pass that :func:`.passes.request` schedules. It

* lets at most ``kubernetes.controller.passes.concurrency`` passes run at once (the rest wait
  on a semaphore, in request order) and at most one pass per object waits: with the merging
  of requests in :meth:`.runtime.Runtime.poke`, the work queue is bounded by the number of
  watched objects;
* when the request came from a change (a watch event, not a retry the pass asked for), tells
  plugins how long it took from that change to the end of the pass that saw it, through the
  ``dask_pass_finished`` hook (the metrics plugin turns it into
  ``dask_operator_pass_latency_seconds``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from . import config

if TYPE_CHECKING:
    from .runtime import Runtime

Key = tuple[str, str, str]


class Gate:
    """The pass semaphore, and which objects already have a pass waiting for it."""

    def __init__(self, concurrency: int) -> None:
        self.semaphore = asyncio.Semaphore(concurrency)
        self.waiting: dict[Key, object] = {}  # object -> the token of its waiting pass


_gate: tuple[asyncio.AbstractEventLoop, Gate] | None = None


def gate() -> Gate:
    """The process-wide gate of the running event loop (made on first use)."""
    global _gate
    loop = asyncio.get_running_loop()
    if _gate is None or _gate[0] is not loop:
        _gate = (loop, Gate(config.pass_concurrency()))
    return _gate[1]


def gated(
    rt: Runtime, kind: str, namespace: str, name: str, run: Callable[[], Awaitable[None]], *, changed: bool,
    clock: Callable[[], float] = time.monotonic,
) -> Callable[[], Awaitable[None]]:
    """``run`` behind the pass semaphore, reporting its latency from now when ``changed``. If
    a pass of the same object is already waiting its turn, this one is dropped: that pass
    starts later and reads the cache then, so it sees this change too (passes are
    level-triggered), and at most one pass per object ever waits."""
    requested = clock()
    key = (kind, namespace, name)

    async def pass_() -> None:
        g = gate()
        if key in g.waiting:
            return
        token = object()
        g.waiting[key] = token
        try:
            async with g.semaphore:
                if g.waiting.get(key) is token:
                    del g.waiting[key]
                await run()
        finally:
            if g.waiting.get(key) is token:
                del g.waiting[key]
        if changed:
            await rt.notify("dask_pass_finished", kind=kind, namespace=namespace, name=name, seconds=clock() - requested)

    return pass_
