"""The kopf layer: the only module with ``@kopf.on.*``. Each handler delegates to reconcile.

DaskCluster and DaskWorkerGroup passes run on resume, create, update, periodically
(``reconcile-interval``) and when one of their children changes (a "poke", debounced). The
passes themselves are level-triggered, so which trigger ran them does not matter. No handler
needs a finalizer: Dask objects can be deleted while no operator runs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import kopf

from . import (
    config,
    health,
    loops,
    names,
    pluginmanager,
    reconcile,
    reconcile_autoscaler,
    reconcile_idle,
    reconcile_job,
)
from .errors import BuildError, RetryLater, ShuttingDown
from .runtime import Runtime

logger = logging.getLogger("dask_operator")

INTERVAL = float(config.get("reconcile-interval"))
CHILD: dict[str, Any] = {names.LABEL_MANAGED_BY: names.MANAGED_BY, names.LABEL_CLUSTER: kopf.PRESENT}


async def _run(coro: Any) -> None:
    """Translate the core's outcomes into kopf's retry semantics; never crash-loop."""
    try:
        await coro
    except ShuttingDown:
        return
    except RetryLater as exc:
        raise kopf.TemporaryError(str(exc), delay=exc.delay) from exc
    except BuildError as exc:
        raise kopf.TemporaryError(str(exc), delay=60) from exc


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: Any, logger: logging.Logger | logging.LoggerAdapter[Any], **_: Any) -> None:
    settings.posting.level = logging.WARNING  # our own Events tell the story; kopf's only on failure
    settings.execution.max_workers = 20
    settings.watching.server_timeout = 300
    # Without a client-side limit a watch whose connection dies silently (no FIN/RST through a
    # proxy or NAT) would hang forever and the operator would stop seeing changes.
    settings.watching.client_timeout = 330
    pm = pluginmanager.current()
    memo.runtime = await Runtime.start(pm)
    await memo.runtime.notify("dask_startup", settings=settings, logger=logger)


@kopf.on.cleanup()
async def cleanup(memo: Any, logger: logging.Logger | logging.LoggerAdapter[Any], **_: Any) -> None:
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is not None:
        await runtime.notify("dask_cleanup", logger=logger)
        await runtime.close()


# --- DaskCluster --------------------------------------------------------------------------------


@kopf.on.resume(names.GROUP, names.VERSION, names.CLUSTER_PLURAL)
@kopf.on.create(names.GROUP, names.VERSION, names.CLUSTER_PLURAL)
@kopf.on.update(names.GROUP, names.VERSION, names.CLUSTER_PLURAL)
async def cluster_changed(namespace: str | None, name: str, memo: Any, **_: Any) -> None:
    await _run(reconcile.reconcile_cluster(memo.runtime, str(namespace), name))


# --- DaskWorkerGroup ----------------------------------------------------------------------------


@kopf.on.resume(names.GROUP, names.VERSION, names.WORKER_GROUP_PLURAL)
@kopf.on.create(names.GROUP, names.VERSION, names.WORKER_GROUP_PLURAL)
@kopf.on.update(names.GROUP, names.VERSION, names.WORKER_GROUP_PLURAL)
async def worker_group_changed(namespace: str | None, name: str, memo: Any, **_: Any) -> None:
    await _run(reconcile.reconcile_worker_group(memo.runtime, str(namespace), name))


# --- Periodic passes -----------------------------------------------------------------------------
# Plain asyncio loops (loops.LOOPS) started and stopped by watch events, not kopf timers: a timer
# puts a finalizer on every DaskCluster and DaskWorkerGroup, so they could not be deleted while
# no operator runs, and a deletion would wait for a running tick.


def _periodic(pass_: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[float]]:
    async def round_() -> float:
        try:
            await pass_()
        except RetryLater as exc:
            return exc.delay
        except BuildError:
            return 60.0  # reported in status and Events; a plugin fix needs an operator restart
        except ShuttingDown:
            pass
        return INTERVAL

    return round_


def _keep_passing(type: str | None, key: loops.Key, pass_: Callable[[], Awaitable[None]]) -> None:
    if type == "DELETED":
        loops.LOOPS.stop(key)
    else:
        loops.LOOPS.ensure(key, _periodic(pass_), initial_delay=INTERVAL)


@kopf.on.event(names.GROUP, names.VERSION, names.CLUSTER_PLURAL)
async def cluster_periodic(type: str | None, body: kopf.Body, namespace: str | None, name: str, uid: str | None, memo: Any, **_: Any) -> None:
    rt, ns = memo.runtime, str(namespace)
    _keep_passing(type, ("DaskClusterPass", ns, name), lambda: reconcile.reconcile_cluster(rt, ns, name))
    if type == "DELETED":
        # Not kopf.on.delete: without a finalizer kopf never calls it for a plain deletion.
        rt.forget((names.CLUSTER_KIND, ns, name), uid)
        await rt.notify("dask_cluster_deleted", cluster=dict(body))


@kopf.on.event(names.GROUP, names.VERSION, names.WORKER_GROUP_PLURAL)
async def worker_group_periodic(type: str | None, namespace: str | None, name: str, uid: str | None, memo: Any, **_: Any) -> None:
    rt, ns = memo.runtime, str(namespace)
    _keep_passing(type, ("DaskWorkerGroupPass", ns, name), lambda: reconcile.reconcile_worker_group(rt, ns, name))
    if type == "DELETED":
        rt.forget((names.WORKER_GROUP_KIND, ns, name), uid)


# --- Children changed: poke the owner's pass ---------------------------------------------------


def _poke_cluster(runtime: Runtime, namespace: str, cluster: str) -> None:
    runtime.poke(
        (names.CLUSTER_KIND, namespace, cluster), lambda: reconcile.reconcile_cluster(runtime, namespace, cluster)
    )


def _poke_group(runtime: Runtime, namespace: str, group: str) -> None:
    runtime.poke(
        (names.WORKER_GROUP_KIND, namespace, group), lambda: reconcile.reconcile_worker_group(runtime, namespace, group)
    )


@kopf.on.event("v1", "pods", labels=CHILD)
async def child_pod_event(namespace: str | None, labels: kopf.Labels, memo: Any, **_: Any) -> None:
    _poke_cluster(memo.runtime, str(namespace), labels[names.LABEL_CLUSTER])
    if labels.get(names.LABEL_COMPONENT) == names.COMPONENT_WORKER and names.LABEL_WORKER_GROUP in labels:
        _poke_group(memo.runtime, str(namespace), labels[names.LABEL_WORKER_GROUP])


@kopf.on.event("apps", "v1", "deployments", labels=CHILD)
@kopf.on.event("v1", "services", labels=CHILD)
async def child_event(type: str | None, namespace: str | None, labels: kopf.Labels, uid: str | None, memo: Any, **_: Any) -> None:
    if type == "DELETED":
        memo.runtime.forget(uid=uid)
    _poke_cluster(memo.runtime, str(namespace), labels[names.LABEL_CLUSTER])


@kopf.on.event(names.GROUP, names.VERSION, names.WORKER_GROUP_PLURAL)
async def worker_group_event(namespace: str | None, spec: kopf.Spec, memo: Any, **_: Any) -> None:
    if spec.get("cluster"):
        _poke_cluster(memo.runtime, str(namespace), spec["cluster"])


# --- DaskJob, DaskAutoscaler, idle timeout, liveness (issue 5) ----------------------------------
# Each handler delegates to reconcile_job, reconcile_autoscaler, reconcile_idle or health. The
# periodic work runs in loops.LOOPS (no kopf timers/daemons: they would put finalizers on
# DaskJobs and DaskAutoscalers and delay deletions).

JOB_RUNNER: dict[str, Any] = {names.LABEL_MANAGED_BY: names.MANAGED_BY, names.LABEL_COMPONENT: reconcile_job.COMPONENT_RUNNER}


def _job_pass(runtime: Runtime, namespace: str, job: str) -> Any:
    async def run() -> float:
        later = await reconcile_job.reconcile_job(runtime, namespace, job)
        return INTERVAL if later is None else later + 0.1  # deadlines, TTLs, settled jobs

    return run


def _poke_job(runtime: Runtime, namespace: str, job: str) -> None:
    run = _job_pass(runtime, namespace, job)

    async def once() -> None:
        await run()

    runtime.poke((reconcile_job.JOB_KIND, namespace, job), once)


@kopf.on.event(names.GROUP, names.VERSION, reconcile_job.JOB_PLURAL)
async def job_event(type: str | None, namespace: str | None, name: str, memo: Any, **_: Any) -> None:
    key = (reconcile_job.JOB_KIND, str(namespace), name)
    if type == "DELETED":
        loops.LOOPS.stop(key)
        memo.runtime.forget(key)
        return
    _poke_job(memo.runtime, str(namespace), name)
    loops.LOOPS.ensure(key, _job_pass(memo.runtime, str(namespace), name), initial_delay=INTERVAL)


@kopf.on.event("v1", "pods", labels=JOB_RUNNER)
async def job_runner_event(namespace: str | None, labels: kopf.Labels, memo: Any, **_: Any) -> None:
    _poke_job(memo.runtime, str(namespace), labels[names.LABEL_CLUSTER])


@kopf.on.event(names.GROUP, names.VERSION, names.CLUSTER_PLURAL)
async def cluster_event(type: str | None, body: kopf.Body, namespace: str | None, name: str, meta: kopf.Meta, memo: Any, **_: Any) -> None:
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == reconcile_job.JOB_KIND:
            _poke_job(memo.runtime, str(namespace), ref["name"])
    key = ("DaskClusterIdle", str(namespace), name)

    async def check() -> float:
        await reconcile_idle.check_idle(memo.runtime, str(namespace), name)
        return reconcile_idle.check_interval()

    if type == "DELETED" or not reconcile_idle.has_idle_timeout(memo.runtime, dict(body)):
        loops.LOOPS.stop(key)
        if type != "DELETED" and reconcile_idle.shows_idle(dict(body)):  # clear a stale Idle condition
            memo.runtime.poke(key, check)
        return
    loops.LOOPS.ensure(key, check)


@kopf.on.event(names.GROUP, names.VERSION, reconcile_autoscaler.AUTOSCALER_PLURAL)
async def autoscaler_event(type: str | None, namespace: str | None, name: str, uid: str | None, memo: Any, **_: Any) -> None:
    key = (reconcile_autoscaler.AUTOSCALER_KIND, str(namespace), name)
    if type == "DELETED":
        loops.LOOPS.stop(key)
        reconcile_autoscaler.forget(str(uid))
        memo.runtime.forget(key)
        return

    async def poll() -> float:
        return await reconcile_autoscaler.reconcile_autoscaler(memo.runtime, str(namespace), name)

    loops.LOOPS.ensure(key, poll, retry_delay=reconcile_autoscaler.poll_interval(None))


@kopf.on.cleanup()
async def stop_loops(**_: Any) -> None:
    await loops.LOOPS.close()


@kopf.on.event(names.GROUP, names.VERSION, names.CLUSTER_PLURAL)
@kopf.on.event(names.GROUP, names.VERSION, names.WORKER_GROUP_PLURAL)
@kopf.on.event(names.GROUP, names.VERSION, reconcile_job.JOB_PLURAL)
@kopf.on.event(names.GROUP, names.VERSION, reconcile_autoscaler.AUTOSCALER_PLURAL)
@kopf.on.event("v1", "pods", labels={names.LABEL_MANAGED_BY: names.MANAGED_BY})
async def watch_delivered(body: kopf.Body, type: str | None, resource: kopf.Resource, **_: Any) -> None:
    health.TRACKER.observe(resource.kind or resource.plural, dict(body), type)


@kopf.on.probe(id="watches", errors=kopf.ErrorsMode.PERMANENT)
async def watches_probe(memo: Any, **_: Any) -> dict[str, Any]:
    try:
        return await health.probe(memo.runtime)
    except health.WatchesStalled as exc:
        raise kopf.PermanentError(str(exc)) from exc
