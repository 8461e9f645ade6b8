"""Tell the user what KubeCluster is waiting for, and for how long."""

from __future__ import annotations

import time
from collections.abc import Callable


class Progress:
    """Reports a waiting step when it changes and every *every* seconds while it lasts.

    *emit* receives complete lines (KubeCluster passes its ``_log``, which honours ``quiet``
    and keeps the lines for ``get_logs``); *clock* is injectable for tests.
    """

    def __init__(
        self,
        emit: Callable[[str], None],
        every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._emit = emit
        self._every = every
        self._clock = clock
        self._step = ""
        self._started = 0.0
        self._last_report = 0.0

    def __call__(self, step: str) -> None:
        now = self._clock()
        if step != self._step:
            self._step, self._started, self._last_report = step, now, now
            self._emit(step)
        elif now - self._last_report >= self._every:
            self._last_report = now
            self._emit(f"{step} (waited {now - self._started:.0f}s)")

    def done(self, message: str) -> None:
        now = self._clock()
        elapsed = now - self._started if self._step else 0.0
        self._step = ""
        self._emit(f"{message} ({elapsed:.0f}s)" if elapsed >= 1 else message)
