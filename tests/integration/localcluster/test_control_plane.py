"""The control plane answers with the real version and the process kubelet's node is Ready."""

import json

import pytest

pytestmark = pytest.mark.cluster


def test_server_reports_the_built_version(kubectl):
    version = json.loads(kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == "v1.36.3"
    assert version["serverVersion"]["minor"] == "36"


def test_node_is_ready_with_generous_allocatable(kubectl):
    nodes = json.loads(kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert len(nodes) == 1
    node = nodes[0]
    conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert conditions["Ready"] == "True"
    assert not [t for t in node["spec"].get("taints") or [] if t["key"].startswith("node.kubernetes.io/")]
    allocatable = node["status"]["allocatable"]
    assert allocatable["memory"] == "512Gi" and allocatable["cpu"] == "64"


def test_rbac_is_enforced_for_users_without_bindings(kubectl, namespace):
    proc = kubectl("auth", "can-i", "list", "pods", "-n", namespace,
                   f"--as=system:serviceaccount:{namespace}:default", check=False)
    assert proc.stdout.strip() == "no"


def test_kubelet_endpoint_requires_a_client_certificate(k8s):
    import socket
    import ssl

    port = k8s.local_config["ports"]["kubelet"] if k8s.state else 10250
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw) as tls:
                tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                if not tls.recv(100):
                    raise ConnectionError("closed")
