"""The scheduler PodDisruptionBudget plugin: one budget per cluster, opt-out per cluster or globally."""

from __future__ import annotations

import dask.config
from dask_operator.plugins import scheduler_pdb
from dask_operator.testing import render_cluster


def test_the_budget_selects_the_scheduler_pod_and_allows_no_eviction(cluster):
    budget = scheduler_pdb.build_budget(cluster)
    assert (budget["apiVersion"], budget["kind"]) == ("policy/v1", "PodDisruptionBudget")
    assert budget["metadata"]["name"] == "simple-scheduler" and budget["metadata"]["namespace"] == "ns1"
    assert budget["spec"] == {
        "maxUnavailable": 0,
        "selector": {"matchLabels": {"dask.org/cluster-name": "simple", "dask.org/component": "scheduler"}},
    }


def test_the_budget_selects_what_the_scheduler_deployment_runs(pm, cluster):
    rendered = render_cluster(pm, cluster)
    [budget] = [r for r in rendered.resources if r["kind"] == "PodDisruptionBudget"]
    template_labels = rendered.deployment["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= template_labels.items()
    # The core owns it like any plugin object: owner, labels of the cluster, its own component.
    assert budget["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert budget["metadata"]["labels"]["dask.org/component"] == scheduler_pdb.COMPONENT
    assert budget["metadata"]["labels"]["dask.org/cluster-name"] == "simple"


def test_a_cluster_opts_out_with_its_annotation(pm, cluster):
    cluster["metadata"].setdefault("annotations", {})[scheduler_pdb.OPT_OUT_ANNOTATION] = "false"
    assert scheduler_pdb.dask_cluster_resources(cluster=cluster, worker_pods=[]) == []
    assert not [r for r in render_cluster(pm, cluster).resources if r["kind"] == "PodDisruptionBudget"]
    cluster["metadata"]["annotations"][scheduler_pdb.OPT_OUT_ANNOTATION] = "true"
    assert len(scheduler_pdb.dask_cluster_resources(cluster=cluster, worker_pods=[])) == 1


def test_the_operator_setting_turns_every_budget_off(cluster):
    with dask.config.set({"kubernetes.controller.scheduler-pdb.enabled": "false"}):
        assert scheduler_pdb.dask_cluster_resources(cluster=cluster, worker_pods=[]) == []
    assert len(scheduler_pdb.dask_cluster_resources(cluster=cluster, worker_pods=[])) == 1


def test_budgets_need_rights_on_poddisruptionbudgets_only():
    [rule] = scheduler_pdb.dask_rbac_rules()
    assert rule["apiGroups"] == ["policy"] and rule["resources"] == ["poddisruptionbudgets"]
    assert "delete" in rule["verbs"] and "get" not in rule["verbs"]
