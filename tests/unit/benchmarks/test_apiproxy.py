"""The counting proxy: how requests are classified and counted, and that responses (watches
included) stream through it unchanged. The upstream here is a local HTTP server, not Kubernetes."""

from __future__ import annotations

import asyncio
import ssl
import sys
import threading
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web
from apiproxy import (
    DISCOVERY,
    CountingProxy,
    RequestKind,
    by_verb,
    classify,
    difference,
    forwarded_headers,
    proxy_kubeconfig,
    upstream_from_kubeconfig,
)

CI = Path(__file__).resolve().parents[3] / "ci"
if str(CI) not in sys.path:
    sys.path.insert(0, str(CI))
from localcluster.pki import Authority, write_kubeconfig  # noqa: E402


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/namespaces/ns/pods", {}, ("LIST", "pods")),
        ("GET", "/api/v1/namespaces/ns/pods", {"watch": "true"}, ("WATCH", "pods")),
        ("GET", "/api/v1/namespaces/ns/pods", {"watch": "1"}, ("WATCH", "pods")),
        ("GET", "/api/v1/namespaces/ns/pods", {"watch": "false"}, ("LIST", "pods")),
        ("GET", "/api/v1/namespaces/ns/pods/p-1", {}, ("GET", "pods")),
        ("GET", "/api/v1/pods", {"watch": "True"}, ("WATCH", "pods")),
        ("POST", "/api/v1/namespaces/ns/events", {}, ("POST", "events")),
        ("PATCH", "/apis/kubernetes.dask.org/v1/namespaces/ns/daskclusters/c", {}, ("PATCH", "daskclusters.kubernetes.dask.org")),
        ("PATCH", "/apis/kubernetes.dask.org/v1/namespaces/ns/daskclusters/c/status", {}, ("PATCH", "daskclusters.kubernetes.dask.org/status")),
        ("GET", "/apis/apps/v1/namespaces/ns/deployments/d", {}, ("GET", "deployments.apps")),
        ("DELETE", "/api/v1/namespaces/ns/pods/p", {}, ("DELETE", "pods")),
        ("DELETE", "/api/v1/namespaces/ns/pods", {}, ("DELETECOLLECTION", "pods")),
        ("PUT", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l", {}, ("PUT", "leases.coordination.k8s.io")),
        ("GET", "/api/v1/namespaces", {}, ("LIST", "namespaces")),
        ("GET", "/api/v1/namespaces/ns", {}, ("GET", "namespaces")),
        ("GET", "/api/v1/nodes/n", {}, ("GET", "nodes")),
        ("GET", "/api", {}, ("GET", DISCOVERY)),
        ("GET", "/api/v1", {}, ("GET", DISCOVERY)),
        ("GET", "/apis", {}, ("GET", DISCOVERY)),
        ("GET", "/apis/kubernetes.dask.org/v1", {}, ("GET", DISCOVERY)),
        ("GET", "/version", {}, ("GET", DISCOVERY)),
    ],
)
def test_requests_are_classified_by_verb_and_resource(method, path, query, expected):
    assert classify(method, path, query) == RequestKind(*expected)


def test_differences_and_verb_totals():
    get, list_ = RequestKind("GET", "pods"), RequestKind("LIST", "pods")
    before = Counter({get: 2})
    after = Counter({get: 5, list_: 1})
    assert difference(after, before) == Counter({get: 3, list_: 1})
    assert difference(before, before) == Counter()
    assert by_verb(Counter({get: 1, list_: 4, RequestKind("GET", "services"): 1})) == {"LIST": 4, "GET": 2}


def test_hop_by_hop_and_credential_headers_are_not_forwarded():
    kept = forwarded_headers({"Accept": "application/json", "Connection": "keep-alive", "Authorization": "Bearer x",
                              "Transfer-Encoding": "chunked", "Content-Type": "application/json"})
    assert kept == {"Accept": "application/json", "Content-Type": "application/json"}


def test_the_proxied_process_gets_a_plain_kubeconfig_without_credentials():
    config = proxy_kubeconfig("http://127.0.0.1:1234", "ns")
    context = config["contexts"][0]["context"]
    assert config["current-context"] == config["contexts"][0]["name"]
    assert config["clusters"][0]["cluster"] == {"server": "http://127.0.0.1:1234"}
    assert config["users"][0]["user"] == {}
    assert context["namespace"] == "ns"


def test_upstream_uses_the_current_context_of_a_kubeconfig(tmp_path: Path):
    doc = {
        "current-context": "b",
        "contexts": [{"name": "a", "context": {"cluster": "one", "user": "u"}}, {"name": "b", "context": {"cluster": "two", "user": "u"}}],
        "clusters": [{"name": "one", "cluster": {"server": "http://one:1"}}, {"name": "two", "cluster": {"server": "http://two:2/"}}],
        "users": [{"name": "u", "user": {"token": "secret"}}],
    }
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))
    upstream = upstream_from_kubeconfig(path)
    assert (upstream.server, upstream.ssl_context, upstream.token) == ("http://two:2", None, "secret")


class Upstream:
    """A plain HTTP server standing in for the apiserver, in a thread of its own."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.release = asyncio.Event()
        self.seen: list[tuple[str, str, bytes, str | None]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.method, request.path_qs, await request.read(), request.headers.get("Authorization")))
        if request.query.get("watch") == "true":
            response = web.StreamResponse()
            await response.prepare(request)
            await response.write(b'{"type":"ADDED"}\n')
            await self.release.wait()  # the second event only once the client saw the first
            await response.write(b'{"type":"DELETED"}\n')
            await response.write_eof()
            return response
        return web.json_response({"kind": "Status", "path": request.path}, status=201 if request.method == "POST" else 200)

    async def _start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.runner.addresses[0][1]}"

    def start(self) -> str:
        self.thread.start()
        return asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


async def test_proxy_forwards_counts_and_streams_watches():
    from apiproxy import Upstream as UpstreamConfig

    upstream = Upstream()
    url = upstream.start()
    try:
        with CountingProxy(UpstreamConfig(url, None, token="t0ken")) as proxy:
            async with aiohttp.ClientSession(proxy.url) as session:
                async with session.post("/api/v1/namespaces/ns/pods", json={"kind": "Pod"}) as resp:
                    assert resp.status == 201
                    assert (await resp.json())["path"] == "/api/v1/namespaces/ns/pods"
                async with session.get("/api/v1/namespaces/ns/pods", params={"watch": "true"}) as resp:
                    first = await asyncio.wait_for(resp.content.readline(), 10)
                    assert first == b'{"type":"ADDED"}\n'  # streamed before the response ended
                    upstream.loop.call_soon_threadsafe(upstream.release.set)
                    assert await asyncio.wait_for(resp.content.readline(), 10) == b'{"type":"DELETED"}\n'
                async with session.get("/api/v1/namespaces/ns/pods/p") as resp:
                    assert resp.status == 200
            counts = proxy.tally.snapshot()
    finally:
        upstream.stop()
    assert counts == Counter({RequestKind("POST", "pods"): 1, RequestKind("WATCH", "pods"): 1, RequestKind("GET", "pods"): 1})
    method, path, body, auth = upstream.seen[0]
    assert (method, path, auth) == ("POST", "/api/v1/namespaces/ns/pods", "Bearer t0ken")
    assert body == b'{"kind": "Pod"}'
    assert upstream.seen[1][1] == "/api/v1/namespaces/ns/pods?watch=true"


def _tls_upstream(tmp_path: Path, ca: Authority) -> Upstream:
    """An HTTPS upstream serving a certificate of ``ca`` and requiring client certificates from it."""
    from localcluster.pki import _cert_pem

    cert, key = ca.issue("apiserver", server=True, ips=("127.0.0.1",))
    (tmp_path / "server.crt").write_bytes(cert)
    (tmp_path / "server.key").write_bytes(key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=_cert_pem(ca.cert).decode())
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    return Upstream(context)


async def test_proxy_reaches_a_tls_apiserver_with_the_kubeconfig_client_certificate(tmp_path: Path):
    from localcluster.pki import _cert_pem

    ca, stranger = Authority(), Authority()
    upstream = _tls_upstream(tmp_path, ca)
    url = upstream.start()
    trusted, untrusted = tmp_path / "trusted.kubeconfig", tmp_path / "untrusted.kubeconfig"
    write_kubeconfig(trusted, url, _cert_pem(ca.cert), *ca.issue("bench", "system:masters"))
    write_kubeconfig(untrusted, url, _cert_pem(ca.cert), *stranger.issue("bench", "system:masters"))
    statuses = []
    try:
        for kubeconfig in (trusted, untrusted):
            with CountingProxy(upstream_from_kubeconfig(kubeconfig)) as proxy:
                async with aiohttp.ClientSession(proxy.url) as session:
                    async with session.get("/api/v1/namespaces/ns/pods") as resp:
                        statuses.append(resp.status)
    finally:
        upstream.stop()
    assert statuses[0] == 200
    assert statuses[1] >= 500  # the apiserver refused the handshake: the proxy cannot forward
    assert len(upstream.seen) == 1
