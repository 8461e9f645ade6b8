"""A counting HTTP proxy in front of the Kubernetes apiserver, for request-count benchmarks.

The process under test gets a kubeconfig that points at ``http://127.0.0.1:<port>`` without
credentials (:func:`proxy_kubeconfig`); the proxy forwards every request to the real apiserver
over TLS with the client credentials of the benchmark's own kubeconfig, streams responses as
they come (watches stay open), and counts each request by verb and resource
(:func:`classify`). Everything else that talks to the apiserver (kubectl, the kubelet, the
controller manager) goes to it directly, so every counted request comes from the process
under test.

:class:`CountingProxy` runs in a thread of its own with its own event loop, so a synchronous
benchmark can start it, read :class:`RequestTally` snapshots and stop it.
"""

from __future__ import annotations

import base64
import contextlib
import ssl
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web
from background import BackgroundService

# Headers that belong to one connection, not to the request or response they travel with.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-encoding",  # the upstream client decompresses; the proxy sends plain bodies
        "accept-encoding",
        "authorization",  # the proxy authenticates with its own credentials
    }
)

DISCOVERY = "(discovery)"


@dataclass(frozen=True, order=True)
class RequestKind:
    """What one apiserver request does: ``verb`` (GET, LIST, WATCH, POST, PUT, PATCH, DELETE,
    DELETECOLLECTION) on ``resource`` (``pods``, ``daskclusters.kubernetes.dask.org``,
    ``daskclusters.kubernetes.dask.org/status``, or ``(discovery)`` for /api, /apis, /version...)."""

    verb: str
    resource: str

    def __str__(self) -> str:
        return f"{self.verb} {self.resource}"


def _is_watch(query: Mapping[str, str]) -> bool:
    return str(query.get("watch", "")).lower() in {"1", "true"}


def classify(method: str, path: str, query: Mapping[str, str]) -> RequestKind:
    """The verb and resource of a request to ``path`` (without the query string)."""
    method = method.upper()
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return RequestKind(method, DISCOVERY)
    if not rest:
        return RequestKind(method, DISCOVERY)  # /api/v1, /apis/<group>/<version>
    if rest[0] == "namespaces" and len(rest) >= 3:
        rest = rest[2:]  # namespaced: namespaces/<ns>/<resource>[/<name>[/<subresource>]]
    resource = rest[0] + (f".{group}" if group else "")
    if len(rest) >= 3:
        resource += "/" + "/".join(rest[2:])
    named = len(rest) >= 2
    if method == "GET":
        verb = "WATCH" if _is_watch(query) else ("GET" if named else "LIST")
    elif method == "DELETE" and not named:
        verb = "DELETECOLLECTION"
    else:
        verb = method
    return RequestKind(verb, resource)


class RequestTally:
    """Thread-safe counts of requests by kind, and when the last one arrived."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[RequestKind] = Counter()
        self._last = time.monotonic()

    def record(self, kind: RequestKind) -> None:
        with self._lock:
            self._counts[kind] += 1
            self._last = time.monotonic()

    def snapshot(self) -> Counter[RequestKind]:
        with self._lock:
            return Counter(self._counts)

    def quiet_for(self) -> float:
        """Seconds since the last request (or since the tally was made)."""
        with self._lock:
            return time.monotonic() - self._last


def difference(after: Counter[RequestKind], before: Counter[RequestKind]) -> Counter[RequestKind]:
    """Requests counted between two snapshots (kinds with none left out)."""
    return Counter({kind: n - before.get(kind, 0) for kind, n in after.items() if n > before.get(kind, 0)})


def by_verb(counts: Mapping[RequestKind, int]) -> dict[str, int]:
    """Totals per verb, most frequent first."""
    totals: Counter[str] = Counter()
    for kind, n in counts.items():
        totals[kind.verb] += n
    return dict(totals.most_common())


# --- the upstream side ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Upstream:
    """Where and how to reach the real apiserver: from the current context of a kubeconfig."""

    server: str
    ssl_context: ssl.SSLContext | None
    token: str | None = None


def _pem(entry: Mapping[str, Any], key: str) -> bytes | None:
    """A kubeconfig PEM field, given inline (``<key>-data``, base64) or as a file (``<key>``)."""
    if entry.get(f"{key}-data"):
        return base64.b64decode(entry[f"{key}-data"])
    if entry.get(key):
        return Path(entry[key]).expanduser().read_bytes()
    return None


def upstream_from_kubeconfig(path: str | Path) -> Upstream:
    """The current context's server, CA, client certificate and token of a kubeconfig file."""
    doc = yaml.safe_load(Path(path).read_text())
    contexts = {c["name"]: c.get("context") or {} for c in doc.get("contexts") or []}
    context = contexts.get(doc.get("current-context"), {})
    clusters = {c["name"]: c.get("cluster") or {} for c in doc.get("clusters") or []}
    users = {u["name"]: u.get("user") or {} for u in doc.get("users") or []}
    cluster = clusters.get(context.get("cluster"), {})
    user = users.get(context.get("user"), {})
    server = str(cluster["server"]).rstrip("/")
    if not server.startswith("https://"):
        return Upstream(server, None, user.get("token"))
    ca = _pem(cluster, "certificate-authority")
    ctx = ssl.create_default_context(cadata=ca.decode() if ca else None)
    if cluster.get("insecure-skip-tls-verify"):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    cert, key = _pem(user, "client-certificate"), _pem(user, "client-key")
    if cert and key:
        with tempfile.TemporaryDirectory() as tmp:
            cert_file, key_file = Path(tmp, "client.crt"), Path(tmp, "client.key")
            cert_file.write_bytes(cert)
            key_file.write_bytes(key)
            ctx.load_cert_chain(str(cert_file), str(key_file))
    return Upstream(server, ctx, user.get("token"))


def proxy_kubeconfig(server: str, namespace: str = "default") -> dict[str, Any]:
    """A kubeconfig for the process under test: the proxy's plain-http URL, no credentials."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "counting-proxy", "cluster": {"server": server}}],
        "users": [{"name": "counting-proxy", "user": {}}],
        "contexts": [
            {"name": "counting-proxy", "context": {"cluster": "counting-proxy", "user": "counting-proxy", "namespace": namespace}}
        ],
        "current-context": "counting-proxy",
    }


def forwarded_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The end-to-end headers of a request or response (hop-by-hop ones dropped)."""
    return {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}


# --- the proxy ------------------------------------------------------------------------------------


class CountingProxy(BackgroundService):
    """An HTTP proxy on 127.0.0.1 that counts and forwards every request to the apiserver."""

    def __init__(self, upstream: Upstream) -> None:
        super().__init__("counting-proxy")
        self.upstream = upstream
        self.tally = RequestTally()
        self.url = ""
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    # Runs in the proxy's thread.

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        self.tally.record(classify(request.method, request.path, request.query))
        headers = forwarded_headers(request.headers)
        if self.upstream.token:
            headers["Authorization"] = f"Bearer {self.upstream.token}"
        body = await request.read() if request.body_exists else None
        async with self._session.request(
            request.method, self.upstream.server + request.path_qs, headers=headers, data=body, allow_redirects=False
        ) as upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=forwarded_headers(upstream.headers))
            await response.prepare(request)
            with contextlib.suppress(ConnectionResetError, aiohttp.ClientConnectionResetError):
                async for chunk in upstream.content.iter_any():  # a watch streams until either side ends it
                    await response.write(chunk)
                await response.write_eof()
            return response

    async def _start(self) -> str:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self.upstream.ssl_context or False, limit=0),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
        )
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        # handler_cancellation: a watch whose client went away is closed upstream at once.
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, handler_cancellation=True, shutdown_timeout=2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    # Called from the benchmark's thread.

    def _started(self, result: object) -> None:
        self.url = str(result)
