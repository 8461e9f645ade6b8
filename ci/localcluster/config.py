"""Where the local cluster keeps its state, which ports and addresses it uses.

Everything is derived from the checkout that runs the cluster, so a fresh clone in another
folder (CI) gets its own state directory and its own virtualenv for pod processes.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# Several clusters can run side by side (the default one is instance 0; the tests of `down`
# start instance 1): each instance has its own bridge, address ranges, name prefixes and ports.
INSTANCE = int(os.environ.get("DASK_LOCALCLUSTER_INSTANCE", "0"))
if not 0 <= INSTANCE <= 9:
    raise SystemExit("DASK_LOCALCLUSTER_INSTANCE must be 0..9")
NODE_NAME = "local-node"
# Which node runs the pods: "process" (the process kubelet, agent.py) or "real" (the real
# kubelet + containerd, realnode.py). `ci/cluster up --node` or DASK_LOCALCLUSTER_NODE.
NODE_KINDS = ("process", "real")
NODE_KIND_ENV = "DASK_LOCALCLUSTER_NODE"

BRIDGE = f"dkbr{INSTANCE}"
# Fixed, locally administered: see network.ensure_bridge for why the bridge needs its own MAC.
BRIDGE_MAC = f"02:64:6b:62:72:{INSTANCE:02x}"
BRIDGE_IP = f"10.{244 + INSTANCE}.0.1"
POD_CIDR = f"10.{244 + INSTANCE}.0.0/16"
POD_PREFIX_LEN = 16
SERVICE_CIDR = f"10.0.{INSTANCE}.0/24"
# Addresses handed to LoadBalancer Services (like MetalLB's pool), /32s on the bridge.
LOAD_BALANCER_CIDR = f"10.1.{INSTANCE}.0/24"
KUBERNETES_SERVICE_IP = f"10.0.{INSTANCE}.1"
NETNS_PREFIX = "dkpod-" if INSTANCE == 0 else f"dk{INSTANCE}pod-"
VETH_PREFIX = "dkv" if INSTANCE == 0 else f"dk{INSTANCE}v"
CLUSTER_DOMAIN = "cluster.local"
# The node's InternalIP; NodePorts listen there (host only: pods have their own loopback).
NODE_IP = "127.0.0.1"
# Disjoint per instance so side-by-side clusters never compete for a port, and below the
# kernel's ephemeral range (32768+) so a client socket rarely holds one.
NODE_PORT_RANGE = f"{30000 + 270 * INSTANCE}-{30269 + 270 * INSTANCE}"
K8S_VERSION = os.environ.get("K8S_VERSION", "1.36.3")


def requested_node_kind() -> str:
    """The node `up` starts: $DASK_LOCALCLUSTER_NODE (set by `ci/cluster up --node`) or process."""
    kind = os.environ.get(NODE_KIND_ENV) or "process"
    if kind not in NODE_KINDS:
        raise SystemExit(f"{NODE_KIND_ENV} must be one of {', '.join(NODE_KINDS)}")
    return kind


def state_dir() -> Path:
    default = REPO_ROOT / ".state" / ("cluster" if INSTANCE == 0 else f"cluster-{INSTANCE}")
    return Path(os.environ.get("DASK_LOCALCLUSTER_STATE") or default)


def venv_dir() -> Path:
    """The virtualenv whose bin/ emulates every container image (first on pods' PATH)."""
    env = os.environ.get("DASK_LOCALCLUSTER_VENV")
    if env:
        return Path(env)
    candidate = REPO_ROOT / ".venv"
    if (candidate / "bin" / "python").exists():
        return candidate
    return Path(sys.prefix)


def bin_cache() -> Path:
    cache = Path(os.environ.get("DASK_TESTENV_CACHE") or Path.home() / ".cache" / "dask-kubernetes-operator")
    return cache / "bin"


@dataclass
class Ports:
    etcd_client: int = 12379 + 10 * INSTANCE
    etcd_peer: int = 12380 + 10 * INSTANCE
    apiserver: int = 6443 + INSTANCE
    controller_manager: int = 10257 + 100 * INSTANCE
    scheduler: int = 10259 + 100 * INSTANCE
    kubelet: int = 10250 + 100 * INSTANCE


@dataclass
class ClusterConfig:
    """Written to <state>/config.json by `up`; read by the agent, `status` and the tests."""

    state: str
    bin_dir: str
    venv: str
    ports: Ports = field(default_factory=Ports)
    node_name: str = NODE_NAME
    node_cpu: str = "64"
    node_memory: str = "512Gi"
    node_pods: str = "250"
    instance: int = INSTANCE
    # For consumers of config.json (tests that need the cluster's addresses).
    bridge: str = BRIDGE
    bridge_ip: str = BRIDGE_IP
    pod_cidr: str = POD_CIDR
    service_cidr: str = SERVICE_CIDR
    kubernetes_service_ip: str = KUBERNETES_SERVICE_IP
    load_balancer_cidr: str = LOAD_BALANCER_CIDR
    # How long the node controller waits for a heartbeat before it marks the node (and its
    # pods) not ready; tests of outages start a cluster with a short one.
    node_monitor_grace_seconds: int = 60
    node_kind: str = "process"

    @property
    def state_path(self) -> Path:
        return Path(self.state)

    @property
    def pki(self) -> Path:
        return self.state_path / "pki"

    @property
    def logs(self) -> Path:
        return self.state_path / "logs"

    @property
    def kubeconfig(self) -> Path:
        return self.state_path / "admin.kubeconfig"

    @property
    def apiserver_url(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    def binary(self, name: str) -> str:
        return str(Path(self.bin_dir) / name)

    def save(self) -> None:
        self.state_path.mkdir(parents=True, exist_ok=True)
        (self.state_path / "config.json").write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, state: Path | None = None) -> ClusterConfig:
        path = (state or state_dir()) / "config.json"
        data = json.loads(path.read_text())
        data["ports"] = Ports(**data.get("ports", {}))
        return cls(**data)

    @classmethod
    def fresh(cls, bin_dir: str) -> ClusterConfig:
        kind = requested_node_kind()
        return cls(
            node_kind=kind,
            node_name="real-node" if kind == "real" else NODE_NAME,
            state=str(state_dir()),
            bin_dir=bin_dir,
            venv=str(venv_dir()),
            node_cpu=os.environ.get("DASK_LOCALCLUSTER_NODE_CPU", "64"),
            node_memory=os.environ.get("DASK_LOCALCLUSTER_NODE_MEMORY", "512Gi"),
            node_pods=os.environ.get("DASK_LOCALCLUSTER_NODE_PODS", "250"),
            node_monitor_grace_seconds=int(os.environ.get("DASK_LOCALCLUSTER_NODE_MONITOR_GRACE_SECONDS", "60")),
        )
