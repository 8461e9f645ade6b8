"""examples/gitops: the manifests are consistent with the chart, and the Argo CD health checks
give the right verdicts (run in LuaJIT, a Lua 5.1 like Argo CD's gopher-lua)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_helpers import ROOT, Render, by_kind, one

GITOPS = ROOT / "examples" / "gitops"


def docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((GITOPS / name).read_text()) if d]


def test_flux_helmrelease_replaces_crds_and_its_values_render(render: Render, tmp_path: Path) -> None:
    manifests = docs("flux-operator.yaml")
    release = one(manifests, "HelmRelease")
    assert release["spec"]["install"]["crds"] == "CreateReplace"
    assert release["spec"]["upgrade"]["crds"] == "CreateReplace"
    chart = release["spec"]["chart"]["spec"]
    repo = one(manifests, "HelmRepository")
    assert chart["chart"] == "dask-kubernetes-operator"
    assert chart["sourceRef"]["name"] == repo["metadata"]["name"]
    (tmp_path / "v.yaml").write_text(yaml.safe_dump(release["spec"]["values"]))
    assert one(render("-f", str(tmp_path / "v.yaml")), "ServiceMonitor")


def test_argocd_operator_application_is_server_side_and_its_values_render(
    render: Render, tmp_path: Path
) -> None:
    app = one(docs("argocd-operator.yaml"), "Application")
    assert app["spec"]["source"]["chart"] == "dask-kubernetes-operator"
    assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"]
    (tmp_path / "v.yaml").write_text(yaml.safe_dump(app["spec"]["source"]["helm"]["valuesObject"]))
    assert one(render("-f", str(tmp_path / "v.yaml")), "ServiceMonitor")


def test_git_managed_cluster_is_synced_by_both_tools() -> None:
    clusters = GITOPS / "clusters"
    kustomization = yaml.safe_load((clusters / "kustomization.yaml").read_text())
    files = sorted(p.name for p in clusters.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(kustomization["resources"]) == files
    (cluster,) = by_kind([d for f in files for d in docs(f"clusters/{f}")], "DaskCluster")
    assert cluster["apiVersion"] == "kubernetes.dask.org/v1"
    argo = one(docs("argocd-daskcluster.yaml"), "Application")
    assert argo["spec"]["source"]["path"] == "examples/gitops/clusters"
    flux = one(docs("flux-daskcluster.yaml"), "Kustomization")
    assert flux["spec"]["path"] == "./examples/gitops/clusters"
    assert flux["spec"]["wait"] is True


# -- Argo CD health checks --------------------------------------------------------------------


@pytest.fixture(scope="module")
def health() -> dict[str, Any]:
    try:
        from lupa import luajit21 as lupa
    except ImportError as error:  # pragma: no cover - a broken environment, not a skip
        pytest.fail(f"lupa (test extras) is needed to run the health checks: {error}")
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    data = one(docs("argocd-health-checks.yaml"), "ConfigMap")["data"]
    checks = {}
    for kind in ("DaskCluster", "DaskWorkerGroup", "DaskJob", "DaskAutoscaler"):
        script = data[f"resource.customizations.health.kubernetes.dask.org_{kind}"]
        fn = lua.eval(f"function(obj)\n{script}\nend")

        def check(obj: dict[str, Any], fn: Any = fn) -> tuple[str, str]:
            hs = fn(lua.table_from(obj, recursive=True))
            return hs["status"], hs["message"]

        checks[kind] = check
    return checks


def cluster(status: dict[str, Any] | None, generation: int = 1) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": "simple", "generation": generation}, "spec": {}}
    if status is not None:
        obj["status"] = status
    return obj


def ready(status: str, message: str = "") -> list[dict[str, Any]]:
    return [{"type": "SchedulerReady", "status": "True"}, {"type": "Ready", "status": status, "message": message}]


@pytest.mark.parametrize(
    ("status", "generation", "verdict"),
    [
        (None, 1, "Progressing"),
        ({"phase": "Created"}, 1, "Progressing"),
        ({"phase": "Pending", "observedGeneration": 1, "conditions": ready("False", "0/2 workers ready")}, 1,
         "Progressing"),
        ({"phase": "Running", "observedGeneration": 1, "conditions": ready("True"),
          "workers": {"desired": 2, "ready": 2}}, 1, "Healthy"),
        ({"phase": "Running", "observedGeneration": 1, "conditions": ready("True")}, 2, "Progressing"),
        ({"phase": "Running"}, 1, "Healthy"),
        ({"phase": "Error", "observedGeneration": 1, "conditions": ready("False", "spec.worker.replicas < 0")}, 1,
         "Degraded"),
    ],
)
def test_daskcluster_health(health: dict[str, Any], status: Any, generation: int, verdict: str) -> None:
    assert health["DaskCluster"](cluster(status, generation))[0] == verdict


def test_daskcluster_health_messages(health: dict[str, Any]) -> None:
    status = {"phase": "Running", "observedGeneration": 1, "conditions": ready("True"),
              "workers": {"desired": 3, "ready": 3}}
    assert health["DaskCluster"](cluster(status)) == ("Healthy", "Ready: 3/3 workers")
    status = {"phase": "Error", "conditions": ready("False", "invalid worker spec")}
    assert health["DaskCluster"](cluster(status)) == ("Degraded", "invalid worker spec")


@pytest.mark.parametrize(
    ("spec", "status", "verdict"),
    [
        ({}, None, "Progressing"),
        ({}, {"jobStatus": "JobCreated"}, "Progressing"),
        ({}, {"jobStatus": "ClusterCreated"}, "Progressing"),
        ({}, {"jobStatus": "Running"}, "Progressing"),
        ({}, {"jobStatus": "Successful"}, "Healthy"),
        ({}, {"jobStatus": "Failed", "reason": "BackoffLimitExceeded"}, "Degraded"),
        ({"suspend": True}, {"jobStatus": "JobCreated"}, "Suspended"),
    ],
)
def test_daskjob_health(health: dict[str, Any], spec: dict[str, Any], status: Any, verdict: str) -> None:
    obj: dict[str, Any] = {"metadata": {"name": "job", "generation": 1}, "spec": spec}
    if status is not None:
        obj["status"] = status
    assert health["DaskJob"](obj)[0] == verdict


def contract(ready: bool, reason: str, stalled: bool = False, message: str = "why") -> list[dict[str, Any]]:
    """The health conditions the operator writes (status_health)."""
    return [
        {"type": "Ready", "status": str(ready), "reason": reason, "message": message},
        {"type": "Reconciling", "status": str(not ready and not stalled), "reason": reason, "message": message},
        {"type": "Stalled", "status": str(stalled), "reason": reason if stalled else "NotStalled", "message": message if stalled else ""},
    ]


@pytest.mark.parametrize("kind", ["DaskCluster", "DaskWorkerGroup", "DaskAutoscaler"])
@pytest.mark.parametrize(
    ("conditions", "verdict"),
    [
        (contract(True, "Ready"), "Healthy"),
        (contract(False, "WorkersNotReady"), "Progressing"),
        (contract(False, "ClusterNotFound", stalled=True, message="DaskCluster 'x' does not exist"), "Degraded"),
    ],
)
def test_every_kind_reads_the_contract(health: dict[str, Any], kind: str, conditions: Any, verdict: str) -> None:
    obj = {"metadata": {"name": "x", "generation": 2}, "status": {"observedGeneration": 2, "conditions": conditions}}
    status, message = health[kind](obj)
    assert status == verdict
    if verdict != "Healthy":
        assert message in ("why", "DaskCluster 'x' does not exist")
    obj["metadata"]["generation"] = 3
    assert health[kind](obj)[0] == "Progressing"


def test_job_stalled_without_failing_is_degraded(health: dict[str, Any]) -> None:
    obj = {"metadata": {"name": "j", "generation": 1}, "spec": {},
           "status": {"observedGeneration": 1, "jobStatus": "JobCreated",
                      "conditions": contract(False, "ClusterConflict", stalled=True, message="a DaskCluster named 'j' exists")}}
    assert health["DaskJob"](obj) == ("Degraded", "a DaskCluster named 'j' exists")
