"""The level-triggered, idempotent pass of a DaskJob.

A pass reads the job, its DaskCluster (named like the job) and its runner Pod ``{job}-runner``
and moves the job one step on, whatever event started it:

* ``jobStatus``: ``JobCreated`` -> ``ClusterCreated`` (the cluster exists) -> ``Running`` (the
  runner Pod runs) -> ``Successful`` | ``Failed``. The runner is created once the cluster's
  scheduler is ready, so the runner's ``Client()`` connects at once.
* Finishing writes the job's status **first** and deletes the cluster **after**; a finished job's
  pass only cleans up. A crash in between is repaired by the next pass, and never leaves the
  job ``Running``.
* Kubernetes Job semantics: ``backoffLimit`` (failed runner attempts tolerated; unset: 0 with
  ``restartPolicy: Never``, unlimited with ``OnFailure``, as the user docs describe),
  ``activeDeadlineSeconds`` (reason ``DeadlineExceeded``; the clock restarts on resume),
  ``ttlSecondsAfterFinished`` (the DaskJob is deleted), ``suspend`` (no cluster or runner while
  true) and ``keepRunnerPod`` (keep the finished runner and its logs; default true).
* A job re-created under the name of a deleted one waits until the old runner Pod and cluster
  are gone instead of failing.

Manifests come from the hooks ``dask_job_build_cluster`` and ``dask_job_build_runner_pod``.
"""

from __future__ import annotations

import copy
import datetime
import json
import logging
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from . import children, config, labels, names
from . import status as st
from .errors import BuildError, RetryLater
from .kube import is_owned_by, now_rfc3339, owner_reference
from .runtime import Runtime
from .status_io import write_status

logger = logging.getLogger("dask_operator")

Manifest = dict[str, Any]

JOB_KIND = names.JOB_KIND
JOB_PLURAL = names.JOB_PLURAL
COMPONENT_RUNNER = names.COMPONENT_JOB_RUNNER

JOB_CREATED = "JobCreated"
CLUSTER_CREATED = "ClusterCreated"
RUNNING = "Running"
SUCCESSFUL = "Successful"
FAILED = "Failed"
FINISHED = (SUCCESSFUL, FAILED)

# A finished, cleaned-up job without TTL needs no frequent passes (thousands of old jobs
# would otherwise cost a few GETs each every reconcile-interval).
SETTLED_RECHECK = 300.0


def runner_name(job_name: str) -> str:
    return f"{job_name}-runner"


def parse_time(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def now() -> float:
    return datetime.datetime.now(datetime.timezone.utc).timestamp()


def backoff_limit(job: Manifest, restart_policy: str) -> int | None:
    """Failed attempts tolerated; ``None`` = unlimited."""
    value = job.get("spec", {}).get("backoffLimit")
    if value is not None:
        return int(value)
    return 0 if restart_policy == "Never" else None


def container_restarts(pod: Manifest) -> int:
    return sum(int(c.get("restartCount") or 0) for c in (pod.get("status") or {}).get("containerStatuses") or [])


def _api_message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)[:800]
    except ValueError:
        return str(exc.reason)


def _ref(obj: Manifest) -> str:
    meta = obj.get("metadata", {})
    return f"{obj.get('kind')} {meta.get('namespace')}/{meta.get('name')}"


def _foreign(obj: Manifest, job: Manifest) -> bool:
    return not is_owned_by(obj, job["metadata"]["uid"])


async def reconcile_job(rt: Runtime, namespace: str, name: str) -> float | None:
    """One pass over the DaskJob ``namespace/name``; returns seconds until the next periodic
    pass: at most ``reconcile-interval`` while the job is active (sooner when its deadline falls
    due), the TTL's remaining time or :data:`SETTLED_RECHECK` once it finished and is cleaned
    up (its own watch events still trigger passes at once); ``None`` when the job is gone."""
    async with rt.lock(JOB_KIND, namespace, name), rt.pass_context(JOB_KIND, name, namespace):
        job = await rt.get(names.API_VERSION, JOB_KIND, namespace, name)
        if job is None or st.is_terminating(job):
            return None
        return await _reconcile_job(rt, job)


async def _set_job_status(rt: Runtime, job: Manifest, new: str, fields: dict[str, Any], message: str) -> None:
    old = (job.get("status") or {}).get("jobStatus")
    await write_status(rt, job, {"jobStatus": new, **fields})
    if old != new:
        await rt.kube.event(job, "Warning" if new == FAILED else "Normal", f"Job{new}", message)
        logger.info("%s: jobStatus %s -> %s (%s)", _ref(job), old, new, message)
        await rt.notify("dask_job_phase_changed", job=copy.deepcopy(job), old=old, new=new)


async def _reconcile_job(rt: Runtime, job: Manifest) -> float | None:
    meta = job["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    spec = job.get("spec") or {}
    status = job.get("status") or {}
    generation = int(meta.get("generation") or 0)

    if status.get("jobStatus") is None:
        await _set_job_status(
            rt, job, JOB_CREATED,
            {"clusterName": name, "jobRunnerPodName": runner_name(name), "attempts": 0, "observedGeneration": generation,
             "reason": "Created", "message": "DaskJob accepted"},
            "DaskJob accepted; creating its DaskCluster",
        )
    if job["status"]["jobStatus"] in FINISHED:
        return await _clean_up_finished(rt, job)

    runner = await rt.get("v1", "Pod", namespace, runner_name(name))
    cluster = await rt.get(names.API_VERSION, names.CLUSTER_KIND, namespace, name)

    if spec.get("suspend"):
        await _suspend(rt, job, runner, cluster)
        return float(config.get("reconcile-interval"))
    if job["status"].get("startTime") is None:
        await write_status(rt, job, {
            "startTime": now_rfc3339(),
            "conditions": [st.condition("Suspended", False, "Resumed" if status.get("conditions") else "NotSuspended", "", generation)],
        })

    deadline = spec.get("activeDeadlineSeconds")
    remaining = float(config.get("reconcile-interval"))
    if deadline:
        started = parse_time(job["status"]["startTime"]) or now()
        left = started + float(deadline) - now()
        remaining = min(remaining, max(0.0, left))
        if left <= 0:
            await _finish(rt, job, FAILED, "DeadlineExceeded", f"the job ran longer than activeDeadlineSeconds={deadline}")
            return await _clean_up_finished(rt, job)

    # --- the cluster ---------------------------------------------------------------------------
    if cluster is not None and _foreign(cluster, job):
        if st.is_terminating(cluster) or any(r.get("kind") == JOB_KIND for r in cluster["metadata"].get("ownerReferences") or []):
            raise RetryLater(f"waiting for the DaskCluster {name!r} of a previous DaskJob {name!r} to be deleted", delay=2)
        message = f"a DaskCluster named {name!r} exists and does not belong to this job; delete or rename it"
        await write_status(rt, job, {"reason": "ClusterConflict", "message": message})
        await rt.kube.event(job, "Warning", "ClusterConflict", message)
        raise RetryLater(message, delay=30)
    if cluster is None:
        desired = rt.pm.hook.dask_job_build_cluster(job=job)
        if not isinstance(desired, dict) or not desired.get("metadata", {}).get("name"):
            raise BuildError("no plugin answered dask_job_build_cluster with a DaskCluster manifest")
        desired["metadata"]["namespace"] = namespace
        desired["metadata"]["ownerReferences"] = [owner_reference(job)]
        try:
            await rt.kube.create(desired)
        except ApiException as exc:
            if exc.status not in (400, 422):
                raise
            await _finish(rt, job, FAILED, "InvalidCluster", f"the API server rejected the job's DaskCluster: {_api_message(exc)}")
            return await _clean_up_finished(rt, job)
        await rt.kube.event(job, "Normal", "CreatedDaskCluster", f"Created DaskCluster {desired['metadata']['name']}")
        await _set_job_status(rt, job, CLUSTER_CREATED, {"reason": "ClusterCreated", "message": "waiting for the scheduler to be ready"},
                              f"Created DaskCluster {name}; the runner starts when its scheduler is ready")
        return remaining
    if st.is_terminating(cluster):
        raise RetryLater(f"the DaskCluster {name!r} of this job is being deleted; waiting", delay=5)
    if job["status"]["jobStatus"] == JOB_CREATED:
        await _set_job_status(rt, job, CLUSTER_CREATED, {"reason": "ClusterCreated", "message": "waiting for the scheduler to be ready"},
                              f"DaskCluster {name} exists; the runner starts when its scheduler is ready")

    # --- the runner ----------------------------------------------------------------------------
    if runner is not None and _foreign(runner, job):
        raise RetryLater(f"waiting for the runner pod {runner_name(name)!r} of a previous DaskJob {name!r} to terminate", delay=2)
    if runner is not None and st.is_terminating(runner):
        raise RetryLater(f"waiting for the previous attempt's runner pod {runner_name(name)!r} to terminate", delay=2)
    cluster_status = cluster.get("status") or {}
    if cluster_status.get("phase") == st.PHASE_ERROR:
        ready: dict[str, Any] = next((c for c in cluster_status.get("conditions") or [] if c.get("type") == "Ready"), {})
        await _finish(rt, job, FAILED, "InvalidCluster", f"the job's DaskCluster is invalid: {ready.get('message') or 'phase Error'}")
        return await _clean_up_finished(rt, job)
    if runner is None:
        if cluster_status.get("phase") != st.PHASE_RUNNING:
            return remaining  # the cluster's status change pokes this job again
        await _create_runner(rt, job, cluster)
        if job["status"]["jobStatus"] in FINISHED:  # the API server rejected the runner
            return await _clean_up_finished(rt, job)
        return remaining
    await _follow_runner(rt, job, runner)
    if job["status"]["jobStatus"] in FINISHED:
        return await _clean_up_finished(rt, job)
    return remaining


async def _create_runner(rt: Runtime, job: Manifest, cluster_body: Manifest) -> None:
    cluster = copy.deepcopy(cluster_body)
    rt.pm.hook.dask_cluster_defaults(cluster=cluster)
    address = rt.pm.hook.dask_scheduler_address(cluster=cluster)
    pod = rt.pm.hook.dask_job_build_runner_pod(job=job, scheduler_address=address)
    if not isinstance(pod, dict) or not pod.get("metadata", {}).get("name"):
        raise BuildError("no plugin answered dask_job_build_runner_pod with a Pod manifest")
    pod = children.finalize(
        pod, pm=rt.pm, cluster=cluster, component=COMPONENT_RUNNER,
        inherited=labels.merge_metadata(job["metadata"]), owner=job,
    )
    try:
        await rt.kube.create(pod)
    except ApiException as exc:
        if exc.status not in (400, 422):
            raise
        message = f"the API server rejected the runner pod {pod['metadata']['name']}: {_api_message(exc)}"
        await rt.kube.event(job, "Warning", "RunnerRejected", message)
        await _finish(rt, job, FAILED, "RunnerRejected", message)
        return
    status = job.get("status") or {}
    attempts = int(status.get("failures") or 0) + 1
    await write_status(rt, job, {"attempts": attempts})
    await rt.kube.event(job, "Normal", "CreatedRunnerPod", f"Created runner pod {pod['metadata']['name']} (attempt {attempts})")
    logger.info("%s: created runner pod %s (attempt %d)", _ref(job), pod["metadata"]["name"], attempts)


async def _follow_runner(rt: Runtime, job: Manifest, runner: Manifest) -> None:
    status = job["status"]
    phase = st.pod_phase(runner)
    restarts = container_restarts(runner)
    previous = int(status.get("failures") or 0)  # failed attempts of earlier runner pods
    limit = backoff_limit(job, str(runner.get("spec", {}).get("restartPolicy") or "Always"))
    pod_name = runner["metadata"]["name"]

    if phase in ("Succeeded", "Failed") and status.get("jobStatus") != RUNNING and _runner_started(runner):
        # a short runner may finish between two passes: it did run, so the status says so first
        await _set_job_status(rt, job, RUNNING, {"reason": "RunnerRunning", "message": f"runner pod {pod_name} ran"},
                              f"Runner pod {pod_name} ran")
        status = job["status"]
    if phase == "Succeeded":
        await write_status(rt, job, {"attempts": previous + restarts + 1})
        await _finish(rt, job, SUCCESSFUL, "Completed", f"the runner pod {pod_name} succeeded")
        return
    if phase == "Failed":
        uid = runner["metadata"].get("uid")
        if status.get("lastFailedRunnerUid") != uid:  # count each failed pod once, even across crashes
            previous = previous + restarts + 1
            await write_status(rt, job, {"failures": previous, "lastFailedRunnerUid": uid, "attempts": previous})
        if limit is not None and previous > limit:
            await _finish(rt, job, FAILED, "BackoffLimitExceeded",
                          f"the runner failed {previous} time(s); backoffLimit is {limit}")
            return
        await rt.kube.delete("v1", "Pod", runner["metadata"]["namespace"], pod_name, uid=uid)
        await rt.kube.event(job, "Normal", "RetryingRunner",
                            f"runner pod {pod_name} failed (failure {previous} of at most {'unlimited' if limit is None else limit + 1}); starting another attempt")
        return
    # Pending or Running; OnFailure restarts count as failed attempts (Kubernetes Job semantics).
    failures = previous + restarts
    if limit is not None and failures > limit:
        await _finish(rt, job, FAILED, "BackoffLimitExceeded", f"the runner failed {failures} time(s); backoffLimit is {limit}")
        return
    fields: dict[str, Any] = {"attempts": failures + 1}
    await _report_runner_trouble(rt, job, runner)
    if phase == "Running" and status.get("jobStatus") != RUNNING:
        await _set_job_status(rt, job, RUNNING, {**fields, "reason": "RunnerRunning", "message": f"runner pod {pod_name} is running"},
                              f"Runner pod {pod_name} is running")
    else:
        await write_status(rt, job, fields)


async def _report_runner_trouble(rt: Runtime, job: Manifest, runner: Manifest) -> None:
    """``RunnerReady``: False with the reason while the runner cannot start (no node fits it, its
    image cannot be pulled, ...), with a Warning Event when that reason first appears."""
    trouble = st.pod_trouble(runner)
    before = next((c for c in (job.get("status") or {}).get("conditions") or [] if c.get("type") == "RunnerReady"), None)
    generation = int(job["metadata"].get("generation") or 0)
    if trouble is not None:
        if before is None or before.get("reason") != trouble[0]:
            await rt.kube.event(job, "Warning", trouble[0], trouble[1])
        await write_status(rt, job, {"conditions": [st.condition("RunnerReady", False, trouble[0], trouble[1], generation)]})
    elif before is not None and st.pod_phase(runner) == "Running":
        await write_status(rt, job, {"conditions": [st.condition("RunnerReady", True, "RunnerRunning", "", generation)]})


def _runner_started(pod: Manifest) -> bool:
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        state = container.get("state") or {}
        last = container.get("lastState") or {}
        for part in (state, last):
            if (part.get("terminated") or {}).get("startedAt") or (part.get("running") or {}).get("startedAt"):
                return True
    return False


async def _finish(rt: Runtime, job: Manifest, outcome: str, reason: str, message: str) -> None:
    """Write the final status. Only this; the cleanup follows (and is repeated by every pass)."""
    generation = int(job["metadata"].get("generation") or 0)
    conditions = [
        st.condition("Complete", outcome == SUCCESSFUL, reason, message, generation),
        st.condition("Failed", outcome == FAILED, reason, message, generation),
    ]
    await _set_job_status(
        rt, job, outcome,
        {"endTime": (job.get("status") or {}).get("endTime") or now_rfc3339(), "reason": reason, "message": message, "conditions": conditions},
        message,
    )


async def _delete_owned(rt: Runtime, job: Manifest, api_version: str, kind: str, name: str, why: str) -> bool:
    obj = await rt.get(api_version, kind, job["metadata"]["namespace"], name)
    if obj is None or st.is_terminating(obj) or _foreign(obj, job):
        return False
    deleted = await rt.kube.delete(api_version, kind, job["metadata"]["namespace"], name, uid=obj["metadata"].get("uid"))
    if deleted:
        await rt.kube.event(job, "Normal", f"Deleted{kind}", f"Deleted {kind} {name}: {why}")
    return deleted


async def _clean_up_finished(rt: Runtime, job: Manifest) -> float | None:
    """Idempotent: the cluster goes, the runner goes unless kept, the job goes after its TTL."""
    meta, spec, status = job["metadata"], job.get("spec") or {}, job["status"]
    namespace, name = meta["namespace"], meta["name"]
    await write_status(rt, job, {})  # a spec edited after the end is observed (no patch otherwise)
    await _delete_owned(rt, job, names.API_VERSION, names.CLUSTER_KIND, name, f"the job is {status['jobStatus']}")
    runner = await rt.get("v1", "Pod", namespace, runner_name(name))
    if runner is not None and not _foreign(runner, job) and not st.is_terminating(runner):
        if not spec.get("keepRunnerPod", True) or not st.pod_is_finished(runner):
            await _delete_owned(rt, job, "v1", "Pod", runner_name(name),
                                "the job finished" if st.pod_is_finished(runner) else "the job finished while it still ran")
    ttl = spec.get("ttlSecondsAfterFinished")
    if ttl is None:
        return SETTLED_RECHECK
    ended = parse_time(status.get("endTime")) or now()
    left = ended + float(ttl) - now()
    if left > 0:
        return left
    await rt.kube.event(job, "Normal", "TTLExpired", f"deleting the DaskJob {ttl} s after it finished (ttlSecondsAfterFinished)")
    await rt.kube.delete(names.API_VERSION, JOB_KIND, namespace, name, uid=meta.get("uid"))
    logger.info("%s: deleted after ttlSecondsAfterFinished=%s", _ref(job), ttl)
    return None


async def _suspend(rt: Runtime, job: Manifest, runner: Manifest | None, cluster: Manifest | None) -> None:
    """No pods while suspended: the runner and the cluster go; the deadline clock stops."""
    name = job["metadata"]["name"]
    if runner is not None:
        await _delete_owned(rt, job, "v1", "Pod", runner_name(name), "the job is suspended")
    if cluster is not None:
        await _delete_owned(rt, job, names.API_VERSION, names.CLUSTER_KIND, name, "the job is suspended")
    generation = int(job["metadata"].get("generation") or 0)
    was = any(c.get("type") == "Suspended" and c.get("status") == "True" for c in job["status"].get("conditions") or [])
    fields = {
        "startTime": None,
        "reason": "Suspended",
        "message": "spec.suspend is true: no cluster or runner pod until it is false",
        "conditions": [st.condition("Suspended", True, "Suspended", "spec.suspend is true", generation)],
    }
    await _set_job_status(rt, job, JOB_CREATED, fields, "Job suspended: back to JobCreated until spec.suspend is false")
    if not was:
        await rt.kube.event(job, "Normal", "Suspended", "Job suspended: its cluster and runner pod are deleted until spec.suspend is false")
