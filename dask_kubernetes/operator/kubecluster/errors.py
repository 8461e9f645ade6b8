"""Exceptions raised by KubeCluster; each message says what went wrong and what to do."""

from __future__ import annotations


class KubeClusterError(Exception):
    """Base class of every KubeCluster error."""


class InvalidNameError(KubeClusterError, ValueError):
    """A cluster or worker-group name Kubernetes would reject (raised before any API call)."""


class CRDsNotInstalledError(KubeClusterError, RuntimeError):
    """The ``kubernetes.dask.org`` custom resource definitions are not installed."""


class OperatorTimeoutError(KubeClusterError, TimeoutError):
    """Nothing acted on a resource within ``resource_timeout``: the operator is probably absent."""


class SchedulerStartupError(KubeClusterError, RuntimeError):
    """The scheduler pod crash-loops or failed; ``logs`` holds its output."""

    def __init__(self, message: str, logs: str = "") -> None:
        super().__init__(message)
        self.logs = logs


class ClusterSpecError(KubeClusterError, ValueError):
    """The operator rejected the DaskCluster spec (phase ``Error``)."""


class ClusterExistsError(KubeClusterError, ValueError):
    """``CreateMode.CREATE_ONLY`` and a DaskCluster with that name already exists."""


class ClusterNotFoundError(KubeClusterError, ValueError):
    """``CreateMode.CONNECT_ONLY`` (or ``from_name``) and no DaskCluster has that name."""


class SchedulerUnreachableError(KubeClusterError, ConnectionError):
    """No address of the scheduler Service answers and port-forwarding is disabled."""


class KubernetesConfigError(KubeClusterError, ValueError):
    """No usable kubeconfig: missing, unreadable, or its current context names nothing."""


class KubernetesUnreachableError(KubeClusterError, ConnectionError):
    """The Kubernetes API server does not answer (the message names the server tried)."""


class KubernetesCredentialsError(KubeClusterError, PermissionError):
    """The Kubernetes API server rejects the credentials (401): an expired or invalid token."""
