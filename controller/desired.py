"""What a DaskCluster should consist of, computed through the hooks: pure, no Kubernetes.

The operator's passes, the plugin testing kit (``testing.render_cluster``) and
``benchmarks/render.py`` all build children here, so what a test renders is what the operator
applies.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import children, labels, names
from .errors import BuildError
from .pluginmanager import PluginManager

Manifest = dict[str, Any]


def core_validate_cluster(cluster: Manifest) -> list[str]:
    """Checks the core needs whatever the plugins say (names must fit Kubernetes limits)."""
    name = cluster["metadata"]["name"]
    errors = []
    if len(name) > names.MAX_CLUSTER_NAME:
        errors.append(
            f"cluster name {name!r} is {len(name)} characters; at most {names.MAX_CLUSTER_NAME} "
            f"fit, because the Service {names.scheduler_name(name)!r} must be a DNS label of at most "
            f"{names.MAX_LABEL_VALUE} characters"
        )
    replicas = (cluster.get("spec", {}).get("worker") or {}).get("replicas", 1)
    if not isinstance(replicas, int) or replicas < 0:
        errors.append(f"spec.worker.replicas must be a non-negative integer, not {replicas!r}")
    return errors


def build(pm: PluginManager, hook: str, **kwargs: Any) -> Manifest:
    """Call a firstresult builder hook; BuildError if no plugin answered with a manifest."""
    manifest = getattr(pm.hook, hook)(**kwargs)
    if not isinstance(manifest, dict) or not manifest.get("metadata", {}).get("name"):
        raise BuildError(f"no plugin answered {hook} with a manifest (got {type(manifest).__name__})")
    return manifest


def defaulted_cluster(pm: PluginManager, body: Manifest) -> tuple[Manifest, list[str]]:
    """The cluster after ``dask_cluster_defaults``, and what makes it invalid (empty if valid)."""
    cluster = copy.deepcopy(body)
    pm.hook.dask_cluster_defaults(cluster=cluster)
    return cluster, core_validate_cluster(cluster) + children.flatten(pm.hook.dask_cluster_validate(cluster=cluster))


@dataclass
class DesiredCluster:
    """The children one DaskCluster pass wants (worker pods are the worker groups' business)."""

    cluster: Manifest  # after dask_cluster_defaults
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    scheduler_address: str | None = None
    deployment: Manifest | None = None
    service: Manifest | None = None
    default_group: Manifest | None = None
    resources: list[Manifest] = field(default_factory=list)  # from dask_cluster_resources
    prerequisites: list[dict[str, Any]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors

    def resource_refs(self) -> list[dict[str, Any]]:
        return [{"apiVersion": e["apiVersion"], "kind": e["kind"], "name": e["metadata"]["name"]} for e in self.resources]


def desired_cluster(pm: PluginManager, body: Manifest) -> DesiredCluster:
    """The scheduler, the default worker group and the prerequisites of the DaskCluster
    ``body``, through the hooks. Plugin resources depend on the live worker pods: they come
    from :func:`desired_resources`."""
    cluster, errors = defaulted_cluster(pm, body)
    desired = DesiredCluster(cluster=cluster, errors=errors)
    if errors:
        return desired
    desired.warnings = children.flatten(pm.hook.dask_cluster_warnings(cluster=cluster))
    desired.scheduler_address = pm.hook.dask_scheduler_address(cluster=cluster)
    group_name = names.default_worker_group_name(body["metadata"]["name"])
    desired.deployment = _finish(pm, desired, body, build(pm, "dask_scheduler_build_deployment", cluster=cluster), names.COMPONENT_SCHEDULER)
    desired.service = _finish(pm, desired, body, build(pm, "dask_scheduler_build_service", cluster=cluster), names.COMPONENT_SCHEDULER)
    desired.default_group = _finish(
        pm, desired, body, build(pm, "dask_worker_group_build", cluster=cluster), names.COMPONENT_WORKER_GROUP, group_name
    )
    desired.prerequisites = children.flatten(pm.hook.dask_cluster_prerequisites(cluster=cluster))
    return desired


def desired_resources(pm: PluginManager, desired: DesiredCluster, body: Manifest, worker_pods: Iterable[Manifest]) -> list[Manifest]:
    """The plugin resources (``dask_cluster_resources``) of a valid cluster, given its live, not
    terminating worker pods."""
    return [
        _finish(pm, desired, body, m, (m.get("metadata", {}).get("labels") or {}).get(names.LABEL_COMPONENT, names.COMPONENT_EXTRA))
        for m in children.flatten(pm.hook.dask_cluster_resources(cluster=desired.cluster, worker_pods=list(worker_pods)))
    ]


def _finish(pm: PluginManager, desired: DesiredCluster, body: Manifest, manifest: Manifest, component: str, group: str | None = None) -> Manifest:
    return children.finalize(
        manifest, pm=pm, cluster=desired.cluster, component=component, inherited=labels.merge_metadata(body["metadata"]),
        owner=body, worker_group=group,
    )


def desired_worker_pod(pm: PluginManager, cluster: Manifest, group: Manifest, name: str, scheduler_address: str | None) -> Manifest:
    """One worker pod of ``group`` named ``name``; ``cluster`` is the defaulted cluster."""
    pod = build(pm, "dask_worker_build_pod", cluster=cluster, worker_group=group, name=name, scheduler_address=scheduler_address)
    group_name = group["metadata"]["name"]
    return children.finalize(
        pod,
        pm=pm,
        cluster=cluster,
        component=names.COMPONENT_WORKER,
        inherited=labels.merge_metadata(group["metadata"]),
        owner=group,
        worker_group=group_name,
        hash_name=name,
    )
