"""Status computation (ARCHITECTURE §6): pure functions from observed objects to status dicts.

DaskCluster: ``phase`` (Created -> Pending -> Running; Error for an invalid spec), conditions
``SchedulerReady``, ``WorkersReady``, ``Ready``; ``workers.desired/ready``; ``replicas`` and
``selector`` for the scale subresource; ``observedGeneration``. DaskWorkerGroup: ``replicas``,
``readyReplicas``, ``selector``, ``workers``, conditions ``ClusterFound``, ``Ready``,
``ScaleDownBlocked``. Every kind's ``Reconciling`` and ``Stalled`` conditions (and the
DaskJob's and DaskAutoscaler's ``Ready``) are derived from these in status_health.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

PHASE_CREATED = "Created"
PHASE_PENDING = "Pending"
PHASE_RUNNING = "Running"
PHASE_ERROR = "Error"


def condition(type_: str, ok: bool, reason: str, message: str = "", generation: int | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "type": type_,
        "status": "True" if ok else "False",
        "reason": reason,
        "message": message,
    }
    if generation is not None:
        result["observedGeneration"] = generation
    return result


def merge_conditions(old: Iterable[dict[str, Any]] | None, new: Iterable[dict[str, Any]], now: str) -> list[dict[str, Any]]:
    """Replace conditions by type; ``lastTransitionTime`` moves only when ``status`` changes.

    Conditions of other types (e.g. set by plugins) are kept.
    """
    previous = {c.get("type"): c for c in old or []}
    merged = dict(previous)
    for cond in new:
        cond = dict(cond)
        before = previous.get(cond["type"])
        if before is not None and before.get("status") == cond["status"] and before.get("lastTransitionTime"):
            cond["lastTransitionTime"] = before["lastTransitionTime"]
        else:
            cond["lastTransitionTime"] = now
        merged[cond["type"]] = cond
    return list(merged.values())


def deep_merge(base: dict[str, Any], fragment: dict[str, Any]) -> dict[str, Any]:
    """Merge ``fragment`` into a copy of ``base``; conditions merge by type, dicts recursively."""
    result = copy.deepcopy(base)
    for key, value in fragment.items():
        if key == "conditions" and isinstance(value, list):
            by_type = {c.get("type"): c for c in result.get("conditions", [])}
            for cond in value:
                by_type[cond.get("type")] = cond
            result["conditions"] = list(by_type.values())
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def is_terminating(obj: dict[str, Any]) -> bool:
    return bool(obj.get("metadata", {}).get("deletionTimestamp"))


def pod_phase(pod: dict[str, Any]) -> str:
    return str(pod.get("status", {}).get("phase") or "Pending")


def pod_is_finished(pod: dict[str, Any]) -> bool:
    return pod_phase(pod) in ("Succeeded", "Failed")


def pod_is_active(pod: dict[str, Any]) -> bool:
    """Counts towards replicas: not being deleted and not finished."""
    return not is_terminating(pod) and not pod_is_finished(pod)


def pod_is_ready(pod: dict[str, Any]) -> bool:
    if not pod_is_active(pod):
        return False
    for cond in pod.get("status", {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def deployment_ready(deployment: dict[str, Any] | None) -> bool:
    """At least one ready replica of the current template (an old pod alone does not count)."""
    if not deployment or is_terminating(deployment):
        return False
    status = deployment.get("status") or {}
    generation = deployment.get("metadata", {}).get("generation", 0)
    if status.get("observedGeneration", 0) < generation:
        return False
    return int(status.get("readyReplicas") or 0) >= 1 and int(status.get("updatedReplicas") or 0) >= 1


def replicas_of(worker_group: dict[str, Any]) -> int:
    return int((worker_group.get("spec", {}).get("worker") or {}).get("replicas", 1) or 0)


# Container states that do not get better without a change (of the spec, the image, the node).
STUCK_WAITING = frozenset({
    "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CrashLoopBackOff",
    "CreateContainerConfigError", "CreateContainerError", "RunContainerError",
})
# Ready=False reasons of a worker group that say why, rather than "not there yet".
WORKER_GROUP_PROBLEMS = frozenset({
    "WorkerPodRejected", "WorkersCapped", "WorkersFailing", "WorkerGroupConflict", "CreateWorkersFailed", "Unschedulable",
    *STUCK_WAITING,
})

Trouble = tuple[str, str]  # (reason, message)


def pod_trouble(pod: dict[str, Any]) -> Trouble | None:
    """Why a pod is stuck (unschedulable, image not pulled, crash-looping, ...), or None."""
    status = pod.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False" and cond.get("reason") == "Unschedulable":
            return "Unschedulable", f"pod {pod['metadata']['name']}: {cond.get('message') or 'no node fits it'}"
    for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in STUCK_WAITING:
            detail = waiting.get("message") or waiting["reason"]
            return str(waiting["reason"]), f"pod {pod['metadata']['name']}, container {container.get('name')!r}: {detail}"
    return None


def last_exit_reasons(pod: dict[str, Any]) -> list[str]:
    """Why the pod's containers last ended (``OOMKilled``, ``Error``, ...), in container order."""
    reasons = []
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = ((container.get("state") or {}).get("terminated")
                      or (container.get("lastState") or {}).get("terminated") or {})
        if terminated.get("reason"):
            reasons.append(str(terminated["reason"]))
    return reasons


def deployment_trouble(deployment: dict[str, Any] | None) -> Trouble | None:
    """A Deployment that cannot create its pods (the ReplicaSet's FailedCreate), or None."""
    for cond in ((deployment or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
            return str(cond.get("reason") or "ReplicaFailure"), str(cond.get("message") or "")
        if cond.get("type") == "Progressing" and cond.get("status") == "False":
            return str(cond.get("reason") or "ProgressDeadlineExceeded"), str(cond.get("message") or "")
    return None


def worker_group_problems(worker_groups: Iterable[dict[str, Any]]) -> list[Trouble]:
    """(reason, "DaskWorkerGroup name: message") of the groups whose Ready condition says why."""
    found = []
    for group in worker_groups:
        for cond in (group.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "Ready" and cond.get("status") == "False" and cond.get("reason") in WORKER_GROUP_PROBLEMS:
                found.append((str(cond["reason"]), f"DaskWorkerGroup {group['metadata']['name']}: {cond.get('message') or ''}"))
    return found


def cluster_status(
    *,
    generation: int,
    deployment: dict[str, Any] | None,
    worker_groups: list[dict[str, Any]],
    worker_pods: list[dict[str, Any]],
    default_group: str,
    default_selector: str,
    scheduler_address: str | None,
    dashboard_address: str | None,
    scheduler_pods: Iterable[dict[str, Any]] = (),
    worker_problems: Iterable[Trouble] = (),
) -> dict[str, Any]:
    """The core's status of a valid DaskCluster (without timestamps; see merge_conditions).
    ``scheduler_pods`` and ``worker_problems`` say why the scheduler or the workers are not
    ready, when something is stuck rather than on its way."""
    scheduler_ok = deployment_ready(deployment)
    scheduler_trouble = None if scheduler_ok else (
        deployment_trouble(deployment) or next(filter(None, (pod_trouble(p) for p in scheduler_pods if not is_terminating(p))), None)
    )
    problems = list(worker_problems)
    desired = sum(replicas_of(g) for g in worker_groups if not is_terminating(g))
    active = [p for p in worker_pods if pod_is_active(p)]
    ready = sum(1 for p in active if pod_is_ready(p))
    default_active = sum(
        1 for p in active if p.get("metadata", {}).get("labels", {}).get("dask.org/workergroup-name") == default_group
    )
    workers_ok = ready >= desired and len(active) == desired
    return {
        "phase": PHASE_RUNNING if scheduler_ok else PHASE_PENDING,
        "observedGeneration": generation,
        "workers": {"desired": desired, "ready": ready},
        "replicas": default_active,
        "selector": default_selector,
        "schedulerAddress": scheduler_address,
        "dashboardAddress": dashboard_address,
        "conditions": [
            condition(
                "SchedulerReady",
                scheduler_ok,
                "SchedulerReady" if scheduler_ok else scheduler_trouble[0] if scheduler_trouble else "SchedulerNotReady",
                "the scheduler Deployment has a ready pod" if scheduler_ok
                else scheduler_trouble[1] if scheduler_trouble else "waiting for the scheduler pod to be ready",
                generation,
            ),
            condition(
                "WorkersReady",
                workers_ok,
                "WorkersReady" if workers_ok else problems[0][0] if problems else "WorkersNotReady",
                "; ".join([f"{ready}/{desired} workers ready"] + [m for _, m in problems]),
                generation,
            ),
            condition(
                "Ready",
                scheduler_ok and workers_ok,
                "Ready" if scheduler_ok and workers_ok
                else (scheduler_trouble[0] if scheduler_trouble else "SchedulerNotReady") if not scheduler_ok
                else problems[0][0] if problems else "WorkersNotReady",
                "; ".join(
                    [f"scheduler {'ready' if scheduler_ok else 'not ready'}, {ready}/{desired} workers ready"]
                    + ([scheduler_trouble[1]] if scheduler_trouble else []) + [m for _, m in problems]
                ),
                generation,
            ),
        ],
    }


def invalid_cluster_status(generation: int, errors: list[str]) -> dict[str, Any]:
    """Phase Error: the spec is invalid, or the API server rejects a child built from it (the
    Event says ``ChildRejected``); either way only a change of the spec helps (Stalled)."""
    message = "; ".join(errors)
    return {
        "phase": PHASE_ERROR,
        "observedGeneration": generation,
        "conditions": [
            condition("Ready", False, "InvalidSpec", message, generation),
            condition("SchedulerReady", False, "InvalidSpec", message, generation),
        ],
    }


def worker_group_status(
    *,
    generation: int,
    desired: int,
    pods: list[dict[str, Any]],
    outdated: int,
    selector: str,
    blocked: str | None = None,
    problem: Trouble | None = None,
) -> dict[str, Any]:
    """``problem``: why the group cannot reach its replicas (rejected pods, a cap, a conflict)."""
    active = [p for p in pods if pod_is_active(p)]
    ready = sum(1 for p in active if pod_is_ready(p))
    ok = ready == desired and len(active) == desired and outdated == 0
    if ok:
        reason, message = "WorkersReady", f"{ready}/{desired} workers ready"
    elif outdated:
        reason, message = "RollingUpdate", f"{ready}/{desired} workers ready, {outdated} outdated being replaced"
    elif len(active) > desired:
        reason, message = "ScalingDown", f"{len(active)} workers, scaling down to {desired}"
    else:
        reason, message = "WorkersNotReady", f"{ready}/{desired} workers ready"
    if problem is not None and not ok:
        reason, message = problem[0], f"{message}; {problem[1]}"
    return {
        "observedGeneration": generation,
        "replicas": len(active),
        "readyReplicas": ready,
        "selector": selector,
        "workers": {"desired": desired, "ready": ready},
        "conditions": [
            condition("ClusterFound", True, "ClusterFound", "", generation),
            condition("Ready", ok, reason, message, generation),
            condition(
                "ScaleDownBlocked",
                blocked is not None,
                "SchedulerUnreachable" if blocked else "NotBlocked",
                blocked or "",
                generation,
            ),
        ],
    }


def cluster_missing_status(generation: int, cluster: str, namespace: str, reason: str = "ClusterNotFound", message: str | None = None) -> dict[str, Any]:
    message = message or f"DaskCluster {cluster!r} does not exist in namespace {namespace!r}; waiting for it"
    return {
        "observedGeneration": generation,
        "conditions": [
            condition("ClusterFound", False, reason, message, generation),
            condition("Ready", False, reason, message, generation),
        ],
    }
