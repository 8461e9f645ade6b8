"""The real node: the real kubelet, containerd + runc, kube-proxy (nftables) and CoreDNS join
the local control plane instead of the process kubelet (`ci/cluster up --node real`).

Everything the node touches is either under ``<state>/realnode`` and ``/run/dkrealnode<N>``,
inside its network namespace ``dkrn<N>``, or below the cgroup ``/dkrealnode<N>``; the few
host-wide things the kubelet changes (sysctls, a handful of fixed paths) are recorded by
:func:`start` and put back by :func:`stop`. Addresses and config files: :mod:`.realnode_config`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from . import network, pki, procs
from . import realnode_config as rc
from .config import BRIDGE_IP, REPO_ROOT, SERVICE_CIDR, ClusterConfig

# Daemons in start order; `stop` ends them in reverse. All but the forwarder run in the netns.
COMPONENTS = ["apiserver-forward", "registry", "containerd", "kubelet", "kube-proxy"]
PID_PREFIX = "realnode-"
CGROUP_ROOT = Path("/sys/fs/cgroup")
SYSCTLS_SAVED = "sysctl.orig"
HOST_PATHS_CREATED = "host-paths-created"
WAIT_STEP = 0.2


class RealNodeError(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f"[localcluster] real node: {msg}", file=sys.stderr, flush=True)


def layout(cfg_or_state: ClusterConfig | Path, instance: int | None = None) -> rc.Layout:
    if isinstance(cfg_or_state, ClusterConfig):
        return rc.Layout(cfg_or_state.instance, cfg_or_state.state_path / "realnode")
    assert instance is not None
    return rc.Layout(instance, cfg_or_state / "realnode")


def _run(*argv: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, input=input)
    if check and proc.returncode != 0:
        raise RealNodeError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def _in_netns(lay: rc.Layout, *argv: str) -> list[str]:
    # nsenter joins only the network namespace; `ip netns exec` would also remount /sys, which
    # hides the cgroup hierarchies from the kubelet and containerd.
    return ["nsenter", f"--net=/run/netns/{lay.netns}", "--", *argv]


def _wait(what: str, check: Callable[[], bool], timeout: float, lay: rc.Layout,
          component: str | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, subprocess.SubprocessError):
            if check():
                return
        if component and procs.read_pid(lay.path("run"), PID_PREFIX + component) is None:
            raise RealNodeError(f"{component} exited while waiting for {what}:\n{_tail(lay, component)}")
        time.sleep(WAIT_STEP)
    raise RealNodeError(f"timed out after {timeout:.0f}s waiting for {what}")


def _tail(lay: rc.Layout, component: str, lines: int = 30) -> str:
    try:
        text = lay.path("logs", f"{PID_PREFIX}{component}.log").read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _spawn(lay: rc.Layout, component: str, argv: list[str]) -> None:
    procs.spawn(PID_PREFIX + component, argv, lay.path("run"), lay.path("logs"))


# --- start ------------------------------------------------------------------------------------

def build_images() -> Path:
    """ci/build-images.sh (a no-op when nothing changed): the registry storage directory."""
    script = REPO_ROOT / "ci" / "build-images.sh"
    proc = subprocess.run(["bash", str(script)], stdout=subprocess.PIPE, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        raise RealNodeError(f"{script} failed with exit code {proc.returncode}")
    for line in lines[:-1]:
        print(line, file=sys.stderr)
    return Path(lines[-1].strip())


def start(cfg: ClusterConfig) -> None:
    """Starts the node's daemons (the control plane already runs) and returns once the
    kubelet runs; the caller waits for the Node to become Ready, then calls :func:`finish`."""
    lay = layout(cfg)
    if not os.access(cfg.binary("kubelet"), os.X_OK):
        raise RealNodeError(f"missing {cfg.binary('kubelet')} (DASK_LOCALCLUSTER_NODE=real ci/build-tools.sh builds it)")
    storage = build_images()
    started = time.monotonic()
    _write_files(cfg, lay, storage)
    _record_host_state(lay)
    _make_cgroups(lay)
    _make_network(lay)
    _spawn(lay, "apiserver-forward", [
        "socat", f"TCP-LISTEN:{cfg.ports.apiserver},bind={BRIDGE_IP},fork,reuseaddr",
        f"TCP:127.0.0.1:{cfg.ports.apiserver}"])
    _spawn(lay, "registry", _in_netns(lay, "docker-registry", "serve", str(lay.path("registry.yml"))))
    _spawn(lay, "containerd", _in_netns(lay, "containerd", "--config", str(lay.path("containerd.toml"))))
    _wait("containerd's socket", lambda: _connects_unix(lay.containerd_socket), 30, lay, "containerd")
    _spawn(lay, "kubelet", _in_netns(
        lay, cfg.binary("kubelet"), f"--config={lay.path('kubelet.yaml')}",
        f"--kubeconfig={lay.path('kubelet.kubeconfig')}", f"--root-dir={lay.kubelet_root}",
        f"--cert-dir={lay.kubelet_root / 'pki'}", f"--hostname-override={rc.NODE_NAME}",
        f"--node-ip={lay.node_ip}", "--v=1"))
    _spawn(lay, "kube-proxy", _in_netns(lay, cfg.binary("kube-proxy"), f"--config={lay.path('kube-proxy.yaml')}", "--v=1"))
    _kubectl(cfg, "apply", "-f", "-", input=json.dumps(rc.kubernetes_endpoints(BRIDGE_IP, cfg.ports.apiserver)))
    log(f"kubelet, containerd, kube-proxy started in {time.monotonic() - started:.1f}s")


def finish(cfg: ClusterConfig) -> None:
    """Once the Node is Ready: CoreDNS, and wait until it answers."""
    lay = layout(cfg)
    _kubectl(cfg, "apply", "-f", "-", input=rc.as_yaml_stream(rc.coredns_manifests(lay)))
    _kubectl(cfg, "-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=120s")
    log(f"CoreDNS ready at {lay.dns_ip}")


def _kubectl(cfg: ClusterConfig, *args: str, input: str | None = None) -> str:
    return _run(cfg.binary("kubectl"), f"--kubeconfig={cfg.kubeconfig}", *args, input=input).stdout


def _connects_unix(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(0.5)
        return s.connect_ex(str(path)) == 0


def _write_files(cfg: ClusterConfig, lay: rc.Layout, storage: Path) -> None:
    for sub in ("run", "logs", "cni/net.d", "pod-logs"):
        lay.path(*sub.split("/")).mkdir(parents=True, exist_ok=True)
    for d in (lay.run, lay.kubelet_root / "pki"):
        d.mkdir(parents=True, exist_ok=True)
    lay.path("containerd.toml").write_text(rc.containerd_toml(lay))
    for registry in rc.MIRRORED_REGISTRIES:
        d = lay.path("certs.d", registry)
        d.mkdir(parents=True, exist_ok=True)
        (d / "hosts.toml").write_text(rc.mirror_hosts_toml(registry))
    lay.path("registry.yml").write_text(rc.registry_yml(storage))
    lay.path("cni", "net.d", "10-realnode.conflist").write_text(json.dumps(rc.cni_conflist(lay), indent=1))
    lay.path("kubelet.yaml").write_text(json.dumps(rc.kubelet_config(lay, cfg.pki / "ca.crt"), indent=1))
    lay.path("kube-proxy.yaml").write_text(
        json.dumps(rc.kube_proxy_config(lay, lay.path("kube-proxy.kubeconfig")), indent=1))
    # The node reaches the apiserver through the forwarder on BRIDGE_IP (in its certificate).
    server = f"https://{BRIDGE_IP}:{cfg.ports.apiserver}"
    ca = pki.Authority.load(cfg.pki)
    ca_pem = (cfg.pki / "ca.crt").read_bytes()
    for name, cn, org in (("kubelet", f"system:node:{rc.NODE_NAME}", "system:nodes"),
                          ("kube-proxy", "system:kube-proxy", None)):
        crt, key = ca.issue(cn, org)
        pki.write_kubeconfig(lay.path(f"{name}.kubeconfig"), server, ca_pem, crt, key)


def _record_host_state(lay: rc.Layout) -> None:
    """What `stop` must put back: the kubelet's sysctls, the host paths it will create."""
    saved = lay.path(SYSCTLS_SAVED)
    if not saved.exists():  # a repair must not record the kubelet's own values
        values = {k: _run("sysctl", "-n", k).stdout.strip() for k in rc.KUBELET_SYSCTLS}
        saved.write_text(json.dumps(values, indent=1))
    created = lay.path(HOST_PATHS_CREATED)
    if not created.exists():
        created.write_text("".join(p + "\n" for p in rc.HOST_PATHS if not os.path.lexists(p)))


def _hierarchies() -> list[Path]:
    return sorted(p for p in CGROUP_ROOT.iterdir() if p.is_dir())


def _make_cgroups(lay: rc.Layout) -> None:
    """The kubelet's cgroupRoot must exist in every hierarchy (it checks before it starts)."""
    for hierarchy in _hierarchies():
        d = hierarchy / lay.cgroup
        d.mkdir(exist_ok=True)
        if hierarchy.name == "cpuset":  # a new cpuset has no CPUs or memory nodes of its own
            for f in ("cpuset.cpus", "cpuset.mems"):
                (d / f).write_text((hierarchy / f).read_text())


def _make_network(lay: rc.Layout) -> None:
    if lay.netns not in network.ip("netns", "list").stdout.split():
        network.ip("netns", "add", lay.netns)
    if not network.link_exists(lay.host_veth):
        network.ip("link", "add", lay.host_veth, "type", "veth", "peer", "name", lay.node_veth)
        network.ip("link", "set", lay.node_veth, "netns", lay.netns)
        network.ip("-n", lay.netns, "link", "set", lay.node_veth, "name", "eth0")
        network.ip("-n", lay.netns, "addr", "add", f"{lay.node_ip}/30", "dev", "eth0")
        network.ip("-n", lay.netns, "link", "set", "eth0", "up")
        network.ip("-n", lay.netns, "link", "set", "lo", "up")
        network.ip("-n", lay.netns, "route", "add", "default", "via", lay.host_ip)
        network.ip("addr", "add", f"{lay.host_ip}/30", "dev", lay.host_veth)
        network.ip("link", "set", lay.host_veth, "up")
        # The host reaches pods and ClusterIPs as it does on the process node (tests, demo).
        # These routes go with the veth.
        network.ip("route", "replace", lay.pod_cidr, "via", lay.node_ip)
        network.ip("route", "replace", SERVICE_CIDR, "via", lay.node_ip)
    # Namespace-local sysctls: routing between pods, Services and the host; Service replies
    # between two pods on the same bridge go through netfilter (br_netfilter).
    sysctls = ["net.ipv4.ip_forward=1"]
    if Path("/proc/sys/net/bridge/bridge-nf-call-iptables").exists():
        sysctls.append("net.bridge.bridge-nf-call-iptables=1")
    _run(*_in_netns(lay, "sysctl", "-qw", *sysctls))
    _run(*_in_netns(lay, "nft", "-f", "-"), input=rc.egress_nft(lay))


# --- stop -------------------------------------------------------------------------------------

def stop(state: Path, instance: int, quiet: bool = False) -> list[str]:
    """Ends everything of the real node and puts the host back as it was; returns what it
    removed. Safe to call when nothing runs."""
    lay = layout(state, instance)
    done: list[str] = []
    run = lay.path("run")
    for component in ("kubelet", "kube-proxy"):
        if procs.stop(run, PID_PREFIX + component, timeout=10):
            done.append(f"stopped {component}")
    killed = _kill_cgroup_tasks(lay)
    if killed:
        done.append(f"killed {killed} container process(es)")
    for pid in _shims(lay):
        procs.kill_group(pid, timeout=5)
        done.append(f"stopped containerd shim {pid}")
    for component in ("containerd", "registry", "apiserver-forward"):
        if procs.stop(run, PID_PREFIX + component, timeout=10):
            done.append(f"stopped {component}")
    for mount in _mounts_under(lay.state, lay.run, lay.lib):
        subprocess.run(["umount", "-l", mount], capture_output=True)
        done.append(f"unmounted {mount}")
    if network.link_exists(lay.host_veth):
        network.ip("link", "del", lay.host_veth, check=False)
        done.append(f"removed link {lay.host_veth}")
    if lay.netns in network.ip("netns", "list", check=False).stdout.split():
        network.ip("netns", "del", lay.netns, check=False)
        done.append(f"removed network namespace {lay.netns}")
    done += _remove_cgroups(lay)
    done += _restore_host_state(lay)
    for d in (lay.run, lay.lib):
        shutil.rmtree(d, ignore_errors=True)
    for sub in ("pod-logs", "cni", "run"):
        shutil.rmtree(lay.path(sub), ignore_errors=True)
    return done


def _cgroup_dirs(lay: rc.Layout) -> list[Path]:
    """Every cgroup of the node, deepest first."""
    dirs: list[Path] = []
    for hierarchy in _hierarchies():
        top = hierarchy / lay.cgroup
        if top.is_dir():
            dirs += [Path(root) for root, _, _ in os.walk(top)]
    return sorted(dirs, key=lambda p: len(p.parts), reverse=True)


def _kill_cgroup_tasks(lay: rc.Layout, timeout: float = 15.0) -> int:
    """SIGKILLs every process in the node's cgroups (containers and pause processes) until
    none is left, or the timeout."""
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids: set[int] = set()
        for d in _cgroup_dirs(lay):
            with contextlib.suppress(OSError):
                pids |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        killed |= pids
        time.sleep(WAIT_STEP)
    return len(killed)


def _shims(lay: rc.Layout) -> list[int]:
    """containerd-shim-runc-v2 processes of this node (they outlive containerd on purpose)."""
    needle = str(lay.containerd_socket).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes()
            if b"containerd-shim" in cmdline.split(b"\0", 1)[0] and needle in cmdline:
                found.append(int(entry.name))
    return found


def _mounts_under(*roots: Path) -> list[str]:
    """Mount points below any of roots, deepest first (from /proc/self/mountinfo)."""
    prefixes = tuple(str(r) + "/" for r in roots)
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(prefixes) or point in {str(r) for r in roots}:
            points.append(point)
    return sorted(set(points), key=len, reverse=True)


def _remove_cgroups(lay: rc.Layout) -> list[str]:
    removed = 0
    for d in _cgroup_dirs(lay):
        with contextlib.suppress(OSError):
            d.rmdir()
            removed += 1
    return [f"removed {removed} cgroup(s) /{lay.cgroup}"] if removed else []


def _restore_host_state(lay: rc.Layout) -> list[str]:
    done = []
    saved = lay.path(SYSCTLS_SAVED)
    if saved.exists():
        for key, value in json.loads(saved.read_text()).items():
            if _run("sysctl", "-n", key, check=False).stdout.strip() != value:
                _run("sysctl", "-qw", f"{key}={value}", check=False)
                done.append(f"restored sysctl {key}={value}")
        saved.unlink()
    created = lay.path(HOST_PATHS_CREATED)
    if created.exists():
        others = [p for p in Path("/run").glob("dkrealnode*") if p != lay.run]
        for path in created.read_text().splitlines():
            if os.path.lexists(path) and not others:  # another real node may still use it
                shutil.rmtree(path, ignore_errors=True)
                done.append(f"removed {path}")
        created.unlink()
    return done


# --- status -----------------------------------------------------------------------------------

def pids(cfg: ClusterConfig) -> dict[str, int | None]:
    run = layout(cfg).path("run")
    return {c: procs.read_pid(run, PID_PREFIX + c) for c in COMPONENTS}

