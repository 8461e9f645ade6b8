"""The user docs' example: a kopf handler that reacts to scheduler Service creation.

Importing this module registers the handler with kopf, which is all a plugin made of kopf
handlers needs (entry point ``minimal_handlers`` in group ``dask_operator_plugin``). This one
records, on the Service itself, the address clients inside Kubernetes use to reach the scheduler;
``patch`` is applied by kopf, so the handler makes no API call of its own.
"""

from __future__ import annotations

from typing import Any

import kopf

SCHEDULER_ADDRESS = "example.dask.org/scheduler-address"


@kopf.on.create("services", labels={"dask.org/component": "scheduler"})
async def handle_scheduler_service_create(
    meta: kopf.Meta, spec: kopf.Spec, namespace: str | None, logger: kopf.Logger, patch: kopf.Patch, **kwargs: Any
) -> None:
    port = next((p["port"] for p in spec.get("ports", []) if p.get("name") == "tcp-comm"), 8786)
    address = f"tcp://{meta['name']}.{namespace}.svc:{port}"
    logger.info("scheduler Service %s created; clients connect to %s", meta["name"], address)
    patch.metadata.annotations[SCHEDULER_ADDRESS] = address
