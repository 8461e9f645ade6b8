"""What is left of the classic (pre-operator) API: ``make_pod_spec`` for migrating pod specs.

The classic ``KubeCluster`` is gone; "Migrating from classic" in the user docs shows how a
classic worker pod spec becomes the worker spec of a DaskCluster::

    pod_spec = make_pod_spec(image="ghcr.io/dask/dask:latest", memory_limit="4G")
    cluster_spec = make_cluster_spec(name="merge-example")
    cluster_spec["spec"]["worker"]["spec"] = pod_spec["spec"]

so the result is a plain Pod manifest (a dict) whose ``spec`` is a valid worker PodSpec.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from dask_kubernetes.operator.spec import DEFAULT_WORKER_COMMAND, WORKER_ARGS


def make_pod_spec(
    image: str,
    labels: Mapping[str, str] | None = None,
    threads_per_worker: int = 1,
    env: Mapping[str, str] | None = None,
    extra_container_config: Mapping[str, Any] | None = None,
    extra_pod_config: Mapping[str, Any] | None = None,
    resources: str | None = None,
    memory_limit: str | int | None = None,
    memory_request: str | int | None = None,
    cpu_limit: str | int | float | None = None,
    cpu_request: str | int | float | None = None,
    gpu_limit: int | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Create a worker Pod manifest from the classic keyword arguments.

    The worker runs ``dask worker`` (distributed no longer ships ``dask-worker``) with the
    operator's worker arguments, ``--nthreads`` and, given ``memory_limit``, ``--memory-limit``.
    ``resources`` is the classic ``--resources`` string (e.g. ``"GPU=1"``). The extra configs are
    merged into the container and the pod spec last, so they can override anything.
    """
    args = [
        *shlex.split(DEFAULT_WORKER_COMMAND),
        *WORKER_ARGS,
        "--nthreads",
        str(threads_per_worker),
        "--death-timeout",
        "60",
    ]
    if memory_limit:
        args += ["--memory-limit", str(memory_limit)]
    if resources:
        args += ["--resources", resources]

    limits: dict[str, Any] = {}
    requests: dict[str, Any] = {}
    if memory_limit:
        limits["memory"] = memory_limit
    if memory_request:
        requests["memory"] = memory_request
    if cpu_limit:
        limits["cpu"] = cpu_limit
    if cpu_request:
        requests["cpu"] = cpu_request
    if gpu_limit:
        limits["nvidia.com/gpu"] = gpu_limit

    container: dict[str, Any] = {
        "name": "worker",
        "image": image,
        "args": args,
        "env": [{"name": str(k), "value": str(v)} for k, v in (env or {}).items()],
        "resources": {
            key: value for key, value in (("limits", limits), ("requests", requests)) if value
        },
    }
    container.update(extra_container_config or {})
    pod_spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    if gpu_limit:
        pod_spec["tolerations"] = [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
    pod_spec.update(extra_pod_config or {})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"labels": dict(labels or {}), "annotations": dict(annotations or {})},
        "spec": pod_spec,
    }
