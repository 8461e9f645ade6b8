"""Create and drive Dask clusters run by the Dask Kubernetes operator.

``KubeCluster`` is imported lazily so that ``import dask_kubernetes.operator`` stays light and
never pulls in kopf or a Kubernetes client until a cluster object is wanted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dask_kubernetes.operator.spec import make_cluster_spec, make_worker_spec

if TYPE_CHECKING:
    from dask_kubernetes.operator.kubecluster import CreateMode, KubeCluster

__all__ = ["CreateMode", "KubeCluster", "make_cluster_spec", "make_worker_spec"]


def __getattr__(name: str) -> Any:
    if name in ("KubeCluster", "CreateMode"):
        from dask_kubernetes.operator import kubecluster

        return getattr(kubecluster, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
