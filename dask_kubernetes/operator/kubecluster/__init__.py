"""KubeCluster, the Python client of the Dask Operator (no kopf here: it is the operator's)."""

from dask_kubernetes.operator.kubecluster.config import register_defaults

register_defaults()

from dask_kubernetes.operator.kubecluster.errors import (  # noqa: E402
    ClusterExistsError,
    ClusterNotFoundError,
    ClusterSpecError,
    CRDsNotInstalledError,
    InvalidNameError,
    KubeClusterError,
    KubernetesConfigError,
    KubernetesCredentialsError,
    KubernetesUnreachableError,
    OperatorTimeoutError,
    SchedulerStartupError,
    SchedulerUnreachableError,
)
from dask_kubernetes.operator.kubecluster.kubecluster import CreateMode, KubeCluster  # noqa: E402

__all__ = [
    "ClusterExistsError",
    "ClusterNotFoundError",
    "ClusterSpecError",
    "CRDsNotInstalledError",
    "CreateMode",
    "InvalidNameError",
    "KubeCluster",
    "KubeClusterError",
    "KubernetesConfigError",
    "KubernetesCredentialsError",
    "KubernetesUnreachableError",
    "OperatorTimeoutError",
    "SchedulerStartupError",
    "SchedulerUnreachableError",
]
