"""The process kubelet: one Node, its Lease, the pods bound to it, and the HTTPS endpoint the
apiserver uses for `kubectl logs` (and port-forward)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import platform
import shutil
import ssl
import urllib.parse
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import dns, execstream, network, portforward
from .config import K8S_VERSION, KUBERNETES_SERVICE_IP, NODE_IP, ClusterConfig
from .controlplane import CREATED_PATHS
from .kube import ApiError, Client, informer
from .pods import PodWorker, now

log = logging.getLogger("localcluster.kubelet")
Obj = dict[str, Any]


async def _respond(writer: asyncio.StreamWriter, code: int, text: str) -> None:
    reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found"}.get(code, "Error")
    body = text.encode()
    writer.write(f"HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\n"
                 f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    await writer.drain()


def micro_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Kubelet:
    def __init__(self, cfg: ClusterConfig, client: Client) -> None:
        self.cfg = cfg
        self.client = client
        self.node = cfg.node_name
        self.ipam = network.IPAM()
        self.workers: dict[str, PodWorker] = {}
        self.by_name: dict[tuple[str, str], PodWorker] = {}
        self.ip_binary = shutil.which("ip") or "/usr/sbin/ip"
        self.allocatable = {"cpu": cfg.node_cpu, "memory": cfg.node_memory, "pods": cfg.node_pods,
                            "ephemeral-storage": "100Gi"}
        self.services: dict[tuple[str, str], Obj] = {}
        # Set once the Services have been listed: no container starts before (its environment
        # names them), as the kubelet refuses to build envvars until its Service informer synced.
        self.services_listed = asyncio.Event()
        self.headless: dict[tuple[str, str], list[tuple[str, str | None]]] = {}
        self._events: dict[tuple[str, str, str, str], tuple[str, int]] = {}
        self._hosts_dirty = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self._beat_now = asyncio.Event()  # renew the Lease and post the node status at once
        self._node_status_stale = False  # the API's Node is not Ready: post ours again

    # ---- helpers used by pod workers -----------------------------------------------------

    def services_for_env(self, ns: str) -> list[Obj]:
        return [s for (sns, name), s in self.services.items()
                if sns == ns or (sns, name) == ("default", "kubernetes")]

    def hosts_for(self, ns: str, pod_ip: str, pod_name: str) -> str:
        return dns.hosts_file(ns, pod_ip, pod_name, self.services.values(), self.headless)

    def resolv_conf(self, ns: str) -> str:
        return dns.resolv_conf(ns)

    async def services_known(self, timeout: float) -> bool:
        """Whether the Services have been listed at least once, waiting up to `timeout` s."""
        if not self.services_listed.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.services_listed.wait(), timeout)
        return self.services_listed.is_set()

    def services_read(self, services: Mapping[tuple[str, str], Obj]) -> None:
        """The Services as listed and watched (every change, before the proxy acts on it)."""
        self.services = dict(services)
        self.services_listed.set()
        self._hosts_dirty.set()

    def services_changed(self, services: Mapping[tuple[str, str], Obj],
                         headless: Mapping[tuple[str, str], list[tuple[str, str | None]]]) -> None:
        self.services = dict(services)
        self.headless = dict(headless)
        self._hosts_dirty.set()

    def hosts_changed(self) -> None:
        self._hosts_dirty.set()

    async def _hosts_writer(self) -> None:
        while True:
            await self._hosts_dirty.wait()
            self._hosts_dirty.clear()
            for w in list(self.workers.values()):
                if not w.sandbox:
                    continue
                path = network.NETNS_ETC / w.netns / "hosts"
                content = self.hosts_for(w.ns, w.pod_ip, w.name).encode()
                if w.hosts_written == content:
                    continue
                w.hosts_written = content
                with contextlib.suppress(OSError):
                    # Rewrite in place: the file is bind-mounted into running pods by inode.
                    fd = os.open(path, os.O_WRONLY)
                    try:
                        os.ftruncate(fd, 0)
                        os.pwrite(fd, content, 0)
                    finally:
                        os.close(fd)
            await asyncio.sleep(0.2)

    def ensure_host_path(self, path: str, is_file: bool = False) -> None:
        """Creates a missing mount point or workingDir on the host, recorded for `down`."""
        p = Path(path)
        if p.exists():
            return
        missing = []
        q = p
        while not q.exists():
            missing.append(q)
            q = q.parent
        created = []
        for d in reversed(missing):
            if d == p and is_file:
                d.touch()
            else:
                d.mkdir()
            created.append(str(d))
        with open(self.cfg.state_path / CREATED_PATHS, "a") as fh:
            fh.write("".join(c + "\n" for c in created))

    def forget(self, worker: PodWorker) -> None:
        for key in [k for k in self._events if k[0] == worker.uid]:
            del self._events[key]
        if self.workers.get(worker.uid) is worker:
            del self.workers[worker.uid]
        if self.by_name.get((worker.ns, worker.name)) is worker:
            del self.by_name[(worker.ns, worker.name)]

    def event(self, pod: Obj, type_: str, reason: str, message: str, field: str | None) -> None:
        task = asyncio.create_task(self._post_event(pod, type_, reason, message, field))
        self.tasks.append(task)
        task.add_done_callback(self.tasks.remove)

    async def _post_event(self, pod: Obj, type_: str, reason: str, message: str,
                          field: str | None) -> None:
        meta = pod["metadata"]
        ns = meta["namespace"]
        key = (meta["uid"], reason, message, field or "")
        try:
            if key in self._events:
                name, count = self._events[key]
                self._events[key] = (name, count + 1)
                await self.client.merge_patch(f"/api/v1/namespaces/{ns}/events/{name}",
                                              {"count": count + 1, "lastTimestamp": now()})
                return
            name = f"{meta['name']}.{uuid.uuid4().hex[:16]}"
            self._events[key] = (name, 1)
            involved: Obj = {"kind": "Pod", "namespace": ns, "name": meta["name"],
                             "uid": meta["uid"], "apiVersion": "v1",
                             "resourceVersion": meta.get("resourceVersion", "")}
            if field:
                involved["fieldPath"] = field
            await self.client.create(f"/api/v1/namespaces/{ns}/events", {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": name, "namespace": ns},
                "involvedObject": involved, "reason": reason, "message": message, "type": type_,
                "source": {"component": "kubelet", "host": self.node},
                "reportingComponent": "kubelet", "reportingInstance": self.node,
                "firstTimestamp": now(), "lastTimestamp": now(), "count": 1,
            })
        except ApiError as err:
            if err.status not in (403, 404):  # namespace terminating or gone
                log.warning("event %s for %s/%s: %s", reason, ns, meta["name"], err)
        except Exception as err:  # noqa: BLE001 - events are best effort
            log.warning("event %s: %r", reason, err)

    # ---- node ------------------------------------------------------------------------------

    def _node_status(self) -> Obj:
        t = now()
        conds = [
            ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID"),
            ("Ready", "True", "KubeletReady"),
        ]
        capacity = dict(self.allocatable)
        return {
            "capacity": capacity, "allocatable": capacity,
            "conditions": [{"type": c, "status": s, "reason": r, "message": r,
                            "lastHeartbeatTime": t,
                            "lastTransitionTime": self._ready_since if c == "Ready" else self._node_started}
                           for c, s, r in conds],
            "addresses": [{"type": "InternalIP", "address": NODE_IP},
                          {"type": "Hostname", "address": self.node}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.cfg.ports.kubelet}},
            "nodeInfo": {
                "machineID": uuid.uuid5(uuid.NAMESPACE_DNS, self.node).hex,
                "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, self.node)),
                "bootID": self._boot_id,
                "kernelVersion": platform.release(), "osImage": "local processes",
                "containerRuntimeVersion": "process://localcluster",
                "kubeletVersion": f"v{K8S_VERSION}", "kubeProxyVersion": f"v{K8S_VERSION}",
                "operatingSystem": "linux", "architecture": "amd64",
            },
        }

    async def register(self) -> None:
        self._node_started = now()
        self._ready_since = self._node_started
        self._boot_id = str(uuid.uuid4())
        # `up` waits for the node to carry this agent's boot id (not a dead agent's Ready).
        (self.cfg.state_path / "run" / "agent.boot-id").write_text(self._boot_id)
        body = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.node, "labels": {
                "kubernetes.io/hostname": self.node, "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64"}},
            "spec": {},
            "status": self._node_status(),
        }
        try:
            await self.client.create("/api/v1/nodes", body)
        except ApiError as err:
            if err.status != 409:
                raise
            await self.client.patch_status(f"/api/v1/nodes/{self.node}", {"status": self._node_status()})

    async def _heartbeat(self) -> None:
        """Renews the Lease every 10 s (every 2 s while the apiserver fails) and posts the node
        status every minute, or at once when the API's Node is not Ready (e.g. the node
        controller marked it Unknown during an apiserver outage)."""
        lease_path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.node}"
        beats = 0
        while True:
            self._beat_now.clear()
            failed = False
            try:
                spec = {"holderIdentity": self.node, "leaseDurationSeconds": 40,
                        "renewTime": micro_now()}
                try:
                    await self.client.merge_patch(lease_path, {"spec": spec})
                except ApiError as err:
                    if err.status != 404:
                        raise
                    await self.client.create(
                        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                        {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                         "metadata": {"name": self.node, "namespace": "kube-node-lease"},
                         "spec": spec})
                if beats % 6 == 0 or self._node_status_stale:
                    self._node_status_stale = False
                    try:
                        await self.client.patch_status(f"/api/v1/nodes/{self.node}",
                                                       {"status": self._node_status()})
                    except Exception:
                        self._node_status_stale = True
                        raise
                beats += 1
            except Exception as err:  # noqa: BLE001 - keep beating
                log.warning("heartbeat: %r", err)
                failed = True
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._beat_now.wait(), 2 if failed else 10)

    async def _on_node(self, kind: str, node: Obj) -> None:
        """Our own Node as the API has it: when someone else set it not Ready, say otherwise."""
        if kind == "DELETED" or (node.get("metadata") or {}).get("name") != self.node:
            return
        conditions = (node.get("status") or {}).get("conditions") or []
        ready = next((c.get("status") for c in conditions if c.get("type") == "Ready"), None)
        if ready != "True":
            if not self._node_status_stale:
                self._ready_since = now()
            self._node_status_stale = True
            self._beat_now.set()

    async def _on_node_sync(self, nodes: list[Obj]) -> None:
        self._beat_now.set()  # (re)connected to the apiserver: renew the Lease now

    async def _status_resync(self, period: float = 10.0) -> None:
        """Every pod whose status in the API is not the one it last posted posts it again,
        as the kubelet's status manager does (a safety net for missed updates)."""
        while True:
            await asyncio.sleep(period)
            for worker in list(self.workers.values()):
                worker.check_status(periodic=True)

    # ---- pods ------------------------------------------------------------------------------

    async def _on_pod(self, kind: str, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        worker = self.workers.get(uid)
        if kind == "DELETED":
            if worker:
                worker.vanish()
            return
        phase = (pod.get("status") or {}).get("phase")
        if worker is None:
            if phase in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp"):
                return  # finished before this kubelet started; nothing to run
            worker = PodWorker(self, pod)
            self.workers[uid] = worker
            self.by_name[(worker.ns, worker.name)] = worker
            worker.update(pod)
            worker.task = asyncio.create_task(worker.run())
            return
        worker.update(pod)

    async def _on_pod_sync(self, pods: list[Obj]) -> None:
        live = {p["metadata"]["uid"] for p in pods}
        for uid, worker in list(self.workers.items()):
            if uid not in live:
                worker.vanish()

    # ---- HTTPS endpoint ----------------------------------------------------------------------

    async def _handle_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A minimal HTTP/1.1 server: the apiserver needs streaming responses and protocol
        upgrades (SPDY, WebSocket), one request per connection."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            request_line, *lines = head.decode("latin-1").split("\r\n")
            method, target, _ = request_line.split(" ", 2)
            headers: dict[str, str] = {}
            for line in lines:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = (headers.get(k.strip().lower(), "") + "," + v.strip()).lstrip(",")
            url = urllib.parse.urlsplit(target)
            query = dict(urllib.parse.parse_qsl(url.query))
            parts = url.path.strip("/").split("/")
            if parts[0] == "containerLogs" and len(parts) == 4:
                await self._container_logs(parts[1], parts[2], parts[3], query, reader, writer)
            elif parts[0] == "portForward" and len(parts) in (3, 4):
                await self._port_forward(parts[1], parts[2], url.query, headers, reader, writer)
            elif parts[0] == "exec" and len(parts) in (4, 5):
                await self._exec(parts[1], parts[2], parts[-1], url.query, headers, reader, writer)
            elif parts[0] == "healthz":
                await _respond(writer, 200, "ok")
            else:
                await _respond(writer, 404, f"{method} {url.path}: not found on the local kubelet\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                ConnectionError, ValueError, ssl.SSLError):
            pass
        except Exception:  # noqa: BLE001 - one bad request must not kill the endpoint
            log.exception("kubelet endpoint")
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _exec(self, ns: str, pod: str, cname: str, raw_query: str, headers: dict[str, str],
                    reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        worker = self.by_name.get((ns, pod))
        c = worker.container(cname) if worker else None
        if worker is None or c is None:
            await _respond(writer, 404, f"container {cname} in pod {ns}/{pod} not found\n")
            return
        if c.instance is None or c.instance.done:
            await _respond(writer, 400, f"container {cname} is not running\n")
            return
        qs = urllib.parse.parse_qs(raw_query)
        argv = qs.get("command", [])
        if not argv:
            await _respond(writer, 400, "you must specify at least 1 command\n")
            return

        def flag(*names: str) -> bool:
            return any(qs.get(n, [""])[0] in ("1", "true") for n in names)

        want = {"error"}
        want |= {"stdin"} if flag("input", "stdin") else set()
        want |= {"stdout"} if flag("output", "stdout") else set()
        want |= {"stderr"} if flag("error", "stderr") and not flag("tty") else set()
        offered = [p.strip() for p in headers.get("x-stream-protocol-version", "").split(",") if p.strip()]
        protocol = next((p for p in execstream.PROTOCOLS if p in offered), "")
        if not headers.get("upgrade", "").lower().startswith("spdy/3.1") or not protocol:
            await _respond(writer, 400, "exec needs an SPDY/3.1 upgrade with a channel.k8s.io protocol\n")
            return
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                     b"Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: " + protocol.encode() + b"\r\n\r\n")
        await writer.drain()
        await execstream.serve(worker, c, argv, want, protocol, reader, writer)

    async def _port_forward(self, ns: str, pod: str, raw_query: str, headers: dict[str, str],
                            reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        worker = self.by_name.get((ns, pod))
        if worker is None or not worker.pod_ip:
            await _respond(writer, 404, f"pod {ns}/{pod} is not running on this node\n")
            return
        upgrade = headers.get("upgrade", "").lower()
        protocols = [p.strip() for p in headers.get("x-stream-protocol-version", "").split(",") if p.strip()]
        if upgrade.startswith("spdy/3.1"):
            if protocols and "portforward.k8s.io" not in protocols:
                await _respond(writer, 403, "unsupported port-forward protocol\n")
                return
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                         b"Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n")
            await writer.drain()
            await portforward.serve_spdy(worker.pod_ip, pod, reader, writer)
        elif upgrade == "websocket":
            # The apiserver passes the pod's ports as repeated `port` parameters.
            qs = urllib.parse.parse_qs(raw_query)
            ports = [int(p) for v in qs.get("port", []) + qs.get("ports", [])
                     for p in v.split(",") if p.strip()]
            offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
            # A client that names no subprotocol gets v4.channel.k8s.io, as from the real kubelet.
            chosen = next((p for p in ("v4.channel.k8s.io", "portforward.k8s.io") if p in offered), "" if offered else "v4.channel.k8s.io")
            if not ports or not chosen:
                await _respond(writer, 400, "port-forward over WebSocket needs ports and a known "
                               f"protocol (got ports={ports}, protocols={offered}, query={raw_query!r})\n")
                return
            accept = portforward.websocket_accept(headers.get("sec-websocket-key", ""))
            named = f"Sec-WebSocket-Protocol: {chosen}\r\n" if offered else ""
            writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{named}\r\n").encode())
            await writer.drain()
            await portforward.serve_websocket(worker.pod_ip, pod, ports, reader, writer)
        else:
            await _respond(writer, 400, "port-forward needs an SPDY/3.1 or WebSocket upgrade\n")

    async def _container_logs(self, ns: str, pod: str, cname: str, q: dict[str, str],
                              reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        worker = self.by_name.get((ns, pod))
        c = worker.container(cname) if worker else None
        if worker is None or c is None:
            await _respond(writer, 404, f"container {cname} in pod {ns}/{pod} not found\n")
            return
        previous = q.get("previous") in ("true", "1")
        follow = q.get("follow") in ("true", "1") and not previous
        timestamps = q.get("timestamps") in ("true", "1")
        if previous:
            if c.restart_count == 0:
                await _respond(writer, 400,
                               f'previous terminated container "{cname}" in pod "{pod}" not found\n')
                return
            path = c.log_path(worker.dir, c.restart_count - 1)
        else:
            if c.instance is None:
                await _respond(writer, 400, f'container "{cname}" in pod "{pod}" is waiting to start\n')
                return
            path = c.instance.log_path
        inst = c.instance
        since = None
        if q.get("sinceSeconds"):
            since = (datetime.datetime.now(datetime.timezone.utc)
                     - datetime.timedelta(seconds=int(q["sinceSeconds"])))
        elif q.get("sinceTime"):
            since = datetime.datetime.fromisoformat(q["sinceTime"].replace("Z", "+00:00"))
        limit = int(q["limitBytes"]) if q.get("limitBytes") else None
        tail = int(q["tailLines"]) if q.get("tailLines") else None

        def render(raw: bytes) -> bytes | None:
            ts, _, rest = raw.partition(b" ")
            _, _, text = rest.partition(b" ")
            if since is not None:
                try:
                    when = datetime.datetime.fromisoformat(ts.decode()[:26] + "+00:00")
                except ValueError:
                    when = since
                if when < since:
                    return None
            return (ts + b" " + text) if timestamps else text

        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
        try:
            fh = await asyncio.to_thread(open, path, "rb")
        except FileNotFoundError:
            return
        sent = 0
        try:
            lines = fh.read().splitlines(keepends=True)
            partial = b""
            if lines and not lines[-1].endswith(b"\n"):
                partial = lines.pop()
            if tail is not None:
                lines = lines[-tail:] if tail > 0 else []
            for raw in lines:
                out = render(raw)
                if out is None:
                    continue
                if limit is not None and sent + len(out) > limit:
                    writer.write(out[: limit - sent])
                    return
                writer.write(out)
                sent += len(out)
            await writer.drain()
            while follow:
                chunk = fh.read()
                if chunk:
                    partial += chunk
                    *complete, partial = partial.split(b"\n")
                    for raw in complete:
                        out = render(raw + b"\n")
                        if out is not None:
                            writer.write(out)
                    await writer.drain()
                    continue
                if inst is None or inst.done or c.instance is not inst or reader.at_eof():
                    break  # the container ended, or the client went away
                await asyncio.sleep(0.2)
        finally:
            fh.close()
            with contextlib.suppress(Exception):
                await writer.drain()

    async def _serve(self) -> None:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.cfg.pki / "kubelet.crt"), str(self.cfg.pki / "kubelet.key"))
        # Only clients with a certificate from the cluster CA (the apiserver) may use the
        # endpoint: it can run commands in every pod.
        ctx.load_verify_locations(str(self.cfg.pki / "ca.crt"))
        ctx.verify_mode = ssl.CERT_REQUIRED
        await asyncio.start_server(self._handle_http, "127.0.0.1", self.cfg.ports.kubelet, ssl=ctx,
                                   reuse_address=True)

    # ---- main ------------------------------------------------------------------------------

    async def run(self) -> None:
        for netns in await asyncio.to_thread(network.list_netns):
            await asyncio.to_thread(network.delete_sandbox, netns)
        await self._serve()
        await self.register()
        await asyncio.gather(
            self._heartbeat(),
            self._hosts_writer(),
            self._status_resync(),
            informer(self.client, "/api/v1/nodes", self._on_node,
                     params={"fieldSelector": f"metadata.name={self.node}"},
                     on_sync=self._on_node_sync),
            informer(self.client, "/api/v1/pods", self._on_pod,
                     params={"fieldSelector": f"spec.nodeName={self.node}"},
                     on_sync=self._on_pod_sync),
        )


__all__ = ["Kubelet", "KUBERNETES_SERVICE_IP"]
