"""How to reach a port of the scheduler Service from wherever this process runs.

``plan_route`` is pure: it lists the Service's direct addresses in the order to try them and
says whether port-forwarding is allowed. ``find_reachable`` does the probing (TCP connects,
and DNS only inside a pod, where cluster DNS or hosts entries exist).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

SCHEDULER_PORT_NAME = "tcp-comm"
DASHBOARD_PORT_NAME = "http-dashboard"


class Forwarding(Enum):
    NEVER = "never"  # use a direct address even if it does not answer
    FALLBACK = "fallback"  # forward only when no direct address answers
    ALWAYS = "always"  # skip the direct addresses


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    source: str  # "dns", "load-balancer", "node-port", "cluster-ip" or "external-name"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class Route:
    candidates: list[Endpoint] = field(default_factory=list)
    forwarding: Forwarding = Forwarding.FALLBACK
    target_port: int | str = 0  # the pod-side port (number or container port name) to forward to


def find_service_port(service: dict[str, Any], port_name: str) -> dict[str, Any]:
    ports = (service.get("spec") or {}).get("ports") or []
    for port in ports:
        if port.get("name") == port_name:
            return dict(port)
    names = ", ".join(str(p.get("name")) for p in ports) or "none"
    raise ValueError(
        f"Service {service.get('metadata', {}).get('name')} has no port named {port_name!r} "
        f"(ports: {names})"
    )


def _node_addresses(nodes: list[dict[str, Any]]) -> list[str]:
    by_type: dict[str, list[str]] = {"ExternalIP": [], "InternalIP": []}
    for node in nodes:
        for address in (node.get("status") or {}).get("addresses") or []:
            if address.get("type") in by_type and address.get("address"):
                by_type[address["type"]].append(address["address"])
    seen: dict[str, None] = {}
    for address in by_type["ExternalIP"] + by_type["InternalIP"]:
        seen.setdefault(address)
    return list(seen)


def plan_route(
    service: dict[str, Any],
    port_name: str,
    *,
    nodes: list[dict[str, Any]] | None = None,
    in_pod: bool = False,
    port_forward_cluster_ip: bool | None = None,
) -> Route:
    """Where to look for *port_name* of *service*, best first.

    Inside a pod the Service DNS name comes first. Then a LoadBalancer's ingress, then
    NodePorts on the nodes' external and internal addresses, then the ClusterIP (routed in
    pods, and from hosts whose network reaches the Service CIDR). ``port_forward_cluster_ip``
    True skips the direct addresses of a ClusterIP Service; False never forwards.
    """
    spec = service.get("spec") or {}
    metadata = service.get("metadata") or {}
    port = find_service_port(service, port_name)
    number = int(port["port"])
    target_port: int | str = port.get("targetPort") or number
    service_type = spec.get("type") or "ClusterIP"

    if port_forward_cluster_ip is False:
        forwarding = Forwarding.NEVER
    elif port_forward_cluster_ip and service_type == "ClusterIP":
        return Route([], Forwarding.ALWAYS, target_port)
    else:
        forwarding = Forwarding.FALLBACK

    candidates: list[Endpoint] = []
    if service_type == "ExternalName" and spec.get("externalName"):
        candidates.append(Endpoint(spec["externalName"], number, "external-name"))
    if in_pod and metadata.get("name") and metadata.get("namespace"):
        candidates.append(Endpoint(f"{metadata['name']}.{metadata['namespace']}", number, "dns"))
    if service_type == "LoadBalancer":
        for ingress in (service.get("status") or {}).get("loadBalancer", {}).get("ingress") or []:
            host = ingress.get("ip") or ingress.get("hostname")
            if host:
                candidates.append(Endpoint(host, number, "load-balancer"))
    if service_type in ("NodePort", "LoadBalancer") and port.get("nodePort"):
        for address in _node_addresses(nodes or []):
            candidates.append(Endpoint(address, int(port["nodePort"]), "node-port"))
    cluster_ip = spec.get("clusterIP")
    if cluster_ip and cluster_ip != "None":
        candidates.append(Endpoint(cluster_ip, number, "cluster-ip"))
    return Route(candidates, forwarding, target_port)


async def probe(endpoint: Endpoint, timeout: float = 2.0) -> str:
    """Try a TCP connection: "open", "refused" (a route but no listener yet) or "unreachable"."""
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(endpoint.host, endpoint.port), timeout
        )
    except ConnectionRefusedError:
        return "refused"
    except (OSError, asyncio.TimeoutError):
        return "unreachable"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return "open"


async def answers(endpoint: Endpoint, timeout: float = 2.0) -> bool:
    """True if a TCP connection to *endpoint* succeeds within *timeout* seconds."""
    return await probe(endpoint, timeout) == "open"


async def find_reachable(
    candidates: list[Endpoint], timeout: float = 2.0, settle: float = 5.0
) -> Endpoint | None:
    """The first candidate (in order) that answers, or None.

    A refused connection means the address is routed but the Service has no ready backend
    there yet (its endpoints are still being programmed): such rounds are retried for up to
    *settle* seconds. Addresses that do not answer at all are not worth waiting for.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settle
    while True:
        refused = False
        for endpoint in candidates:
            result = await probe(endpoint, timeout)
            if result == "open":
                return endpoint
            refused = refused or result == "refused"
        if not refused or loop.time() >= deadline:
            return None
        await asyncio.sleep(0.5)


def resolve_container_port(pod: dict[str, Any], target: int | str) -> int:
    """The pod port a Service ``targetPort`` (number or container port name) points at."""
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target:
                return int(port["containerPort"])
    raise ValueError(f"pod {pod.get('metadata', {}).get('name')} has no port named {target!r}")
