"""Per-object background loops (autoscaler polls, idle checks, periodic DaskJob passes).

kopf timers and daemons put a finalizer on every object they run for, so a DaskJob or
DaskAutoscaler could not be deleted while the operator is down, and a deletion waits for a
running timer to exit (a minute, in kopf's retry rhythm). These loops are plain asyncio tasks
started and stopped by watch events instead: they write nothing to the objects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from .errors import RetryLater

logger = logging.getLogger("dask_operator")

Key = tuple[str, str, str]  # purpose/kind, namespace, name


class Loops:
    """At most one running loop per key; each round returns the seconds until the next."""

    def __init__(self) -> None:
        self._tasks: dict[Key, asyncio.Task[None]] = {}

    def ensure(
        self, key: Key, round_: Callable[[], Awaitable[float]], *, retry_delay: float = 10, initial_delay: float = 0
    ) -> None:
        task = self._tasks.get(key)
        if task is not None and not task.done():
            return

        async def run() -> None:
            await asyncio.sleep(initial_delay)
            while True:
                try:
                    delay = await round_()
                except asyncio.CancelledError:
                    raise
                except RetryLater as exc:
                    logger.info("%s %s/%s: %s", *key, exc)
                    delay = exc.delay
                except Exception as exc:  # a failing round never ends the loop; the next one retries
                    logger.warning("%s %s/%s: round failed: %s: %s", *key, type(exc).__name__, exc)
                    delay = retry_delay
                await asyncio.sleep(max(0.1, delay))

        self._tasks[key] = asyncio.get_running_loop().create_task(run(), name=f"{key[0]} {key[1]}/{key[2]}")

    def stop(self, key: Key) -> None:
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()

    def running(self, key: Key) -> bool:
        task = self._tasks.get(key)
        return task is not None and not task.done()

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


LOOPS = Loops()
