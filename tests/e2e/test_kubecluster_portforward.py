"""KubeCluster's port-forward client against the real apiserver and kubelet (no operator).

A plain pod serves HTTP; the client forwards a local port to it through
``pods/portforward`` (websocket, ``v4.channel.k8s.io``), as KubeCluster does for a scheduler
it cannot reach directly.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from dask_kubernetes.operator.kubecluster.k8s import Kube
from dask_kubernetes.operator.kubecluster.portforward import PortForward

pytestmark = pytest.mark.e2e

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "containers": [
            {
                "name": "web",
                "image": "python:3",
                "args": ["python", "-m", "http.server", "8000"],
                "ports": [{"name": "http", "containerPort": 8000}],
                "readinessProbe": {"tcpSocket": {"port": 8000}, "periodSeconds": 1},
            }
        ]
    },
}


@pytest.fixture
def web_pod(kubectl, namespace) -> str:
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(POD))
    kubectl("wait", "-n", namespace, "--for=condition=Ready", "pod/web", "--timeout=120s")
    return "web"


async def http_get(port: int, path: str = "/", to_eof: bool = False) -> bytes:
    """One HTTP/1.0 request through the forward; reads to EOF or by Content-Length."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.0\r\nHost: web\r\n\r\n".encode())
    await writer.drain()
    if to_eof:
        response = await asyncio.wait_for(reader.read(), 30)
    else:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        response = head + await asyncio.wait_for(reader.readexactly(length), 30)
    writer.close()
    return response


async def test_kubecluster_port_forward_reaches_a_pod_port(web_pod, namespace):
    kube = await Kube.connect()

    async def pod_name() -> str:
        return web_pod

    forward = PortForward(kube, namespace, pod_name, remote_port=8000)
    await forward.start()
    try:
        responses = await asyncio.gather(*(http_get(forward.local_port) for _ in range(3)))
        for response in responses:
            assert response.startswith(b"HTTP/1.0 200"), response[:200]
            assert b"Directory listing" in response
    finally:
        await forward.stop()
        await kube.close()


async def test_kubecluster_port_forward_ends_the_connection_when_the_pod_side_closes(
    web_pod, namespace
):
    # http.server closes HTTP/1.0 connections after the response; the kubelet must then close
    # the websocket (as the real kubelet does), which ends the local connection.
    kube = await Kube.connect()

    async def pod_name() -> str:
        return web_pod

    forward = PortForward(kube, namespace, pod_name, remote_port=8000)
    await forward.start()
    try:
        response = await http_get(forward.local_port, to_eof=True)
        assert response.startswith(b"HTTP/1.0 200")
        assert response.rstrip().endswith(b"</html>")
    finally:
        await forward.stop()
        await kube.close()


async def test_kubecluster_port_forward_to_a_closed_port_reports_the_kubelet_error(
    web_pod, namespace
):
    kube = await Kube.connect()

    async def pod_name() -> str:
        return web_pod

    forward = PortForward(kube, namespace, pod_name, remote_port=8001)  # nothing listens
    await forward.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", forward.local_port)
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        assert await asyncio.wait_for(reader.read(), 30) == b""
        writer.close()
        for _ in range(100):  # the error arrives just after the stream closes
            if forward.last_error:
                break
            await asyncio.sleep(0.1)
        assert "8001" in forward.last_error
    finally:
        await forward.stop()
        await kube.close()
