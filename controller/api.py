"""The supported API for operator plugins: ``dask_operator.api``.

A plugin -- the built-in ones included -- imports from three places only:

* ``dask_operator``: ``hookimpl``, the marker of hook implementations;
* ``dask_operator.api`` (this module): names, labels, ports, configuration and PodSpec helpers
  that plugins need to build the same objects the operator builds;
* ``dask_operator.testing``: the testing kit, in the plugin's tests.

Everything else under ``dask_operator`` is the operator's core and may change in any release.
Each name below is documented by the ``#:`` comment above it; ``ci/gen_plugin_docs.py`` turns
those comments into the API table of docs/plugins.md, and a unit test fails when a built-in or
example plugin imports anything from ``dask_operator`` beyond these three documented places.
"""

from __future__ import annotations

from typing import Final

from . import config as _config
from . import errors as _errors
from . import labels as _labels
from . import names as _names
from .hookspecs import hookimpl as _hookimpl
from .plugins import _podspec

# --- Hook implementations -------------------------------------------------------------------

#: Marks a function as a hook implementation (also importable as ``dask_operator.hookimpl``);
#: ``@hookimpl(trylast=True)`` makes a firstresult answer a fallback, as the built-ins do.
hookimpl: Final = _hookimpl

# --- Custom resources -----------------------------------------------------------------------

#: The API group of the Dask custom resources.
GROUP: Final[str] = _names.GROUP
#: The version of the Dask custom resources.
VERSION: Final[str] = _names.VERSION
#: ``apiVersion`` of the Dask custom resources (``GROUP/VERSION``).
API_VERSION: Final[str] = _names.API_VERSION
#: ``kind`` of a DaskCluster.
CLUSTER_KIND: Final[str] = _names.CLUSTER_KIND
#: ``kind`` of a DaskWorkerGroup.
WORKER_GROUP_KIND: Final[str] = _names.WORKER_GROUP_KIND
#: Resource name (plural) of DaskClusters, for RBAC rules.
CLUSTER_PLURAL: Final[str] = _names.CLUSTER_PLURAL
#: Resource name (plural) of DaskWorkerGroups, for RBAC rules.
WORKER_GROUP_PLURAL: Final[str] = _names.WORKER_GROUP_PLURAL

# --- Labels and components ------------------------------------------------------------------

#: Label on every child: the name of its DaskCluster.
LABEL_CLUSTER: Final[str] = _names.LABEL_CLUSTER
#: Label on every child: its component (the ``component`` argument of hooks).
LABEL_COMPONENT: Final[str] = _names.LABEL_COMPONENT
#: Label on worker groups and worker Pods: the name of their DaskWorkerGroup.
LABEL_WORKER_GROUP: Final[str] = _names.LABEL_WORKER_GROUP
#: Component of the scheduler Deployment and Service.
COMPONENT_SCHEDULER: Final[str] = _names.COMPONENT_SCHEDULER
#: Component of DaskWorkerGroups.
COMPONENT_WORKER_GROUP: Final[str] = _names.COMPONENT_WORKER_GROUP
#: Component of worker Pods.
COMPONENT_WORKER: Final[str] = _names.COMPONENT_WORKER
#: Component of objects from ``dask_cluster_resources`` that set no component label themselves.
COMPONENT_EXTRA: Final[str] = _names.COMPONENT_EXTRA
#: Longest label value (and Service name) Kubernetes accepts.
MAX_LABEL_VALUE: Final[int] = _names.MAX_LABEL_VALUE

#: Merges ``metadata``-like dicts (lowest precedence first) into
#: ``{"labels": ..., "annotations": ...}``, dropping keys owned by tools (kopf, kubectl, Argo CD,
#: Flux, Helm), exactly as the operator propagates a parent's metadata to its children.
merge_metadata: Final = _labels.merge_metadata

# --- Ports ----------------------------------------------------------------------------------

#: The scheduler's comm port.
SCHEDULER_PORT: Final[int] = _names.SCHEDULER_PORT
#: The scheduler's dashboard (HTTP) port.
DASHBOARD_PORT: Final[int] = _names.DASHBOARD_PORT
#: The workers' dashboard (HTTP) port.
WORKER_DASHBOARD_PORT: Final[int] = _names.WORKER_DASHBOARD_PORT
#: Name of the comm port in the scheduler Service.
SCHEDULER_PORT_NAME: Final[str] = _names.SCHEDULER_PORT_NAME
#: Name of the dashboard port in the scheduler Service.
DASHBOARD_PORT_NAME: Final[str] = _names.DASHBOARD_PORT_NAME

# --- Object names ---------------------------------------------------------------------------

#: Name of a cluster's scheduler Deployment and Service: ``{cluster}-scheduler``.
scheduler_name: Final = _names.scheduler_name
#: Name of a cluster's default worker group: ``{cluster}-default``.
default_worker_group_name: Final = _names.default_worker_group_name
#: Name of a worker group added by ``KubeCluster.add_worker_group(group)``: ``{cluster}-{group}``.
worker_group_name: Final = _names.worker_group_name
#: Name of a worker Pod, ``{group}-worker-{suffix}``; without a suffix it draws 10 random hex
#: digits, so hooks (which must be deterministic) pass one, as the Istio example does.
worker_pod_name: Final = _names.worker_pod_name
#: The built-in scheduler address, ``tcp://{cluster}-scheduler.{namespace}.svc.{cluster_domain}:{port}``.
scheduler_address: Final = _names.scheduler_address

# --- Configuration --------------------------------------------------------------------------

#: The operator setting ``kubernetes.controller.<key>``
#: (dotted, e.g. ``"cluster-domain"`` or ``"istio.gateway"``), from dask config files or
#: ``DASK_KUBERNETES__CONTROLLER__*`` environment variables.
get_config: Final = _config.get
#: A setting as a boolean (values from the environment are strings, so
#: ``"false"`` must not count as true).
as_bool: Final = _config.as_bool

# --- PodSpecs -------------------------------------------------------------------------------

#: The PodSpec's ``containers`` list (empty when there is none).
containers: Final = _podspec.containers
#: Appends the ``env`` entries whose names the container does not
#: set yet; the user's values win and keep their order (how ``DASK_SCHEDULER_ADDRESS`` is set).
inject_env: Final = _podspec.inject_env
#: Whether any container of the PodSpec sets the variable ``name``.
has_env: Final = _podspec.has_env

# --- Errors ---------------------------------------------------------------------------------

#: Raised when a pass could not finish and runs again after ``delay``
#: seconds; ``dask_reconcile_context`` managers see it as the pass's exception (not a failure).
RetryLater = _errors.RetryLater

__all__ = [
    "API_VERSION",
    "CLUSTER_KIND",
    "CLUSTER_PLURAL",
    "COMPONENT_EXTRA",
    "COMPONENT_SCHEDULER",
    "COMPONENT_WORKER",
    "COMPONENT_WORKER_GROUP",
    "DASHBOARD_PORT",
    "DASHBOARD_PORT_NAME",
    "GROUP",
    "LABEL_CLUSTER",
    "LABEL_COMPONENT",
    "LABEL_WORKER_GROUP",
    "MAX_LABEL_VALUE",
    "RetryLater",
    "SCHEDULER_PORT",
    "SCHEDULER_PORT_NAME",
    "VERSION",
    "WORKER_DASHBOARD_PORT",
    "WORKER_GROUP_KIND",
    "WORKER_GROUP_PLURAL",
    "as_bool",
    "containers",
    "default_worker_group_name",
    "get_config",
    "has_env",
    "hookimpl",
    "inject_env",
    "merge_metadata",
    "scheduler_address",
    "scheduler_name",
    "worker_group_name",
    "worker_pod_name",
]
