"""Operator configuration: the dask config subtree ``kubernetes.controller``.

Every key can be set in a dask config YAML file or through the environment, e.g.
``DASK_KUBERNETES__CONTROLLER__WORKER_ALLOCATION__BATCH_SIZE=5`` (dashes become underscores,
nesting is ``__``). docs/configuration.md documents each key.
"""

from __future__ import annotations

import copy
from typing import Any

import dask.config

NAMESPACE = "kubernetes.controller"

DEFAULTS: dict[str, Any] = {
    # Worker pods created per batch (chart: workerAllocation.size); null = 20.
    "worker-allocation": {"batch-size": None, "delay": None},
    # Bounds on what one spec can ask for; more is reported (condition WorkersCapped), not created.
    "workers": {"max-per-group": 1000, "max-per-cluster": 2000, "replace-after-restarts": 5},
    # The DNS domain of the Kubernetes cluster, used in DASK_SCHEDULER_ADDRESS.
    "cluster-domain": "cluster.local",
    "metrics": {
        # Port of the operator's Prometheus endpoint (metrics plugin); 0 turns it off.
        "port": 9090,
        # Address that endpoint binds (127.0.0.1 when running outside a pod).
        "address": "0.0.0.0",
    },
    # A PodDisruptionBudget (maxUnavailable 0) per DaskCluster for its scheduler pod (built-in
    # plugin scheduler_pdb); a cluster opts out with the annotation kubernetes.dask.org/scheduler-pdb: "false".
    "scheduler-pdb": {"enabled": True},
    # Exposing scheduler dashboards through an Ingress per DaskCluster (built-in plugin dashboard).
    # Patterns may use {cluster} and {namespace}; a cluster opts in or out with the annotation
    # kubernetes.dask.org/dashboard-ingress: "true" / "false".
    "dashboard": {
        "ingress": {
            "enabled": False,
            "host": None,  # e.g. "{cluster}.{namespace}.dask.example.com"; required to expose
            "path": "/",  # e.g. "/dask/{namespace}/{cluster}": also the scheduler's dashboard prefix
            "class-name": None,  # spec.ingressClassName (null: the cluster's default class)
            "tls-secret": None,  # Secret with the host's certificate, in the cluster's namespace
            "annotations": {},  # on every Ingress (e.g. for the ingress controller)
        },
    },
    # A NetworkPolicy per DaskCluster (built-in plugin network_policy): only the cluster's pods,
    # the operator and the allowed clients reach its pods. A cluster opts in or out with the
    # annotation kubernetes.dask.org/network-policy: "true" / "false".
    "network-policy": {
        "enabled": False,
        "operator": None,  # NetworkPolicyPeer of the operator's pods (the chart sets it)
        "clients": [],  # NetworkPolicyPeers allowed to reach every cluster (notebooks, Prometheus)
        "egress": None,  # null: egress open; a list of egress rules: only those, own pods and DNS
    },
    # Rewrite `dask-scheduler`/`dask-worker` commands to `dask scheduler`/`dask worker`.
    "legacy-cli-shim": True,
    "scale-down": {
        # Delete the newest workers when the scheduler cannot be reached (may lose data).
        "allow-unsafe-fallback": False,
        # Seconds before retrying a scale-down blocked by an unreachable scheduler (doubles).
        "retry-delay": 5,
        "max-retry-delay": 60,
    },
    # Outdated workers replaced at once during a rolling update (extra pods above replicas).
    "rolling-update": {"max-surge": 2},
    "kube-api": {
        # Client-side limit of the operator's API requests (watches aside): requests per second
        # on average and the burst above it, like client-go's QPS/burst. 0 turns the limit off.
        "qps": 200,
        "burst": 400,
    },
    "passes": {
        # Reconcile passes running at once; the others wait their turn. Pending passes are one
        # per object at most (requests for an object waiting to run are merged), so the queue
        # is bounded by the number of objects the operator watches. Passes mostly wait for the
        # API server (whose load kube-api.qps bounds), so this is about memory, not CPU.
        "concurrency": 50,
    },
    # Seconds between resyncs: a pass of every cached object (passes run on every change anyway).
    "reconcile-interval": 300,
    "scheduler-api": {
        # Timeout for one HTTP call to a scheduler; retire_workers may take longer.
        "timeout": 10,
        "retire-timeout": 120,
    },
    # Plugin names not to load (also DASK_OPERATOR_DISABLE_PLUGINS, comma separated).
    "disable-plugins": [],
    # Seconds between two idle checks of a DaskCluster with spec.idleTimeout.
    "idle-check-interval": 5,
    "autoscaler": {
        # Seconds between two polls of the adaptive target, unless the DaskAutoscaler sets
        # spec.pollIntervalSeconds.
        "poll-interval": 5,
        # Seconds a lower target must persist before workers are retired, unless the
        # DaskAutoscaler sets spec.scaleDownStabilizationSeconds.
        "scale-down-stabilization": 60,
    },
    # Seconds running passes get to finish after SIGTERM before they are cancelled (passes are
    # level-triggered: the next operator finishes the work). The operator exits within 3 s.
    "shutdown-grace": 1.0,
    "leader-election": {
        # Run only while holding a coordination.k8s.io Lease; a standby only serves health
        # and metrics (also `dask-operator run --leader-election`; on in the chart).
        "enabled": False,
        # The Lease's name and namespace (null = the operator pod's namespace, else the first
        # --namespace, else "default").
        "lease-name": "dask-kubernetes-operator",
        "lease-namespace": None,
        # Seconds a Lease lasts without renewal (a standby takes over after this) and seconds
        # between two renewals (one request each) by the leader.
        "lease-duration": 15,
        "renew-period": 5,
    },
    "health": {
        # The liveness probe fails when an object changed in the API this long ago and the
        # operator's watch still has not delivered the change. 0 turns the check off.
        "watch-stall-seconds": 180,
        # Seconds a DaskWorkerGroup or DaskAutoscaler waits for its missing DaskCluster (or
        # worker group) before it reports Stalled=True (kstatus: Failed); Reconciling until then.
        "missing-cluster-seconds": 60,
    },
}

DEFAULT_BATCH_SIZE = 20

dask.config.update_defaults({"kubernetes": {"controller": copy.deepcopy(DEFAULTS)}})


def get(key: str, default: Any = None) -> Any:
    """Read ``kubernetes.controller.<key>`` (dashes and underscores are interchangeable)."""
    return dask.config.get(f"{NAMESPACE}.{key}", default=default)


def snapshot() -> dict[str, Any]:
    """The whole operator configuration as a nested dict (a copy)."""
    return copy.deepcopy(dask.config.get(NAMESPACE))


def worker_batch_size() -> int:
    size = get("worker-allocation.batch-size")
    return DEFAULT_BATCH_SIZE if size in (None, "", 0) else max(1, int(size))


def worker_batch_delay() -> float:
    delay = get("worker-allocation.delay")
    return 0.0 if delay in (None, "") else max(0.0, float(delay))


def kube_api_limits() -> tuple[float, int]:
    """(qps, burst) of the operator's API client; qps <= 0 means unlimited."""
    qps = get("kube-api.qps")
    burst = get("kube-api.burst")
    qps_value = 0.0 if qps in (None, "") else float(qps)
    burst_value = max(1, int(burst)) if burst not in (None, "") else max(1, int(2 * qps_value))
    return qps_value, burst_value


def pass_concurrency() -> int:
    """Reconcile passes allowed to run at once (at least 1)."""
    value = get("passes.concurrency")
    return 50 if value in (None, "", 0) else max(1, int(value))


def as_bool(value: Any) -> bool:
    """Config values from the environment may be strings."""
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)
