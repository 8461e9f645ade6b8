"""Shared fixtures: the local Kubernetes cluster (`k8s`), a fresh `namespace` per test and a
`kubectl` helper. When a test that used the cluster fails, the control plane's logs and the
pods, events and container logs of its namespace are attached to the report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CI = REPO / "ci"


def _localcluster():  # type: ignore[no-untyped-def]
    if str(CI) not in sys.path:
        sys.path.insert(0, str(CI))
    import localcluster.config
    import localcluster.controlplane

    return localcluster.config, localcluster.controlplane


@dataclass
class Cluster:
    """The cluster a test run uses. `env` has KUBECONFIG and the cached binaries first on PATH."""

    kubeconfig: str
    bin_dir: str
    state: Path | None = None
    started_here: bool = False
    env: dict[str, str] = field(default_factory=dict)

    @property
    def local_config(self) -> dict:  # type: ignore[type-arg]
        """The local cluster's config.json (ports, bridge_ip, pod_cidr, service_cidr, ...);
        empty when KUBECONFIG points at another cluster."""
        if self.state is None:
            return {}
        return json.loads((self.state / "config.json").read_text())

    def kubectl(self, *args: str, check: bool = True, input: str | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(Path(self.bin_dir) / "kubectl"), *args], env=self.env,
                              input=input, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def kubectl_json(self, *args: str) -> dict:  # type: ignore[type-arg]
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def apply_crds(self, *paths: str | Path, field_manager: str = "dask-tests", timeout: float = 60) -> list[str]:
        """Apply CRD files or directories server-side (idempotent, shared by every suite) and
        wait until each CRD is Established; the CRD names."""
        names: list[str] = []
        for path in paths:
            proc = self.kubectl("apply", "--server-side", "--force-conflicts", f"--field-manager={field_manager}",
                                "-f", str(path), "-o", "name", timeout=180)
            names += [line.split("/", 1)[1] for line in proc.stdout.split()
                      if line.startswith("customresourcedefinition")]
        self.wait_established(names, timeout)
        return names

    def wait_established(self, names: list[str], timeout: float = 60) -> None:
        """Until every CRD in ``names`` is Established (polled: `kubectl wait` fails on a CRD
        whose status has no conditions yet)."""
        deadline = time.monotonic() + timeout
        pending = list(names)
        while pending:
            crds = self.kubectl_json("get", "crds")["items"]
            established = {c["metadata"]["name"] for c in crds
                           if any(k["type"] == "Established" and k["status"] == "True"
                                  for k in c.get("status", {}).get("conditions") or [])}
            pending = [n for n in names if n not in established]
            if pending and time.monotonic() > deadline:
                raise AssertionError(f"CRDs not Established after {timeout} s: {', '.join(pending)}")
            if pending:
                time.sleep(0.5)


# Test tiers: the process node (default: unit, integration and end to end) and the real node
# (kubelet + containerd: the tests marked `realnode`, and the end-to-end tests marked
# `both_nodes` once more), chosen by DASK_LOCALCLUSTER_NODE as for ci/cluster. Tests marked
# `realnode` are deselected (not skipped) on the process node.
NODE_KIND = os.environ.get("DASK_LOCALCLUSTER_NODE") or "process"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "realnode: needs the real node; runs only in the tier "
                                       "with DASK_LOCALCLUSTER_NODE=real")
    config.addinivalue_line("markers", "both_nodes: an end-to-end test that the real node's tier "
                                       "runs as well (images from Dockerfile, CoreDNS, kube-proxy)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if NODE_KIND == "real":
        return
    deselected = [item for item in items if item.get_closest_marker("realnode")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("realnode")]


def _bin_dir() -> str:
    proc = subprocess.run(["bash", str(CI / "build-tools.sh")], stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError("ci/build-tools.sh failed: cannot get kubectl and friends")
    return proc.stdout.strip().splitlines()[-1]


def _reachable(kubectl: str, kubeconfig: str) -> bool:
    try:
        proc = subprocess.run([kubectl, "--kubeconfig", kubeconfig, "get", "--raw", "/readyz",
                               "--request-timeout=5s"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def _users_dir(state: Path) -> Path:
    d = state / "users"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _live_users(state: Path) -> list[int]:
    live = []
    for f in _users_dir(state).iterdir():
        try:
            pid = int(f.name)
            os.kill(pid, 0)
            live.append(pid)
        except (ValueError, ProcessLookupError):
            f.unlink(missing_ok=True)
        except PermissionError:
            live.append(int(f.name))
    return live


@pytest.fixture(scope="session")
def k8s() -> Iterator[Cluster]:
    """One cluster for the whole run: the one KUBECONFIG points at if it answers, else the
    local cluster (started here if needed, and stopped at the end if this run started it and
    no other test run still uses it; DASK_LOCALCLUSTER_KEEP=1 keeps it)."""
    bin_dir = _bin_dir()
    kubectl = str(Path(bin_dir) / "kubectl")
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '')}"
    existing = os.environ.get("KUBECONFIG")
    config, controlplane = _localcluster()
    state = config.state_dir()
    local_kubeconfig = str(state / "admin.kubeconfig")
    if existing and existing != local_kubeconfig and _reachable(kubectl, existing):
        env["KUBECONFIG"] = existing
        yield Cluster(existing, bin_dir, None, False, env)
        return

    marker = state / "started-by-tests"
    with controlplane.locked(state):
        running = ((state / "config.json").exists()
                   and config.ClusterConfig.load(state).node_kind == NODE_KIND
                   and controlplane.healthy(config.ClusterConfig.load(state)))
    if not running:
        proc = subprocess.run([str(CI / "cluster"), "up"], stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            raise RuntimeError("ci/cluster up failed (see its output above)")
        marker.touch()
    user = _users_dir(state) / str(os.getpid())
    user.touch()
    os.environ["KUBECONFIG"] = env["KUBECONFIG"] = local_kubeconfig
    old_path = os.environ.get("PATH", "")
    os.environ["PATH"] = env["PATH"]
    cluster = Cluster(local_kubeconfig, bin_dir, state, not running, env)
    try:
        yield cluster
    finally:
        user.unlink(missing_ok=True)
        os.environ["PATH"] = old_path
        keep = os.environ.get("DASK_LOCALCLUSTER_KEEP", "") not in ("", "0")
        if marker.exists() and not keep and not _live_users(state):
            marker.unlink(missing_ok=True)
            subprocess.run([str(CI / "cluster"), "down"], check=False)


@pytest.fixture(scope="session")
def kubectl(k8s: Cluster) -> Callable[..., subprocess.CompletedProcess[str]]:
    """kubectl(*args, check=True, input=None) against the test cluster."""
    return k8s.kubectl


def _namespace_name(nodeid: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", nodeid.split("::")[-1].lower()).strip("-")[:40].strip("-")
    return f"t-{base}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def namespace(k8s: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace (with its default ServiceAccount), deleted without waiting afterwards."""
    name = _namespace_name(request.node.nodeid)
    k8s.kubectl("create", "namespace", name)
    k8s.kubectl("label", "namespace", name, "dask.org/test-namespace=true")
    request.node.stash[_NS_KEY] = name
    deadline = time.monotonic() + 60
    while k8s.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise AssertionError(f"namespace {name}: default ServiceAccount never appeared")
        time.sleep(0.2)
    yield name
    k8s.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


_NS_KEY = pytest.StashKey[str]()
_CLUSTER_KEY = pytest.StashKey[Cluster]()


@pytest.fixture(autouse=True)
def _remember_cluster(request: pytest.FixtureRequest) -> None:
    if "k8s" in request.fixturenames:
        request.node.stash[_CLUSTER_KEY] = request.getfixturevalue("k8s")


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as err:
        return f"({err})"


def _diagnostics(cluster: Cluster, ns: str | None) -> list[tuple[str, str]]:
    sections: list[tuple[str, str]] = []
    if ns:
        def run(*args: str) -> str:
            try:
                proc = cluster.kubectl(*args, check=False, timeout=20)
            except subprocess.TimeoutExpired:
                return "(timed out)"
            return proc.stdout + proc.stderr

        sections.append((f"kubectl get all,events -n {ns}",
                         run("get", "all,events", "-n", ns, "-o", "wide")))
        pods = run("get", "pods", "-n", ns, "-o", "name").split()
        for pod in pods[:20]:
            sections.append((f"{pod} describe", run("describe", "-n", ns, pod)[-6000:]))
            sections.append((f"{pod} logs", run("logs", "-n", ns, pod, "--all-containers",
                                                "--prefix", "--tail=100")))
    if cluster.state is not None:
        for log in sorted((cluster.state / "logs").glob("*.log")):
            sections.append((f"component log {log.name} (tail)", _tail(log, 40)))
    return sections


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    cluster = item.stash.get(_CLUSTER_KEY, None)
    if cluster is None:
        return
    try:
        for title, text in _diagnostics(cluster, item.stash.get(_NS_KEY, None)):
            report.sections.append((title, text))
    except Exception as err:  # noqa: BLE001 - diagnostics must not hide the real failure
        report.sections.append(("diagnostics", f"could not collect: {err!r}"))
