"""Built-in plugin: a PodDisruptionBudget that keeps node drains from evicting a scheduler.

Every DaskCluster gets a PodDisruptionBudget ``{cluster}-scheduler`` with ``maxUnavailable: 0``
selecting its scheduler pod, so ``kubectl drain`` (and any other eviction) waits instead of
silently killing a running scheduler and every computation on it. Deleting the cluster, a
rolling update of the scheduler Deployment and a scheduler that crashes are not evictions: the
budget does not stand in their way.

Opt-out per cluster with the annotation ``kubernetes.dask.org/scheduler-pdb: "false"`` on the
DaskCluster, or for every cluster with ``kubernetes.controller.scheduler-pdb.enabled: false``
(chart: ``schedulerPodDisruptionBudget.enabled``). The budget of a cluster that opts out is
deleted on its next pass (the core prunes what no plugin asks for any more).
"""

from __future__ import annotations

from typing import Any

from dask_operator import api, hookimpl

#: Annotation on a DaskCluster: ``"false"`` means no scheduler PodDisruptionBudget for it.
OPT_OUT_ANNOTATION = f"{api.GROUP}/scheduler-pdb"
#: The ``dask.org/component`` label of the budget.
COMPONENT = "scheduler-disruption-budget"


def enabled_for(cluster: dict[str, Any]) -> bool:
    """Whether ``cluster`` gets a scheduler budget (the operator setting, then its annotation)."""
    if not api.as_bool(api.get_config("scheduler-pdb.enabled", True)):
        return False
    annotations = cluster.get("metadata", {}).get("annotations") or {}
    value = annotations.get(OPT_OUT_ANNOTATION)
    return value is None or api.as_bool(value)


def build_budget(cluster: dict[str, Any]) -> dict[str, Any]:
    """The PodDisruptionBudget of ``cluster``'s scheduler pod (pure)."""
    meta = cluster["metadata"]
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {
            "name": api.scheduler_name(meta["name"]),
            "namespace": meta["namespace"],
            "labels": {api.LABEL_COMPONENT: COMPONENT},
        },
        "spec": {
            "maxUnavailable": 0,
            "selector": {"matchLabels": {api.LABEL_CLUSTER: meta["name"], api.LABEL_COMPONENT: api.COMPONENT_SCHEDULER}},
        },
    }


@hookimpl(trylast=True)
def dask_cluster_resources(cluster: dict[str, Any], worker_pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [build_budget(cluster)] if enabled_for(cluster) else []


@hookimpl
def dask_rbac_rules() -> list[dict[str, Any]]:
    # No get: the operator reads budgets from its watch-fed cache. delete: on opt-out.
    return [{"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ["list", "watch", "create", "patch", "delete"]}]
