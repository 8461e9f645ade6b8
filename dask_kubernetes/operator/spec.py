"""Build DaskCluster specs and worker specs as plain dictionaries.

``make_cluster_spec`` returns a whole DaskCluster resource that ``KubeCluster(custom_cluster_spec=...)``
or ``kubectl apply`` accepts; ``make_worker_spec`` returns the ``worker`` section of a
DaskWorkerGroup (``{"replicas": n, "spec": <PodSpec>}``). Both are pure functions: callers are
expected to tweak the result (``spec["spec"]["worker"]["spec"]["nodeSelector"] = ...``) before
creating anything.
"""

from __future__ import annotations

import copy
import json
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

# --- defaults: the one place that says what a generated cluster looks like ---------------------

API_VERSION = "kubernetes.dask.org/v1"
DEFAULT_IMAGE = "ghcr.io/dask/dask:latest"

SCHEDULER_COMM_PORT_NAME = "tcp-comm"
SCHEDULER_COMM_PORT = 8786
SCHEDULER_DASHBOARD_PORT_NAME = "http-dashboard"
SCHEDULER_DASHBOARD_PORT = 8787
WORKER_DASHBOARD_PORT_NAME = "http-dashboard"
WORKER_DASHBOARD_PORT = 8788

# distributed >= 2026.6 ships only the `dask` CLI (dask/distributed#9335).
SCHEDULER_COMMAND = ["dask", "scheduler"]
DEFAULT_WORKER_COMMAND = "dask worker"
WORKER_ARGS = [
    "--name",
    "$(DASK_WORKER_NAME)",  # the operator sets DASK_WORKER_NAME to the pod name
    "--dashboard",
    "--dashboard-address",
    str(WORKER_DASHBOARD_PORT),
]

# The operator retires workers and reads adaptive targets and idleness through the scheduler's
# HTTP API, which distributed only serves when its route module is listed. The variable replaces
# distributed's default route list, so the defaults are repeated before the API module.
SCHEDULER_HTTP_ROUTES = [
    "distributed.http.scheduler.prometheus",
    "distributed.http.scheduler.info",
    "distributed.http.scheduler.json",
    "distributed.http.health",
    "distributed.http.proxy",
    "distributed.http.statics",
    "distributed.http.scheduler.api",
]
SCHEDULER_HTTP_ROUTES_ENV = "DASK_DISTRIBUTED__SCHEDULER__HTTP__ROUTES"

HEALTH_PATH = "/health"
# Readiness is checked often: the cluster is "Running" (and KubeCluster returns) only once the
# scheduler is ready. Liveness is lenient so a busy scheduler is not killed.
SCHEDULER_READINESS = {"initialDelaySeconds": 0, "periodSeconds": 2, "timeoutSeconds": 5}
SCHEDULER_LIVENESS = {"initialDelaySeconds": 15, "periodSeconds": 20, "timeoutSeconds": 5}

SCHEDULER_SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
RESOURCE_KEYS = ("requests", "limits")

# ------------------------------------------------------------------------------------------------

Env = Mapping[str, Any] | Sequence[Mapping[str, Any]]
Resources = Mapping[str, Mapping[str, Any]]
Command = str | Sequence[str]


def make_cluster_spec(
    name: str,
    image: str = DEFAULT_IMAGE,
    n_workers: int | None = None,
    resources: Resources | None = None,
    env: Env | None = None,
    worker_command: Command = DEFAULT_WORKER_COMMAND,
    scheduler_service_type: str = "ClusterIP",
    idle_timeout: int = 0,
    jupyter: bool = False,
) -> dict[str, Any]:
    """Generate a DaskCluster resource.

    Args:
        name: Name of the cluster (``metadata.name``); at most 53 characters.
        image: Container image of the scheduler and the workers.
        n_workers: Workers in the default worker group; ``None`` leaves ``replicas`` out so the
            CRD's default (1) applies.
        resources: Container resources of the scheduler and the workers, with the keys
            ``requests`` and/or ``limits`` only.
        env: Environment of the scheduler and worker containers: a ``{name: value}`` mapping or
            a list of Kubernetes env entries (``{"name": ..., "value"/"valueFrom": ...}``).
        worker_command: Command that starts a worker, as a string (split like a shell would)
            or a list of words; the worker arguments (name, dashboard) are appended.
        scheduler_service_type: Type of the scheduler Service (ClusterIP, NodePort or
            LoadBalancer).
        idle_timeout: Seconds of scheduler idleness after which the operator deletes the
            cluster; 0 never deletes it.
        jupyter: Also start a Jupyter server in the scheduler (``--jupyter``).

    Returns:
        The DaskCluster as a dictionary, ready to be modified and applied.

    Raises:
        ValueError: for a resources key other than ``requests``/``limits``, a malformed env
            entry, an empty worker command, an unknown service type or a negative count.
    """
    _check_non_negative("idle_timeout", idle_timeout)
    if scheduler_service_type not in SCHEDULER_SERVICE_TYPES:
        raise ValueError(
            f"scheduler_service_type {scheduler_service_type!r} is not one of "
            f"{', '.join(SCHEDULER_SERVICE_TYPES)}"
        )
    worker = make_worker_spec(
        image=image,
        n_workers=n_workers,
        resources=resources,
        env=env,
        worker_command=worker_command,
    )
    return {
        "apiVersion": API_VERSION,
        "kind": "DaskCluster",
        "metadata": {"name": name},
        "spec": {
            "idleTimeout": idle_timeout,
            "worker": worker,
            "scheduler": _scheduler_spec(
                name, image, resources, env, scheduler_service_type, jupyter
            ),
        },
    }


def make_worker_spec(
    image: str = DEFAULT_IMAGE,
    n_workers: int | None = 3,
    resources: Resources | None = None,
    env: Env | None = None,
    worker_command: Command = DEFAULT_WORKER_COMMAND,
    cluster_name: str | None = None,
) -> dict[str, Any]:
    """Generate the ``worker`` section of a DaskWorkerGroup: ``{"replicas": n, "spec": PodSpec}``.

    Args:
        image: Container image of the workers.
        n_workers: Number of workers; ``None`` leaves ``replicas`` out (the CRD default is 1).
        resources: Container resources, with the keys ``requests`` and/or ``limits`` only.
        env: Worker environment, a ``{name: value}`` mapping or a list of Kubernetes env entries.
        worker_command: Command that starts a worker, a string or a list of words.
        cluster_name: Accepted for the documented call
            ``make_worker_spec(cluster_name=cluster.name, ...)``; the cluster a worker group
            joins is its ``spec.cluster``, which ``KubeCluster.add_worker_group`` sets.

    Returns:
        The worker section; its ``"spec"`` is the worker PodSpec, free to be modified.

    Raises:
        ValueError: as for :func:`make_cluster_spec`.
    """
    del cluster_name  # see the docstring: the group, not the pod spec, names the cluster
    container: dict[str, Any] = {
        "name": "worker",
        "image": image,
        "args": [*_command_words(worker_command), *WORKER_ARGS],
        "ports": [
            {
                "name": WORKER_DASHBOARD_PORT_NAME,
                "containerPort": WORKER_DASHBOARD_PORT,
                "protocol": "TCP",
            }
        ],
    }
    _add_env_and_resources(container, env, resources)
    worker: dict[str, Any] = {}
    if n_workers is not None:
        _check_non_negative("n_workers", n_workers)
        worker["replicas"] = n_workers
    worker["spec"] = {"containers": [container]}
    return worker


def _scheduler_spec(
    cluster_name: str,
    image: str,
    resources: Resources | None,
    env: Env | None,
    service_type: str,
    jupyter: bool,
) -> dict[str, Any]:
    args = [*SCHEDULER_COMMAND]
    if jupyter:
        args.append("--jupyter")
    container: dict[str, Any] = {
        "name": "scheduler",
        "image": image,
        "args": args,
        "ports": [
            {
                "name": SCHEDULER_COMM_PORT_NAME,
                "containerPort": SCHEDULER_COMM_PORT,
                "protocol": "TCP",
            },
            {
                "name": SCHEDULER_DASHBOARD_PORT_NAME,
                "containerPort": SCHEDULER_DASHBOARD_PORT,
                "protocol": "TCP",
            },
        ],
        "readinessProbe": _health_probe(SCHEDULER_READINESS),
        "livenessProbe": _health_probe(SCHEDULER_LIVENESS),
    }
    _add_env_and_resources(container, env, resources)
    container_env = container.setdefault("env", [])
    if not any(entry["name"] == SCHEDULER_HTTP_ROUTES_ENV for entry in container_env):
        container_env.append(
            {"name": SCHEDULER_HTTP_ROUTES_ENV, "value": json.dumps(SCHEDULER_HTTP_ROUTES)}
        )
    return {
        "spec": {"containers": [container]},
        "service": {
            "type": service_type,
            "selector": {
                "dask.org/cluster-name": cluster_name,
                "dask.org/component": "scheduler",
            },
            "ports": [
                {
                    "name": SCHEDULER_COMM_PORT_NAME,
                    "protocol": "TCP",
                    "port": SCHEDULER_COMM_PORT,
                    "targetPort": SCHEDULER_COMM_PORT_NAME,
                },
                {
                    "name": SCHEDULER_DASHBOARD_PORT_NAME,
                    "protocol": "TCP",
                    "port": SCHEDULER_DASHBOARD_PORT,
                    "targetPort": SCHEDULER_DASHBOARD_PORT_NAME,
                },
            ],
        },
    }


def _health_probe(timing: Mapping[str, int]) -> dict[str, Any]:
    return {"httpGet": {"port": SCHEDULER_DASHBOARD_PORT_NAME, "path": HEALTH_PATH}, **timing}


def _add_env_and_resources(
    container: dict[str, Any], env: Env | None, resources: Resources | None
) -> None:
    entries = env_entries(env)
    if entries:
        container["env"] = entries
    checked = check_resources(resources)
    if checked:
        container["resources"] = checked


def env_entries(env: Env | None) -> list[dict[str, Any]]:
    """Kubernetes env entries from a ``{name: value}`` mapping or a list of entries (copied)."""
    if env is None:
        return []
    if isinstance(env, Mapping):
        entries = []
        for name, value in env.items():
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise ValueError(
                    f"env[{name!r}] must be a string (or a number), not {type(value).__name__}"
                )
            entries.append({"name": str(name), "value": str(value)})
        return entries
    if isinstance(env, (str, bytes)) or not isinstance(env, Sequence):
        raise ValueError(
            f"env must be a mapping of names to values or a list of Kubernetes env entries, "
            f"not {type(env).__name__}"
        )
    entries = []
    for index, entry in enumerate(env):
        if not isinstance(entry, Mapping) or not entry.get("name"):
            raise ValueError(
                f"env[{index}] must be a Kubernetes env entry with a name, got {entry!r}"
            )
        entries.append(copy.deepcopy(dict(entry)))
    return entries


def check_resources(resources: Resources | None) -> dict[str, Any]:
    """Return a copy of container ``resources`` after checking its keys are requests/limits."""
    if resources is None:
        return {}
    if not isinstance(resources, Mapping):
        raise ValueError(
            f"resources must be a mapping with the keys {' and/or '.join(RESOURCE_KEYS)}, "
            f"not {type(resources).__name__}"
        )
    for key in resources:
        if key not in RESOURCE_KEYS:
            raise ValueError(
                f"resources has an unknown key {key!r}: only {' and '.join(map(repr, RESOURCE_KEYS))}"
                " are allowed, e.g. {'requests': {'memory': '2Gi'}, 'limits': {'memory': '4Gi'}}"
            )
    return copy.deepcopy(dict(resources))


def _command_words(command: Command) -> list[str]:
    words = shlex.split(command) if isinstance(command, str) else [str(word) for word in command]
    if not words:
        raise ValueError("worker_command must not be empty, e.g. 'dask worker'")
    return words


def _check_non_negative(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number, 0 or more; got {value!r}")
