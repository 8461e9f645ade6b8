"""Built-in plugin: the scheduler Deployment and Service of a DaskCluster, and its address."""

from __future__ import annotations

import copy
from typing import Any

from dask_operator import api, hookimpl

from dask_kubernetes.operator.spec import SCHEDULER_HTTP_ROUTES, SCHEDULER_HTTP_ROUTES_ENV

# distributed's scheduler serves /api/v1/* (retire_workers, get_workers, adaptive_target,
# check_idle) only when its API module is in the HTTP routes: one list, shared with make_cluster_spec.
HTTP_ROUTES_ENV = SCHEDULER_HTTP_ROUTES_ENV
HTTP_ROUTES = SCHEDULER_HTTP_ROUTES


def _scheduler(cluster: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = cluster.get("spec", {}).get("scheduler") or {}
    return result


def _sub_metadata(cluster: dict[str, Any]) -> dict[str, Any]:
    meta = _scheduler(cluster).get("metadata") or {}
    return {
        "labels": dict(meta.get("labels") or {}),
        "annotations": dict(meta.get("annotations") or {}),
    }


def selector_labels(cluster_name: str) -> dict[str, str]:
    return {api.LABEL_CLUSTER: cluster_name, api.LABEL_COMPONENT: api.COMPONENT_SCHEDULER}


@hookimpl(trylast=True)
def dask_scheduler_address(cluster: dict[str, Any]) -> str:
    meta = cluster["metadata"]
    port = api.SCHEDULER_PORT
    for svc_port in (_scheduler(cluster).get("service") or {}).get("ports") or []:
        if svc_port.get("name") == api.SCHEDULER_PORT_NAME:
            port = int(svc_port.get("port", port))
    return api.scheduler_address(meta["name"], meta["namespace"], str(api.get_config("cluster-domain")), port)


@hookimpl(trylast=True)
def dask_scheduler_build_deployment(cluster: dict[str, Any]) -> dict[str, Any]:
    meta = cluster["metadata"]
    pod_spec = copy.deepcopy(_scheduler(cluster).get("spec") or {})
    for container in api.containers(pod_spec):
        api.inject_env(container, [{"name": HTTP_ROUTES_ENV, "value": repr(HTTP_ROUTES)}])
    sub = _sub_metadata(cluster)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": api.scheduler_name(meta["name"]),
            "namespace": meta["namespace"],
            **sub,
        },
        "spec": {
            "replicas": 1,
            # Never two schedulers at once: workers and clients would split between them.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector_labels(meta["name"])},
            "template": {"metadata": copy.deepcopy(sub), "spec": pod_spec},
        },
    }


@hookimpl(trylast=True)
def dask_scheduler_build_service(cluster: dict[str, Any]) -> dict[str, Any]:
    meta = cluster["metadata"]
    spec = copy.deepcopy(_scheduler(cluster).get("service") or {})
    spec.setdefault("selector", selector_labels(meta["name"]))
    if not spec.get("ports"):
        spec["ports"] = [
            {"name": api.SCHEDULER_PORT_NAME, "protocol": "TCP", "port": api.SCHEDULER_PORT, "targetPort": api.SCHEDULER_PORT},
            {"name": api.DASHBOARD_PORT_NAME, "protocol": "TCP", "port": api.DASHBOARD_PORT, "targetPort": api.DASHBOARD_PORT},
        ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": api.scheduler_name(meta["name"]), "namespace": meta["namespace"], **_sub_metadata(cluster)},
        "spec": spec,
    }


@hookimpl
def dask_rbac_rules() -> list[dict[str, Any]]:
    return [
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list", "watch", "create", "patch"]},
        {"apiGroups": [""], "resources": ["services"], "verbs": ["list", "watch", "create", "patch"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch", "patch"]},
    ]
