"""Connections through a ClusterIP outlive their Service, as conntrack keeps them with
kube-proxy: a Service deleted and re-created with the same selector does not cut them."""

import socket

import pytest
from lc_helpers import IMAGE, apply, get, wait_for

pytestmark = pytest.mark.cluster

ECHO = ("import socketserver\n"
        "class Echo(socketserver.StreamRequestHandler):\n"
        "    def handle(self):\n"
        "        for line in self.rfile:\n"
        "            self.wfile.write(line)\n"
        "socketserver.ThreadingTCPServer.allow_reuse_address = True\n"
        "socketserver.ThreadingTCPServer(('', 9000), Echo).serve_forever()")

SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "echo"},
           "spec": {"selector": {"app": "echo"}, "ports": [{"name": "tcp", "port": 9000}]}}


def _echo(conn: socket.socket, text: bytes) -> bytes:
    conn.sendall(text + b"\n")
    received = b""
    while not received.endswith(b"\n"):
        chunk = conn.recv(1024)
        if not chunk:
            break
        received += chunk
    return received.rstrip(b"\n")


def _answers(ip: str) -> bool:
    """A new connection reaches the echo server (a bare connect proves nothing: some networks
    accept any outgoing connection)."""
    try:
        with socket.create_connection((ip, 9000), timeout=1) as conn:
            conn.settimeout(1)
            return _echo(conn, b"ping") == b"ping"
    except OSError:
        return False


def test_established_connection_survives_its_service_being_recreated(kubectl, namespace):
    apply(kubectl, namespace, [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "echo", "labels": {"app": "echo"}},
         "spec": {"containers": [{"name": "echo", "image": IMAGE, "command": ["python", "-c", ECHO],
                                  "ports": [{"name": "tcp", "containerPort": 9000}],
                                  "readinessProbe": {"tcpSocket": {"port": 9000}, "periodSeconds": 1}}]}},
        SERVICE,
    ])
    old_ip = get(kubectl, "service", "echo", "-n", namespace)["spec"]["clusterIP"]
    wait_for(lambda: _answers(old_ip), "the Service to answer", 60)

    conn = socket.create_connection((old_ip, 9000), timeout=5)
    try:
        assert _echo(conn, b"before") == b"before"

        kubectl("delete", "service", "echo", "-n", namespace, "--wait=true")
        apply(kubectl, namespace, SERVICE)
        new_ip = get(kubectl, "service", "echo", "-n", namespace)["spec"]["clusterIP"]
        assert new_ip != old_ip
        wait_for(lambda: _answers(new_ip), "the re-created Service to answer", 30)
        assert not _answers(old_ip), "the deleted Service still takes new connections"

        # The connection made through the old Service still reaches the same endpoint.
        assert _echo(conn, b"after") == b"after"
    finally:
        conn.close()
    with socket.create_connection((new_ip, 9000), timeout=5) as fresh:
        assert _echo(fresh, b"new") == b"new"
