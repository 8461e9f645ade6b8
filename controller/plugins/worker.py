"""Built-in plugin: the default DaskWorkerGroup of a DaskCluster and the worker Pods of a group."""

from __future__ import annotations

import copy
from typing import Any

from dask_operator import api, hookimpl


def _worker_metadata(worker: dict[str, Any]) -> dict[str, dict[str, str]]:
    meta = worker.get("metadata") or {}
    return {"labels": dict(meta.get("labels") or {}), "annotations": dict(meta.get("annotations") or {})}


@hookimpl(trylast=True)
def dask_worker_group_build(cluster: dict[str, Any]) -> dict[str, Any]:
    meta = cluster["metadata"]
    worker = cluster.get("spec", {}).get("worker") or {}
    return {
        "apiVersion": api.API_VERSION,
        "kind": api.WORKER_GROUP_KIND,
        "metadata": {
            "name": api.default_worker_group_name(meta["name"]),
            "namespace": meta["namespace"],
            # spec.worker.metadata is merged over the cluster's own metadata (user docs).
            **_worker_metadata(worker),
        },
        "spec": {
            "cluster": meta["name"],
            "worker": {
                "replicas": int(worker.get("replicas", 1)),
                "spec": copy.deepcopy(worker.get("spec") or {}),
            },
        },
    }


@hookimpl(trylast=True)
def dask_worker_build_pod(
    cluster: dict[str, Any], worker_group: dict[str, Any], name: str, scheduler_address: str
) -> dict[str, Any]:
    worker = worker_group.get("spec", {}).get("worker") or {}
    pod_spec = copy.deepcopy(worker.get("spec") or {})
    for container in api.containers(pod_spec):
        api.inject_env(
            container,
            [
                {"name": "DASK_WORKER_NAME", "value": name},
                {"name": "DASK_SCHEDULER_ADDRESS", "value": scheduler_address},
            ],
        )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": worker_group["metadata"]["namespace"],
            **_worker_metadata(worker),
        },
        "spec": pod_spec,
    }


@hookimpl(trylast=True)
def dask_workers_to_retire(
    cluster: dict[str, Any], worker_group: dict[str, Any], candidates: list[dict[str, Any]], n: int
) -> list[str]:
    """Workers that hold the least: not connected first, then outdated, then the newest."""
    newest_first = sorted(candidates, key=lambda c: str(c.get("created") or ""), reverse=True)
    ranked = sorted(  # stable: ties stay newest first
        newest_first,
        key=lambda c: (
            bool(c.get("connected")),
            not c.get("outdated"),
            (c.get("metrics") or {}).get("managed_bytes", 0),
        ),
    )
    return [c["name"] for c in ranked[:n]]


@hookimpl
def dask_rbac_rules() -> list[dict[str, Any]]:
    return [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch", "create", "patch", "delete"]},
        {"apiGroups": [api.GROUP], "resources": [api.WORKER_GROUP_PLURAL], "verbs": ["list", "watch", "create", "patch", "delete"]},
    ]
