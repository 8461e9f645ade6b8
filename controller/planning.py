"""What a DaskWorkerGroup pass should do with its worker Pods: a pure plan.

Rules (ARCHITECTURE §4, §7):
- finished (Succeeded/Failed) pods are deleted and replaced;
- missing workers are created (bounded: the executor batches them);
- outdated pods (stale spec hash) are replaced a few at a time: new pods first (at most
  ``max_surge`` above replicas), an outdated running pod is retired only while the ready
  up-to-date pods plus the remaining outdated ones still cover the replicas;
- scale-down removes pods that are not running yet first (no data), then asks for
  ``retire`` running workers, chosen by ``dask_workers_to_retire`` and retired through the
  scheduler.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import children, names
from . import status as st


@dataclass(frozen=True)
class WorkerPod:
    name: str
    uid: str
    phase: str
    ready: bool
    outdated: bool
    created: str
    ip: str | None = None

    @property
    def running(self) -> bool:
        return self.phase == "Running"

    @classmethod
    def from_pod(cls, pod: dict[str, Any], desired_hash: str, hash_annotation: str) -> WorkerPod:
        meta = pod.get("metadata", {})
        return cls(
            name=meta["name"],
            uid=meta.get("uid", ""),
            phase=st.pod_phase(pod),
            ready=st.pod_is_ready(pod),
            outdated=(meta.get("annotations") or {}).get(hash_annotation) != desired_hash,
            created=str(meta.get("creationTimestamp") or ""),
            ip=pod.get("status", {}).get("podIP"),
        )


@dataclass
class WorkerPlan:
    create: int = 0
    delete: list[str] = field(default_factory=list)  # safe to delete now (no data)
    retire: int = 0  # running workers to retire through the scheduler
    candidates: list[WorkerPod] = field(default_factory=list)  # eligible for retirement
    outdated: int = 0

    @property
    def idle(self) -> bool:
        return not (self.create or self.delete or self.retire)


def plan_workers(pods: list[WorkerPod], finished: list[str], replicas: int, max_surge: int) -> WorkerPlan:
    """Plan one pass. ``pods`` are the group's active pods; ``finished`` the names of finished ones."""
    plan = WorkerPlan(delete=list(finished))
    replicas = max(0, replicas)
    max_surge = max(1, max_surge)

    current = [p for p in pods if not p.outdated]
    outdated = [p for p in pods if p.outdated]
    # Outdated pods that are not running yet hold no data: replace them at once.
    plan.delete += [p.name for p in outdated if not p.running]
    outdated = [p for p in outdated if p.running]
    plan.outdated = len(outdated)

    # Scale-down of up-to-date pods: pods that are not running yet go first, newest first.
    excess = max(0, len(current) - replicas)
    not_running = sorted((p for p in current if not p.running), key=lambda p: p.created, reverse=True)
    dropped = not_running[:excess]
    plan.delete += [p.name for p in dropped]
    kept_current = [p for p in current if p not in dropped]
    excess_running = max(0, len(kept_current) - replicas)

    # Creations: reach `replicas` up-to-date pods, never more than replicas + surge in total
    # while outdated pods are still being replaced.
    missing = max(0, replicas - len(kept_current))
    if outdated:
        room = max(0, replicas + max_surge - len(kept_current) - len(outdated))
        plan.create = min(missing, room)
    else:
        plan.create = missing

    # Retirements: outdated running pods as long as the ready up-to-date ones still cover the
    # replicas together with the outdated ones that stay; plus excess up-to-date running pods.
    ready_current = min(replicas, sum(1 for p in kept_current if p.ready))
    retire_outdated = min(len(outdated), max(0, ready_current + len(outdated) - replicas))
    plan.retire = retire_outdated + excess_running
    if plan.retire:
        eligible = outdated if not excess_running else outdated + [p for p in kept_current if p.running]
        plan.candidates = eligible
    return plan


# --- children applied whole (scheduler Deployment and Service, worker groups, plugin objects) ----


CREATE, UPDATE, REPAIR, PATCH_METADATA, WAIT, KEEP = "create", "update", "repair", "patch-metadata", "wait", "keep"


@dataclass(frozen=True)
class ChildPlan:
    """What to do with one child: ``action`` is one of CREATE, UPDATE (the desired spec changed),
    REPAIR (someone else changed the live spec), PATCH_METADATA (labels/annotations only), WAIT
    (``reason`` says for what) or KEEP."""

    action: str
    reason: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)  # the merge patch of PATCH_METADATA


def live_spec_hash(obj: dict[str, Any]) -> str:
    """Hash of a live child's spec as the API server stores it (defaults included). Replicas of
    worker groups are left out: users and autoscalers scale groups."""
    spec = copy.deepcopy(obj.get("spec") or {})
    if obj.get("kind") == names.WORKER_GROUP_KIND:
        (spec.get("worker") or {}).pop("replicas", None)
    return children.spec_hash({"spec": spec})


def plan_child(
    desired: dict[str, Any],
    current: dict[str, Any] | None,
    owner_uid: str,
    *,
    applied_hash: str | None,
    force_apply: bool = False,
) -> ChildPlan:
    """Compare a desired child with the live one. ``applied_hash``: :func:`live_spec_hash` of the
    object the operator's last apply returned (None after a restart: the live spec is trusted).
    Controllers only write status and annotations of these kinds, so any other spec change is
    an out-of-band edit (``kubectl scale deployment ... --replicas=0``) to repair."""
    if current is None:
        return ChildPlan(CREATE)
    meta = current.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return ChildPlan(WAIT, "the old one is being deleted")
    foreign = [r for r in meta.get("ownerReferences") or [] if r.get("controller") and r.get("uid") != owner_uid]
    if foreign:  # usually the child of a deleted namesake, about to be garbage-collected
        return ChildPlan(WAIT, f"it is controlled by {foreign[0].get('kind')} {foreign[0].get('name')!r} (uid {foreign[0].get('uid')})")
    wanted_hash = desired["metadata"]["annotations"][names.ANNOTATION_SPEC_HASH]
    if force_apply or (meta.get("annotations") or {}).get(names.ANNOTATION_SPEC_HASH) != wanted_hash:
        return ChildPlan(UPDATE)
    if applied_hash is not None and applied_hash != live_spec_hash(current):
        return ChildPlan(REPAIR)
    changes = children.metadata_changes(desired, current)
    return ChildPlan(PATCH_METADATA, metadata=changes) if changes else ChildPlan(KEEP)


def worker_group_conflict(group: dict[str, Any], cluster_uid: str, existing_uid: Callable[[str], str | None]) -> str | None:
    """Why ``group`` must not be owned by the DaskCluster it names (uid ``cluster_uid``), or None.
    ``existing_uid(name)``: the uid of the DaskCluster ``name`` in the group's namespace, if any.

    A group controlled by another DaskCluster that still exists, or named like another existing
    cluster's default group, stays where it is: re-owning it would move running workers (and
    their data) from one cluster to another."""
    meta = group["metadata"]
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == names.CLUSTER_KIND and ref.get("uid") != cluster_uid:
            if existing_uid(str(ref.get("name"))) == ref.get("uid"):
                return f"it is controlled by DaskCluster {ref.get('name')!r}, not by {group['spec']['cluster']!r}"
    suffix = "-default"
    if meta["name"].endswith(suffix):
        other = meta["name"][: -len(suffix)]
        if other != group["spec"]["cluster"] and existing_uid(other) is not None:
            return f"its name is the default worker group name of DaskCluster {other!r}"
    return None
