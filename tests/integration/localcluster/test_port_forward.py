"""`pods/portforward` through the apiserver to the kubelet: SPDY (kubectl) and WebSocket."""

import asyncio
import base64
import os
import ssl
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest
import yaml
from lc_helpers import IMAGE, apply, free_port, http_answer, wait_for

pytestmark = pytest.mark.cluster

SERVER = ("import http.server\n"
          "class H(http.server.BaseHTTPRequestHandler):\n"
          "    def do_GET(self):\n"
          "        body = b'x' * 300000 if self.path == '/big' else b'pong'\n"
          "        self.send_response(200); self.send_header('Content-Length', str(len(body)))\n"
          "        self.end_headers(); self.wfile.write(body)\n"
          "http.server.ThreadingHTTPServer(('', 8080), H).serve_forever()")


def start_server(kubectl, ns):
    apply(kubectl, ns, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pong"},
                        "spec": {"containers": [{"name": "main", "image": IMAGE, "command": ["python", "-c", SERVER],
                                                 "ports": [{"containerPort": 8080, "name": "http"}],
                                                 "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}]}})
    kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/pong", "--timeout=60s", timeout=90)


def test_kubectl_port_forward(k8s, kubectl, namespace):
    start_server(kubectl, namespace)
    port = free_port()
    proc = subprocess.Popen([str(Path(k8s.bin_dir) / "kubectl"), "port-forward", "-n", namespace,
                             "pod/pong", f"{port}:http", "--address=127.0.0.1"],
                            env=k8s.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for(lambda: http_answer(port), "the forwarded port", 30) == b"pong"
        big = urllib.request.urlopen(f"http://127.0.0.1:{port}/big", timeout=10).read()
        assert big == b"x" * 300000
        assert [urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read() for _ in range(5)] == [b"pong"] * 5
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("protocols", [["v4.channel.k8s.io"], []], ids=["v4-channel", "no-subprotocol"])
def test_websocket_port_forward(k8s, kubectl, namespace, protocols):
    start_server(kubectl, namespace)
    doc = yaml.safe_load(Path(k8s.kubeconfig).read_text())
    cluster, user = doc["clusters"][0]["cluster"], doc["users"][0]["user"]

    ctx = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "c").write_bytes(base64.b64decode(user["client-certificate-data"]))
        Path(tmp, "k").write_bytes(base64.b64decode(user["client-key-data"]))
        ctx.load_cert_chain(os.path.join(tmp, "c"), os.path.join(tmp, "k"))

    async def fetch():
        url = f"{cluster['server']}/api/v1/namespaces/{namespace}/pods/pong/portforward?ports=8080"
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url, protocols=protocols, ssl=ctx) as ws:
                announce = [(await ws.receive_bytes()) for _ in range(2)]
                await ws.send_bytes(b"\x00GET / HTTP/1.0\r\n\r\n")
                data = b""
                deadline = time.monotonic() + 10
                while not data.endswith(b"pong") and time.monotonic() < deadline:
                    msg = await ws.receive_bytes(timeout=10)
                    assert msg[0] == 0, msg
                    data += msg[1:]
                return announce, data

    announce, data = asyncio.run(fetch())
    assert announce == [b"\x00\x90\x1f", b"\x01\x90\x1f"]  # channel + port 8080, little endian
    assert data.startswith(b"HTTP/1.0 200") and data.endswith(b"pong")
