"""KubeCluster against a Kubernetes API without the Dask CRDs, then without the operator.

The shared local cluster has both installed, so these tests start a second, bare control
plane (etcd + kube-apiserver only, on free ports, reusing the local cluster's certificates):
first with no CRDs at all, then with the chart's CRDs applied but no operator running.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from dask_kubernetes.operator import KubeCluster
from dask_kubernetes.operator.kubecluster import CRDsNotInstalledError, OperatorTimeoutError

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BareControlPlane:
    def __init__(self, k8s, work: Path) -> None:
        if k8s.state is None:
            pytest.skip("needs the local cluster's certificates (KUBECONFIG points elsewhere)")
        self.bin = Path(k8s.bin_dir)
        self.pki = Path(k8s.state) / "pki"
        self.work = work
        self.procs: list[subprocess.Popen[bytes]] = []
        self.port = free_port()
        self.kubeconfig = work / "kubeconfig"
        config = yaml.safe_load(Path(k8s.kubeconfig).read_text())
        for cluster in config["clusters"]:
            cluster["cluster"]["server"] = f"https://127.0.0.1:{self.port}"
        self.kubeconfig.write_text(yaml.safe_dump(config))
        self.env = {**k8s.env, "KUBECONFIG": str(self.kubeconfig)}

    def spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.work / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        self.procs.append(
            subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )

    def start(self) -> None:
        client, peer = free_port(), free_port()
        self.spawn(
            "etcd",
            [
                str(self.bin / "etcd"),
                "--name=bare",
                f"--data-dir={self.work / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{client}",
                f"--advertise-client-urls=http://127.0.0.1:{client}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=bare=http://127.0.0.1:{peer}",
                "--listen-metrics-urls=",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        p = self.pki
        self.spawn(
            "kube-apiserver",
            [
                str(self.bin / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{client}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.port}",
                f"--cert-dir={self.work / 'certs'}",
                f"--tls-cert-file={p / 'apiserver.crt'}",
                f"--tls-private-key-file={p / 'apiserver.key'}",
                f"--client-ca-file={p / 'ca.crt'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={p / 'sa.pub'}",
                f"--service-account-signing-key-file={p / 'sa.key'}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--authorization-mode=RBAC",
                "--endpoint-reconciler-type=none",
                "--profiling=false",
            ],
        )
        deadline = time.monotonic() + 120
        while self.kubectl("get", "--raw", "/readyz", check=False).returncode != 0:
            if time.monotonic() > deadline:
                log = (self.work / "kube-apiserver.log").read_text(errors="replace")[-3000:]
                raise AssertionError(f"bare kube-apiserver never became ready:\n{log}")
            time.sleep(1)
        deadline = time.monotonic() + 60
        while self.kubectl("get", "namespace", "default", check=False).returncode != 0:
            assert time.monotonic() < deadline, "namespace default never appeared"
            time.sleep(0.5)

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.bin / "kubectl"), *args], env=self.env, capture_output=True, text=True
        )
        if check and proc.returncode:
            raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr}")
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="module")
def bare(k8s, tmp_path_factory) -> Iterator[BareControlPlane]:
    plane = BareControlPlane(k8s, tmp_path_factory.mktemp("bare-control-plane"))
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()


@pytest.fixture
def use_bare(bare, monkeypatch) -> BareControlPlane:
    monkeypatch.setenv("KUBECONFIG", str(bare.kubeconfig))
    return bare


def test_kubecluster_no_crds_says_so_and_how_to_install_them(use_bare):
    with pytest.raises(CRDsNotInstalledError) as info:
        KubeCluster(name="nocrds", namespace="default", n_workers=0)
    message = str(info.value)
    assert "kubernetes.dask.org/v1" in message
    assert "not installed" in message
    assert "helm install" in message


def test_kubecluster_no_operator_times_out_and_leaves_nothing(use_bare):
    use_bare.kubectl("apply", "-f", str(REPO / "chart" / "crds"))
    use_bare.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
    with pytest.raises(OperatorTimeoutError, match="is the Dask Operator running") as info:
        KubeCluster(name="nooperator", namespace="default", n_workers=0, resource_timeout=3)
    assert isinstance(info.value, TimeoutError)
    left = use_bare.kubectl("get", "daskclusters", "-A", "-o", "name").stdout.split()
    assert left == []
