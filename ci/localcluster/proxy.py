"""A userspace kube-proxy: every Service ClusterIP:port (TCP) forwards to a ready endpoint.

Each ClusterIP is a /32 address on the cluster bridge, so the host and every pod (whose default
route is the bridge) reach it. NodePort and LoadBalancer Services also listen on the node's
address (``NODE_IP``:nodePort, reachable from the host). Each LoadBalancer Service gets an
address of its own from ``load_balancer_cidr`` (a /32 on the bridge, written to its
``status.loadBalancer.ingress``, like MetalLB), listening on its ports. A port listens only
while its Service has a ready endpoint, so a Service without endpoints refuses connections,
like kube-proxy's REJECT rule.

Connections outlive their Service, as conntrack keeps them with kube-proxy: when a Service goes
(or loses its endpoints, or changes ports) its ports stop accepting, but connections already
established go on to the same endpoint, and its address stays on the bridge until the last of
them has ended (e.g. workers connected to a scheduler Service that is deleted and re-created).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import logging
import socket
from collections.abc import Callable, Mapping
from typing import Any

from . import network
from .config import NODE_IP, ClusterConfig
from .kube import Client, informer

log = logging.getLogger("localcluster.proxy")
Obj = dict[str, Any]
Key = tuple[str, str]


def ready_endpoints(slices: list[Obj], port_name: str) -> list[tuple[str, int]]:
    """(ip, port) of every ready endpoint in the slices that serves the named Service port."""
    result = []
    for sl in slices:
        port = next((p.get("port") for p in sl.get("ports") or []
                     if (p.get("name") or "") == port_name and p.get("protocol", "TCP") == "TCP"), None)
        if port is None:
            continue
        for ep in sl.get("endpoints") or []:
            if (ep.get("conditions") or {}).get("ready", True) is False:
                continue
            for addr in ep.get("addresses") or []:
                result.append((addr, int(port)))
    return sorted(set(result))


def headless_records(slices: list[Obj]) -> list[tuple[str, str | None]]:
    out = []
    for sl in slices:
        for ep in sl.get("endpoints") or []:
            if (ep.get("conditions") or {}).get("ready", True) is False:
                continue
            for addr in ep.get("addresses") or []:
                out.append((addr, ep.get("hostname")))
    return sorted(set(out), key=lambda r: r[0])


async def _pipe(src: socket.socket, dst: socket.socket) -> None:
    """Copy ``src`` to ``dst`` until EOF, then half-close ``dst``.

    Plain non-blocking sockets and ``loop.sock_*``: a waiting copy is always registered with the
    event loop (asyncio streams pause reading under back-pressure, and a connection whose both
    sides were paused was once garbage-collected mid-stream, stalling a client's watch).
    """
    loop = asyncio.get_running_loop()
    try:
        while True:
            data = await loop.sock_recv(src, 65536)
            if not data:
                break
            await loop.sock_sendall(dst, data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
    except OSError:
        # A reset on one side must reach the other: left open, a peer that only listens
        # (e.g. a Dask scheduler holding a dead worker's connection) would never notice.
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Listener:
    """One ClusterIP:port, forwarding each connection to a ready endpoint (round robin)."""

    def __init__(self, proxy: ServiceProxy, key: Key, port_name: str) -> None:
        self.proxy = proxy
        self.key = key
        self.port_name = port_name
        self._sock: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._connections: set[asyncio.Task[None]] = set()  # strong references while they run
        self._rr = itertools.count()
        self.address: tuple[str, int] | None = None
        self.closed = False

    @property
    def busy(self) -> bool:
        """Whether connections accepted here are still open."""
        return bool(self._connections)

    def targets(self) -> list[tuple[str, int]]:
        if self.key == ("default", "kubernetes"):
            return [("127.0.0.1", self.proxy.cfg.ports.apiserver)]
        return ready_endpoints(self.proxy.slices_of(self.key), self.port_name)

    def listen(self, host: str, port: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self.address = (host, port)
        self._accepting = asyncio.get_running_loop().create_task(self._accept(sock))

    def close(self) -> None:
        """Stop accepting; established connections go on, as with kube-proxy. The listening
        socket is closed by the accept task once its pending accept is withdrawn (closing a
        socket the event loop still watches could hit a reused descriptor)."""
        self.closed = True
        if self._accepting is not None:
            self._accepting.cancel()

    def _connection_ended(self, task: asyncio.Task[None]) -> None:
        self._connections.discard(task)
        if self.closed and not self._connections:
            self.proxy.listener_drained()

    async def _accept(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    client, _ = await loop.sock_accept(sock)
                except OSError as err:
                    log.warning("accept on %s/%s: %s", *self.key, err)
                    await asyncio.sleep(0.1)
                    continue
                client.setblocking(False)
                task = loop.create_task(self.handle(client))
                self._connections.add(task)
                task.add_done_callback(self._connection_ended)
        finally:
            sock.close()

    async def _connect(self) -> socket.socket | None:
        loop = asyncio.get_running_loop()
        targets = self.targets()
        start = next(self._rr)
        for i in range(len(targets)):
            host, port = targets[(start + i) % len(targets)]
            upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            upstream.setblocking(False)
            try:
                await asyncio.wait_for(loop.sock_connect(upstream, (host, port)), 5)
                return upstream
            except (OSError, asyncio.TimeoutError):
                upstream.close()
        return None

    async def handle(self, client: socket.socket) -> None:
        upstream = None
        try:
            upstream = await self._connect()
            if upstream is not None:
                await asyncio.gather(_pipe(client, upstream), _pipe(upstream, client))
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    sock.close()


class ServiceProxy:
    def __init__(self, cfg: ClusterConfig, client: Client,
                 on_change: Callable[[Mapping[Key, Obj], Mapping[Key, list[tuple[str, str | None]]]], None],
                 on_services: Callable[[Mapping[Key, Obj]], None] | None = None) -> None:
        """``on_change(services, headless records)`` follows each reconcile pass;
        ``on_services(services)`` follows every listing of and change to the Services, whether
        or not a pass succeeds (the kubelet builds container environments from them)."""
        self.cfg = cfg
        self.client = client
        self.on_change = on_change
        self.on_services = on_services
        self.services: dict[Key, Obj] = {}
        self.slices: dict[Key, Obj] = {}  # by (ns, slice name)
        self.listeners: dict[tuple[str, int], Listener] = {}
        # Closed listeners whose connections still run: their addresses stay on the bridge.
        self.draining: set[Listener] = set()
        self.load_balancer_ips: dict[Key, str] = {}
        self._dirty = asyncio.Event()
        self._synced = {"services": False, "slices": False}

    def listener_drained(self) -> None:
        """The last connection of a closed listener ended: its address may go."""
        self._dirty.set()

    def slices_of(self, key: Key) -> list[Obj]:
        ns, name = key
        return [s for (sns, _), s in self.slices.items() if sns == ns and
                (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name") == name]

    async def _on_service(self, kind: str, svc: Obj) -> None:
        key = (svc["metadata"]["namespace"], svc["metadata"]["name"])
        if kind == "DELETED":
            self.services.pop(key, None)
        else:
            self.services[key] = svc
        self._services_read()
        self._dirty.set()

    async def _on_slice(self, kind: str, sl: Obj) -> None:
        key = (sl["metadata"]["namespace"], sl["metadata"]["name"])
        if kind == "DELETED":
            self.slices.pop(key, None)
        else:
            self.slices[key] = sl
        self._dirty.set()

    async def _sync_services(self, items: list[Obj]) -> None:
        self.services = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in items}
        self._synced["services"] = True
        self._services_read()
        self._dirty.set()

    def _services_read(self) -> None:
        if self.on_services is not None:
            self.on_services(self.services)

    async def _sync_slices(self, items: list[Obj]) -> None:
        self.slices = {}
        self._synced["slices"] = True

    def load_balancer_ip(self, key: Key) -> str | None:
        """The pool address of a LoadBalancer Service: kept while it exists, else the one its
        status names (e.g. after an agent restart) if free, else the first free one."""
        svc = self.services.get(key) or {}
        if (svc.get("spec") or {}).get("type") != "LoadBalancer":
            self.load_balancer_ips.pop(key, None)
            return None
        if key in self.load_balancer_ips:
            return self.load_balancer_ips[key]
        pool = ipaddress.ip_network(self.cfg.load_balancer_cidr)
        taken = set(self.load_balancer_ips.values())
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        previous = [i.get("ip") for i in ingress if i.get("ip")]
        for candidate in previous + [str(h) for h in pool.hosts()]:
            if ipaddress.ip_address(candidate) in pool and candidate not in taken:
                self.load_balancer_ips[key] = candidate
                return candidate
        log.warning("load balancer pool %s is exhausted; %s/%s gets no address", pool, *key)
        return None

    def desired(self) -> dict[tuple[str, int], tuple[Key, str]]:
        want = {}
        for key in [k for k in self.load_balancer_ips if k not in self.services]:
            del self.load_balancer_ips[key]
        for key, svc in self.services.items():
            spec = svc.get("spec") or {}
            ips = [ip for ip in (spec.get("clusterIPs") or [spec.get("clusterIP")]) if ip and ip != "None"]
            lb_ip = self.load_balancer_ip(key)
            if lb_ip:
                ips.append(lb_ip)
            for port in spec.get("ports") or []:
                if port.get("protocol", "TCP") != "TCP":
                    continue
                name = port.get("name") or ""
                if key != ("default", "kubernetes") and not ready_endpoints(self.slices_of(key), name):
                    continue
                for ip in ips:
                    if ":" not in ip:
                        want[(ip, int(port["port"]))] = (key, name)
                if spec.get("type") in ("NodePort", "LoadBalancer") and port.get("nodePort"):
                    want[(NODE_IP, int(port["nodePort"]))] = (key, name)
        return want

    def wanted_addresses(self, want: Mapping[tuple[str, int], tuple[Key, str]]) -> set[str]:
        """The addresses the bridge must carry: every Service's ClusterIP and load-balancer
        address, and those of closed ports whose connections still run."""
        cluster_ips = {ip for svc in self.services.values()
                       for ip in [(svc.get("spec") or {}).get("clusterIP")]
                       if ip and ip != "None" and ":" not in ip}
        draining = {listener.address[0] for listener in self.draining if listener.address}
        listening = {ip for ip, _ in want}
        return (set(self.load_balancer_ips.values()) | listening | cluster_ips | draining) - {NODE_IP}

    async def _reconcile(self) -> None:
        want = self.desired()
        for addr, listener in list(self.listeners.items()):
            if want.get(addr) != (listener.key, listener.port_name):
                listener.close()
                del self.listeners[addr]
                self.draining.add(listener)
        self.draining = {listener for listener in self.draining if listener.busy}
        wanted_ips = self.wanted_addresses(want)
        present = set(await asyncio.to_thread(network.bridge_addresses))
        for ip in wanted_ips - present:
            await asyncio.to_thread(network.add_service_ip, ip)
        for ip in present - wanted_ips:
            await asyncio.to_thread(network.del_service_ip, ip)
        for addr, (key, name) in want.items():
            if addr in self.listeners:
                continue
            listener = Listener(self, key, name)
            try:
                listener.listen(addr[0], addr[1])
            except OSError as err:
                # e.g. the previous listener's socket is still closing: try again shortly
                log.warning("cannot listen on %s:%s for %s/%s: %s", *addr, *key, err)
                asyncio.get_running_loop().call_later(1, self._dirty.set)
                continue
            self.listeners[addr] = listener
        await self._publish_load_balancer_ips()
        headless = {key: headless_records(self.slices_of(key)) for key, svc in self.services.items()
                    if (svc.get("spec") or {}).get("clusterIP") in (None, "", "None")}
        self.on_change(self.services, headless)

    async def _publish_load_balancer_ips(self) -> None:
        """Write each LoadBalancer Service's address to its status (once; the watch brings the
        change back, and then nothing differs)."""
        for key, ip in self.load_balancer_ips.items():
            status = (self.services.get(key) or {}).get("status") or {}
            published = [i.get("ip") for i in (status.get("loadBalancer") or {}).get("ingress") or []]
            if published == [ip]:  # compare addresses only: a server may drop fields it does not know
                continue
            want = [{"ip": ip, "ipMode": "VIP"}]
            ns, name = key
            try:
                await self.client.patch_status(f"/api/v1/namespaces/{ns}/services/{name}",
                                               {"status": {"loadBalancer": {"ingress": want}}})
            except Exception as err:  # noqa: BLE001 - e.g. deleted meanwhile
                log.warning("cannot publish %s for %s/%s: %s", ip, *key, err)
                asyncio.get_running_loop().call_later(1, self._dirty.set)  # try again shortly

    async def _reconciler(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(0.05)  # coalesce bursts
            self._dirty.clear()
            if not all(self._synced.values()):
                continue
            try:
                await self._reconcile()
            except Exception:  # noqa: BLE001 - keep proxying
                log.exception("service proxy reconcile failed")
                await asyncio.sleep(1)
                self._dirty.set()

    async def run(self) -> None:
        await asyncio.gather(
            self._reconciler(),
            informer(self.client, "/api/v1/services", self._on_service, on_sync=self._sync_services),
            informer(self.client, "/apis/discovery.k8s.io/v1/endpointslices", self._on_slice,
                     on_sync=self._sync_slices),
        )
