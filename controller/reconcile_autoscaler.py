"""One poll of a DaskAutoscaler: ask the scheduler, let the hook decide, scale the worker group.

The target comes from the scheduler's ``adaptive_target`` (HTTP API, RPC fallback). The pure
hook ``dask_autoscaler_desired_workers`` turns it into a replica count (clamping and the
scale-down stabilisation live in the built-in autoscaler plugin). The core writes that count
to ``spec.worker.replicas`` of the targeted group (``spec.workerGroup``, default
``{cluster}-default``) and nothing else: the group's own pass creates workers, or retires
workers of that group only, through the scheduler. Deleting the autoscaler leaves the replicas
as they are. Status: ``desiredWorkers``, ``lastTarget``, ``lastDecision``,
``lastDecisionReason``, ``lastScaleTime`` and conditions ``AbleToScale`` and ``ScalingActive``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from . import config, names, reconcile
from . import status as st
from .errors import SchedulerUnreachable
from .kube import now_rfc3339
from .runtime import Runtime
from .scheduler_api import endpoint_from_service
from .status_io import write_status

logger = logging.getLogger("dask_operator")

AUTOSCALER_KIND = names.AUTOSCALER_KIND
AUTOSCALER_PLURAL = names.AUTOSCALER_PLURAL
HISTORY_SECONDS = 3600.0  # longer than any sensible stabilisation window
HISTORY_ENTRIES = 2000


# uid -> polls of this operator process, oldest first (see dask_autoscaler_desired_workers).
_history: dict[str, list[dict[str, Any]]] = {}


def poll_interval(autoscaler: dict[str, Any] | None) -> float:
    value = (autoscaler or {}).get("spec", {}).get("pollIntervalSeconds")
    if value is None:
        value = config.get("autoscaler.poll-interval")
    return max(0.5, float(value))


def remember(uid: str, current: int, target: int, at: float) -> list[dict[str, Any]]:
    """Add a poll to the history; a new history starts with the current replicas as a target."""
    history = _history.setdefault(uid, [{"time": at, "target": current}])
    history.append({"time": at, "target": target})
    while history and (history[0]["time"] < at - HISTORY_SECONDS or len(history) > HISTORY_ENTRIES):
        history.pop(0)
    return list(history)


def forget(uid: str) -> None:
    _history.pop(uid, None)


def decision_word(current: int, desired: int) -> str:
    return "ScaleUp" if desired > current else "ScaleDown" if desired < current else "Hold"


async def reconcile_autoscaler(rt: Runtime, namespace: str, name: str) -> float:
    """One poll of the DaskAutoscaler ``namespace/name``; returns seconds until the next one."""
    async with rt.lock(AUTOSCALER_KIND, namespace, name), rt.pass_context(AUTOSCALER_KIND, name, namespace):
        body = await rt.get(names.API_VERSION, AUTOSCALER_KIND, namespace, name)
        if body is None or st.is_terminating(body):
            return poll_interval(None)
        await _poll(rt, body)
        return poll_interval(body)


async def _unable(rt: Runtime, body: dict[str, Any], reason: str, message: str) -> None:
    generation = int(body["metadata"].get("generation") or 0)
    was_able = all(c.get("status") != "False" for c in (body.get("status") or {}).get("conditions") or [] if c.get("type") == "AbleToScale")
    await write_status(rt, body, {
        "observedGeneration": generation,
        "conditions": [
            st.condition("AbleToScale", False, reason, message, generation),
            st.condition("ScalingActive", False, reason, message, generation),
        ],
    })
    if was_able:
        await rt.kube.event(body, "Warning", reason, message)


async def _poll(rt: Runtime, body: dict[str, Any]) -> None:
    meta, spec = body["metadata"], body.get("spec") or {}
    namespace = meta["namespace"]
    generation = int(meta.get("generation") or 0)
    cluster_name = str(spec.get("cluster") or "")
    group_name = str(spec.get("workerGroup") or names.default_worker_group_name(cluster_name))

    cluster = await rt.get(names.API_VERSION, names.CLUSTER_KIND, namespace, cluster_name)
    if cluster is None or st.is_terminating(cluster):
        await _unable(rt, body, "ClusterNotFound", f"DaskCluster {cluster_name!r} not found in namespace {namespace!r}")
        return
    group = await rt.get(names.API_VERSION, names.WORKER_GROUP_KIND, namespace, group_name)
    if group is None or st.is_terminating(group) or group.get("spec", {}).get("cluster") != cluster_name:
        await _unable(rt, body, "WorkerGroupNotFound",
                      f"DaskWorkerGroup {group_name!r} of DaskCluster {cluster_name!r} not found in namespace {namespace!r}")
        return
    service = await rt.get("v1", "Service", namespace, names.scheduler_name(cluster_name))
    try:
        target = await rt.scheduler.adaptive_target(endpoint_from_service(service))
    except SchedulerUnreachable as exc:
        await rt.notify("dask_scheduler_unreachable", cluster=cluster, call="adaptive_target", error=str(exc))
        await _unable(rt, body, "SchedulerUnreachable", f"cannot ask the scheduler for its adaptive target: {exc}"[:1000])
        return

    current = st.replicas_of(group)
    recent = remember(meta["uid"], current, target, time.time())
    answer = rt.pm.hook.dask_autoscaler_desired_workers(
        autoscaler=body, worker_group=group, target=target, current=current, recent=recent
    ) or {"workers": current, "reason": "no plugin decided; keeping the current replicas"}
    desired = max(0, int(answer["workers"]))
    reason = str(answer.get("reason") or "")
    word = decision_word(current, desired)

    fields: dict[str, Any] = {
        "observedGeneration": generation,
        "desiredWorkers": desired,
        "lastTarget": target,
        "lastDecision": word,
        "lastDecisionReason": reason,
        "conditions": [
            st.condition("AbleToScale", True, "ReadyForNewScale", f"scaling DaskWorkerGroup {group_name}", generation),
            st.condition("ScalingActive", True, word, reason, generation),
        ],
    }
    if desired != current:
        await rt.kube.patch(names.API_VERSION, names.WORKER_GROUP_KIND, namespace, group_name,
                            {"spec": {"worker": {"replicas": desired}}})
        fields["lastScaleTime"] = now_rfc3339()
        message = f"scaled DaskWorkerGroup {group_name} from {current} to {desired}: {reason}"
        await rt.kube.event(body, "Normal", word, message)
        logger.info("DaskAutoscaler %s/%s: %s", namespace, meta["name"], message)
        rt.poke((names.WORKER_GROUP_KIND, namespace, group_name),
                lambda: reconcile.reconcile_worker_group(rt, namespace, group_name), delay=0.2)
    await write_status(rt, body, fields)
    await rt.notify("dask_autoscaler_decided", autoscaler=body, worker_group=group, target=target,
                    current=current, desired=desired, decision=word, reason=reason)
