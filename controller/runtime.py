"""The operator's process-wide state: plugin manager, API clients, per-object locks, pokes."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from . import config
from .errors import ShuttingDown
from .kube import Kube
from .pluginmanager import PluginManager
from .scheduler_api import SchedulerAPI

logger = logging.getLogger("dask_operator")

Key = tuple[str, str, str]  # kind, namespace, name


class Runtime:
    """Everything a reconcile pass needs, created once when kopf starts."""

    def __init__(self, pm: PluginManager, kube: Kube, scheduler: SchedulerAPI) -> None:
        self.pm = pm
        self.kube = kube
        self.scheduler = scheduler
        self._locks: defaultdict[Key, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._pokes: dict[Key, asyncio.Task[None]] = {}
        self.warned: dict[str, str] = {}  # uid -> warnings last posted
        self.backoff: dict[Key, float] = {}
        self.applied_spec: dict[str, str] = {}  # uid -> hash of the live spec after our last apply
        self.failures: dict[Key, list[float]] = {}  # finished worker pods replaced, per group
        self.closing = False
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @classmethod
    async def start(cls, pm: PluginManager) -> Runtime:
        kube = await Kube.connect()
        scheduler = SchedulerAPI(
            timeout=float(config.get("scheduler-api.timeout")),
            retire_timeout=float(config.get("scheduler-api.retire-timeout")),
        )
        return cls(pm, kube, scheduler)

    async def close(self, timeout: float = 15) -> None:
        """Stop taking new passes, let running ones finish, then close the clients."""
        self.closing = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            logger.warning("stopping with %d reconcile pass(es) still running", self._active)
        for task in list(self._pokes.values()):
            task.cancel()
        await asyncio.gather(*self._pokes.values(), return_exceptions=True)
        await self.scheduler.close()
        await self.kube.close()

    def forget(self, key: Key | None = None, uid: str | None = None) -> None:
        """Drop what the runtime remembers about a deleted object (by key and/or uid), so a
        long-running operator does not grow with every cluster it ever saw. A lock still held
        by a running pass stays; the pass ends on its own."""
        if key is not None:
            lock = self._locks.get(key)
            if lock is not None and not lock.locked():
                del self._locks[key]
            self.backoff.pop(key, None)
            self.failures.pop(key, None)
        if uid is not None:
            self.warned.pop(uid, None)
            self.applied_spec.pop(uid, None)

    def remembered(self) -> int:
        """How many per-object entries the runtime holds (for tests and debugging)."""
        return len(self._locks) + len(self.backoff) + len(self.failures) + len(self.warned) + len(self.applied_spec)

    def lock(self, kind: str, namespace: str, name: str) -> asyncio.Lock:
        """One pass at a time per object: periodic loops, change handlers and pokes may overlap."""
        return self._locks[(kind, namespace, name)]

    async def notify(self, hook: str, **kwargs: Any) -> None:
        """Call a notification hook and await every awaitable result; failures are logged."""
        try:
            results = getattr(self.pm.hook, hook)(**kwargs)
        except Exception:
            logger.exception("notification hook %s failed", hook)
            return
        for result in results:
            if inspect.isawaitable(result):
                try:
                    await result
                except Exception:
                    logger.exception("notification hook %s failed", hook)

    @contextlib.asynccontextmanager
    async def pass_context(self, kind: str, name: str, namespace: str) -> AsyncIterator[None]:
        """Enter every plugin's ``dask_reconcile_context`` around one pass; count running passes."""
        if self.closing:
            raise ShuttingDown(f"not starting a pass of {kind} {namespace}/{name}: the operator is stopping")
        self._active += 1
        self._idle.clear()
        try:
            async with contextlib.AsyncExitStack() as stack:
                for manager in self.pm.hook.dask_reconcile_context(kind=kind, name=name, namespace=namespace):
                    if manager is not None:
                        await stack.enter_async_context(manager)
                yield
        finally:
            self._active -= 1
            if not self._active:
                self._idle.set()

    def poke(self, key: Key, run: Callable[[], Awaitable[None]], delay: float = 1.0) -> None:
        """Run ``run`` soon, once, however many times the object is poked meanwhile."""
        if key in self._pokes:
            return

        async def later() -> None:
            me = asyncio.current_task()
            try:
                await asyncio.sleep(delay)
                self._pokes.pop(key, None)  # a poke arriving during the pass schedules another
                await run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the periodic pass retries; a poke never crashes anything
                logger.info("triggered pass of %s %s/%s did not finish: %s", *key, exc)
            finally:
                if self._pokes.get(key) is me:
                    del self._pokes[key]

        self._pokes[key] = asyncio.get_running_loop().create_task(later())

    def next_backoff(self, key: Key) -> float:
        first = float(config.get("scale-down.retry-delay"))
        ceiling = float(config.get("scale-down.max-retry-delay"))
        delay = min(ceiling, self.backoff.get(key, first / 2) * 2)
        self.backoff[key] = delay
        return delay
