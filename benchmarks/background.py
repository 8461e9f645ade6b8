"""An asyncio service running on its own thread, for benchmark helpers used from blocking code."""

from __future__ import annotations

import asyncio
import threading
from typing import TypeVar

Self = TypeVar("Self", bound="BackgroundService")


class BackgroundService:
    """Subclasses implement ``_start`` and ``_stop`` (run on the service's own event loop)."""

    def __init__(self, thread_name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=thread_name, daemon=True)

    async def _start(self) -> object:
        raise NotImplementedError

    async def _stop(self) -> None:
        raise NotImplementedError

    def _started(self, result: object) -> None:
        """Called on the caller's thread with what ``_start`` returned."""

    def start(self: Self) -> Self:
        self._thread.start()
        self._started(asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30))
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self: Self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
