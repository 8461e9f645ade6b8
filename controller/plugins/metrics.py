"""Built-in plugin: the operator's Prometheus metrics (prometheus-client).

Served on ``kubernetes.controller.metrics.port`` (default 9090; 0 turns it off) at
``metrics.address`` (default 0.0.0.0; use 127.0.0.1 when the operator runs outside a pod).
Every value comes through hooks, never from the core's internals:

========================================================  =============================================
family                                                    from
========================================================  =============================================
``dask_operator_reconcile_total{kind,result}``             ``dask_reconcile_context`` (success|retry|error)
``dask_operator_reconcile_errors_total{kind}``             ``dask_reconcile_context`` (failed passes)
``dask_operator_reconcile_duration_seconds{kind}``         ``dask_reconcile_context``
``dask_operator_pass_latency_seconds{kind}``               ``dask_pass_finished`` (object changed -> pass finished)
``dask_operator_clusters{phase}``                          ``dask_cluster_phase_changed``/``_observed``/``_deleted``
``dask_operator_cluster_workers{namespace,cluster,state}`` ``dask_cluster_observed`` (desired|ready)
``dask_operator_scale_events_total{namespace,direction}``  ``dask_workers_changed`` (up|down)
``dask_operator_workers_created_total{namespace}``         ``dask_workers_changed``
``dask_operator_workers_retired_total{namespace}``         ``dask_workers_changed`` (through the scheduler)
``dask_operator_workers_deleted_total{namespace}``         ``dask_workers_changed``
``dask_operator_scheduler_api_failures_total{call}``       ``dask_scheduler_unreachable``
``dask_operator_jobs_finished_total{outcome,reason}``      ``dask_job_phase_changed``
``dask_operator_job_duration_seconds{outcome}``            ``dask_job_phase_changed`` (startTime to endTime)
``dask_operator_autoscaler_target_workers{...}``           ``dask_autoscaler_decided`` (scheduler's target)
``dask_operator_autoscaler_desired_workers{...}``          ``dask_autoscaler_decided``
``dask_operator_autoscaler_decisions_total{decision}``     ``dask_autoscaler_decided``
``dask_operator_leader``                                   ``dask_leadership_changed`` (1 leader, 0 standby)
========================================================  =============================================
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from dask_operator import api, hookimpl
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    start_http_server,
)

logger = logging.getLogger("dask_operator")


REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)

PHASES = ("Created", "Pending", "Running", "Error")

RECONCILES = Counter("dask_operator_reconcile", "Reconcile passes by kind and result.", ["kind", "result"], registry=REGISTRY)
RECONCILE_ERRORS = Counter("dask_operator_reconcile_errors", "Reconcile passes that failed with an error.", ["kind"], registry=REGISTRY)
RECONCILE_SECONDS = Histogram("dask_operator_reconcile_duration_seconds", "Duration of reconcile passes.", ["kind"], registry=REGISTRY)
# From a change reaching the operator to the end of the pass that saw it (debounce, waiting for
# a pass slot and the pass itself): what a user waits for before the operator has acted.
PASS_LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600)
PASS_LATENCY = Histogram(
    "dask_operator_pass_latency_seconds", "Seconds from an object's change to the end of the pass that saw it.", ["kind"],
    registry=REGISTRY, buckets=PASS_LATENCY_BUCKETS,
)
CLUSTERS = Gauge("dask_operator_clusters", "DaskClusters by phase.", ["phase"], registry=REGISTRY)
CLUSTER_WORKERS = Gauge("dask_operator_cluster_workers", "Workers of a DaskCluster.", ["namespace", "cluster", "state"], registry=REGISTRY)
SCALE_EVENTS = Counter("dask_operator_scale_events", "Worker group passes that added or removed workers.", ["namespace", "direction"], registry=REGISTRY)
WORKERS_CREATED = Counter("dask_operator_workers_created", "Worker pods created.", ["namespace"], registry=REGISTRY)
WORKERS_RETIRED = Counter("dask_operator_workers_retired", "Workers retired through the scheduler.", ["namespace"], registry=REGISTRY)
WORKERS_DELETED = Counter("dask_operator_workers_deleted", "Worker pods deleted.", ["namespace"], registry=REGISTRY)
SCHEDULER_FAILURES = Counter("dask_operator_scheduler_api_failures", "Scheduler calls answered by neither the HTTP API nor the RPC.", ["call"], registry=REGISTRY)
JOBS_FINISHED = Counter("dask_operator_jobs_finished", "DaskJobs finished, by outcome and reason.", ["outcome", "reason"], registry=REGISTRY)
JOB_SECONDS = Histogram(
    "dask_operator_job_duration_seconds", "DaskJob duration from startTime to endTime.", ["outcome"], registry=REGISTRY,
    buckets=(10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400),
)
AUTOSCALER_TARGET = Gauge("dask_operator_autoscaler_target_workers", "The scheduler's last adaptive target.", ["namespace", "autoscaler"], registry=REGISTRY)
AUTOSCALER_DESIRED = Gauge("dask_operator_autoscaler_desired_workers", "Replicas the autoscaler last asked for.", ["namespace", "autoscaler"], registry=REGISTRY)
LEADER = Gauge("dask_operator_leader", "1 when this operator holds the Lease (or runs without leader election), 0 as a standby.", registry=REGISTRY)
AUTOSCALER_DECISIONS = Counter("dask_operator_autoscaler_decisions", "Autoscaler polls by decision.", ["decision"], registry=REGISTRY)

_phases: dict[tuple[str, str], str] = {}
_server: Any = None


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace")), str(meta.get("name"))


def _publish_phases() -> None:
    counts = dict.fromkeys(PHASES, 0)
    for phase in _phases.values():
        counts[phase] = counts.get(phase, 0) + 1
    for phase, count in counts.items():
        CLUSTERS.labels(phase=phase).set(count)


def _seconds(value: str | None) -> float | None:
    import datetime

    if not value:
        return None
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


# --- serving ------------------------------------------------------------------------------------


def start_server() -> tuple[str, int] | None:
    """Start the HTTP endpoint (idempotent); returns (address, port) or None when off."""
    global _server
    port = int(api.get_config("metrics.port") or 0)
    if port <= 0:
        return None
    address = str(api.get_config("metrics.address") or "0.0.0.0")
    if _server is None:
        server, _thread = start_http_server(port, addr=address, registry=REGISTRY)
        _server = server
    return address, int(_server.server_address[1])


def stop_server() -> None:
    global _server
    if _server is not None:
        _server.shutdown()
        _server.server_close()
        _server = None


@hookimpl
def dask_leadership_changed(leader: bool, identity: str) -> None:
    LEADER.set(1 if leader else 0)
    if not leader:
        _serve()  # a standby serves metrics too


@hookimpl
def dask_startup(settings: Any, logger: Any) -> None:
    _publish_phases()
    LEADER.set(1)  # dask_startup runs only in the operator that reconciles (leader or alone)
    _serve()


def _serve() -> None:
    try:
        where = start_server()
    except OSError as exc:  # a busy port must not stop the operator from reconciling
        logging.getLogger("dask_operator").error(
            "metrics: cannot serve on %s:%s: %s (set kubernetes.controller.metrics.port; 0 turns metrics off)",
            api.get_config("metrics.address"), api.get_config("metrics.port"), exc,
        )
        return
    if where:
        logging.getLogger("dask_operator").info("metrics: serving Prometheus metrics on http://%s:%d/metrics", *where)


@hookimpl
def dask_cleanup(logger: Any) -> None:
    stop_server()


# --- data through hooks -------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _timed(kind: str) -> AsyncIterator[None]:
    started = time.perf_counter()
    result = "error"
    try:
        yield
        result = "success"
    except api.RetryLater:
        result = "retry"
        raise
    except BaseException:
        RECONCILE_ERRORS.labels(kind=kind).inc()
        raise
    finally:
        RECONCILES.labels(kind=kind, result=result).inc()
        RECONCILE_SECONDS.labels(kind=kind).observe(time.perf_counter() - started)


@hookimpl
def dask_reconcile_context(kind: str, name: str, namespace: str) -> contextlib.AbstractAsyncContextManager[None]:
    return _timed(kind)


@hookimpl
def dask_pass_finished(kind: str, namespace: str, name: str, seconds: float) -> None:
    PASS_LATENCY.labels(kind=kind).observe(max(0.0, seconds))


@hookimpl
def dask_cluster_phase_changed(cluster: dict[str, Any], old: str | None, new: str) -> None:
    _phases[_key(cluster)] = new
    _publish_phases()


@hookimpl
def dask_cluster_observed(cluster: dict[str, Any], status: dict[str, Any]) -> None:
    namespace, name = _key(cluster)
    if status.get("phase"):
        _phases[(namespace, name)] = str(status["phase"])
        _publish_phases()
    workers = status.get("workers") or {}
    for state in ("desired", "ready"):
        if state in workers:
            CLUSTER_WORKERS.labels(namespace=namespace, cluster=name, state=state).set(int(workers[state] or 0))


@hookimpl
def dask_cluster_deleted(cluster: dict[str, Any]) -> None:
    namespace, name = _key(cluster)
    _phases.pop((namespace, name), None)
    _publish_phases()
    for state in ("desired", "ready"):
        with contextlib.suppress(KeyError):
            CLUSTER_WORKERS.remove(namespace, name, state)


@hookimpl
def dask_workers_changed(
    cluster: dict[str, Any], worker_group: dict[str, Any], created: list[str], retired: list[str], deleted: list[str]
) -> None:
    namespace = _key(worker_group)[0]
    if created:
        WORKERS_CREATED.labels(namespace=namespace).inc(len(created))
        SCALE_EVENTS.labels(namespace=namespace, direction="up").inc()
    if retired:
        WORKERS_RETIRED.labels(namespace=namespace).inc(len(retired))
    if deleted:
        WORKERS_DELETED.labels(namespace=namespace).inc(len(deleted))
        SCALE_EVENTS.labels(namespace=namespace, direction="down").inc()


@hookimpl
def dask_scheduler_unreachable(cluster: dict[str, Any], call: str, error: str) -> None:
    SCHEDULER_FAILURES.labels(call=call).inc()


@hookimpl
def dask_job_phase_changed(job: dict[str, Any], old: str | None, new: str) -> None:
    if new not in ("Successful", "Failed"):
        return
    status = job.get("status") or {}
    JOBS_FINISHED.labels(outcome=new, reason=str(status.get("reason") or "")).inc()
    start, end = _seconds(status.get("startTime")), _seconds(status.get("endTime"))
    if start is not None and end is not None:
        JOB_SECONDS.labels(outcome=new).observe(max(0.0, end - start))


@hookimpl
def dask_autoscaler_decided(
    autoscaler: dict[str, Any], worker_group: dict[str, Any], target: int, current: int, desired: int, decision: str, reason: str
) -> None:
    namespace, name = _key(autoscaler)
    AUTOSCALER_TARGET.labels(namespace=namespace, autoscaler=name).set(target)
    AUTOSCALER_DESIRED.labels(namespace=namespace, autoscaler=name).set(desired)
    AUTOSCALER_DECISIONS.labels(decision=decision).inc()
