"""Names of Kubernetes objects, labels and the Dask custom resources (ARCHITECTURE §2)."""

from __future__ import annotations

import secrets

GROUP = "kubernetes.dask.org"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"

CLUSTER_KIND = "DaskCluster"
WORKER_GROUP_KIND = "DaskWorkerGroup"
CLUSTER_PLURAL = "daskclusters"
WORKER_GROUP_PLURAL = "daskworkergroups"
JOB_KIND = "DaskJob"
JOB_PLURAL = "daskjobs"
AUTOSCALER_KIND = "DaskAutoscaler"
AUTOSCALER_PLURAL = "daskautoscalers"

# Labels (reserved: the controller always sets them; users and plugins cannot override them).
LABEL_CLUSTER = "dask.org/cluster-name"
LABEL_COMPONENT = "dask.org/component"
LABEL_WORKER_GROUP = "dask.org/workergroup-name"
LABEL_APP_NAME = "app.kubernetes.io/name"
LABEL_APP_INSTANCE = "app.kubernetes.io/instance"
LABEL_APP_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "dask-operator"

COMPONENT_SCHEDULER = "scheduler"
COMPONENT_WORKER_GROUP = "workergroup"
COMPONENT_WORKER = "worker"
COMPONENT_EXTRA = "extra"
COMPONENT_JOB_RUNNER = "job-runner"

# Annotations the operator writes on the children it owns.
ANNOTATION_SPEC_HASH = f"{GROUP}/spec-hash"
# On the default worker group: the cluster's spec.worker.replicas last copied into the group.
ANNOTATION_CLUSTER_REPLICAS = f"{GROUP}/cluster-replicas"
# On a scheduler Service: the HTTP prefix of the scheduler's dashboard and API (dashboard plugin).
ANNOTATION_DASHBOARD_PREFIX = f"{GROUP}/dashboard-prefix"
# The label and annotation keys the operator set on a child (JSON), so that a key dropped from
# the parent (or by a plugin) is removed from the child, while keys others added are left alone.
ANNOTATION_MANAGED_METADATA = f"{GROUP}/managed-metadata"

FIELD_MANAGER = "dask-operator"

SCHEDULER_PORT = 8786
DASHBOARD_PORT = 8787
WORKER_DASHBOARD_PORT = 8788
SCHEDULER_PORT_NAME = "tcp-comm"
DASHBOARD_PORT_NAME = "http-dashboard"

# Kubernetes object names (DNS-1123 subdomain) are at most 253 characters, label values and
# Service names at most 63. Our longest suffixes: "-scheduler" (Service) and
# "-default-worker-" + 10 hex (worker pods, 253 limit) -> the cluster name is limited by the
# Service: 63 - len("-scheduler").
MAX_LABEL_VALUE = 63
MAX_CLUSTER_NAME = MAX_LABEL_VALUE - len("-scheduler")


def scheduler_name(cluster: str) -> str:
    """Name of the scheduler Deployment and Service."""
    return f"{cluster}-scheduler"


def default_worker_group_name(cluster: str) -> str:
    return f"{cluster}-default"


def worker_group_name(cluster: str, group: str) -> str:
    """Name of an extra worker group added by ``KubeCluster.add_worker_group(group)``."""
    return f"{cluster}-{group}"


def worker_pod_name(group: str, suffix: str | None = None) -> str:
    """``{group}-worker-{10 hex}``; the suffix is random unless given."""
    return f"{group}-worker-{suffix if suffix is not None else secrets.token_hex(5)}"


def scheduler_address(cluster: str, namespace: str, cluster_domain: str, port: int = SCHEDULER_PORT) -> str:
    return f"tcp://{scheduler_name(cluster)}.{namespace}.svc.{cluster_domain}:{port}"
