"""The kopf layer: the only module with ``@kopf.*`` decorators. Each handler is a few lines.

* Index functions feed the watch-fed caches that every pass reads (see :mod:`.cache`).
* Event handlers turn a change into pass requests for the object and its owners
  (:mod:`.passes`); the passes themselves are level-triggered, so which event asked for them
  does not matter. Only watch events are handled (no ``on.create``/``on.update``), so kopf
  writes nothing to the objects: no progress annotations, no finalizers, and Dask objects can
  be deleted while no operator runs.
* Periodic work that needs I/O (autoscaler polls, idle checks) runs in :mod:`.loops`, only for
  the objects that ask for it; the rare resync reads only the cache.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from . import (
    cache,
    config,
    health,
    kopf_storage,
    loops,
    names,
    passes,
    pluginmanager,
    reconcile_autoscaler,
    reconcile_idle,
)
from .runtime import Runtime

logger = logging.getLogger("dask_operator")

MANAGED: dict[str, Any] = {names.LABEL_MANAGED_BY: names.MANAGED_BY}
KINDS = {k.index: k for k in cache.CACHED_KINDS}
EXIT_DEADLINE = 3.0  # seconds from SIGTERM to exit (docs/configuration.md, shutdown-grace)


# --- start and stop ------------------------------------------------------------------------------


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: Any, logger: logging.Logger | logging.LoggerAdapter[Any], **kwargs: Any) -> None:
    settings.posting.level = logging.WARNING  # our own Events tell the story; kopf's only on failure
    settings.execution.max_workers = 20
    # The last resort if stopping ever hangs: Kubernetes waits terminationGracePeriodSeconds,
    # the operator promises to be gone within EXIT_DEADLINE seconds of SIGTERM.
    settings.process.ultimate_exiting_timeout = EXIT_DEADLINE
    settings.watching.server_timeout = 300
    # Without a client-side limit a watch whose connection dies silently (no FIN/RST through a
    # proxy or NAT) would hang forever and the operator would stop seeing changes.
    settings.watching.client_timeout = 330
    settings.persistence.diffbase_storage = kopf_storage.NoDiffBase()  # no on.create/update handlers
    # Only the operator's own children, filtered by the API server: a busy namespace's other
    # pods cost neither traffic nor memory.
    for kind in ("pods", "services", "deployments", "poddisruptionbudgets", "ingresses", "networkpolicies"):
        settings.watching.label_selectors[kind] = f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY}"
    if health.serves_exact_namespaces():
        # Named namespaces need no cluster-scoped LIST/WATCH of namespaces and CRDs: a namespaced
        # identity (a Role per namespace) gets no 403 at start-up, and an idle operator two
        # watch streams fewer. The CRDs must exist when the operator starts.
        settings.scanning.disabled = True
    pm = pluginmanager.current()
    memo.runtime = rt = await Runtime.start(pm, {name: kwargs[name] for name in KINDS})
    await rt.notify("dask_startup", settings=settings, logger=logger)
    interval = passes.resync_interval()

    async def resync() -> float:
        passes.resync(rt)
        return interval

    loops.LOOPS.ensure(("Resync", "", ""), resync, initial_delay=interval)


@kopf.on.cleanup()
async def cleanup(memo: Any, logger: logging.Logger | logging.LoggerAdapter[Any], **_: Any) -> None:
    await loops.LOOPS.close()
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is not None:
        await runtime.notify("dask_cleanup", logger=logger)
        # Short: passes are level-triggered, so a cancelled one is finished by the next operator.
        await runtime.close(timeout=float(config.get("shutdown-grace")))


# --- the watch-fed caches ------------------------------------------------------------------------
# ``async def`` although they do no I/O: kopf runs plain functions in a thread pool, and a hop to a
# thread and back for every watch event costs more than the function itself.


@kopf.index(names.GROUP, names.VERSION, names.CLUSTER_PLURAL)
async def dask_clusters(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return cache.index_entries(KINDS["dask_clusters"], body)


@kopf.index(names.GROUP, names.VERSION, names.WORKER_GROUP_PLURAL)
async def dask_worker_groups(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return cache.index_entries(KINDS["dask_worker_groups"], body)


@kopf.index(names.GROUP, names.VERSION, names.JOB_PLURAL)
async def dask_jobs(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return cache.index_entries(KINDS["dask_jobs"], body)


@kopf.index(names.GROUP, names.VERSION, names.AUTOSCALER_PLURAL)
async def dask_autoscalers(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return cache.index_entries(KINDS["dask_autoscalers"], body)


@kopf.index("v1", "pods", labels=MANAGED)
async def dask_pods(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return cache.index_entries(KINDS["dask_pods"], body)


@kopf.index("v1", "services", labels=MANAGED)
async def dask_services(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return cache.index_entries(KINDS["dask_services"], body)


@kopf.index("apps", "v1", "deployments", labels=MANAGED)
async def dask_deployments(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return cache.index_entries(KINDS["dask_deployments"], body)


@kopf.index("policy", "v1", "poddisruptionbudgets", labels=MANAGED)
def dask_disruption_budgets(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return cache.index_entries(KINDS["dask_disruption_budgets"], body)


@kopf.index("networking.k8s.io", "v1", "ingresses", labels=MANAGED)
def dask_ingresses(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return cache.index_entries(KINDS["dask_ingresses"], body)


@kopf.index("networking.k8s.io", "v1", "networkpolicies", labels=MANAGED)
def dask_network_policies(body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return cache.index_entries(KINDS["dask_network_policies"], body)


# --- changes request passes ------------------------------------------------------------------------


@kopf.on.event(names.GROUP, names.VERSION, names.CLUSTER_PLURAL)
async def cluster_event(type: str | None, body: kopf.Body, namespace: str | None, name: str, uid: str | None, memo: Any, **_: Any) -> None:
    rt: Runtime = memo.runtime
    ns = str(namespace)
    for ref in body.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("kind") == names.JOB_KIND:
            passes.request(rt, names.JOB_KIND, ns, ref["name"])
    _watch_idle(rt, type, dict(body), ns, name)
    if type == "DELETED":
        rt.cache.watched_deletion(names.CLUSTER_KIND, uid)
        rt.forget((names.CLUSTER_KIND, ns, name), uid)
        await rt.notify("dask_cluster_deleted", cluster=dict(body))
        return
    passes.request(rt, names.CLUSTER_KIND, ns, name)
    for group in rt.cache.of_cluster(names.API_VERSION, names.WORKER_GROUP_KIND, ns, name):
        passes.request(rt, names.WORKER_GROUP_KIND, ns, group["metadata"]["name"])


@kopf.on.event(names.GROUP, names.VERSION, names.WORKER_GROUP_PLURAL)
async def worker_group_event(type: str | None, spec: kopf.Spec, meta: kopf.Meta, namespace: str | None, name: str, uid: str | None, memo: Any, **_: Any) -> None:
    rt: Runtime = memo.runtime
    ns = str(namespace)
    clusters = {str(spec["cluster"])} if spec.get("cluster") else set()
    clusters |= {str(r["name"]) for r in meta.get("ownerReferences") or [] if r.get("kind") == names.CLUSTER_KIND}
    for cluster in clusters:  # the one it names and the one that owns it (they differ in a conflict)
        passes.request(rt, names.CLUSTER_KIND, ns, cluster)
    if type == "DELETED":
        rt.cache.watched_deletion(names.WORKER_GROUP_KIND, uid)
        rt.forget((names.WORKER_GROUP_KIND, ns, name), uid)
        for cluster in clusters:
            rt.cache.child_deleted(ns, cluster)
        return
    passes.request(rt, names.WORKER_GROUP_KIND, ns, name)


@kopf.on.event(names.GROUP, names.VERSION, names.JOB_PLURAL)
async def job_event(type: str | None, namespace: str | None, name: str, uid: str | None, memo: Any, **_: Any) -> None:
    rt: Runtime = memo.runtime
    if type == "DELETED":
        rt.cache.watched_deletion(names.JOB_KIND, uid)
        rt.forget((names.JOB_KIND, str(namespace), name), uid)
        return
    passes.request(rt, names.JOB_KIND, str(namespace), name)


@kopf.on.event("v1", "pods", labels=MANAGED)
async def pod_event(type: str | None, body: kopf.Body, namespace: str | None, labels: kopf.Labels, uid: str | None, memo: Any, **_: Any) -> None:
    rt: Runtime = memo.runtime
    health.TRACKER.observe("Pod", dict(body), type)  # here, not in watch_delivered: pods are the bulk
    ns, cluster = str(namespace), labels.get(names.LABEL_CLUSTER)
    if type == "DELETED":
        rt.cache.watched_deletion("Pod", uid)
    if not cluster:
        return
    if type == "DELETED":
        rt.cache.child_deleted(ns, cluster)
    component = labels.get(names.LABEL_COMPONENT)
    if component == names.COMPONENT_JOB_RUNNER:
        passes.request(rt, names.JOB_KIND, ns, cluster)  # a job's cluster is named after it
        return
    passes.request(rt, names.CLUSTER_KIND, ns, cluster)
    if component == names.COMPONENT_WORKER and names.LABEL_WORKER_GROUP in labels:
        passes.request(rt, names.WORKER_GROUP_KIND, ns, labels[names.LABEL_WORKER_GROUP])


@kopf.on.event("apps", "v1", "deployments", labels=MANAGED)
@kopf.on.event("v1", "services", labels=MANAGED)
@kopf.on.event("policy", "v1", "poddisruptionbudgets", labels=MANAGED)
@kopf.on.event("networking.k8s.io", "v1", "ingresses", labels=MANAGED)
@kopf.on.event("networking.k8s.io", "v1", "networkpolicies", labels=MANAGED)
async def scheduler_child_event(type: str | None, namespace: str | None, labels: kopf.Labels, uid: str | None, resource: kopf.Resource, memo: Any, **_: Any) -> None:
    rt: Runtime = memo.runtime
    if type == "DELETED":
        rt.cache.watched_deletion(str(resource.kind), uid)
        rt.forget(uid=uid)
        if labels.get(names.LABEL_CLUSTER):
            rt.cache.child_deleted(str(namespace), labels[names.LABEL_CLUSTER])
    if labels.get(names.LABEL_CLUSTER):
        passes.request(rt, names.CLUSTER_KIND, str(namespace), labels[names.LABEL_CLUSTER])


# --- periodic I/O, only for the objects that ask for it --------------------------------------------


def _watch_idle(rt: Runtime, type: str | None, body: dict[str, Any], namespace: str, name: str) -> None:
    key = ("DaskClusterIdle", namespace, name)

    async def check() -> float:
        await reconcile_idle.check_idle(rt, namespace, name)
        return reconcile_idle.check_interval()

    if type == "DELETED" or not reconcile_idle.has_idle_timeout(rt, body):
        loops.LOOPS.stop(key)
        if type != "DELETED" and reconcile_idle.shows_idle(body):  # clear a stale Idle condition
            rt.poke(key, check)
        return
    loops.LOOPS.ensure(key, check)


@kopf.on.event(names.GROUP, names.VERSION, names.AUTOSCALER_PLURAL)
async def autoscaler_event(type: str | None, namespace: str | None, name: str, uid: str | None, memo: Any, **_: Any) -> None:
    rt: Runtime = memo.runtime
    key = (names.AUTOSCALER_KIND, str(namespace), name)
    if type == "DELETED":
        loops.LOOPS.stop(key)
        rt.cache.watched_deletion(names.AUTOSCALER_KIND, uid)
        reconcile_autoscaler.forget(str(uid))
        rt.forget(key)
        return

    async def poll() -> float:
        return await reconcile_autoscaler.reconcile_autoscaler(rt, str(namespace), name)

    loops.LOOPS.ensure(key, poll, retry_delay=reconcile_autoscaler.poll_interval(None))


# --- liveness --------------------------------------------------------------------------------------


@kopf.on.event(names.GROUP, names.VERSION, names.CLUSTER_PLURAL)
@kopf.on.event(names.GROUP, names.VERSION, names.WORKER_GROUP_PLURAL)
@kopf.on.event(names.GROUP, names.VERSION, names.JOB_PLURAL)
@kopf.on.event(names.GROUP, names.VERSION, names.AUTOSCALER_PLURAL)
async def watch_delivered(body: kopf.Body, type: str | None, resource: kopf.Resource, **_: Any) -> None:
    health.TRACKER.observe(resource.kind or resource.plural, dict(body), type)


@kopf.on.probe(id="watches", errors=kopf.ErrorsMode.PERMANENT)
async def watches_probe(memo: Any, **_: Any) -> dict[str, Any]:
    try:
        return await health.probe(memo.runtime)
    except health.WatchesStalled as exc:
        raise kopf.PermanentError(str(exc)) from exc

