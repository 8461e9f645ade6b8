"""A helm release of the chart in the local cluster, for the end-to-end tests and fixtures."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "chart"
E2E_DIR = Path(__file__).resolve().parent

# Named per test run, so that two runs on one (development) cluster never upgrade or uninstall
# each other's release; a run that died is cleaned up by the next (remove_stale_releases).
RUN_LABEL = "dask.org/e2e-run-pid"
RELEASE = f"dask-kubernetes-operator-e2e-{os.getpid()}"
RELEASE_NAMESPACE = f"dask-operator-e2e-{os.getpid()}"
DASK_KINDS = "daskclusters,daskworkergroups,daskjobs,daskautoscalers"


def run(cmd: list[str], env: dict[str, str], timeout: float = 300, check: bool = True,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, input=input)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 1.0,
             diagnose: Callable[[], str] | None = None) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            detail = diagnose() if diagnose else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{detail}")
        time.sleep(interval)


def apply_crds(kubectl: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    """What the chart README says to do before installing or upgrading."""
    kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=dask-e2e", "-f", str(CHART / "crds"))
    wait_established(kubectl, [f"{p}.kubernetes.dask.org" for p in DASK_KINDS.split(",")])


def wait_established(kubectl: Callable[..., subprocess.CompletedProcess[str]], crds: list[str]) -> None:
    # Polled here: `kubectl wait` errors out on a CRD whose status has no conditions yet.
    def established() -> bool:
        for crd in crds:
            proc = kubectl("get", "crd", crd, "-o", "json", check=False)
            if proc.returncode != 0:
                return False
            conditions = json.loads(proc.stdout).get("status", {}).get("conditions") or []
            if not any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                return False
        return True

    wait_for(f"CRDs {', '.join(crds)} to be established", established, 60, interval=0.5)


@dataclass
class Release:
    """One helm release of the chart in the local cluster."""

    name: str
    namespace: str
    k8s: Any
    helm: str
    values: list[str] = field(default_factory=list)
    installed: bool = False
    install_output: str = ""

    @property
    def env(self) -> dict[str, str]:
        env: dict[str, str] = self.k8s.env
        return env

    @property
    def selector(self) -> str:
        return f"app.kubernetes.io/name=dask-kubernetes-operator,app.kubernetes.io/instance={self.name}"

    def helm_cmd(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return run([self.helm, *args], self.env, timeout=timeout, check=check)

    def install(self, timeout: float = 240) -> None:
        def namespace_usable() -> bool:
            proc = self.k8s.kubectl("get", "namespace", self.namespace, "-o", "json", check=False)
            return proc.returncode != 0 or json.loads(proc.stdout)["status"].get("phase") != "Terminating"

        # A previous run deletes the namespace without waiting; it may still be going away.
        wait_for(f"namespace {self.namespace} to finish terminating", namespace_usable, 180, interval=2)
        proc = self.helm_cmd(
            "upgrade", "--install", self.name, str(CHART), "--namespace", self.namespace,
            "--create-namespace", "--skip-crds", "--wait", f"--timeout={int(timeout)}s", *self.values,
            timeout=timeout + 60,
        )
        self.installed = True
        self.install_output = proc.stdout
        self.wait_ready()

    def uninstall(self) -> None:
        if not self.installed:
            return
        self.helm_cmd("uninstall", self.name, "--namespace", self.namespace, "--wait", "--timeout=120s",
                      check=False, timeout=180)
        self.installed = False

    def deployment(self) -> dict[str, Any]:
        found = self.k8s.kubectl_json("get", "deployments", "-n", self.namespace, "-l", self.selector)["items"]
        assert len(found) == 1, f"expected one operator Deployment, found {len(found)}"
        deployment: dict[str, Any] = found[0]
        return deployment

    def pods(self) -> list[dict[str, Any]]:
        pods: list[dict[str, Any]] = self.k8s.kubectl_json(
            "get", "pods", "-n", self.namespace, "-l", self.selector)["items"]
        return [p for p in pods if not p["metadata"].get("deletionTimestamp")]

    def leader_name(self) -> str | None:
        """The pod holding the leader-election Lease (its identity is ``{pod name}_{suffix}``)."""
        proc = self.k8s.kubectl("get", "leases", "-n", self.namespace, "-o", "json", check=False)
        holders = [str((lease.get("spec") or {}).get("holderIdentity") or "")
                   for lease in (json.loads(proc.stdout or "{}").get("items") or [])]
        names = {p["metadata"]["name"] for p in self.pods()}
        return next((h.rsplit("_", 1)[0] for h in holders if h.rsplit("_", 1)[0] in names), None)

    def pod(self) -> dict[str, Any]:
        """The operator pod that reconciles: the only one, or the leader of several."""
        pods = self.pods()
        if len(pods) > 1:
            leader = self.leader_name()
            pods = [p for p in pods if p["metadata"]["name"] == leader]
        assert len(pods) == 1, f"expected one reconciling operator pod, found {[p['metadata']['name'] for p in pods]}"
        return pods[0]

    def logs(self, tail: int = 200) -> str:
        proc = self.k8s.kubectl("logs", "-n", self.namespace, "-l", self.selector, f"--tail={tail}",
                                "--all-containers", check=False)
        return proc.stdout + proc.stderr

    def describe(self) -> str:
        proc = self.k8s.kubectl("describe", "pods", "-n", self.namespace, "-l", self.selector, check=False)
        return proc.stdout[-4000:] + "\n--- operator logs ---\n" + self.logs()

    def wait_ready(self, timeout: float = 180) -> dict[str, Any]:
        """Every operator pod is Running, Ready and answers /healthz on its pod IP (kopf on the
        leader, the standby server on the others); one of them leads. Returns the leader."""

        def healthy(pod: dict[str, Any]) -> bool:
            status = pod.get("status", {})
            conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
            if status.get("phase") != "Running" or conditions.get("Ready") != "True":
                return False
            try:
                with urllib.request.urlopen(f"http://{status['podIP']}:8080/healthz", timeout=3) as rsp:
                    return bool(rsp.status == 200)
            except OSError:
                return False

        def ready() -> dict[str, Any] | None:
            pods = self.pods()
            wanted = int(self.deployment()["spec"].get("replicas", 1))
            if len(pods) != wanted or not all(healthy(p) for p in pods):
                return None
            if len(pods) == 1:
                return pods[0]
            leader = self.leader_name()
            return next((p for p in pods if p["metadata"]["name"] == leader), None)

        pod: dict[str, Any] = wait_for(f"the operator of release {self.name} to be ready", ready, timeout,
                                       diagnose=self.describe)
        return pod

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Scale the operator to zero for a while (so another operator can own the same objects)."""
        if not self.installed:
            yield
            return
        deployment = self.deployment()
        name, replicas = deployment["metadata"]["name"], int(deployment["spec"].get("replicas", 1))
        self.k8s.kubectl("scale", "deployment", name, "-n", self.namespace, "--replicas=0")
        wait_for("the operator pod to go away", lambda: not self.pods(), 120, diagnose=self.describe)
        try:
            yield
        finally:
            self.k8s.kubectl("scale", "deployment", name, "-n", self.namespace, f"--replicas={replicas}")
            self.wait_ready()


def delete_dask_objects(k8s: Any, namespace: str) -> None:
    """Delete a namespace's Dask objects while their operator still runs to finalize them
    (an operator uninstalled first would leave them, and the namespace, stuck terminating)."""
    k8s.kubectl("delete", DASK_KINDS, "--all", "-n", namespace, "--wait=false", check=False)
    wait_for_dask_deletions(k8s)


def wait_for_dask_deletions(k8s: Any, timeout: float = 90) -> None:
    """Before an operator goes away, let it finish deleting Dask objects (their finalizers)."""

    def none_terminating() -> bool:
        proc = k8s.kubectl("get", DASK_KINDS, "-A", "-o", "json", check=False)
        if proc.returncode != 0:
            return True
        items = json.loads(proc.stdout).get("items", [])
        return not any(i["metadata"].get("deletionTimestamp") for i in items)

    with contextlib.suppress(AssertionError):
        wait_for("Dask objects being deleted to be finalized", none_terminating, timeout, interval=2)


ACTIVE: list[Release] = []


def teardown_active() -> None:
    while ACTIVE:
        release = ACTIVE.pop()
        wait_for_dask_deletions(release.k8s)
        release.uninstall()
        release.k8s.kubectl("delete", "namespace", release.namespace, "--wait=false", "--ignore-not-found",
                            check=False)


@dataclass
class AuditedAPIServer:
    """A second kube-apiserver on the local cluster's etcd, writing an audit log of one user.

    Same etcd, certificates and flags as the cluster's own apiserver (plus the
    OwnerReferencesPermissionEnforcement admission plugin), so it serves the same objects and
    enforces the same RBAC; it listens on the pods' bridge, so an operator pod can be
    pointed at it (KUBERNETES_SERVICE_HOST/PORT) and every API call it makes is recorded.
    """

    host: str
    port: int
    audit_log: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def audited_apiserver(k8s: Any, user: str, work: Path) -> Iterator[AuditedAPIServer]:
    if k8s.state is None:
        raise AssertionError("an audited apiserver needs the local cluster (ci/cluster), not an external one")
    pid = (Path(k8s.state) / "run" / "kube-apiserver.pid").read_text().split()[0]
    argv = [a for a in Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0") if a]
    # The apiserver advertises the host's address on the pods' bridge: listen there too.
    (bridge_ip,) = [a.split("=", 1)[1] for a in argv if a.startswith("--advertise-address=")]
    port = _free_port(bridge_ip)
    policy = work / "audit-policy.yaml"
    policy.write_text(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\n"
        f"rules:\n  - level: Metadata\n    users: [{json.dumps(user)}]\n  - level: None\n"
    )
    log = work / "audit.log"
    replaced = {"--bind-address": bridge_ip, "--secure-port": str(port), "--cert-dir": str(work / "certs")}
    args = [argv[0]]
    for arg in argv[1:]:
        key, _, value = arg.partition("=")
        if key == "--enable-admission-plugins":
            # Hardened clusters (OpenShift) check that whoever sets blockOwnerDeletion on an
            # owner reference may update the owner's finalizers: hold the chart to that too.
            arg = f"{key}={value},OwnerReferencesPermissionEnforcement"
        args.append(f"{key}={replaced[key]}" if key in replaced else arg)
    args += [f"--audit-policy-file={policy}", f"--audit-log-path={log}", "--audit-log-format=json"]
    with (work / "kube-apiserver.log").open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = AuditedAPIServer(bridge_ip, port, log, process)
    try:
        def ready() -> bool:
            assert process.poll() is None, (work / "kube-apiserver.log").read_text()[-3000:]
            proc = k8s.kubectl("--server", f"https://{bridge_ip}:{port}", "get", "--raw", "/readyz", check=False)
            return proc.returncode == 0

        wait_for("the audited kube-apiserver to be ready", ready, 90)
        yield server
    finally:
        server.stop()


def create_run_namespace(k8s: Any, namespace: str) -> None:
    if k8s.kubectl("get", "namespace", namespace, check=False).returncode != 0:
        k8s.kubectl("create", "namespace", namespace)
    k8s.kubectl("label", "--overwrite", "namespace", namespace, f"{RUN_LABEL}={os.getpid()}")


def remove_stale_releases(k8s: Any, helm: str) -> None:
    """Uninstall operators left behind by test runs that died (their pid is gone)."""
    listing = k8s.kubectl_json("get", "namespaces", "-l", RUN_LABEL)
    for ns in listing.get("items", []):
        pid = int(ns["metadata"]["labels"][RUN_LABEL])
        try:
            os.kill(pid, 0)
            continue  # a live run (maybe another developer's): leave it alone
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        name = ns["metadata"]["name"]
        releases = run([helm, "list", "-n", name, "-q"], k8s.env, check=False).stdout.split()
        delete_dask_objects(k8s, name)
        for release in releases:
            run([helm, "uninstall", release, "-n", name, "--wait", "--timeout=120s"], k8s.env, check=False, timeout=180)
        k8s.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
