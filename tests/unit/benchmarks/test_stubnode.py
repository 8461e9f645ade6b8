"""The stub node's pure parts: where pods go, and the status it reports for them."""

from stubnode import (
    NODE_LABEL,
    node_manifest,
    node_status,
    place_on_stub_node,
    pod_ip,
    running_status,
)


def test_placed_pods_select_and_tolerate_the_stub_node_only():
    spec = {"containers": [], "nodeSelector": {"disk": "ssd"}, "tolerations": [{"key": "gpu", "operator": "Exists"}]}
    placed = place_on_stub_node(spec)
    node = node_manifest()
    assert placed["nodeSelector"] == {"disk": "ssd", NODE_LABEL: "true"}
    assert all(node["metadata"]["labels"].get(k) == v for k, v in placed["nodeSelector"].items() if k != "disk")
    taint = node["spec"]["taints"][0]
    assert any(t.get("key") == taint["key"] and t.get("value") == taint["value"] and t.get("effect") == taint["effect"]
               for t in placed["tolerations"])
    assert {"key": "gpu", "operator": "Exists"} in placed["tolerations"]
    assert spec["nodeSelector"] == {"disk": "ssd"}  # the input is left alone


def test_the_node_is_ready_with_room():
    status = node_status("2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z")
    ready = [c for c in status["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True" and ready[0]["lastHeartbeatTime"] == "2026-01-01T00:01:00Z"
    assert int(status["allocatable"]["pods"]) >= 200


def test_pod_addresses_are_distinct_and_valid():
    addresses = [pod_ip(i) for i in range(600)]
    assert len(set(addresses)) == 600
    octets = [[int(part) for part in a.split(".")] for a in addresses]
    assert all(o[:2] == [10, 254] and 0 <= o[2] < 255 and 0 < o[3] < 255 for o in octets)


def test_a_bound_pod_is_reported_running_and_ready():
    pod = {"spec": {"containers": [{"name": "scheduler", "image": "ghcr.io/dask/dask:latest"}, {"name": "sidecar"}]}}
    status = running_status(pod, "10.254.0.1", "2026-01-01T00:00:00Z")
    assert status["phase"] == "Running" and status["podIP"] == "10.254.0.1"
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
    assert [(c["name"], c["ready"], "running" in c["state"]) for c in status["containerStatuses"]] == [
        ("scheduler", True, True), ("sidecar", True, True)]
