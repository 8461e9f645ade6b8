"""Built-in plugin: a DaskCluster's idle timeout is its ``spec.idleTimeout`` (seconds; 0 = never)."""

from __future__ import annotations

from typing import Any

from dask_operator import hookimpl


@hookimpl(trylast=True)
def dask_cluster_idle_timeout(cluster: dict[str, Any]) -> float:
    value = cluster.get("spec", {}).get("idleTimeout") or 0
    return max(0.0, float(value))


@hookimpl
def dask_rbac_rules() -> list[dict[str, Any]]:
    return [{"apiGroups": ["kubernetes.dask.org"], "resources": ["daskclusters"], "verbs": ["delete"]}]
