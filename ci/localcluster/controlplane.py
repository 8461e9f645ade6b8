"""`up`, `down` and `status` of the whole local cluster.

Components run as detached daemons (own session, pid file, log file under <state>/logs) so the
cluster outlives the command that started it. `up` reuses a healthy cluster and otherwise cleans
whatever a previous run left behind (processes, namespaces, bridge) before starting afresh.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from . import kwok, network, pki, procs, realnode
from .config import (
    BRIDGE_IP,
    INSTANCE,
    KUBERNETES_SERVICE_IP,
    NODE_PORT_RANGE,
    REPO_ROOT,
    SERVICE_CIDR,
    ClusterConfig,
    requested_node_kind,
    state_dir,
)

COMPONENTS = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "agent"]
CONTROLLERS = [
    "garbage-collector-controller", "namespace-controller", "replicaset-controller",
    "deployment-controller", "statefulset-controller", "daemonset-controller", "job-controller",
    "cronjob-controller", "ttl-after-finished-controller", "serviceaccount-controller",
    "serviceaccount-token-controller", "root-ca-certificate-publisher-controller",
    "endpoints-controller", "endpointslice-controller", "endpointslice-mirroring-controller",
    "pod-garbage-collector-controller", "resourcequota-controller", "disruption-controller",
    "clusterrole-aggregation-controller", "node-lifecycle-controller", "taint-eviction-controller",
    "service-cidr-controller", "horizontal-pod-autoscaler-controller",
    "replicationcontroller-controller", "ttl-controller",
]
# Directories `up` had to create on the host for pod mounts; `down` removes them again.
CREATED_PATHS = "created-paths"
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
MIN_NODE_MONITOR_GRACE = 15
# tests/conftest.py marks a cluster a test run started (and stops it at the end); a cluster
# started afresh by anyone else, or stopped, carries no mark.
TESTS_MARKER = "started-by-tests"


def log(msg: str) -> None:
    print(f"[localcluster] {msg}", file=sys.stderr, flush=True)


class ClusterError(RuntimeError):
    pass


@contextlib.contextmanager
def locked(state: Path) -> Iterator[None]:
    """Serialises up/down of one state directory across processes (e.g. parallel pytest runs)."""
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _ssl_context(cfg: ClusterConfig) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cfg.pki / "ca.crt"))
    return ctx


def api_get(cfg: ClusterConfig, path: str, timeout: float = 3.0) -> tuple[int, bytes]:
    """GET against the apiserver as admin (client cert from the admin kubeconfig)."""
    ctx = _ssl_context(cfg)
    cert, key = _admin_cert_files(cfg)
    ctx.load_cert_chain(str(cert), str(key))
    req = urllib.request.Request(cfg.apiserver_url + path)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _admin_cert_files(cfg: ClusterConfig) -> tuple[Path, Path]:
    import base64

    import yaml

    cert, key = cfg.pki / "admin-client.crt", cfg.pki / "admin-client.key"
    if not cert.exists():
        doc = yaml.safe_load(cfg.kubeconfig.read_text())
        user = doc["users"][0]["user"]
        cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        key.chmod(0o600)
    return cert, key


def _node_components(cfg: ClusterConfig) -> list[str]:
    """The components with a pid file in <state>/run: the real node keeps its own."""
    return COMPONENTS if cfg.node_kind == "process" else COMPONENTS[:-1]


def healthy(cfg: ClusterConfig) -> bool:
    run = cfg.state_path / "run"
    if any(procs.read_pid(run, c) is None for c in _node_components(cfg)):
        return False
    if cfg.node_kind == "real" and None in realnode.pids(cfg).values():
        return False
    try:
        code, _ = api_get(cfg, "/readyz", timeout=2)
    except (OSError, ssl.SSLError):
        return False
    return code == 200


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait(what: str, check: Callable[[], bool], timeout: float, component: str | None,
          cfg: ClusterConfig) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, ssl.SSLError, ValueError):
            pass
        if component and procs.read_pid(cfg.state_path / "run", component) is None:
            tail = _tail(cfg.logs / f"{component}.log")
            raise ClusterError(f"{component} exited while waiting for {what}:\n{tail}")
        time.sleep(0.2)
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def build_tools() -> str:
    """Runs ci/build-tools.sh (a no-op on a warm cache) and returns its bin directory."""
    script = REPO_ROOT / "ci" / "build-tools.sh"
    proc = subprocess.run(["bash", str(script)], stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise ClusterError(f"{script} failed with exit code {proc.returncode}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        raise ClusterError(f"{script} printed no bin directory")
    return lines[-1].strip()


def up(fake_nodes: int = 0) -> ClusterConfig:
    """Starts (or reuses, or repairs) the cluster; with ``fake_nodes`` also kwok and that many
    simulated nodes (see :mod:`.kwok`)."""
    cfg = _up()
    if fake_nodes:
        with locked(cfg.state_path):
            _ensure_fake_nodes(cfg, fake_nodes)
    return cfg


def _up() -> ClusterConfig:
    if os.geteuid() != 0:
        raise ClusterError("needs root: pods run in network namespaces on a bridge, with bind mounts")
    if shutil.which("ip") is None:
        raise ClusterError("needs iproute2 (`ip`)")
    state = state_dir()
    with locked(state):
        if (state / "config.json").exists():
            cfg = ClusterConfig.load(state)
            if cfg.node_kind != requested_node_kind():
                log(f"the running cluster has a {cfg.node_kind} node: starting afresh")
            elif healthy(cfg):
                log("cluster already running")
                return cfg
            repaired = cfg.node_kind == requested_node_kind() and _repair(cfg)
            if repaired:
                return cfg
            log("cleaning up leftovers of a previous run")
        _down(state, quiet=True)
        started = time.monotonic()
        cfg = ClusterConfig.fresh(build_tools())
        if cfg.node_monitor_grace_seconds < MIN_NODE_MONITOR_GRACE:
            raise ClusterError(f"DASK_LOCALCLUSTER_NODE_MONITOR_GRACE_SECONDS must be at least "
                               f"{MIN_NODE_MONITOR_GRACE}: the node renews its Lease every 10 s")
        for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"):
            if not os.access(cfg.binary(name), os.X_OK):
                raise ClusterError(f"missing binary {cfg.binary(name)}")
        _start(cfg)
        log(f"cluster ready in {time.monotonic() - started:.1f}s")
        return cfg


def _repair(cfg: ClusterConfig) -> bool:
    """If etcd still runs, restarts whatever else died (the apiserver first) instead of
    starting over with an empty etcd."""
    run = cfg.state_path / "run"
    if procs.read_pid(run, "etcd") is None:
        if not (cfg.state_path / "etcd" / "member").is_dir():
            return False
        log("restarting etcd (with its data)")  # stopped on purpose, e.g. to test an outage
        _start_etcd(cfg, keep_data=True)
    if procs.read_pid(run, "kube-apiserver") is None:
        log("restarting kube-apiserver")
        _start_apiserver(cfg)
    try:  # an apiserver that outlived etcd needs a moment to reconnect
        _wait("kube-apiserver ready", lambda: api_get(cfg, "/readyz")[0] == 200, 30, "kube-apiserver", cfg)
    except ClusterError:
        return False
    if cfg.node_kind == "real" and None in realnode.pids(cfg).values():
        return False  # the real node is started afresh with everything else
    dead = [c for c in _node_components(cfg)[2:] if procs.read_pid(run, c) is None]
    if dead:
        log(f"restarting {', '.join(dead)}")
        _start_workers(cfg, dead)
    return True


def _ensure_fake_nodes(cfg: ClusterConfig, count: int) -> None:
    """kwok running and ``kwok-node-0`` .. ``kwok-node-<count-1>`` Ready (extra ones, from an
    earlier `up` with more, are left as they are)."""
    binary, stages = cfg.binary("kwok"), cfg.binary("kwok-stages.yaml")
    if not os.access(binary, os.X_OK) or not os.path.exists(stages):
        raise ClusterError(f"missing {binary} or {stages} (ci/build-kwok.sh builds them)")
    run = cfg.state_path / "run"
    # Nothing answers on fake pods' addresses: make them fail at once on the host (and so for
    # the service proxy and the operator) instead of leaving through the default route.
    network.ip("route", "replace", "unreachable", kwok.POD_CIDR)
    if procs.read_pid(run, "kwok") is None:
        procs.spawn("kwok", kwok.argv(binary, str(cfg.kubeconfig), stages), run, cfg.logs)
        log("kwok started")
    wanted = [kwok.node_name(i) for i in range(count)]
    missing = [name for name in wanted if api_get(cfg, f"/api/v1/nodes/{name}")[0] == 404]
    if missing:
        manifests = [kwok.node_manifest(int(name.removeprefix(kwok.NAME_PREFIX))) for name in missing]
        doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests})
        proc = subprocess.run([cfg.binary("kubectl"), f"--kubeconfig={cfg.kubeconfig}", "create", "-f", "-"],
                              input=doc, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ClusterError(f"creating fake nodes failed: {proc.stderr.strip()}")
        log(f"created {len(missing)} fake node(s)")

    def all_ready() -> bool:
        return all(_node_ready(cfg, name) for name in wanted)

    _wait(f"{count} fake node(s) to become Ready", all_ready, 60, "kwok", cfg)
    log(f"{count} fake node(s) Ready (label {'='.join(kwok.LABEL)}, taint "
        f"{kwok.TAINT['key']}={kwok.TAINT['value']}:{kwok.TAINT['effect']})")


def _node_ready(cfg: ClusterConfig, name: str) -> bool:
    code, body = api_get(cfg, f"/api/v1/nodes/{name}")
    if code != 200:
        return False
    conds = {c["type"]: c["status"] for c in json.loads(body).get("status", {}).get("conditions") or []}
    return conds.get("Ready") == "True"


def _start(cfg: ClusterConfig) -> None:
    ports = cfg.ports
    busy = [f"{name}={port}" for name, port in vars(ports).items() if _port_in_use(port)]
    if busy:
        raise ClusterError(f"ports already in use on 127.0.0.1: {', '.join(busy)} "
                           "(another cluster running? try `ci/cluster down`)")
    state = cfg.state_path
    logs = cfg.logs
    shutil.rmtree(logs, ignore_errors=True)
    cfg.save()
    pki.generate(cfg)
    network.ensure_bridge()
    _prepare_sa_mountpoint(state)

    _start_etcd(cfg, keep_data=False)
    _start_apiserver(cfg)
    _start_workers(cfg, ["kube-controller-manager", "kube-scheduler", "agent"])


def _start_etcd(cfg: ClusterConfig, *, keep_data: bool) -> None:
    ports, run, logs = cfg.ports, cfg.state_path / "run", cfg.logs
    etcd_dir = cfg.state_path / "etcd"
    if not keep_data:
        shutil.rmtree(etcd_dir, ignore_errors=True)
    procs.spawn("etcd", [
        cfg.binary("etcd"), "--name=local", f"--data-dir={etcd_dir}",
        f"--listen-client-urls=http://127.0.0.1:{ports.etcd_client}",
        f"--advertise-client-urls=http://127.0.0.1:{ports.etcd_client}",
        f"--listen-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
        f"--initial-cluster=local=http://127.0.0.1:{ports.etcd_peer}",
        "--listen-metrics-urls=", "--unsafe-no-fsync=true", "--log-level=warn",
        "--quota-backend-bytes=4294967296",
    ], run, logs)

    def etcd_ok() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{ports.etcd_client}/health", timeout=1) as r:
            return json.loads(r.read()).get("health") == "true"

    _wait("etcd health", etcd_ok, 30, "etcd", cfg)
    log("etcd ready")


def _start_apiserver(cfg: ClusterConfig) -> None:
    """Starts kube-apiserver against the running etcd and waits until it is ready."""
    ports, p = cfg.ports, cfg.pki
    run, logs = cfg.state_path / "run", cfg.logs
    procs.spawn("kube-apiserver", [
        cfg.binary("kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
        "--bind-address=127.0.0.1", f"--secure-port={ports.apiserver}",
        f"--advertise-address={BRIDGE_IP}",
        f"--cert-dir={p}", f"--tls-cert-file={p / 'apiserver.crt'}",
        f"--tls-private-key-file={p / 'apiserver.key'}", f"--client-ca-file={p / 'ca.crt'}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={p / 'sa.pub'}",
        f"--service-account-signing-key-file={p / 'sa.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--service-node-port-range={NODE_PORT_RANGE}",
        "--authorization-mode=Node,RBAC", "--allow-privileged=true",
        "--endpoint-reconciler-type=none",
        "--kubelet-preferred-address-types=InternalIP",
        f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}",
        "--enable-admission-plugins=NodeRestriction",
        f"--requestheader-client-ca-file={p / 'ca.crt'}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--profiling=false", "--v=1",
    ], run, logs)
    _wait("kube-apiserver /readyz", lambda: api_get(cfg, "/readyz")[0] == 200, 60,
          "kube-apiserver", cfg)
    log("kube-apiserver ready")


def _start_workers(cfg: ClusterConfig, names: list[str]) -> None:
    """Starts the components that only talk to the apiserver, then waits for a usable node."""
    state, ports, p = cfg.state_path, cfg.ports, cfg.pki
    run, logs = state / "run", cfg.logs
    kcm_conf = state / "controller-manager.kubeconfig"
    if "kube-controller-manager" in names:
        procs.spawn("kube-controller-manager", [
            cfg.binary("kube-controller-manager"),
            f"--kubeconfig={kcm_conf}", f"--authentication-kubeconfig={kcm_conf}",
            f"--authorization-kubeconfig={kcm_conf}", "--leader-elect=false",
            "--bind-address=127.0.0.1", f"--secure-port={ports.controller_manager}",
            "--use-service-account-credentials=false",
            f"--service-account-private-key-file={p / 'sa.key'}",
            f"--root-ca-file={p / 'ca.crt'}",
            f"--controllers={','.join(CONTROLLERS)}",
            "--kube-api-qps=200", "--kube-api-burst=400",
            "--concurrent-gc-syncs=20", "--concurrent-namespace-syncs=10",
            f"--node-monitor-grace-period={cfg.node_monitor_grace_seconds}s", "--v=1",
        ], run, logs)
    sched_conf = state / "scheduler.kubeconfig"
    if "kube-scheduler" in names:
        procs.spawn("kube-scheduler", [
            cfg.binary("kube-scheduler"),
            f"--kubeconfig={sched_conf}", f"--authentication-kubeconfig={sched_conf}",
            f"--authorization-kubeconfig={sched_conf}", "--leader-elect=false",
            "--bind-address=127.0.0.1", f"--secure-port={ports.scheduler}", "--v=1",
            # 50/100 by default: binding 10,000 pods on fake nodes would take 200 s.
            "--kube-api-qps=500", "--kube-api-burst=1000",
        ], run, logs)
    real = cfg.node_kind == "real"
    if "agent" in names and real:
        try:
            realnode.start(cfg)
        except realnode.RealNodeError as err:
            raise ClusterError(str(err)) from None
    elif "agent" in names:
        (run / "agent.boot-id").unlink(missing_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO_ROOT / "ci")
        env["PYTHONUNBUFFERED"] = "1"
        env["DASK_LOCALCLUSTER_INSTANCE"] = str(cfg.instance)
        procs.spawn("agent", [sys.executable, "-m", "localcluster", "agent", "--state", str(state)],
                    run, logs, env=env)

    def node_ready() -> bool:
        code, body = api_get(cfg, f"/api/v1/nodes/{cfg.node_name}")
        if code != 200:
            return False
        node = json.loads(body)
        conds = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
        taints = node.get("spec", {}).get("taints") or []
        boot_id = node.get("status", {}).get("nodeInfo", {}).get("bootID")
        fresh = "agent" not in names or real or boot_id == _agent_boot_id(cfg)
        return fresh and conds.get("Ready") == "True" and not any(
            t["key"] == "node.kubernetes.io/not-ready" for t in taints)

    node_component = None if real else "agent"
    _wait("the node to become Ready", node_ready, 60, node_component, cfg)

    def default_sa() -> bool:
        return api_get(cfg, "/api/v1/namespaces/default/serviceaccounts/default")[0] == 200

    _wait("the default ServiceAccount", default_sa, 60, "kube-controller-manager", cfg)

    def service_ip() -> bool:
        return _port_in_use_at(KUBERNETES_SERVICE_IP, 443)

    _wait("the kubernetes Service on its ClusterIP", service_ip, 30, node_component, cfg)
    if real and "agent" in names:
        try:
            realnode.finish(cfg)
        except realnode.RealNodeError as err:
            raise ClusterError(str(err)) from None


def _agent_boot_id(cfg: ClusterConfig) -> str | None:
    try:
        return (cfg.state_path / "run" / "agent.boot-id").read_text().strip()
    except OSError:
        return None


def restart_agent() -> ClusterConfig:
    """Restarts only the process kubelet + proxy (e.g. after changing their code). Running pods
    are restarted too: their processes belong to the agent."""
    state = state_dir()
    with locked(state):
        cfg = ClusterConfig.load(state)
        if cfg.node_kind == "real":
            raise ClusterError("restart-agent is for the process node; the real node restarts with `down` + `up`")
        procs.stop(state / "run", "agent")
        _start_workers(cfg, ["agent"])
        return cfg


def stop_component(name: str) -> bool:
    """Stops one component (e.g. kube-apiserver, to test an outage); `up` starts it again.
    True if it was running."""
    if name not in COMPONENTS:
        raise ClusterError(f"unknown component {name!r}; one of {', '.join(COMPONENTS)}")
    state = state_dir()
    with locked(state):
        return procs.stop(state / "run", name, timeout=10 if name == "agent" else 5)


def _port_in_use_at(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _prepare_sa_mountpoint(state: Path) -> None:
    """Pods see their ServiceAccount token here; the mountpoint must exist on the host."""
    created = []
    path = Path(SA_MOUNT)
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir()
        created.append(str(d))
    if created:
        with open(state / CREATED_PATHS, "a") as fh:
            fh.write("".join(c + "\n" for c in created))


def _kill_by_state(state: Path) -> list[int]:
    """Safety net: ends any process whose command line names this state directory."""
    me = os.getpid()
    needle = str(state).encode()
    killed = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        argv0 = os.path.basename(cmdline.split(b"\0", 1)[0]).decode(errors="replace")
        mentions = needle + b"/" in cmdline or needle + b"\0" in cmdline
        if mentions and (b"localcluster" in cmdline or argv0 in COMPONENTS or argv0 == "kwok"):
            pid = int(entry.name)
            procs.kill_group(pid, timeout=5)
            killed.append(pid)
    return killed


def down() -> None:
    state = state_dir()
    with locked(state):
        _down(state, quiet=False)


def _down(state: Path, quiet: bool) -> None:
    run = state / "run"
    if procs.stop(run, "kwok", timeout=5) and not quiet:
        log("stopped kwok")
    if network.ip("route", "del", "unreachable", kwok.POD_CIDR, check=False).returncode == 0 and not quiet:
        log(f"removed the route to fake pods {kwok.POD_CIDR}")
    for item in realnode.stop(state, INSTANCE):
        log(f"real node: {item}")
    for name in reversed(COMPONENTS):
        if procs.stop(run, name, timeout=10 if name == "agent" else 5) and not quiet:
            log(f"stopped {name}")
    for pid in _kill_by_state(state):
        log(f"killed leftover process {pid}")
    for item in network.cleanup_all():
        log(f"removed {item}")
    created = state / CREATED_PATHS
    if created.exists():
        for d in reversed(created.read_text().splitlines()):
            with contextlib.suppress(OSError):
                os.rmdir(d)
        created.unlink()
    for sub in ("etcd", "pods"):
        shutil.rmtree(state / sub, ignore_errors=True)
    (state / TESTS_MARKER).unlink(missing_ok=True)
    if not quiet:
        log("cluster down")


def status() -> int:
    state = state_dir()
    if not (state / "config.json").exists():
        print(f"no cluster in {state}")
        return 1
    cfg = ClusterConfig.load(state)
    run = state / "run"
    ok = True
    for name in _node_components(cfg):
        pid = procs.read_pid(run, name)
        ok = ok and pid is not None
        print(f"{name:24} {'running pid ' + str(pid) if pid else 'not running'}")
    if cfg.node_kind == "real":
        ok = ok and procs.read_pid(run, "agent") is None
        for name, pid in realnode.pids(cfg).items():
            ok = ok and pid is not None
            print(f"{'real node ' + name:24} {'running pid ' + str(pid) if pid else 'not running'}")
    kwok_pid = procs.read_pid(run, "kwok")
    if kwok_pid:
        print(f"{'kwok':24} running pid {kwok_pid}")
    try:
        code, body = api_get(cfg, "/readyz")
        print(f"{'apiserver /readyz':24} {code}")
        ok = ok and code == 200
        code, body = api_get(cfg, f"/api/v1/nodes/{cfg.node_name}")
        if code == 200:
            conds = {c["type"]: c["status"] for c in json.loads(body)["status"]["conditions"]}
            print(f"{'node ' + cfg.node_name:24} Ready={conds.get('Ready')}")
        code, body = api_get(cfg, "/api/v1/pods")
        if code == 200:
            print(f"{'pods':24} {len(json.loads(body)['items'])}")
    except (OSError, ssl.SSLError) as err:
        print(f"{'apiserver':24} unreachable: {err}")
        ok = False
    print(f"{'netns':24} {len(network.list_netns())}")
    print(f"{'service IPs':24} {len(network.bridge_addresses())}")
    print(f"{'kubeconfig':24} {cfg.kubeconfig}")
    return 0 if ok else 1
