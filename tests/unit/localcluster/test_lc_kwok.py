"""The fake nodes of `ci/cluster up --fake-nodes N` (pure parts of ci/localcluster/kwok.py)."""

import pytest
from localcluster import kwok


def test_the_node_count_comes_from_the_flag_else_the_environment():
    assert kwok.requested_nodes(3, {kwok.ENV: "7"}) == 3
    assert kwok.requested_nodes(None, {kwok.ENV: "7"}) == 7
    assert kwok.requested_nodes(None, {}) == 0
    with pytest.raises(ValueError, match=kwok.ENV):
        kwok.requested_nodes(None, {kwok.ENV: "many"})
    with pytest.raises(ValueError):
        kwok.requested_nodes(-1, {})


def test_fake_nodes_are_labelled_annotated_and_tainted_as_kwok_documents():
    node = kwok.node_manifest(2)
    meta = node["metadata"]
    assert meta["name"] == "kwok-node-2"
    assert meta["labels"]["type"] == "kwok"
    assert meta["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert node["spec"]["taints"] == [{"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}]
    assert int(node["status"]["allocatable"]["pods"]) >= 1000


def test_placement_lands_only_on_fake_nodes_and_keeps_the_pod_spec():
    spec = {"containers": [], "nodeSelector": {"zone": "a"}, "tolerations": [{"key": "x", "operator": "Exists"}]}
    placed = kwok.place_on_fake_nodes(spec)
    assert placed["nodeSelector"] == {"zone": "a", "type": "kwok"}
    assert {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"} in placed["tolerations"]
    assert len(placed["tolerations"]) == 2
    assert spec["nodeSelector"] == {"zone": "a"}  # the input is unchanged


def test_kwok_manages_only_annotated_nodes_and_serves_nothing():
    argv = kwok.argv("/bin/kwok", "/state/admin.kubeconfig", "/bin/kwok-stages.yaml")
    assert "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake" in argv
    assert "--config=/bin/kwok-stages.yaml" in argv
    assert "--server-address=" in argv and "--node-port=0" in argv
    assert f"--cidr={kwok.POD_CIDR}" in argv
