"""Exceptions of the operator core."""

from __future__ import annotations


class DaskOperatorError(Exception):
    """Base class of the operator's own errors."""


class PluginError(DaskOperatorError):
    """A plugin cannot be used; raised at start-up and names the plugin, hook and object."""


class PluginLoadError(PluginError):
    """A plugin's entry point failed to import."""


class BuildError(DaskOperatorError):
    """No plugin built a manifest that the core needs, or a built manifest is unusable."""


class SchedulerUnreachable(DaskOperatorError):
    """Neither the scheduler's HTTP API nor its RPC answered."""


class RetryLater(DaskOperatorError):
    """A pass could not finish and should run again after ``delay`` seconds.

    The pass scheduler (``passes.py``) runs the pass again then; it is not a crash.
    """

    def __init__(self, message: str, delay: float = 10) -> None:
        super().__init__(message)
        self.delay = delay


class Rejected(DaskOperatorError):
    """The API server rejected an object built from the user's spec (400/422). The pass has
    reported it on the object; only a change of the spec can help, so it is not retried."""


class ShuttingDown(DaskOperatorError):
    """The operator is stopping: a pass that had not started yet is skipped."""


class OwnerGone(DaskOperatorError):
    """The object a pass was about to create children for no longer exists on the API server,
    although the cache still holds it (its deletion event has not arrived yet). Nothing to do."""
