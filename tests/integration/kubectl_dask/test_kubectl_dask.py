"""`kubectl dask` through the real kubectl (the plugin found on PATH) against the local cluster
and a running operator."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.cluster

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
PLUGIN_DIR = Path(sys.executable).parent  # where pip put the kubectl-dask console script


@pytest.fixture
def kubectl_dask(k8s):
    env = {**k8s.env, "PATH": f"{k8s.bin_dir}:{PLUGIN_DIR}:{k8s.env['PATH']}"}
    kubectl = str(Path(k8s.bin_dir) / "kubectl")

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([kubectl, "dask", *args], env=env, capture_output=True, text=True, timeout=120)
        if check:
            assert proc.returncode == 0, f"kubectl dask {' '.join(args)}: {proc.stderr}"
        return proc

    run.env = env  # type: ignore[attr-defined]
    run.kubectl = kubectl  # type: ignore[attr-defined]
    return run


def test_kubectl_finds_the_plugin(kubectl_dask):
    listed = subprocess.run([kubectl_dask.kubectl, "plugin", "list", "--name-only"], env=kubectl_dask.env,
                            capture_output=True, text=True)
    assert "kubectl-dask" in listed.stdout.split()
    assert "describe" in kubectl_dask("--help").stdout


def test_list_scale_describe_logs_dashboard_delete(operator, kube, wait, kubectl_dask):
    ns = kube.ns
    cluster = yaml.safe_load((EXAMPLES / "cluster.yaml").read_text())
    cluster["spec"]["worker"]["replicas"] = 1
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(cluster))
    kube.wait_ready("simple")

    rows = [line.split() for line in kubectl_dask("list", "-A").stdout.splitlines()]
    assert rows[0][:6] == ["NAMESPACE", "NAME", "PHASE", "WORKERS", "READY", "AGE"]
    assert [ns, "simple", "Running", "1", "1"] in [r[:5] for r in rows]
    listed = json.loads(kubectl_dask("list", "-n", ns, "-o", "json").stdout)
    assert [i["metadata"]["name"] for i in listed["items"]] == ["simple"]
    wide = kubectl_dask("list", "-n", ns, "-o", "wide").stdout
    assert "simple-default" in wide and f"simple-scheduler.{ns}.svc" in wide

    scaled = kubectl_dask("scale", "simple", "3", "-n", ns)
    assert "scaled" in scaled.stdout
    wait(lambda: (kube.get("daskcluster", "simple")["status"].get("workers") or {}).get("ready") == 3, 120,
         message="3 ready workers after kubectl dask scale")

    described = kubectl_dask("describe", "simple", "-n", ns).stdout
    assert "Phase:" in described and "Running" in described and "3 desired, 3 ready" in described
    workers = kube.pods("dask.org/cluster-name=simple,dask.org/component=worker")
    assert all(w["metadata"]["name"] in described for w in workers)
    assert "ScaledUp" in described or "Created" in described  # events are listed
    objects = yaml.safe_load(kubectl_dask("describe", "simple", "-n", ns, "-o", "yaml").stdout)
    assert {i["kind"] for i in objects["items"]} >= {"DaskCluster", "DaskWorkerGroup", "Pod"}

    logs = kubectl_dask("logs", "simple", "-n", ns).stdout
    assert "Scheduler at" in logs
    worker_logs = kubectl_dask("logs", "simple", "-n", ns, "--workers").stdout
    assert "Start worker at" in worker_logs or "Starting Worker" in worker_logs

    forward = subprocess.Popen([kubectl_dask.kubectl, "dask", "dashboard", "simple", "-n", ns], env=kubectl_dask.env,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert forward.stdout is not None
        line = forward.stdout.readline()
        assert line.startswith("Dashboard of DaskCluster simple: http://127.0.0.1:"), line
        url = line.split(": ", 1)[1].strip()
        with urllib.request.urlopen(url.replace("/status", "/health"), timeout=30) as response:
            assert response.status == 200 and response.read() == b"ok"
    finally:
        forward.terminate()
        forward.wait(30)

    missing = kubectl_dask("describe", "nope", "-n", ns, check=False)
    assert missing.returncode != 0 and "not found" in missing.stderr

    deleted = kubectl_dask("delete", "simple", "-n", ns)
    assert "deleted" in deleted.stdout
    assert kube.get("daskcluster", "simple") is None
    assert "No Dask clusters found" in kubectl_dask("list", "-n", ns).stderr
