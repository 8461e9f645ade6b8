"""Level-triggered, idempotent reconciles: one pass per DaskCluster and per DaskWorkerGroup.

A pass reads the object, computes every child it wants through the hooks, creates what is
missing, re-applies what drifted (spec hash), deletes what is no longer wanted, and writes
status. Nothing depends on which event started the pass; a pass that fails part-way is
repaired by the next one (change handlers, a periodic loop, and pokes when children change).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from . import children, config, labels, names, scheduler_backoff, watch_pace
from . import status as st
from .desired import (
    defaulted_cluster,
    desired_cluster,
    desired_resources,
    desired_worker_pod,
)
from .errors import BuildError, OwnerGone, Rejected, RetryLater, SchedulerUnreachable
from .kube import is_owned_by, owner_reference, rejection
from .planning import (
    CREATE,
    KEEP,
    PATCH_METADATA,
    REPAIR,
    UPDATE,
    WAIT,
    WorkerPlan,
    WorkerPod,
    live_spec_hash,
    plan_child,
    plan_workers,
    worker_group_conflict,
)
from .runtime import Runtime
from .scheduler_api import endpoint_from_service
from .status_health import missing_grace_left
from .status_io import write_status as _write_status

logger = logging.getLogger("dask_operator")

Manifest = dict[str, Any]


PREREQUISITES_RECHECK = 10.0

# --- helpers ------------------------------------------------------------------------------------


def _ref(obj: Manifest) -> str:
    meta = obj.get("metadata", {})
    return f"{obj.get('kind')} {meta.get('namespace')}/{meta.get('name')}"


async def _warn_once(rt: Runtime, obj: Manifest, messages: list[str]) -> None:
    """Post warnings when they first appear or change, not on every pass or scale."""
    uid = obj["metadata"]["uid"]
    fingerprint = "\n".join(sorted(messages))
    if not messages or rt.warned.get(uid) == fingerprint:
        return
    for message in messages:
        await rt.kube.event(obj, "Warning", "SpecWarning", message)
        logger.warning("%s: %s", _ref(obj), message)
    rt.warned[uid] = fingerprint


async def _apply(rt: Runtime, desired: Manifest) -> Manifest:
    live = await rt.kube.apply(desired)
    rt.applied_spec[live["metadata"]["uid"]] = live_spec_hash(live)
    return live


async def _ensure_child(rt: Runtime, owner: Manifest, desired: Manifest, *, force_apply: bool = False) -> Manifest:
    """Observe the child in the cache, plan (pure), act: create, update, repair or patch metadata."""
    meta, kind = desired["metadata"], desired["kind"]
    current = await rt.get(desired["apiVersion"], kind, meta["namespace"], meta["name"])
    applied = rt.applied_spec.setdefault(current["metadata"]["uid"], live_spec_hash(current)) if current else None
    plan = plan_child(desired, current, owner["metadata"]["uid"], applied_hash=applied, force_apply=force_apply)
    if plan.action == WAIT:
        # Cache reads only: a child being deleted goes soon; one of a deleted namesake, once collected.
        raise RetryLater(f"waiting for {kind} {meta['name']}: {plan.reason}", delay=2 if current and st.is_terminating(current) else 5)
    if plan.action == KEEP or current is None and plan.action == PATCH_METADATA:
        return current or desired
    if plan.action == PATCH_METADATA:
        patched = await rt.kube.patch(desired["apiVersion"], kind, meta["namespace"], meta["name"], {"metadata": plan.metadata})
        return patched or current or desired
    cluster_name = (meta.get("labels") or {}).get(names.LABEL_CLUSTER)
    if plan.action == CREATE and cluster_name and rt.cache.lost_children(meta["namespace"], cluster_name):
        await _ensure_owners_exist(rt, owner)  # re-creating what was just deleted: with its owner?
    try:
        live = await _apply(rt, desired)
    except ApiException as exc:
        message = rejection(exc)
        if message is None:
            raise
        raise Rejected(f"the API server rejected {kind} {meta['name']}: {message}") from exc
    event = {
        CREATE: ("Normal", "Created", f"Created {kind} {meta['name']}"),
        UPDATE: ("Normal", "Updated", f"Updated {kind} {meta['name']} to the current spec"),
        REPAIR: ("Warning", "Repaired", f"{kind} {meta['name']} was changed outside the operator; restored it"),
    }[plan.action]
    await rt.kube.event(owner, event[0], f"{event[1]}{kind}", event[2])
    logger.info("%s: %s %s", _ref(owner), plan.action, _ref(desired))
    return live


async def _ensure_owners_exist(rt: Runtime, *owners: Manifest) -> None:
    """Raise OwnerGone unless every one of ``owners`` still exists on the API server.

    Before creating children of a cluster that lost some in the last half minute: after a
    deletion, the watches deliver the children's deletions and their owner's in no fixed order,
    and a pass that read the owner from the cache would create its children again for the
    garbage collector to delete. One GET per owner, only then.
    """
    found = await asyncio.gather(*(rt.kube.get(o["apiVersion"], o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in owners))
    for owner, live in zip(owners, found, strict=True):
        if live is None or live["metadata"].get("uid") != owner["metadata"].get("uid") or st.is_terminating(live):
            raise OwnerGone(f"{owner['kind']} {owner['metadata']['name']} was deleted; not creating its children")


# --- DaskCluster ----------------------------------------------------------------------------------


async def reconcile_cluster(rt: Runtime, namespace: str, name: str) -> None:
    """One pass over the DaskCluster ``namespace/name`` (reads the latest object itself)."""
    async with rt.lock(names.CLUSTER_KIND, namespace, name), rt.pass_context(names.CLUSTER_KIND, name, namespace):
        body = await rt.get(names.API_VERSION, names.CLUSTER_KIND, namespace, name)
        if body is None or st.is_terminating(body):
            return
        await _reconcile_cluster(rt, body)


async def _set_phase(rt: Runtime, body: Manifest, cluster: Manifest, old: str | None, new: str, message: str) -> None:
    if old == new:
        return
    await rt.kube.event(body, "Warning" if new == st.PHASE_ERROR else "Normal", f"Phase{new}", message)
    logger.info("%s: phase %s -> %s", _ref(body), old, new)
    await rt.notify("dask_cluster_phase_changed", cluster=cluster, old=old, new=new)


async def _report_rejected(rt: Runtime, body: Manifest, cluster: Manifest, old_phase: str | None, generation: int, message: str) -> None:
    await _write_status(rt, body, st.invalid_cluster_status(generation, [message]))
    await rt.kube.event(body, "Warning", "ChildRejected", message)
    await _set_phase(rt, body, cluster, old_phase, st.PHASE_ERROR, message)


TROUBLE_CONDITIONS = ("SchedulerReady", "WorkersReady")
NOT_TROUBLE = frozenset({"SchedulerReady", "SchedulerNotReady", "WorkersReady", "WorkersNotReady"})


async def _warn_on_new_trouble(rt: Runtime, body: Manifest, new_status: dict[str, Any]) -> None:
    """A Warning Event when the scheduler or the workers get stuck, once per new reason or message."""
    old = {c.get("type"): c for c in (body.get("status") or {}).get("conditions") or []}
    for cond in new_status.get("conditions") or []:
        if cond["type"] not in TROUBLE_CONDITIONS or cond["status"] != "False" or cond["reason"] in NOT_TROUBLE:
            continue
        before = old.get(cond["type"]) or {}
        if (before.get("reason"), before.get("message")) != (cond["reason"], cond["message"]):
            await rt.kube.event(body, "Warning", cond["reason"], cond["message"])


async def _reconcile_cluster(rt: Runtime, body: Manifest) -> None:
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    generation = int(meta.get("generation") or 0)
    old_phase = (body.get("status") or {}).get("phase")
    if old_phase is None:
        body["status"] = await _write_status(rt, body, {"phase": st.PHASE_CREATED})
        await _set_phase(rt, body, body, None, st.PHASE_CREATED, "DaskCluster accepted; creating its scheduler and workers")
        old_phase = st.PHASE_CREATED

    desired = desired_cluster(rt.pm, body)
    cluster = desired.cluster
    if desired.errors:
        errors = desired.errors
        await _write_status(rt, body, st.invalid_cluster_status(generation, errors))
        await rt.kube.event(body, "Warning", "InvalidSpec", "; ".join(errors))
        await _set_phase(rt, body, cluster, old_phase, st.PHASE_ERROR, "invalid spec: " + "; ".join(errors))
        return
    await _warn_once(rt, body, desired.warnings)
    assert desired.deployment and desired.service and desired.default_group
    address, deployment, service, group = desired.scheduler_address, desired.deployment, desired.service, desired.default_group
    group_name = group["metadata"]["name"]
    pods = rt.cache.of_cluster("v1", "Pod", namespace, name)
    rt.pods_read[(names.CLUSTER_KIND, namespace, name)] = len(pods)
    current_workers = [
        p for p in pods
        if (p["metadata"].get("labels") or {}).get(names.LABEL_COMPONENT) == names.COMPONENT_WORKER and not st.is_terminating(p)
    ]
    extras = desired_resources(rt.pm, desired, body, current_workers)
    resources = [{"apiVersion": e["apiVersion"], "kind": e["kind"], "name": e["metadata"]["name"]} for e in extras]

    # Plugin objects first: the scheduler may need them (a certificate's Secret, mesh policies).
    try:
        for extra in extras:
            await _ensure_extra(rt, body, extra)
    except Rejected as exc:
        await _report_rejected(rt, body, cluster, old_phase, generation, str(exc))
        raise
    await _prune_extras(rt, body, extras)
    prerequisites = desired.prerequisites
    missing = await _missing(rt, namespace, prerequisites)
    if missing:
        await _wait_for_prerequisites(rt, body, cluster, old_phase, generation, missing, address, resources)
        # Objects of kinds the operator does not watch: look again later (a GET each, while waiting).
        raise RetryLater(f"waiting for {_describe(missing)}", delay=PREREQUISITES_RECHECK)

    try:
        live_service = await _ensure_child(rt, body, service)
        live_deployment = await _ensure_child(rt, body, deployment)
        group_conflict = await _ensure_default_group(rt, body, group)
    except Rejected as exc:
        await _report_rejected(rt, body, cluster, old_phase, generation, str(exc))
        raise

    await _sync_scheduler_pods(rt, deployment, pods)
    groups = rt.cache.of_cluster(names.API_VERSION, names.WORKER_GROUP_KIND, namespace, name)
    worker_pods = [p for p in pods if (p["metadata"].get("labels") or {}).get(names.LABEL_COMPONENT) == names.COMPONENT_WORKER]
    endpoint_ports = {p.get("name"): p.get("port") for p in live_service.get("spec", {}).get("ports", [])}
    dashboard_port = endpoint_ports.get(names.DASHBOARD_PORT_NAME, names.DASHBOARD_PORT)
    domain = config.get("cluster-domain")
    new_status = st.cluster_status(
        generation=generation,
        deployment=live_deployment,
        worker_groups=groups,
        worker_pods=worker_pods,
        default_group=group_name,
        default_selector=labels.selector(
            {names.LABEL_CLUSTER: name, names.LABEL_COMPONENT: names.COMPONENT_WORKER, names.LABEL_WORKER_GROUP: group_name}
        ),
        scheduler_address=address,
        dashboard_address=f"http://{names.scheduler_name(name)}.{namespace}.svc.{domain}:{dashboard_port}",
        scheduler_pods=[p for p in pods if (p["metadata"].get("labels") or {}).get(names.LABEL_COMPONENT) == names.COMPONENT_SCHEDULER],
        worker_problems=([group_conflict] if group_conflict else []) + st.worker_group_problems(groups),
    )
    new_status["resources"] = resources
    if prerequisites:
        new_status["conditions"].append(
            st.condition("PrerequisitesReady", True, "PrerequisitesReady", f"{_describe(prerequisites)} exist", generation)
        )
    observed = {
        "deployment": live_deployment,
        "service": live_service,
        "worker_groups": groups,
        "worker_pods": worker_pods,
        "status": new_status,
    }
    for fragment in rt.pm.hook.dask_cluster_status(cluster=cluster, observed=observed):
        if fragment:
            new_status = st.deep_merge(new_status, fragment)
    await _warn_on_new_trouble(rt, body, new_status)
    await _write_status(rt, body, new_status)
    await rt.notify("dask_cluster_observed", cluster=cluster, status=new_status)
    messages = {
        st.PHASE_PENDING: "scheduler and workers created; waiting for the scheduler to be ready",
        st.PHASE_RUNNING: f"scheduler ready at {address}",
    }
    await _set_phase(rt, body, cluster, old_phase, new_status["phase"], messages.get(new_status["phase"], new_status["phase"]))


async def _ensure_default_group(rt: Runtime, owner: Manifest, desired: Manifest) -> st.Trouble | None:
    """The default group takes the cluster's replicas only when the cluster's value changes.

    Otherwise ``kubectl scale daskworkergroup`` and autoscalers, which write the group, would be
    undone on the next pass. The value last copied is kept in an annotation on the group.
    """
    meta = desired["metadata"]
    cluster_replicas = str(desired["spec"]["worker"]["replicas"])
    current = await rt.get(names.API_VERSION, names.WORKER_GROUP_KIND, meta["namespace"], meta["name"])
    owner_name = owner["metadata"]["name"]
    if current is not None and (current.get("spec") or {}).get("cluster") != owner_name:
        message = (f"DaskWorkerGroup {meta['name']} (this cluster's default worker group name) belongs to DaskCluster "
                   f"{(current.get('spec') or {}).get('cluster')!r}; rename that group or this cluster")
        await rt.kube.event(owner, "Warning", "WorkerGroupConflict", message)
        return "WorkerGroupConflict", message
    force = False
    if current is not None:
        current_replicas = st.replicas_of(current)
        copied = (current["metadata"].get("annotations") or {}).get(names.ANNOTATION_CLUSTER_REPLICAS)
        if copied == cluster_replicas:
            desired["spec"]["worker"]["replicas"] = current_replicas
        force = copied != cluster_replicas or current_replicas != desired["spec"]["worker"]["replicas"]
    meta["annotations"][names.ANNOTATION_CLUSTER_REPLICAS] = cluster_replicas
    without_replicas = copy.deepcopy(desired)
    without_replicas["spec"]["worker"].pop("replicas", None)
    meta["annotations"][names.ANNOTATION_SPEC_HASH] = children.spec_hash(without_replicas)
    await _ensure_child(rt, owner, desired, force_apply=force)
    return None


def _describe(refs: list[dict[str, Any]]) -> str:
    return "; ".join(f"{r['kind']} {r['name']}" + (f" ({r['reason']})" if r.get("reason") else "") for r in refs)


async def _missing(rt: Runtime, namespace: str, refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The references of ``dask_cluster_prerequisites`` whose object does not exist (yet)."""
    return [r for r in refs if await rt.get(r["apiVersion"], r["kind"], namespace, r["name"]) is None]


async def _wait_for_prerequisites(
    rt: Runtime,
    body: Manifest,
    cluster: Manifest,
    old_phase: str | None,
    generation: int,
    missing: list[dict[str, Any]],
    address: str | None,
    resources: list[dict[str, Any]],
) -> None:
    """Status and one Event per change of what is missing; the next passes check again."""
    message = f"waiting for {_describe(missing)}"
    conditions: list[dict[str, Any]] = (body.get("status") or {}).get("conditions") or []
    before = next((c for c in conditions if c.get("type") == "PrerequisitesReady"), {})
    waiting = st.condition("PrerequisitesReady", False, "WaitingForPrerequisites", message, generation)
    await _write_status(
        rt,
        body,
        {
            "phase": st.PHASE_PENDING,
            "observedGeneration": generation,
            "schedulerAddress": address,
            "resources": resources,
            "conditions": [waiting, st.condition("Ready", False, "WaitingForPrerequisites", message, generation)],
        },
    )
    if before.get("status") != "False" or before.get("message") != message:
        await rt.kube.event(body, "Normal", "WaitingForPrerequisites", message)
        logger.info("%s: %s", _ref(body), message)
    await _set_phase(rt, body, cluster, old_phase, st.PHASE_PENDING, message)


async def _ensure_extra(rt: Runtime, owner: Manifest, extra: Manifest) -> None:
    try:
        await _ensure_child(rt, owner, extra)
    except LookupError as exc:  # the kind is not served: usually a CRD that is not installed
        message = f"cannot create {_ref(extra)} that a plugin asked for: {exc} (is its CRD installed?)"
        await rt.kube.event(owner, "Warning", "ResourceFailed", message)
        raise BuildError(message) from exc


async def _prune_extras(rt: Runtime, owner: Manifest, extras: list[Manifest]) -> None:
    wanted = {(e["apiVersion"], e["kind"], e["metadata"]["name"]) for e in extras}
    for ref in (owner.get("status") or {}).get("resources") or []:
        key = (ref.get("apiVersion"), ref.get("kind"), ref.get("name"))
        if key in wanted or None in key:
            continue
        try:
            current = await rt.get(key[0], key[1], owner["metadata"]["namespace"], key[2])
        except LookupError:  # its CRD was removed, and with it the object
            continue
        if current is not None and is_owned_by(current, owner["metadata"]["uid"]):
            await rt.kube.delete(key[0], key[1], owner["metadata"]["namespace"], key[2])
            await rt.kube.event(owner, "Normal", f"Deleted{key[1]}", f"Deleted {key[1]} {key[2]}: no plugin wants it any more")


async def _sync_scheduler_pods(rt: Runtime, deployment: Manifest, pods: list[Manifest]) -> None:
    """New metadata reaches the running scheduler pod without restarting it."""
    template = deployment["spec"]["template"]
    for pod in pods:
        if (pod["metadata"].get("labels") or {}).get(names.LABEL_COMPONENT) != names.COMPONENT_SCHEDULER:
            continue
        if st.is_terminating(pod):
            continue
        # A pod keeps the spec hash it was created with: it tells outdated workers apart.
        changes = children.metadata_changes(template, pod)
        changes.get("annotations", {}).pop(names.ANNOTATION_SPEC_HASH, None)
        if changes.get("labels") or changes.get("annotations"):
            await rt.kube.patch("v1", "Pod", pod["metadata"]["namespace"], pod["metadata"]["name"], {"metadata": changes})


# --- DaskWorkerGroup ------------------------------------------------------------------------------


async def reconcile_worker_group(rt: Runtime, namespace: str, name: str) -> None:
    """One pass over the DaskWorkerGroup ``namespace/name``."""
    async with rt.lock(names.WORKER_GROUP_KIND, namespace, name), rt.pass_context(names.WORKER_GROUP_KIND, name, namespace):
        body = await rt.get(names.API_VERSION, names.WORKER_GROUP_KIND, namespace, name)
        if body is None or st.is_terminating(body):
            return
        await _reconcile_worker_group(rt, body)


async def _reconcile_worker_group(rt: Runtime, group: Manifest) -> None:
    meta = group["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    generation = int(meta.get("generation") or 0)
    cluster_name = group.get("spec", {}).get("cluster")
    cluster_body = await rt.get(names.API_VERSION, names.CLUSTER_KIND, namespace, cluster_name) if cluster_name else None
    if cluster_body is None or st.is_terminating(cluster_body):
        was_found = (_condition(group, "ClusterFound") or {}).get("status") != "False"
        await _write_status(rt, group, st.cluster_missing_status(generation, str(cluster_name), namespace))
        if was_found:
            await rt.kube.event(group, "Warning", "ClusterNotFound", f"DaskCluster {cluster_name!r} not found; waiting for it")
        left = missing_grace_left(group["status"], names.WORKER_GROUP_KIND, time.time(), float(config.get("health.missing-cluster-seconds")))
        if left is not None:  # one more pass when the wait turns into Stalled
            raise RetryLater(f"DaskCluster {cluster_name!r} not found; Stalled in {left:.0f} s unless it appears", delay=left + 1)
        return
    if len(name) > names.MAX_LABEL_VALUE:
        message = f"worker group name {name!r} is longer than {names.MAX_LABEL_VALUE} characters (it is a label value)"
        await _write_status(rt, group, st.cluster_missing_status(generation, cluster_name, namespace, "InvalidSpec", message))
        await rt.kube.event(group, "Warning", "InvalidSpec", message)
        return

    conflict = worker_group_conflict(group, cluster_body["metadata"]["uid"], lambda n: _cluster_uid(rt, namespace, n))
    if conflict:
        message = f"not joining DaskCluster {cluster_name!r}: {conflict}"
        if (_condition(group, "Ready") or {}).get("message") != message:
            await rt.kube.event(group, "Warning", "WorkerGroupConflict", message)
            await rt.kube.event(cluster_body, "Warning", "WorkerGroupConflict", f"DaskWorkerGroup {name}: {message}")
        await _write_status(rt, group, st.cluster_missing_status(generation, cluster_name, namespace, "WorkerGroupConflict", message))
        return
    if not is_owned_by(group, cluster_body["metadata"]["uid"]):
        refs = [r for r in meta.get("ownerReferences") or [] if r.get("kind") != names.CLUSTER_KIND]
        refs.append(owner_reference(cluster_body))
        patched = await rt.kube.patch(names.API_VERSION, names.WORKER_GROUP_KIND, namespace, name, {"metadata": {"ownerReferences": refs}})
        if patched is None:
            return
        group = patched
        await rt.kube.event(group, "Normal", "Adopted", f"Joined DaskCluster {cluster_name!r} (now owned by it)")

    cluster, errors = defaulted_cluster(rt.pm, cluster_body)
    if errors:
        message = f"DaskCluster {cluster_name!r} is invalid: " + "; ".join(errors)
        await _write_status(rt, group, st.cluster_missing_status(generation, cluster_name, namespace, "ClusterInvalid", message))
        return
    await _warn_once(rt, group, children.flatten(rt.pm.hook.dask_worker_group_warnings(cluster=cluster, worker_group=group)))
    absent = await _missing(rt, namespace, children.flatten(rt.pm.hook.dask_cluster_prerequisites(cluster=cluster)))
    if absent:  # no new workers until they exist (the cluster's status and Event tell the story)
        message = f"DaskCluster {cluster_name!r} is waiting for {_describe(absent)}"
        await _write_status(
            rt, group, {"observedGeneration": generation, "conditions": [st.condition("Ready", False, "WaitingForPrerequisites", message, generation)]}
        )
        raise RetryLater(message, delay=PREREQUISITES_RECHECK)

    address: str = rt.pm.hook.dask_scheduler_address(cluster=cluster)

    def build_pod(pod_name: str) -> Manifest:
        return desired_worker_pod(rt.pm, cluster, group, pod_name, address)

    template = build_pod(names.worker_pod_name(name, "0" * 10))
    desired_hash = template["metadata"]["annotations"][names.ANNOTATION_SPEC_HASH]
    selector = labels.selector(
        {names.LABEL_CLUSTER: cluster_name, names.LABEL_COMPONENT: names.COMPONENT_WORKER, names.LABEL_WORKER_GROUP: name}
    )
    pods = _group_pods(rt, group)
    rt.pods_read[(names.WORKER_GROUP_KIND, namespace, name)] = len(pods)
    crashing = _crash_looping(pods)
    active = [p for p in pods if st.pod_is_active(p) and p["metadata"]["name"] not in crashing]
    # Crash-looping workers hold no data; replaced like finished ones, under a fresh name (the
    # scheduler may refuse the old one until its registration expires).
    finished = crashing + [p["metadata"]["name"] for p in pods if not st.is_terminating(p) and st.pod_is_finished(p)]
    if crashing:
        by_name = {p["metadata"]["name"]: p for p in pods}
        # Say why they ended (e.g. OOMKilled: the memory limit is too small for the work).
        described = [f"{n} ({', '.join(r)})" if (r := st.last_exit_reasons(by_name[n])) else n for n in crashing]
        await rt.kube.event(group, "Warning", "ReplacedCrashLoopingWorkers",
                            f"Replacing {len(crashing)} worker pod(s) restarting in a loop: {', '.join(described)}")
    infos = [WorkerPod.from_pod(p, desired_hash, names.ANNOTATION_SPEC_HASH) for p in active]
    replicas = st.replicas_of(group)
    allowed, problem = _cap(rt, group, replicas, len(active))
    # A worker that cannot start (no node fits it, image not pulled, crash loop) says why.
    problem = problem or next(filter(None, (st.pod_trouble(p) for p in active if not st.is_terminating(p))), None)
    plan = plan_workers(infos, finished, allowed, int(config.get("rolling-update.max-surge")))
    if problem and (_condition(group, "Ready") or {}).get("reason") != problem[0]:
        await rt.kube.event(group, "Warning", problem[0], problem[1])

    uids = {p["metadata"]["name"]: p["metadata"].get("uid") for p in pods}
    deleted = await _delete_pods(rt, namespace, plan.delete, uids)
    if deleted:
        gone = [n for n in deleted if n in finished]
        if gone:
            await rt.kube.event(group, "Normal", "ReplacedWorkers", f"Deleted {len(gone)} finished worker pod(s) to replace them: {', '.join(gone)}")
        pending = [n for n in deleted if n not in finished]
        if pending:
            await rt.kube.event(group, "Normal", "DeletedPendingWorkers", f"Deleted {len(pending)} worker pod(s) that were not running yet: {', '.join(pending)}")

    retry: str | None = None
    failing = _note_failures(rt, (names.WORKER_GROUP_KIND, namespace, name), len([n for n in deleted if n in finished]))
    if failing and plan.create:
        # Workers keep exiting (bad image, bad args): back off instead of churning pods.
        message = f"{failing} worker pods finished within {FAILURE_WINDOW:.0f} s; waiting before creating more"
        await rt.kube.event(group, "Warning", "WorkersFailing", message)
        plan.create = 0
        retry = message
        problem = ("WorkersFailing", message)

    for pod in active:  # metadata changes reach running workers in place
        if pod["metadata"]["name"] in deleted:
            continue
        # A pod keeps the spec hash it was created with: it tells outdated workers apart.
        changes = children.metadata_changes(template, pod)
        changes.get("annotations", {}).pop(names.ANNOTATION_SPEC_HASH, None)
        if changes.get("labels") or changes.get("annotations"):
            await rt.kube.patch("v1", "Pod", namespace, pod["metadata"]["name"], {"metadata": changes})

    rejected: str | None = None
    if plan.create and rt.cache.lost_children(namespace, cluster_name):
        await _ensure_owners_exist(rt, group, cluster_body)
    try:
        created = await _create_workers(rt, group, build_pod, plan.create, desired_hash)
    except Rejected as exc:
        created, rejected = [], str(exc)
        problem = ("WorkerPodRejected", rejected)
    except RetryLater as exc:  # e.g. forbidden by admission (a missing ServiceAccount, a quota)
        created, retry = [], str(exc)
        problem = ("CreateWorkersFailed", retry)

    retired: list[str] = []
    blocked: str | None = None
    key = (names.WORKER_GROUP_KIND, namespace, name)
    waiting = scheduler_backoff.BACKOFF.waiting(key) if plan.retire else None
    if waiting:  # the scheduler did not answer a moment ago: no new call before the backoff ends
        blocked = waiting[1]
    elif plan.retire:
        try:
            retired, removed = await _retire_workers(rt, cluster, group, plan, uids)
            deleted += removed
            if len(removed) < plan.retire:  # the scheduler kept some (their data could not move yet)
                retry = f"{plan.retire - len(removed)} worker(s) of {plan.retire} not retired yet"
            else:
                rt.backoff.pop(key, None)
            scheduler_backoff.BACKOFF.clear(key)
        except SchedulerUnreachable as exc:
            await rt.notify("dask_scheduler_unreachable", cluster=cluster, call="retire_workers", error=str(exc))
            if config.as_bool(config.get("scale-down.allow-unsafe-fallback")):
                newest = sorted(plan.candidates, key=lambda p: p.created, reverse=True)[: plan.retire]
                deleted += await _delete_pods(rt, namespace, [p.name for p in newest], {p.name: p.uid for p in newest})
                await rt.kube.event(
                    group, "Warning", "UnsafeScaleDown",
                    f"scheduler unreachable ({exc}); deleted the newest workers {[p.name for p in newest]} "
                    "without retiring them (scale-down.allow-unsafe-fallback is on): their data may be lost",
                )
            else:
                blocked = f"cannot retire {plan.retire} worker(s) safely, the scheduler is unreachable: {exc}"
                await rt.kube.event(group, "Warning", "ScaleDownBlocked", blocked)

    if deleted or created:
        pods = _group_pods(rt, group)  # the cache already holds what the API server returned
    await _write_status(
        rt,
        group,
        st.worker_group_status(
            generation=generation, desired=replicas, pods=pods, outdated=plan.outdated, selector=selector, blocked=blocked,
            problem=problem,
        ),
    )
    if created or deleted or retired:
        await rt.notify("dask_workers_changed", cluster=cluster, worker_group=group, created=created, retired=retired, deleted=deleted)
    if rejected:
        raise Rejected(rejected)
    if blocked:
        delay = waiting[0] if waiting else rt.next_backoff(key)
        if not waiting:
            scheduler_backoff.BACKOFF.block(key, delay, blocked)
        raise RetryLater(blocked, delay=delay)
    if retry:
        raise RetryLater(retry, delay=FAILURE_WINDOW / 4 if failing else rt.next_backoff(key))


def _crash_looping(pods: list[Manifest]) -> list[str]:
    limit = int(config.get("workers.replace-after-restarts") or 0)
    if limit <= 0:
        return []
    return [
        p["metadata"]["name"] for p in pods
        if st.pod_is_active(p) and (trouble := st.pod_trouble(p)) and trouble[0] == "CrashLoopBackOff"
        and sum(int(c.get("restartCount") or 0) for c in (p.get("status") or {}).get("containerStatuses") or []) >= limit
    ]


def _cap(rt: Runtime, group: Manifest, replicas: int, active: int) -> tuple[int, st.Trouble | None]:
    """The replicas the group may have under ``workers.max-per-group`` and ``-per-cluster``. A cap
    only stops growth: workers that exist are never removed because of it."""
    per_group, per_cluster = int(config.get("workers.max-per-group")), int(config.get("workers.max-per-cluster"))
    meta = group["metadata"]
    others = [
        p for p in rt.cache.of_cluster("v1", "Pod", meta["namespace"], group["spec"]["cluster"])
        if (p["metadata"].get("labels") or {}).get(names.LABEL_COMPONENT) == names.COMPONENT_WORKER
        and (p["metadata"].get("labels") or {}).get(names.LABEL_WORKER_GROUP) != meta["name"] and st.pod_is_active(p)
    ]
    allowed = max(0, min(per_group, per_cluster - len(others)))
    if replicas <= allowed:
        return replicas, None
    message = (f"{replicas} workers asked for, at most {allowed} allowed (workers.max-per-group {per_group}, "
               f"workers.max-per-cluster {per_cluster} with {len(others)} in other groups)")
    return max(allowed, min(replicas, active)), ("WorkersCapped", message)


def _cluster_uid(rt: Runtime, namespace: str, name: str) -> str | None:
    cluster = rt.cache.get(names.API_VERSION, names.CLUSTER_KIND, namespace, name)
    return None if cluster is None or st.is_terminating(cluster) else str(cluster["metadata"].get("uid"))


def _condition(obj: Manifest, type_: str) -> dict[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == type_), None)


def _group_pods(rt: Runtime, group: Manifest) -> list[Manifest]:
    meta = group["metadata"]
    cluster = group["spec"]["cluster"]
    return [
        p
        for p in rt.cache.of_cluster("v1", "Pod", meta["namespace"], cluster)
        if (p["metadata"].get("labels") or {}).get(names.LABEL_WORKER_GROUP) == meta["name"]
        and (p["metadata"].get("labels") or {}).get(names.LABEL_COMPONENT) == names.COMPONENT_WORKER
        and is_owned_by(p, meta["uid"])
    ]


FAILURE_WINDOW = 120.0
FAILURE_LIMIT = 5


def _note_failures(rt: Runtime, key: tuple[str, str, str], count: int) -> int:
    """Record replaced (finished) worker pods; the number in the window if it reached the limit."""
    now = time.monotonic()
    recent = [t for t in rt.failures.get(key, []) if now - t < FAILURE_WINDOW] + [now] * count
    rt.failures[key] = recent
    return len(recent) if len(recent) >= FAILURE_LIMIT else 0


def _still_missing(rt: Runtime, group: Manifest, desired_hash: str) -> int:
    """Between two batches: how many workers the group still lacks, per the cache (the group
    may have been scaled down or deleted meanwhile; the pods created are in the cache)."""
    meta = group["metadata"]
    current = rt.cache.get(names.API_VERSION, names.WORKER_GROUP_KIND, meta["namespace"], meta["name"])
    if current is None or st.is_terminating(current) or current["metadata"].get("uid") != meta.get("uid"):
        return 0
    up_to_date = [
        p for p in _group_pods(rt, current)
        if st.pod_is_active(p) and (p["metadata"].get("annotations") or {}).get(names.ANNOTATION_SPEC_HASH) == desired_hash
    ]
    return max(0, st.replicas_of(current) - len(up_to_date))


async def _create_workers(rt: Runtime, group: Manifest, build_pod: Any, count: int, desired_hash: str) -> list[str]:
    """Create ``count`` worker pods, ``worker-allocation.batch-size`` at a time."""
    if count <= 0:
        return []
    batch_size, delay = config.worker_batch_size(), config.worker_batch_delay()
    created: list[str] = []
    failures: list[str] = []
    rejected: str | None = None
    remaining = count
    unseen: list[Manifest] = []  # the previous batch, until the watch delivers it
    while remaining > 0:
        batch = min(batch_size, remaining)
        pods = [build_pod(names.worker_pod_name(group["metadata"]["name"])) for _ in range(batch)]
        results = await asyncio.gather(*(rt.kube.create(p) for p in pods), return_exceptions=True)
        for pod, result in zip(pods, results, strict=True):
            if isinstance(result, BaseException) and rejection(result):
                rejected = f"the API server rejected worker pod {pod['metadata']['name']}: {rejection(result)}"
            elif isinstance(result, BaseException):
                failures.append(f"{pod['metadata']['name']}: {result}")
            else:
                created.append(pod["metadata"]["name"])
        remaining -= batch
        if failures or rejected:
            break
        if remaining > 0 and delay:
            await asyncio.sleep(delay)
        if remaining > 0:
            await watch_pace.until_watched(rt.cache, unseen)
            unseen = [r for r in results if not isinstance(r, BaseException)]
        if remaining > 0:
            remaining = min(remaining, _still_missing(rt, group, desired_hash))
    if created:
        await rt.kube.event(group, "Normal", "CreatedWorkers", f"Created {len(created)} worker pod(s): {', '.join(created)}")
    if rejected:
        await rt.kube.event(group, "Warning", "WorkerPodRejected", rejected[:1000])
        raise Rejected(rejected)
    if failures:
        message = f"failed to create worker pods: {'; '.join(failures)[:800]}"
        await rt.kube.event(group, "Warning", "CreateWorkersFailed", message)
        raise RetryLater(message, delay=10)
    return created


async def _retire_workers(
    rt: Runtime, cluster: Manifest, group: Manifest, plan: WorkerPlan, uids: dict[str, str | None]
) -> tuple[list[str], list[str]]:
    """Retire ``plan.retire`` workers through the scheduler, then delete exactly those pods.

    Returns (retired through the scheduler, deleted pods). Raises SchedulerUnreachable.
    """
    namespace = group["metadata"]["namespace"]
    service = await rt.get("v1", "Service", namespace, names.scheduler_name(cluster["metadata"]["name"]))
    endpoint = endpoint_from_service(service)
    workers = await rt.scheduler.get_workers(endpoint)
    by_name = {w.name: w for w in workers}
    by_host = {w.host: w for w in workers}
    candidates: list[dict[str, Any]] = []
    for pod in plan.candidates:
        worker = by_name.get(pod.name) or (by_host.get(pod.ip) if pod.ip else None)
        candidates.append(
            {
                "name": pod.name,
                "address": worker.address if worker else None,
                "connected": worker is not None,
                "metrics": worker.metrics if worker else {},
                "outdated": pod.outdated,
                "ready": pod.ready,
                "created": pod.created,
            }
        )
    chosen_names = rt.pm.hook.dask_workers_to_retire(cluster=cluster, worker_group=group, candidates=candidates, n=plan.retire) or []
    by_pod = {c["name"]: c for c in candidates}
    chosen = [by_pod[n] for n in chosen_names if n in by_pod][: plan.retire]
    to_retire: dict[str, str] = {str(c["address"]): str(c["name"]) for c in chosen if c["connected"]}
    unconnected: list[str] = [str(c["name"]) for c in chosen if not c["connected"]]  # unknown to the scheduler: no data
    retired: list[str] = []
    if to_retire:
        result = await rt.scheduler.retire_workers(endpoint, list(to_retire))
        retired = [to_retire[address] for address in result if address in to_retire]
        kept = sorted(set(to_retire.values()) - set(retired))
        if kept:
            await rt.kube.event(
                group, "Warning", "RetirementIncomplete",
                f"the scheduler did not retire {kept} (their data could not be moved yet); will retry",
            )
        if retired:
            await rt.kube.event(group, "Normal", "RetiredWorkers", f"Retired {len(retired)} worker(s) through the scheduler: {', '.join(retired)}")
    return retired, await _delete_pods(rt, namespace, unconnected + retired, uids)


async def _delete_pods(rt: Runtime, namespace: str, pod_names: list[str], uids: dict[str, str | None]) -> list[str]:
    """Delete pods ``worker-allocation.batch-size`` at a time; the names of those deleted."""
    deleted: list[str] = []
    size = config.worker_batch_size()
    for start in range(0, len(pod_names), size):
        batch = pod_names[start : start + size]
        results = await asyncio.gather(*(rt.kube.delete("v1", "Pod", namespace, n, uid=uids.get(n)) for n in batch))
        deleted += [n for n, done in zip(batch, results, strict=True) if done]
    return deleted
