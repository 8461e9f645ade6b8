"""Test plugin: SIGKILL the operator as soon as a DaskJob's Successful status is written.

``dask_job_phase_changed`` is notified after the status write and before the job's cluster is
deleted, so this stops the operator exactly between the two steps.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from dask_operator import hookimpl


@hookimpl
def dask_job_phase_changed(job: dict[str, Any], old: str | None, new: str) -> None:
    if new == "Successful":
        os.kill(os.getpid(), signal.SIGKILL)
