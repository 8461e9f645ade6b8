"""Service names for pods, as hosts-file lines (pure; the kubelet writes them per pod)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .config import CLUSTER_DOMAIN

Obj = Mapping[str, Any]


def service_names(name: str, ns: str, pod_ns: str, domain: str = CLUSTER_DOMAIN) -> list[str]:
    names = [f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.{domain}"]
    return ([name] if ns == pod_ns else []) + names


def hosts_file(pod_ns: str, pod_ip: str, pod_name: str, services: Iterable[Obj],
               headless: Mapping[tuple[str, str], list[tuple[str, str | None]]],
               domain: str = CLUSTER_DOMAIN) -> str:
    """/etc/hosts for one pod.

    services: Service objects; headless: (ns, name) -> [(ready endpoint IP, hostname or None)]
    for Services without a ClusterIP.
    """
    lines = ["# Kubernetes-managed hosts file (local cluster).",
             "127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    if pod_ip:
        lines.append(f"{pod_ip}\t{pod_name}")
    for svc in sorted(services, key=lambda s: (s["metadata"]["namespace"], s["metadata"]["name"])):
        meta, spec = svc["metadata"], svc.get("spec") or {}
        ns, name = meta["namespace"], meta["name"]
        names = service_names(name, ns, pod_ns, domain)
        ip = spec.get("clusterIP")
        if ip and ip != "None":
            lines.append(f"{ip}\t{' '.join(names)}")
            continue
        for addr, hostname in headless.get((ns, name), []):
            lines.append(f"{addr}\t{' '.join(names)}")
            if hostname:
                lines.append(f"{addr}\t{' '.join(f'{hostname}.{n}' for n in names)}")
    return "\n".join(lines) + "\n"


def resolv_conf(pod_ns: str, domain: str = CLUSTER_DOMAIN) -> str:
    # Names not in the hosts file must fail fast: nothing listens on the pod's own loopback.
    return (f"search {pod_ns}.svc.{domain} svc.{domain} {domain}\n"
            "nameserver 127.0.0.1\noptions ndots:5 attempts:1 timeout:1\n")
