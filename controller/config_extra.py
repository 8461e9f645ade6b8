"""Defaults of the configuration keys read by the DaskJob, DaskAutoscaler, idle-timeout,
metrics and health parts (dask config ``kubernetes.controller``, like :mod:`dask_operator.config`).

Importing this module registers them; every module that reads one of these keys imports it.
"""

from __future__ import annotations

import dask.config

DEFAULTS = {
    # Seconds between two idle checks (check_idle) of a DaskCluster with an idle timeout.
    "idle-check-interval": 5,
    "autoscaler": {
        # Seconds between two polls of the scheduler's adaptive target, unless the
        # DaskAutoscaler sets spec.pollIntervalSeconds.
        "poll-interval": 5,
        # Seconds a lower target must persist before workers are retired, unless the
        # DaskAutoscaler sets spec.scaleDownStabilizationSeconds.
        "scale-down-stabilization": 60,
    },
    "metrics": {
        # Address the Prometheus endpoint binds (127.0.0.1 when running outside a pod).
        "address": "0.0.0.0",
    },
    "health": {
        # The liveness probe fails when an object changed in the API this long ago and the
        # operator's watch still has not delivered the change (kopf reconnects silent
        # watches after 70 s; a stall beyond that needs a restart). 0 turns the check off.
        "watch-stall-seconds": 180,
    },
}

dask.config.update_defaults({"kubernetes": {"controller": DEFAULTS}})
