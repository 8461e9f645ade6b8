"""NetworkPolicies per DaskCluster on the local cluster: the objects, their owner, the opt-out and
a bad annotation reported on the cluster. The local cluster runs no NetworkPolicy implementation:
enforcement is not tested here (docs/platform-features.md says so)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.cluster

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
OPERATOR = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "dask-operator"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "dask-kubernetes-operator"}}}
NOTEBOOKS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "jupyterhub"}}}


def test_policy_per_cluster_with_the_allowed_peers_then_opt_out(operator, kube, wait):
    operator.stop()
    operator.start(DASK_KUBERNETES__CONTROLLER__NETWORK_POLICY__ENABLED="true",
                   DASK_KUBERNETES__CONTROLLER__NETWORK_POLICY__OPERATOR=json.dumps(OPERATOR),
                   DASK_KUBERNETES__CONTROLLER__NETWORK_POLICY__CLIENTS=json.dumps([NOTEBOOKS]))
    cluster = yaml.safe_load((EXAMPLES / "cluster.yaml").read_text())
    cluster["spec"]["worker"]["replicas"] = 1
    mine = {"podSelector": {"matchLabels": {"app": "my-notebook"}}}
    cluster["metadata"]["annotations"] = {"kubernetes.dask.org/network-policy-clients": json.dumps([mine])}
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(cluster))
    uid = kube.wait_ready("simple")["metadata"]["uid"]

    policy = wait(lambda: kube.get("networkpolicy", "simple-dask"), 60, message="the cluster's NetworkPolicy")
    assert [r["uid"] for r in policy["metadata"]["ownerReferences"]] == [uid]
    own = {"podSelector": {"matchLabels": {"dask.org/cluster-name": "simple"}}}
    assert policy["spec"]["podSelector"] == own["podSelector"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert policy["spec"]["ingress"] == [{"from": [own, OPERATOR, NOTEBOOKS, mine]}]
    # It selects the scheduler and the workers (what a NetworkPolicy implementation would guard).
    selected = kube.pods("dask.org/cluster-name=simple")
    assert {p["metadata"]["labels"]["dask.org/component"] for p in selected} == {"scheduler", "worker"}

    # Edited by hand: restored.
    kube.kubectl("patch", "networkpolicy", "simple-dask", "--type=merge", "-p", '{"spec": {"ingress": [{}]}}')
    wait(lambda: kube.get("networkpolicy", "simple-dask")["spec"]["ingress"] == policy["spec"]["ingress"], 60,
         message="the policy repaired")

    # A clients annotation that is not a list of peers: the cluster says why, nothing changes.
    kube.kubectl("annotate", "--overwrite", "daskcluster", "simple", 'kubernetes.dask.org/network-policy-clients={"oops": 1}')
    ready = wait(lambda: (c := kube.condition("daskcluster", "simple", "Ready")) and c["reason"] == "InvalidSpec" and c, 60,
                 message="Ready=False InvalidSpec")
    assert "network-policy-clients" in ready["message"]
    assert any("network-policy-clients" in e["message"] for e in kube.events("InvalidSpec"))
    kube.kubectl("annotate", "daskcluster", "simple", "kubernetes.dask.org/network-policy-clients-")
    kube.wait_ready("simple")

    # The cluster opts out: its policy is deleted.
    kube.kubectl("annotate", "daskcluster", "simple", "kubernetes.dask.org/network-policy=false")
    wait(lambda: kube.get("networkpolicy", "simple-dask") is None, 60, message="the policy deleted after the opt-out")
