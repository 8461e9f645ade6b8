"""Idle timeout: delete a DaskCluster whose scheduler has been idle for its timeout.

Every ``idle-check-interval`` seconds the core asks the scheduler ``check_idle`` (HTTP API,
RPC fallback) for each cluster with a timeout (hook ``dask_cluster_idle_timeout``; built-in:
``spec.idleTimeout``). Only an answer "idle since T" counts: a busy scheduler, an unreachable
one or a scheduler that is not ready resets the idle time. The idle stretch starts when this
operator first saw it idle (never earlier, so an outage or restart of the operator never makes
a cluster look idle for longer than observed), or later if the scheduler says it became idle
again since. ``status.idleSince`` (RFC 3339) and the condition ``Idle`` show it; when the
timeout is reached an ``IdleTimeout`` Event is posted and the cluster is deleted.
"""

from __future__ import annotations

import copy
import datetime
import logging
from typing import Any

from . import config, names
from . import status as st
from .errors import SchedulerUnreachable
from .reconcile_job import now, parse_time
from .runtime import Runtime
from .scheduler_api import endpoint_from_service
from .status_io import write_status

logger = logging.getLogger("dask_operator")


CONDITION = "Idle"


def check_interval() -> float:
    return max(0.5, float(config.get("idle-check-interval")))


def rfc3339(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def idle_start(previous: float | None, scheduler_since: float, at: float) -> float:
    """When the current idle stretch started, as far as this operator can vouch for it."""
    if previous is None:
        return at
    return max(previous, min(scheduler_since, at))


def idle_timeout(rt: Runtime, body: dict[str, Any]) -> float:
    cluster = copy.deepcopy(body)
    rt.pm.hook.dask_cluster_defaults(cluster=cluster)
    return float(rt.pm.hook.dask_cluster_idle_timeout(cluster=cluster) or 0)


def has_idle_timeout(rt: Runtime, body: dict[str, Any]) -> bool:
    """Does this cluster need idle checks at all (so clusters without a timeout cost nothing)?"""
    return idle_timeout(rt, body) > 0


def shows_idle(body: dict[str, Any]) -> bool:
    status = body.get("status") or {}
    return status.get("idleSince") is not None or any(c.get("type") == CONDITION for c in status.get("conditions") or [])


async def check_idle(rt: Runtime, namespace: str, name: str) -> None:
    """One idle check of the DaskCluster ``namespace/name``."""
    async with rt.lock(names.CLUSTER_KIND, namespace, name):
        body = await rt.get(names.API_VERSION, names.CLUSTER_KIND, namespace, name)
        if body is None or st.is_terminating(body):
            return
        await _check(rt, body)


async def _not_idle(rt: Runtime, body: dict[str, Any], reason: str, message: str) -> None:
    status = body.get("status") or {}
    generation = int(body["metadata"].get("generation") or 0)
    current = next((c for c in status.get("conditions") or [] if c.get("type") == CONDITION), None)
    if status.get("idleSince") is None and current and current.get("reason") == reason:
        return
    await write_status(rt, body, {"idleSince": None, "conditions": [st.condition(CONDITION, False, reason, message, generation)]})


async def _check(rt: Runtime, body: dict[str, Any]) -> None:
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    cluster = copy.deepcopy(body)
    rt.pm.hook.dask_cluster_defaults(cluster=cluster)
    timeout = idle_timeout(rt, body)
    status = body.get("status") or {}
    if timeout <= 0:
        if shows_idle(body):
            await _not_idle(rt, body, "NoIdleTimeout", "the cluster has no idle timeout")
        return
    if status.get("phase") != st.PHASE_RUNNING:
        await _not_idle(rt, body, "SchedulerNotReady", "the scheduler is not ready; it does not count as idle")
        return
    service = await rt.get("v1", "Service", namespace, names.scheduler_name(name))
    try:
        since = await rt.scheduler.check_idle(endpoint_from_service(service))
    except SchedulerUnreachable as exc:
        await rt.notify("dask_scheduler_unreachable", cluster=cluster, call="check_idle", error=str(exc))
        await _not_idle(rt, body, "SchedulerUnreachable", "the scheduler did not answer check_idle; it does not count as idle")
        return
    if since is None:
        await _not_idle(rt, body, "Busy", "the scheduler has work")
        return
    at = now()
    start = idle_start(parse_time(status.get("idleSince")), since, at)
    idle_for = at - start
    generation = int(meta.get("generation") or 0)
    if idle_for >= timeout:
        message = f"the scheduler has been idle since {rfc3339(start)} ({idle_for:.0f} s, idleTimeout {timeout:g} s); deleting the cluster"
        await rt.kube.event(body, "Normal", "IdleTimeout", message)
        logger.info("DaskCluster %s/%s: %s", namespace, name, message)
        await rt.kube.delete(names.API_VERSION, names.CLUSTER_KIND, namespace, name, uid=meta.get("uid"))
        return
    await write_status(rt, body, {
        "idleSince": rfc3339(start),
        "conditions": [st.condition(CONDITION, True, "Idle", f"idle since {rfc3339(start)}; deleted after {timeout:g} s idle", generation)],
    })

