"""The scheduler PodDisruptionBudget on the local cluster: evictions refused, drift repaired,
removed when a cluster opts out (the disruption controller of kube-controller-manager is real)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.cluster

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
OPT_OUT = "kubernetes.dask.org/scheduler-pdb"


def evict(kube, pod: str) -> subprocess.CompletedProcess[str]:
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": kube.ns}}
    path = f"/api/v1/namespaces/{kube.ns}/pods/{pod}/eviction"
    return kube.k8s.kubectl("create", "--raw", path, "-f", "-", input=json.dumps(eviction), check=False)


def test_scheduler_budget_refuses_evictions_is_repaired_and_follows_the_opt_out(operator, kube, wait):
    cluster = yaml.safe_load((EXAMPLES / "cluster.yaml").read_text())
    cluster["spec"]["worker"]["replicas"] = 0
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(cluster))
    uid = kube.wait_ready("simple")["metadata"]["uid"]

    budget = wait(lambda: kube.get("pdb", "simple-scheduler"), 60, message="the scheduler PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 0
    assert [r["uid"] for r in budget["metadata"]["ownerReferences"]] == [uid]
    assert budget["spec"]["selector"]["matchLabels"] == {"dask.org/cluster-name": "simple", "dask.org/component": "scheduler"}
    assert {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "name": "simple-scheduler"} in (
        kube.get("daskcluster", "simple")["status"]["resources"]
    )

    # The disruption controller counts the scheduler pod; an eviction (what a drain does) is refused.
    wait(lambda: (kube.get("pdb", "simple-scheduler").get("status") or {}).get("expectedPods") == 1, 60,
         message="the budget to cover the scheduler pod")
    [scheduler] = kube.pods("dask.org/cluster-name=simple,dask.org/component=scheduler")
    refused = evict(kube, scheduler["metadata"]["name"])
    assert refused.returncode != 0 and "disruption budget" in refused.stderr, refused.stderr
    assert kube.get("pod", scheduler["metadata"]["name"])["metadata"].get("deletionTimestamp") is None

    # Someone loosens the budget: the operator puts it back.
    kube.kubectl("patch", "pdb", "simple-scheduler", "--type=merge", "-p", '{"spec": {"maxUnavailable": 1}}')
    wait(lambda: kube.get("pdb", "simple-scheduler")["spec"]["maxUnavailable"] == 0, 60, message="the budget repaired")

    # Opting out deletes it; opting back in recreates it.
    kube.kubectl("annotate", "daskcluster", "simple", f"{OPT_OUT}=false")
    wait(lambda: kube.get("pdb", "simple-scheduler") is None, 60, message="the budget deleted after the opt-out")
    resources = kube.get("daskcluster", "simple")["status"].get("resources") or []
    assert not [r for r in resources if r["kind"] == "PodDisruptionBudget"]
    kube.kubectl("annotate", "daskcluster", "simple", f"{OPT_OUT}-")
    wait(lambda: kube.get("pdb", "simple-scheduler"), 60, message="the budget recreated")
