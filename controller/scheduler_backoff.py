"""When a worker group may call its scheduler again after finding it unreachable.

A blocked scale-down retries with a doubling, capped delay (``scale-down.retry-delay`` ..
``max-retry-delay``). Passes also run on every change of the group or its pods, including the
operator's own status writes, and a change-triggered pass must not call an unreachable
scheduler again before that delay is over: otherwise each retry would be followed by a second
one (and with an error text that changes every time, by an unbounded chain of them). So a
pass first asks :meth:`SchedulerBackoff.waiting`; while the group waits, the pass reports the
same blocked reason without touching the network.

Entries are keyed by object, dropped when the scheduler answers again or when they are long
expired, so the table never outgrows the groups that are blocked right now.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Key = tuple[str, str, str]  # kind, namespace, name

STALE_AFTER = 600.0  # seconds past its deadline after which a forgotten entry is dropped


class SchedulerBackoff:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until: dict[Key, tuple[float, str]] = {}

    def block(self, key: Key, delay: float, reason: str) -> None:
        """The scheduler of ``key`` did not answer: no new call for ``delay`` seconds."""
        now = self._clock()
        self._until[key] = (now + delay, reason)
        for other, (until, _) in list(self._until.items()):
            if until + STALE_AFTER < now:
                del self._until[other]

    def waiting(self, key: Key) -> tuple[float, str] | None:
        """(seconds left, the blocked reason) while ``key`` must not call its scheduler."""
        entry = self._until.get(key)
        if entry is None:
            return None
        left = entry[0] - self._clock()
        return (left, entry[1]) if left > 0 else None

    def clear(self, key: Key) -> None:
        self._until.pop(key, None)

    def __len__(self) -> int:
        return len(self._until)


BACKOFF = SchedulerBackoff()
