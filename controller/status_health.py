"""The health contract every Dask kind reports, for kubectl, kstatus (Flux) and Argo CD.

Pure functions, applied to the whole status of any of the four kinds each time the operator
writes it (``status_io.write_status``), so the contract is derived in one place:

* ``observedGeneration``: the generation the pass read;
* ``Ready``: the kind's own readiness (DaskCluster, DaskWorkerGroup: computed by their passes;
  DaskJob: running or finished successfully, or suspended; DaskAutoscaler: ``AbleToScale``);
* ``Stalled=True`` (reason, message) when the object cannot reach its spec without a change from
  the user: an invalid spec or a child the API server rejects, a worker cap, a name conflict, a
  failed job, a missing DaskCluster (or worker group) after :data:`missing-cluster grace
  <MISSING_REASONS>`;
* ``Reconciling=True`` while it works towards its spec (not Ready and not Stalled).

kstatus reads ``Reconciling``/``Stalled`` first, then ``Ready``: InProgress, Failed, Current.
docs/health.md tells the whole contract, kind by kind.
"""

from __future__ import annotations

import datetime
from typing import Any

from . import names
from .status import condition

# Ready=False reasons that do not get better without a change from the user.
STALLED_REASONS = frozenset({
    "InvalidSpec",            # the spec fails validation, or the API server rejects a child built from it
    "WorkerPodRejected",      # ... a worker pod
    "WorkersCapped",          # more workers than workers.max-per-group / max-per-cluster allow
    "WorkerGroupConflict",    # a worker group name taken by another cluster
    "ClusterInvalid",         # a worker group's cluster has an invalid spec
    "ClusterConflict",        # a DaskJob's cluster name taken by a cluster it does not own
    "ProgressDeadlineExceeded",  # the scheduler Deployment gave up (as kstatus reads Deployments)
})
# Ready=False reasons that become Stalled once they have lasted longer than the grace period.
MISSING_REASONS = frozenset({"ClusterNotFound", "WorkerGroupNotFound"})

JOB_SUCCESSFUL = "Successful"
JOB_FAILED = "Failed"
JOB_RUNNING = "Running"

Status = dict[str, Any]
Condition = dict[str, Any]


def find(status: Status, type_: str) -> Condition | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)


def is_true(status: Status, type_: str) -> bool:
    return (find(status, type_) or {}).get("status") == "True"


def seconds_since(timestamp: str | None, now: float) -> float:
    if not timestamp:
        return 0.0
    then = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    return now - then.timestamp()


def job_ready(status: Status, generation: int) -> Condition:
    """A DaskJob is Ready once its runner runs, when it succeeded, and while it is suspended
    (nothing should run): like a Kubernetes Job for kstatus, a started job is Current."""
    job_status = status.get("jobStatus")
    reason = str(status.get("reason") or job_status or "Created")
    message = str(status.get("message") or "")
    if is_true(status, "Suspended"):
        return condition("Ready", True, "Suspended", "spec.suspend is true: no cluster or runner pod, as asked", generation)
    if job_status == JOB_SUCCESSFUL:
        return condition("Ready", True, "Completed", message or "the runner pod succeeded", generation)
    if job_status == JOB_RUNNING:
        return condition("Ready", True, "Running", message or "the runner pod is running", generation)
    if job_status == JOB_FAILED:
        return condition("Ready", False, reason, message or "the job failed", generation)
    return condition("Ready", False, reason, message or f"jobStatus {job_status or 'not set yet'}", generation)


def autoscaler_ready(status: Status, generation: int) -> Condition:
    able = find(status, "AbleToScale")
    if able is None:
        return condition("Ready", False, "NotPolledYet", "the scheduler has not been asked for its target yet", generation)
    ok = able.get("status") == "True"
    return condition("Ready", ok, str(able.get("reason") or ("ReadyForNewScale" if ok else "UnableToScale")),
                     str(able.get("message") or ""), generation)


def ready_condition(kind: str, status: Status, generation: int) -> Condition:
    """The kind's Ready condition: computed here for DaskJob and DaskAutoscaler, by the passes
    for DaskCluster and DaskWorkerGroup (a status written before the first full pass has none)."""
    if kind == names.JOB_KIND:
        return job_ready(status, generation)
    if kind == names.AUTOSCALER_KIND:
        return autoscaler_ready(status, generation)
    ready = find(status, "Ready")
    if ready is not None:
        return dict(ready)
    return condition("Ready", False, "Reconciling", "the operator has not computed this object's status yet", generation)


def stalled(kind: str, status: Status, ready: Condition, now: float, missing_grace: float) -> tuple[str, str] | None:
    """(reason, message) when the object cannot reach its spec without a change, else None."""
    if kind == names.JOB_KIND:
        if status.get("jobStatus") == JOB_FAILED:
            return str(status.get("reason") or "JobFailed"), str(status.get("message") or "the job failed")
        if status.get("reason") == "ClusterConflict":
            return "ClusterConflict", str(status.get("message") or "")
        return None
    if ready.get("status") == "True":
        return None
    reason = str(ready.get("reason") or "")
    if reason in STALLED_REASONS:
        return reason, str(ready.get("message") or "")
    if reason in MISSING_REASONS:
        # measured from the condition that reports it (kept across passes by merge_conditions)
        source = find(status, "ClusterFound" if kind == names.WORKER_GROUP_KIND else "AbleToScale") or ready
        waited = seconds_since(source.get("lastTransitionTime"), now)
        if source.get("reason") == reason and waited >= missing_grace:
            return reason, f"{ready.get('message') or reason} (for {waited:.0f} s, more than {missing_grace:g} s)"
    return None


def health_conditions(kind: str, status: Status, generation: int, now: float, missing_grace: float) -> list[Condition]:
    """Ready, Reconciling and Stalled for ``status`` (the object's whole status, conditions with
    their ``lastTransitionTime``), at time ``now`` (seconds since the epoch)."""
    ready = ready_condition(kind, status, generation)
    stuck = stalled(kind, status, ready, now, missing_grace)
    working = stuck is None and ready.get("status") != "True"
    return [
        {**ready, "observedGeneration": generation},
        condition("Stalled", stuck is not None, stuck[0] if stuck else "NotStalled", stuck[1] if stuck else "", generation),
        condition(
            "Reconciling", working,
            str(ready.get("reason") or "Reconciling") if working else "Stalled" if stuck else "Ready",
            str(ready.get("message") or "") if working else "",
            generation,
        ),
    ]


def missing_grace_left(status: Status, kind: str, now: float, missing_grace: float) -> float | None:
    """Seconds until a missing cluster or worker group turns into Stalled; None if not waiting."""
    ready = ready_condition(kind, status, 0)
    if ready.get("status") == "True" or ready.get("reason") not in MISSING_REASONS or is_true(status, "Stalled"):
        return None
    source = find(status, "ClusterFound" if kind == names.WORKER_GROUP_KIND else "AbleToScale") or ready
    return max(0.0, missing_grace - seconds_since(source.get("lastTransitionTime"), now))
