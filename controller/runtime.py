"""The operator's process-wide state: plugin manager, API clients, per-object locks, pokes."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from . import config
from .cache import Cache, Index
from .errors import ShuttingDown
from .kube import Kube, Manifest
from .pluginmanager import PluginManager
from .scheduler_api import SchedulerAPI

logger = logging.getLogger("dask_operator")

Key = tuple[str, str, str]  # kind, namespace, name


class Runtime:
    """Everything a reconcile pass needs, created once when kopf starts."""

    def __init__(self, pm: PluginManager, kube: Kube, scheduler: SchedulerAPI, cache: Cache) -> None:
        self.pm = pm
        self.kube = kube
        self.cache = cache
        kube.cache = cache
        self.scheduler = scheduler
        self._locks: defaultdict[Key, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._pokes: dict[Key, tuple[asyncio.Task[None], float]] = {}  # key -> (task, when due)
        self._running: set[asyncio.Task[None]] = set()  # pokes whose pass has started
        self.warned: dict[str, str] = {}  # uid -> warnings last posted
        self.backoff: dict[Key, float] = {}
        self.errors: dict[Key, float] = {}  # last retry delay of passes that failed unexpectedly
        self.applied_spec: dict[str, str] = {}  # uid -> hash of the live spec after our last apply
        self.failures: dict[Key, list[float]] = {}  # finished worker pods replaced, per group
        self.pods_read: dict[Key, int] = {}  # pods the last pass of a cluster or group read
        self.closing = False
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @classmethod
    async def start(cls, pm: PluginManager, indices: Mapping[str, Index]) -> Runtime:
        """``indices``: kopf's indices of the watched kinds (see :mod:`.cache`)."""
        kube = await Kube.connect()
        scheduler = SchedulerAPI(
            timeout=float(config.get("scheduler-api.timeout")),
            retire_timeout=float(config.get("scheduler-api.retire-timeout")),
        )
        return cls(pm, kube, scheduler, Cache(indices))

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> Manifest | None:
        """An object from the watch-fed cache; kinds the operator does not watch (what plugins
        ask for) from the API server."""
        if self.cache.serves(api_version, kind):
            return self.cache.get(api_version, kind, namespace, name)
        return await self.kube.get(api_version, kind, namespace, name)

    async def close(self, timeout: float = 15) -> None:
        """Stop taking new passes, let running ones finish, then close the clients."""
        self.closing = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            logger.warning("stopping with %d reconcile pass(es) still running", self._active)
        tasks = [task for task, _ in self._pokes.values()] + list(self._running)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
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
            self.errors.pop(key, None)
            self.failures.pop(key, None)
            self.pods_read.pop(key, None)
        if uid is not None:
            self.warned.pop(uid, None)
            self.applied_spec.pop(uid, None)

    def remembered(self) -> int:
        """How many per-object entries the runtime holds (for tests and debugging)."""
        return len(self._locks) + len(self.backoff) + len(self.errors) + len(self.failures) + len(self.pods_read) + len(self.warned) + len(self.applied_spec)

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

    def poke(self, key: Key, run: Callable[[], Awaitable[object]], delay: float = 0.2) -> None:
        """Run ``run`` after ``delay`` seconds, once, however many times the object is poked
        meanwhile (many pod events, one pass). A poke due sooner replaces one due later, so a
        retry scheduled in a minute never delays a pass that a change asks for now."""
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        waiting = self._pokes.get(key)
        if waiting is not None:
            if waiting[1] <= due:
                return
            waiting[0].cancel()

        async def later() -> None:
            me = asyncio.current_task()
            try:
                await asyncio.sleep(delay)
                if self._pokes.get(key, (None, 0.0))[0] is me:
                    del self._pokes[key]  # a poke arriving during the pass schedules another
                if me is not None:
                    self._running.add(me)  # close() cancels it after the grace period
                await run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a poke never crashes anything; the pass logs its own failures
                logger.info("triggered pass of %s %s/%s did not finish: %s", *key, exc)
            finally:
                if me is not None:
                    self._running.discard(me)
                if self._pokes.get(key, (None, 0.0))[0] is me:
                    del self._pokes[key]

        self._pokes[key] = (loop.create_task(later(), name=f"pass {key[0]} {key[1]}/{key[2]}"), due)

    def next_backoff(self, key: Key) -> float:
        first = float(config.get("scale-down.retry-delay"))
        ceiling = float(config.get("scale-down.max-retry-delay"))
        delay = min(ceiling, self.backoff.get(key, first / 2) * 2)
        self.backoff[key] = delay
        return delay
