"""The chart installed the way users install it: real helm, the operator running as a pod under the
chart's ServiceAccount and RBAC, the user docs' manifests reconciled and computing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_helpers import all_values_text, render_manifests
from chart_release import (
    ACTIVE,
    CHART,
    RELEASE,
    REPO,
    Release,
    apply_crds,
    audited_apiserver,
    delete_dask_objects,
    run,
    wait_established,
    wait_for,
)

pytestmark = pytest.mark.e2e

EXAMPLES = REPO / "examples"
PROMETHEUS_OPERATOR = "github.com/prometheus-operator/prometheus-operator@v0.85.0"
INSTALLED = "Operator has been installed successfully."
SUM_OF_SQUARES = sum(i * i for i in range(1000))


# -- helpers ------------------------------------------------------------------------------------


def manifest(name: str) -> str:
    """A docs manifest without its hard-coded namespace, so it lands in the test's namespace."""
    docs = [d for d in yaml.safe_load_all((EXAMPLES / name).read_text()) if d]
    for doc in docs:
        doc["metadata"].pop("namespace", None)
    return yaml.safe_dump_all(docs)


def describe_dask(k8s: Any, namespace: str, release: Release | None) -> str:
    out = k8s.kubectl("get", "daskclusters,daskworkergroups,daskjobs,daskautoscalers,deployments,pods,services",
                      "-n", namespace, "-o", "wide", check=False).stdout
    out += k8s.kubectl("get", "daskclusters", "-n", namespace, "-o", "yaml", check=False).stdout[-4000:]
    if release is not None:
        out += "\n--- operator logs ---\n" + release.logs()
    return out


def wait_cluster_ready(k8s: Any, namespace: str, name: str, release: Release | None) -> None:
    proc = k8s.kubectl("wait", "--for=condition=Ready", f"daskcluster/{name}", "-n", namespace,
                       "--timeout=300s", check=False, timeout=330)
    assert proc.returncode == 0, f"{proc.stderr}\n{describe_dask(k8s, namespace, release)}"


def compute_through_scheduler_service(k8s: Any, namespace: str, cluster: str, workers: int) -> int:
    """Run a Dask computation from the host through the scheduler Service's ClusterIP."""
    from distributed import Client

    service = k8s.kubectl_json("get", "service", f"{cluster}-scheduler", "-n", namespace)
    address = f"tcp://{service['spec']['clusterIP']}:8786"
    with Client(address, timeout="60s") as client:
        client.wait_for_workers(workers, timeout=180)
        squares = client.map(pow, range(1000), [2] * 1000)
        total: int = client.submit(sum, squares).result(timeout=120)
        assert len(client.who_has(squares)) == 1000
    return total


def can_i(k8s: Any, service_account: str, *args: str) -> bool:
    proc = k8s.kubectl("auth", "can-i", *args, f"--as={service_account}", check=False)
    answer = proc.stdout.strip()
    assert answer in ("yes", "no"), proc.stdout + proc.stderr
    return answer == "yes"


def service_account_user(release: Release) -> str:
    pod = release.pod()
    return f"system:serviceaccount:{release.namespace}:{pod['spec']['serviceAccountName']}"


@pytest.fixture
def cluster_wide_paused() -> Iterator[None]:
    """Pause the session's cluster-wide operator (if installed) so another operator owns a namespace."""
    if not ACTIVE:
        yield
        return
    with ACTIVE[0].paused():
        yield


# -- the default install -----------------------------------------------------------------------


@pytest.mark.both_nodes
def test_operator_runs_as_a_pod_under_its_service_account(operator_release: Release, k8s: Any) -> None:
    assert INSTALLED in operator_release.install_output or operator_release.helm_cmd(
        "status", operator_release.name, "-n", operator_release.namespace).stdout.count(INSTALLED)
    pod = operator_release.pod()
    assert pod["status"]["phase"] == "Running"
    assert pod["spec"]["serviceAccountName"] == RELEASE
    container = pod["spec"]["containers"][0]
    kopf_args = os.environ.get("DASK_E2E_KOPF_ARGS", "--all-namespaces").split(",")
    assert container["command"] + container["args"] == [
        "dask-operator", "run", *kopf_args, "--standalone", "--liveness=http://0.0.0.0:8080/healthz",
        "--leader-election",
    ]
    # The operator's own Prometheus endpoint, on the port the chart configures.
    with urllib.request.urlopen(f"http://{pod['status']['podIP']}:9090/metrics", timeout=10) as rsp:
        assert rsp.status == 200 and b"# TYPE" in rsp.read()
    # The docs' commands.
    listed = k8s.kubectl("get", "pods", "-A", "-l", "app.kubernetes.io/name=dask-kubernetes-operator").stdout
    assert re.search(rf"{operator_release.namespace}\s+{pod['metadata']['name']}\s+1/1\s+Running", listed), listed
    assert k8s.kubectl("get", "daskclusters").returncode == 0
    # Its identity has what the chart grants, and nothing beyond it.
    sa = service_account_user(operator_release)
    assert can_i(k8s, sa, "create", "pods", "-n", "default")
    assert can_i(k8s, sa, "watch", "daskclusters.kubernetes.dask.org", "--all-namespaces")
    assert not can_i(k8s, sa, "get", "secrets", "-n", "default")
    assert not can_i(k8s, sa, "delete", "nodes")


@pytest.mark.both_nodes
def test_docs_cluster_reaches_ready_and_computes(operator_release: Release, k8s: Any, namespace: str) -> None:
    k8s.kubectl("apply", "-n", namespace, "-f", "-", input=manifest("cluster.yaml"))
    wait_cluster_ready(k8s, namespace, "simple", operator_release)
    assert compute_through_scheduler_service(k8s, namespace, "simple", workers=2) == SUM_OF_SQUARES
    k8s.kubectl("delete", "daskcluster", "simple", "-n", namespace, "--timeout=120s", timeout=150)
    wait_for("the scheduler Deployment to be garbage-collected",
             lambda: not k8s.kubectl_json("get", "deployments", "-n", namespace)["items"], 120,
             diagnose=lambda: describe_dask(k8s, namespace, operator_release))


# -- the docs' single-namespace install ----------------------------------------------------------


def test_single_namespace_install_manages_its_namespace_only(
    k8s: Any, helm_binary: str, namespace: str, cluster_wide_paused: None
) -> None:
    apply_crds(k8s.kubectl)
    proc = run([helm_binary, "install", "-n", namespace, "--generate-name", str(CHART),
                "--set", "rbac.cluster=false", "--set", f"kopfArgs={{--namespace={namespace}}}",
                "--wait", "--timeout=240s"], k8s.env, timeout=300)
    assert INSTALLED in proc.stdout
    name = re.search(r"^NAME: (\S+)$", proc.stdout, re.M)
    assert name, proc.stdout
    release = Release(name.group(1), namespace, k8s, helm_binary, installed=True)
    try:
        release.wait_ready()
        labels = f"app.kubernetes.io/instance={release.name}"
        assert not k8s.kubectl_json("get", "clusterroles,clusterrolebindings", "-l", labels)["items"]
        assert len(k8s.kubectl_json("get", "roles,rolebindings", "-n", namespace, "-l", labels)["items"]) == 2
        sa = service_account_user(release)
        assert can_i(k8s, sa, "create", "pods", "-n", namespace)
        # (`daskclusters.../status` would name an object "status"; the subresource is a flag)
        assert can_i(k8s, sa, "patch", "daskclusters.kubernetes.dask.org", "--subresource=status", "-n", namespace)
        for cluster_scoped in (("list", "namespaces"), ("list", "customresourcedefinitions"), ("get", "nodes")):
            assert not can_i(k8s, sa, *cluster_scoped), cluster_scoped
        assert not can_i(k8s, sa, "create", "pods", "-n", "default")
        assert not can_i(k8s, sa, "list", "daskclusters.kubernetes.dask.org", "--all-namespaces")

        k8s.kubectl("apply", "-n", namespace, "-f", "-", input=manifest("cluster.yaml"))
        wait_cluster_ready(k8s, namespace, "simple", release)
        assert compute_through_scheduler_service(k8s, namespace, "simple", workers=2) == SUM_OF_SQUARES
        k8s.kubectl("delete", "daskcluster", "simple", "-n", namespace, "--timeout=120s", timeout=150)
    finally:
        delete_dask_objects(k8s, namespace)
        release.uninstall()

    # helm uninstall removes the operator and everything the chart made; the CRDs stay.
    wait_for("the operator pod to be deleted", lambda: not release.pods(), 120, diagnose=release.describe)
    leftovers = k8s.kubectl_json("get", "deployments,serviceaccounts,roles,rolebindings", "-n", namespace,
                                 "-l", f"app.kubernetes.io/instance={release.name}")["items"]
    assert leftovers == []
    assert k8s.kubectl("get", "crd", "daskclusters.kubernetes.dask.org").returncode == 0


# -- every value, accepted by the real apiserver ------------------------------------------------


def prometheus_operator_crds() -> list[Path]:
    proc = subprocess.run(["go", "mod", "download", "-json", PROMETHEUS_OPERATOR],
                          capture_output=True, text=True, timeout=600)
    info = json.loads(proc.stdout or "{}")
    assert proc.returncode == 0 and "Dir" in info, f"go mod download failed: {proc.stdout}{proc.stderr}"
    crds = Path(info["Dir"]) / "example" / "prometheus-operator-crd"
    return [crds / "monitoring.coreos.com_servicemonitors.yaml", crds / "monitoring.coreos.com_podmonitors.yaml"]


def test_every_value_is_accepted_by_the_apiserver(k8s: Any, helm_binary: str, namespace: str,
                                                  tmp_path: Path) -> None:
    apply_crds(k8s.kubectl)
    for crd in prometheus_operator_crds():
        k8s.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=dask-e2e", "-f", str(crd))
    wait_established(k8s.kubectl, ["servicemonitors.monitoring.coreos.com", "podmonitors.monitoring.coreos.com"])

    values = tmp_path / "values-all.yaml"
    values.write_text(all_values_text(namespace))
    renders = {
        "all values": ["-f", str(values)],
        "defaults": [],
        "docs single namespace": ["--set", "rbac.cluster=false", "--set", f"kopfArgs={{--namespace={namespace}}}"],
    }
    for what, args in renders.items():
        manifests = render_manifests(helm_binary, *args, namespace=namespace)
        kinds = sorted(m["kind"] for m in manifests)
        proc = k8s.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-",
                           input=yaml.safe_dump_all(manifests), check=False)
        assert proc.returncode == 0, f"{what}: {proc.stderr}"
        assert proc.stdout.count("(server dry run)") == len(manifests), (what, kinds, proc.stdout)
        if what == "all values":
            assert {"ServiceMonitor", "PodMonitor", "Role", "Deployment"} <= set(kinds)

    # The operator pod (with the plugin init container too) meets the "restricted" Pod Security
    # Standard, enforced by the apiserver's PodSecurity admission.
    k8s.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    for what, args in {"defaults": [], "all values": ["-f", str(values)]}.items():
        template = next(m for m in render_manifests(helm_binary, *args, namespace=namespace)
                        if m["kind"] == "Deployment")["spec"]["template"]
        # (the namespace's default ServiceAccount: the chart's exists only once installed)
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {**template["metadata"], "name": "operator"},
               "spec": {**template["spec"], "serviceAccountName": "default"}}
        proc = k8s.kubectl("create", "--dry-run=server", "-n", namespace, "-f", "-",
                           input=yaml.safe_dump(pod), check=False)
        assert proc.returncode == 0 and "Warning" not in proc.stderr, f"{what}: {proc.stdout}{proc.stderr}"

    # The Git-managed DaskCluster of examples/gitops is valid against our CRDs too.
    cluster = yaml.safe_load((EXAMPLES / "gitops" / "clusters" / "daskcluster.yaml").read_text())
    cluster["metadata"]["namespace"] = namespace
    k8s.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(cluster))


# -- least privilege: the chart's rules are exactly the calls the operator makes -------------------

Call = tuple[str, str, str]  # (apiGroup, resource[/subresource], verb)


def audit_calls(log: Path, user: str, until: int | None = None) -> dict[Call, set[int]]:
    """Every resource request `user` made (in the first `until` bytes of the log), with the
    response codes it got."""
    # Watches log ResponseStarted when they begin and ResponseComplete only when they end: take
    # every request once (by auditID), with its final stage's code.
    requests: dict[str, dict[str, Any]] = {}
    with log.open() as f:
        text = f.read() if until is None else f.read(until)
        for line in text.splitlines():
            if not line.endswith("}"):
                continue  # cut mid-line at `until`
            event = json.loads(line)
            if event.get("user", {}).get("username") == user and event.get("objectRef"):
                if event["stage"] == "ResponseComplete" or event["auditID"] not in requests:
                    requests[event["auditID"]] = event
    calls: dict[Call, set[int]] = defaultdict(set)
    for event in requests.values():
        ref = event["objectRef"]
        resource = ref.get("resource", "")
        if ref.get("subresource"):
            resource += "/" + ref["subresource"]
        code = event.get("responseStatus", {}).get("code", 0)
        group = ref.get("apiGroup", "")
        calls[(group, resource, event["verb"])].add(code)
        if event["verb"] == "patch" and code == 201:
            # A server-side apply that created the object was also authorized as `create`.
            calls[(group, resource, "create")].add(code)
    return calls


def granted_calls(helm: str, *args: str) -> set[Call]:
    role = next(m for m in render_manifests(helm, *args) if m["kind"] == "ClusterRole")
    return {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
            for v in rule["verbs"]}


# Granted rules that are never a call of their own, each with the reason it is needed.
_OWNER_CHECK = (
    "authorization, not a request: OwnerReferencesPermissionEnforcement (on in the audited "
    "apiserver) requires it of whoever sets blockOwnerDeletion owner references to this kind"
)
NOT_EXERCISED: dict[Call, str] = {
    **{("kubernetes.dask.org", f"{kind}/finalizers", "update"): _OWNER_CHECK
       for kind in ("daskclusters", "daskworkergroups", "daskjobs")},
    ("kubernetes.dask.org", "daskworkergroups", "delete"): (
        "authorization, not a request: OwnerReferencesPermissionEnforcement lets only who may delete a "
        "DaskWorkerGroup set its owner reference, and the operator adopts user-made groups"),
}
# Granted rules whose use depends on timing, each with the reason.
MAYBE_UNUSED: dict[Call, str] = {
    ("", "events", "patch"): "an Event repeated within 10 minutes is patched (count + 1), not created again; "
                             "whether the scenario repeats one depends on timing",
    **{("kubernetes.dask.org", kind, "get"): "only when a cluster that lost a child in the last 30 s gets new "
                                             "children: whether the scenario's deletions and creations overlap "
                                             "depends on timing"
       for kind in ("daskclusters", "daskworkergroups")},
}
# Self-reviews and discovery are open to every authenticated user: not the chart's business.
IGNORED_GROUPS = {"authorization.k8s.io", "authentication.k8s.io"}


def exercise_operator(k8s: Any, namespace: str, release: Release) -> None:
    """A cluster scaled up and down with an extra worker group and an autoscaler, a job, deletions."""
    def apply(name: str) -> None:
        k8s.kubectl("apply", "-n", namespace, "-f", "-", input=manifest(name))

    apply("cluster.yaml")
    wait_cluster_ready(k8s, namespace, "simple", release)
    k8s.kubectl("scale", "daskcluster", "simple", "-n", namespace, "--replicas=3")
    apply("highmemworkers.yaml")
    wait_for("3 + 2 workers", lambda: len(k8s.kubectl_json(
        "get", "pods", "-n", namespace, "-l", "dask.org/component=worker")["items"]) == 5, 180,
        diagnose=lambda: describe_dask(k8s, namespace, release))
    # Parent metadata reaches existing children (patches of pods, services, deployments).
    k8s.kubectl("label", "daskcluster", "simple", "-n", namespace, "example.com/team=analytics")
    wait_for("the label on the scheduler Service", lambda: k8s.kubectl_json(
        "get", "service", "simple-scheduler", "-n", namespace)["metadata"]["labels"].get("example.com/team"), 120,
        diagnose=lambda: describe_dask(k8s, namespace, release))
    # The built-in platform plugins' objects, turned on and off per cluster (create, patch, delete).
    def children_are(present: dict[str, bool]) -> bool:
        return all((k8s.kubectl("get", kind, "-n", namespace, check=False).returncode == 0) is wanted
                   for kind, wanted in present.items())

    platform = {"pdb/simple-scheduler": False, "networkpolicy/simple-dask": True, "ingress/simple-dashboard": True}
    k8s.kubectl("annotate", "--overwrite", "daskcluster", "simple", "-n", namespace, "kubernetes.dask.org/scheduler-pdb=false",
                "kubernetes.dask.org/network-policy=true", "kubernetes.dask.org/dashboard-ingress=true")
    wait_for(f"platform objects {platform}", lambda: children_are(platform), 120,
             diagnose=lambda: describe_dask(k8s, namespace, release))
    k8s.kubectl("annotate", "--overwrite", "daskcluster", "simple", "-n", namespace, "kubernetes.dask.org/scheduler-pdb=true",
                "kubernetes.dask.org/network-policy=false", "kubernetes.dask.org/dashboard-ingress=false")
    platform = {kind: not wanted for kind, wanted in platform.items()}
    wait_for(f"platform objects {platform}", lambda: children_are(platform), 120,
             diagnose=lambda: describe_dask(k8s, namespace, release))
    k8s.kubectl("scale", "daskcluster", "simple", "-n", namespace, "--replicas=1")
    apply("autoscaler.yaml")
    apply("job.yaml")
    proc = k8s.kubectl("wait", "--for=jsonpath={.status.jobStatus}=Successful", "daskjob/simple-job",
                       "-n", namespace, "--timeout=300s", check=False, timeout=330)
    assert proc.returncode == 0, f"{proc.stderr}\n{describe_dask(k8s, namespace, release)}"
    # A finished job goes away after its TTL (the operator deletes it).
    k8s.kubectl(
        "patch",
        "daskjob",
        "simple-job",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec": {"ttlSecondsAfterFinished": 1}}',
    )
    wait_for(
        "the finished DaskJob to be deleted after its TTL",
        lambda: (
            k8s.kubectl("get", "daskjob", "simple-job", "-n", namespace, check=False).returncode
            != 0
        ),
        120,
        diagnose=lambda: describe_dask(k8s, namespace, release),
    )
    k8s.kubectl(
        "delete",
        "daskautoscaler,daskworkergroup",
        "--all",
        "-n",
        namespace,
        "--timeout=120s",
        timeout=150,
    )
    k8s.kubectl(
        "delete", "daskjob,daskcluster", "--all", "-n", namespace, "--timeout=120s", timeout=150
    )


def test_rbac_is_exactly_what_the_operator_uses(
    k8s: Any, helm_binary: str, namespace: str, tmp_path: Path, cluster_wide_paused: None
) -> None:
    name = "dask-kubernetes-operator-audit"
    user = f"system:serviceaccount:{namespace}:{name}"
    kopf_args = os.environ.get("DASK_E2E_KOPF_ARGS")
    values = ["--set", f"kopfArgs={{{kopf_args}}}"] if kopf_args else []
    apply_crds(k8s.kubectl)
    with audited_apiserver(k8s, user, tmp_path) as server:
        # The chart as users install it, only pointed at the audited apiserver.
        release = Release(name, namespace, k8s, helm_binary, values=[
            *values,
            "--set-string", "dashboardIngress.host=dask.example.com",  # clusters may ask for an Ingress
            "--set", "extraEnv[0].name=KUBERNETES_SERVICE_HOST", "--set", f"extraEnv[0].value={server.host}",
            "--set", "extraEnv[1].name=KUBERNETES_SERVICE_PORT", "--set-string", f"extraEnv[1].value={server.port}",
        ])
        scenario_error: AssertionError | None = None
        try:
            release.install()
            try:
                exercise_operator(k8s, namespace, release)
            except AssertionError as error:  # reported below, with the calls made so far
                scenario_error = error
        finally:
            delete_dask_objects(k8s, namespace)
            # helm removes the RBAC before the operator pod has stopped: its calls after this
            # point are refused by design, so only what it did while installed counts.
            installed_until = server.audit_log.stat().st_size
            release.uninstall()
        calls = audit_calls(server.audit_log, user, installed_until)
    # helm uninstall took the operator's cluster-wide permissions with it.
    assert not k8s.kubectl_json("get", "clusterroles,clusterrolebindings", "-l",
                                f"app.kubernetes.io/instance={name}")["items"]

    table = "\n".join(f"  {g or 'core'} {r} {v}: {sorted(c)}" for (g, r, v), c in sorted(calls.items()))
    assert calls, f"no API calls by {user} in {server.audit_log}"
    assert scenario_error is None, f"{scenario_error}\ncalls until then:\n{table}"
    used = {call for call, codes in calls.items() if any(c != 403 for c in codes) and call[0] not in IGNORED_GROUPS}
    forbidden = {call for call, codes in calls.items() if 403 in codes}
    granted = granted_calls(helm_binary, *values)
    assert not forbidden, f"calls the chart's RBAC refused: {sorted(forbidden)}\n{table}"
    assert not used - granted, f"calls beyond the chart's rules: {sorted(used - granted)}\n{table}"
    unused = granted - used - set(NOT_EXERCISED) - set(MAYBE_UNUSED)
    assert not unused, f"rules the operator never used (remove, or explain in NOT_EXERCISED): {sorted(unused)}\n{table}"


# -- plugins.pipPackages: an init container installs a plugin the image does not have ------------


def make_plugin_wheel(directory: Path) -> Path:
    """A one-module operator plugin as a wheel, built by hand (pip installs it with --no-index)."""
    import base64
    import hashlib
    import zipfile

    name, version = "e2e_chart_plugin", "0.1.0"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": '"""An operator plugin that only proves it was loaded."""\n',
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests/e2e\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": f"[dask_operator_plugin]\ne2e-chart-plugin = {name}\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel


def test_plugin_packages_are_installed_by_the_init_container(k8s: Any, helm_binary: str, namespace: str) -> None:
    # Not under /tmp: the operator pod mounts its own emptyDir there.
    work = REPO / ".state" / "e2e-plugins" / namespace
    work.mkdir(parents=True, exist_ok=True)
    wheel = make_plugin_wheel(work)
    apply_crds(k8s.kubectl)
    release = Release("dask-operator-plugins", namespace, k8s, helm_binary, values=[
        "--set", "rbac.cluster=false", "--set", f"kopfArgs={{--namespace={namespace}}}",
        "--set", f"plugins.pipPackages={{{wheel}}}", "--set", "plugins.pipArgs={--no-index}",
    ])
    try:
        release.install()
        pod = release.pod()
        (init,) = pod["status"]["initContainerStatuses"]
        assert init["state"]["terminated"]["exitCode"] == 0
        wait_for("the operator to log the plugin it loaded",
                 lambda: "plugin e2e-chart-plugin" in release.logs(tail=500), 60, diagnose=release.describe)
    finally:
        release.uninstall()
        for path in sorted(work.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        work.rmdir()
