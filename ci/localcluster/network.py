"""Pod networking with iproute2: one bridge, one network namespace + veth pair per pod.

Every address created here lives on the bridge or inside a pod namespace; nothing is routed
to the outside (ip_forward stays as it is, no NAT).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .config import (
    BRIDGE,
    BRIDGE_IP,
    BRIDGE_MAC,
    NETNS_PREFIX,
    POD_CIDR,
    POD_PREFIX_LEN,
    VETH_PREFIX,
)

NETNS_ETC = Path("/etc/netns")


class NetworkError(RuntimeError):
    pass


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def link_exists(name: str) -> bool:
    return ip("link", "show", name, check=False).returncode == 0


def ensure_bridge() -> None:
    if not link_exists(BRIDGE):
        ip("link", "add", BRIDGE, "type", "bridge")
    # Without an address of its own, a Linux bridge takes the lowest MAC among its ports, so it
    # changes whenever a pod's veth comes or goes. Pods keep the old MAC for their gateway in
    # their ARP cache and their packets to Services and the host are dropped until it expires:
    # connections stall for tens of seconds (watches, probes, heartbeats). A set address stays.
    if f"link/ether {BRIDGE_MAC} " not in ip("link", "show", BRIDGE).stdout:
        ip("link", "set", BRIDGE, "address", BRIDGE_MAC)
    addrs = ip("-o", "-4", "addr", "show", "dev", BRIDGE).stdout
    if f"inet {BRIDGE_IP}/{POD_PREFIX_LEN}" not in addrs:
        ip("addr", "add", f"{BRIDGE_IP}/{POD_PREFIX_LEN}", "dev", BRIDGE)
    ip("link", "set", BRIDGE, "up")


def bridge_addresses() -> list[str]:
    """Every /32 (ClusterIP) address currently on the bridge."""
    if not link_exists(BRIDGE):
        return []
    out = ip("-o", "-4", "addr", "show", "dev", BRIDGE).stdout
    result = []
    for line in out.splitlines():
        parts = line.split()
        cidr = parts[parts.index("inet") + 1]
        if cidr.endswith("/32"):
            result.append(cidr[:-3])
    return result


def add_service_ip(addr: str) -> None:
    proc = ip("addr", "add", f"{addr}/32", "dev", BRIDGE, check=False)
    if proc.returncode != 0 and "File exists" not in proc.stderr:
        raise NetworkError(f"cannot add {addr} to {BRIDGE}: {proc.stderr.strip()}")


def del_service_ip(addr: str) -> None:
    ip("addr", "del", f"{addr}/32", "dev", BRIDGE, check=False)


class IPAM:
    """Hands out pod IPs from the pod CIDR, cycling so a freed address is not reused at once."""

    def __init__(self, cidr: str = POD_CIDR) -> None:
        net = ipaddress.ip_network(cidr)
        self._first = int(net.network_address) + 2  # .1 is the bridge
        self._last = int(net.broadcast_address) - 1
        self._next = self._first
        self._used: set[int] = set()

    def allocate(self, prefer: str = "") -> str:
        """A free address; `prefer` (e.g. the pod's IP before an agent restart) if possible."""
        if prefer:
            try:
                wanted = int(ipaddress.ip_address(prefer))
            except ValueError:
                wanted = 0
            if self._first <= wanted <= self._last and wanted not in self._used:
                self._used.add(wanted)
                return prefer
        for _ in range(self._last - self._first + 1):
            candidate = self._next
            self._next = self._first if self._next >= self._last else self._next + 1
            if candidate not in self._used:
                self._used.add(candidate)
                return str(ipaddress.ip_address(candidate))
        raise NetworkError("pod CIDR exhausted")

    def release(self, addr: str) -> None:
        self._used.discard(int(ipaddress.ip_address(addr)))


def netns_name(pod_uid: str) -> str:
    return NETNS_PREFIX + pod_uid.replace("-", "")[:12]


def veth_name(netns: str) -> str:
    return (VETH_PREFIX + netns[len(NETNS_PREFIX):])[:15]


def create_sandbox(netns: str, pod_ip: str, hosts: str, resolv: str) -> None:
    """Creates the pod's namespace, wires it to the bridge and writes its hosts/resolv files."""
    etc = NETNS_ETC / netns
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "hosts").write_text(hosts)
    (etc / "resolv.conf").write_text(resolv)
    veth = veth_name(netns)
    if not Path(f"/run/netns/{netns}").exists():
        ip("netns", "add", netns)
    if link_exists(veth):
        ip("link", "del", veth)
    ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
    ip("link", "set", veth, "master", BRIDGE, "up")
    ip("-n", netns, "link", "set", "lo", "up")
    ip("-n", netns, "addr", "add", f"{pod_ip}/{POD_PREFIX_LEN}", "dev", "eth0")
    ip("-n", netns, "link", "set", "eth0", "up")
    ip("-n", netns, "route", "add", "default", "via", BRIDGE_IP)


def netns_pids(netns: str) -> list[int]:
    out = ip("netns", "pids", netns, check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def kill_netns_processes(netns: str, timeout: float = 0.0) -> None:
    """SIGKILLs whatever still runs in the namespace (SIGTERM first if timeout > 0)."""
    signals = [signal.SIGTERM, signal.SIGKILL] if timeout > 0 else [signal.SIGKILL]
    for sig in signals:
        pids = netns_pids(netns)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + (timeout if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < deadline and netns_pids(netns):
            time.sleep(0.05)


def delete_sandbox(netns: str) -> None:
    kill_netns_processes(netns)
    veth = veth_name(netns)
    ip("link", "del", veth, check=False)
    ip("netns", "del", netns, check=False)
    shutil.rmtree(NETNS_ETC / netns, ignore_errors=True)


def list_netns() -> list[str]:
    out = ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(NETNS_PREFIX)]


def cleanup_all() -> list[str]:
    """Removes every pod namespace, veth, hosts directory and the bridge (with its ClusterIPs)."""
    removed = []
    for netns in list_netns():
        delete_sandbox(netns)
        removed.append(f"netns {netns}")
    if NETNS_ETC.exists():
        for d in NETNS_ETC.glob(NETNS_PREFIX + "*"):
            shutil.rmtree(d, ignore_errors=True)
        try:
            NETNS_ETC.rmdir()  # only if empty: other users of /etc/netns keep theirs
        except OSError:
            pass
    out = ip("-o", "link", "show", check=False).stdout
    for line in out.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(VETH_PREFIX) and len(name) == 15:
            ip("link", "del", name, check=False)
            removed.append(f"link {name}")
    if link_exists(BRIDGE):
        ip("link", "del", BRIDGE, check=False)
        removed.append(f"bridge {BRIDGE}")
    return removed
