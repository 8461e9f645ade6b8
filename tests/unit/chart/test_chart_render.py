"""helm lint and helm template of the chart: what every value renders to."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_helpers import CHART, Render, all_values_text, by_kind, helm_template, one

SINGLE_NAMESPACE = ("--set", "rbac.cluster=false", "--set", "kopfArgs={--namespace=dask-operator}")
# The user docs' Prometheus section, verbatim (it spells the worker switch `serviceMonitor`).
DOCS_PROMETHEUS = """
metrics:
   scheduler:
      enabled: true
      serviceMonitor:
         enabled: true
   worker:
      enabled: true
      serviceMonitor:
         enabled: true
"""
CLUSTER_SCOPED = {"namespaces", "nodes", "customresourcedefinitions", "clusterroles", "persistentvolumes"}


def container(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    pod = one(manifests, "Deployment")["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    return c


def env(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(manifests)["env"]}


def rules(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return one(manifests, kind)["rules"]


def resources_of(rule_list: list[dict[str, Any]]) -> set[str]:
    return {r for rule in rule_list for r in rule.get("resources", [])}


# -- lint and determinism ---------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["defaults", "single-namespace", "all-values"])
def test_helm_lint_strict(helm: str, tmp_path: Path, variant: str) -> None:
    args: list[str] = []
    if variant == "single-namespace":
        args = list(SINGLE_NAMESPACE)
    elif variant == "all-values":
        (tmp_path / "v.yaml").write_text(all_values_text("dask-operator"))
        args = ["-f", str(tmp_path / "v.yaml")]
    proc = subprocess.run(
        [helm, "lint", "--strict", str(CHART), "--namespace", "dask-operator", *args],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize("all_values", [False, True])
def test_template_is_deterministic(helm: str, tmp_path: Path, all_values: bool) -> None:
    args: list[str] = ["--include-crds"]
    if all_values:
        (tmp_path / "v.yaml").write_text(all_values_text("dask-operator"))
        args += ["-f", str(tmp_path / "v.yaml")]
    first = helm_template(helm, *args).stdout
    second = helm_template(helm, *args).stdout
    assert first and first == second


def test_templates_use_no_random_time_or_cluster_lookups() -> None:
    forbidden = re.compile(r"\b(rand\w*|now|uuidv4|genCA|genSelfSignedCert\w*|genPrivateKey|lookup|date\w*)\b")
    actions = re.compile(r"\{\{.*?\}\}", re.S)
    for path in (CHART / "templates").iterdir():
        for action in actions.findall(path.read_text()):
            if match := forbidden.search(action):
                pytest.fail(f"{path.name} uses {match.group(0)}: renders must be reproducible for GitOps")


# -- defaults -----------------------------------------------------------------------------------


def test_default_render_is_cluster_wide_operator(render: Render) -> None:
    manifests = render()
    assert sorted(m["kind"] for m in manifests) == [
        "ClusterRole", "ClusterRoleBinding", "Deployment", "PodDisruptionBudget", "ServiceAccount"
    ]
    binding = one(manifests, "ClusterRoleBinding")
    sa = one(manifests, "ServiceAccount")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
        "name": one(manifests, "ClusterRole")["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": "dask-operator"}
    ]


def test_deployment_runs_the_operator_hardened(render: Render) -> None:
    manifests = render()
    deployment = one(manifests, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    c = container(manifests)
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}
    }
    assert pod["terminationGracePeriodSeconds"] == 10
    assert deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == (
        "dask-kubernetes-operator"
    )
    assert pod["serviceAccountName"] == one(manifests, "ServiceAccount")["metadata"]["name"]
    # From a checkout (chartpress' placeholder tag): the chart's appVersion, which exists.
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    assert c["image"] == f"ghcr.io/dask/dask-kubernetes-operator:{app_version}"
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert c["command"] + c["args"] == [
        "dask-operator", "run", "--all-namespaces", "--standalone", "--liveness=http://0.0.0.0:8080/healthz",
        "--leader-election",
    ]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    assert {"name": "healthz", "containerPort": 8080, "protocol": "TCP"} in c["ports"]
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in c["ports"]
    assert c["securityContext"] == {
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {}} in pod["volumes"]
    assert env(manifests) == {
        "DASK_KUBERNETES__CONTROLLER__METRICS__PORT": "9090",
        "POD_ID": {"fieldRef": {"fieldPath": "metadata.name"}},
        "POD_NAMESPACE": {"fieldRef": {"fieldPath": "metadata.namespace"}},
        "DASK_KUBERNETES__CONTROLLER__LEADER_ELECTION__LEASE_NAME": deployment["metadata"]["name"],
        "DASK_KUBERNETES__CONTROLLER__LEADER_ELECTION__LEASE_DURATION": "15",
        "DASK_KUBERNETES__CONTROLLER__LEADER_ELECTION__RENEW_PERIOD": "5",
        "DASK_KUBERNETES__CONTROLLER__NETWORK_POLICY__OPERATOR": json.dumps({
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": deployment["metadata"]["namespace"]}},
            "podSelector": {"matchLabels": deployment["spec"]["selector"]["matchLabels"]},
        }, separators=(",", ":"), sort_keys=True),
    }
    for absent in ("priorityClassName", "nodeSelector", "tolerations", "affinity", "imagePullSecrets",
                   "initContainers", "securityContext"):
        assert absent not in pod, absent
    assert c["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}


# The operator's calls, as tests/e2e/test_chart.py records them from the apiserver audit log.
NAMESPACED_CALLS = {
    ("kubernetes.dask.org", "daskclusters"): {"get", "list", "watch", "create", "delete"},
    ("kubernetes.dask.org", "daskworkergroups"): {"get", "list", "watch", "create", "patch", "delete"},
    ("kubernetes.dask.org", "daskjobs"): {"list", "watch", "delete"},
    ("kubernetes.dask.org", "daskautoscalers"): {"list", "watch"},
    **{
        ("kubernetes.dask.org", f"{kind}/status"): {"patch"}
        for kind in ("daskclusters", "daskworkergroups", "daskjobs", "daskautoscalers")
    },
    **{
        ("kubernetes.dask.org", f"{kind}/finalizers"): {"update"}
        for kind in ("daskclusters", "daskworkergroups", "daskjobs")
    },
    ("", "pods"): {"list", "watch", "create", "patch", "delete"},
    ("", "services"): {"list", "watch", "create", "patch"},
    ("apps", "deployments"): {"list", "watch", "create", "patch"},
    ("", "events"): {"create", "patch"},
    ("policy", "poddisruptionbudgets"): {"list", "watch", "create", "patch", "delete"},
    ("networking.k8s.io", "ingresses"): {"list", "watch", "create", "patch", "delete"},
    ("networking.k8s.io", "networkpolicies"): {"list", "watch", "create", "patch", "delete"},
    ("coordination.k8s.io", "leases"): {"get", "watch", "create", "update"},
}
CLUSTER_CALLS = {("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"}}


def granted(rule_list: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for rule in rule_list:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


def test_rbac_is_the_operators_calls_without_wildcards(render: Render) -> None:
    assert granted(rules(render(), "ClusterRole")) == {**NAMESPACED_CALLS, **CLUSTER_CALLS}
    assert granted(rules(render(*SINGLE_NAMESPACE), "Role")) == NAMESPACED_CALLS
    for manifests in (render(), render(*SINGLE_NAMESPACE)):
        for kind in ("ClusterRole", "Role"):
            for rule in (by_kind(manifests, kind) or [{"rules": []}])[0]["rules"]:
                for field in ("apiGroups", "resources", "verbs"):
                    assert "*" not in rule.get(field, []), rule


def test_rbac_is_exactly_what_the_operator_declares(render: Render) -> None:
    """`dask-operator rbac` (core and built-in plugins' dask_rbac_rules) prints the chart's
    ClusterRole; the example plugins installed in the test environment are left out."""
    from importlib.metadata import entry_points

    cli = Path(sys.executable).with_name("dask-operator")
    third_party = ",".join(ep.name for ep in entry_points(group="dask_operator_plugin"))
    env = {**os.environ, "DASK_OPERATOR_DISABLE_PLUGINS": third_party}
    proc = subprocess.run([str(cli), "rbac", "--rules-only"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert granted(yaml.safe_load(proc.stdout)) == granted(rules(render(), "ClusterRole"))


def test_namespaces_are_listed_only_when_kopf_expands_namespace_names(render: Render) -> None:
    assert "namespaces" not in resources_of(rules(render(), "ClusterRole"))
    assert "namespaces" not in resources_of(rules(render("--set", "kopfArgs={-A}"), "ClusterRole"))
    named = render("--set", "kopfArgs={--namespace=team-*,--namespace=ml}")
    assert "namespaces" in resources_of(rules(named, "ClusterRole"))
    assert one(named, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"][1:3] == [
        "--namespace=team-*", "--namespace=ml"
    ]


# -- single namespace -------------------------------------------------------------------------


def test_single_namespace_gets_a_role_with_namespaced_rules_only(render: Render) -> None:
    manifests = render(*SINGLE_NAMESPACE)
    assert not by_kind(manifests, "ClusterRole") and not by_kind(manifests, "ClusterRoleBinding")
    role, binding = one(manifests, "Role"), one(manifests, "RoleBinding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "dask-operator"
    assert binding["roleRef"]["kind"] == "Role"
    assert not resources_of(role["rules"]) & CLUSTER_SCOPED
    assert container(manifests)["args"] == [
        "run", "--namespace=dask-operator", "--standalone", "--liveness=http://0.0.0.0:8080/healthz",
        "--leader-election",
    ]
    # Same namespaced rules as the cluster-wide install: the two cannot drift apart.
    cluster = [r for r in rules(render(), "ClusterRole") if not set(r["resources"]) & CLUSTER_SCOPED]
    assert role["rules"] == cluster


def test_single_namespace_without_namespace_args_fails_loudly(helm: str) -> None:
    proc = helm_template(helm, "--set", "rbac.cluster=false", check=False)
    assert proc.returncode != 0
    assert "kopfArgs" in proc.stderr and "--namespace=" in proc.stderr


# -- values -----------------------------------------------------------------------------------


def test_every_value_renders(render: Render) -> None:
    ns = "dask-operator"
    manifests = render(namespace=ns, all_values=True)
    values = yaml.safe_load(all_values_text(ns))
    kinds = sorted(m["kind"] for m in manifests)
    assert kinds == ["Deployment", "PodMonitor", "Role", "RoleBinding", "Service",
                     "ServiceAccount", "ServiceMonitor", "ServiceMonitor"]  # no PDB: one replica
    assert one(manifests, "Deployment")["spec"]["replicas"] == 1
    assert one(manifests, "Deployment")["spec"]["strategy"] == {"type": "Recreate"}
    deployment = one(manifests, "Deployment")
    assert deployment["metadata"]["name"] == "dask-operator-all-values"
    pod_meta = deployment["spec"]["template"]["metadata"]
    pod = deployment["spec"]["template"]["spec"]
    c = container(manifests)

    sa = one(manifests, "ServiceAccount")
    assert sa["metadata"]["name"] == pod["serviceAccountName"] == "dask-operator-sa"
    assert sa["metadata"]["annotations"] == values["serviceAccount"]["annotations"]
    assert pod_meta["labels"]["app.kubernetes.io/name"] == "dko"
    assert pod_meta["labels"]["example.com/team"] == "platform"
    assert pod_meta["annotations"] == values["podAnnotations"]
    assert c["image"] == "registry.example.com/dask/operator-with-plugins:2026.11.0-plugins.1"
    assert c["imagePullPolicy"] == "Always"
    assert pod["imagePullSecrets"] == values["imagePullSecrets"]
    assert pod["securityContext"] == values["podSecurityContext"]
    assert c["securityContext"] == values["securityContext"]
    assert c["resources"] == values["resources"]
    assert pod["nodeSelector"] == values["nodeSelector"]
    assert pod["tolerations"] == values["tolerations"]
    assert pod["affinity"] == values["affinity"]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert c["args"] == ["run", "--namespace=dask-operator", "--standalone", "--liveness=http://0.0.0.0:8080/healthz"]
    assert {k: v for k, v in c["livenessProbe"].items() if k != "httpGet"} == {
        k: v for k, v in values["livenessProbe"].items() if k != "enabled"
    }
    for volume in values["volumes"]:
        assert volume in pod["volumes"]
    for mount in values["volumeMounts"]:
        assert mount in c["volumeMounts"]
    assert env(manifests) == {
        "DASK_KUBERNETES__CONTROLLER__METRICS__PORT": "9191",
        "DASK_KUBERNETES__CONTROLLER__WORKER_ALLOCATION__BATCH_SIZE": "5",
        "DASK_KUBERNETES__CONTROLLER__WORKER_ALLOCATION__DELAY": "2",
        "DASK_KUBERNETES__CONTROLLER__KUBE_API__QPS": "100",
        "DASK_KUBERNETES__CONTROLLER__KUBE_API__BURST": "150",
        "DASK_KUBERNETES__CONTROLLER__PASSES__CONCURRENCY": "30",
        "DASK_KUBERNETES__CONTROLLER__SCHEDULER_PDB__ENABLED": "false",
        "DASK_KUBERNETES__CONTROLLER__NETWORK_POLICY__ENABLED": "true",
        "DASK_KUBERNETES__CONTROLLER__NETWORK_POLICY__OPERATOR": json.dumps({
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
            "podSelector": {"matchLabels": deployment["spec"]["selector"]["matchLabels"]},
        }, separators=(",", ":"), sort_keys=True),
        "DASK_KUBERNETES__CONTROLLER__NETWORK_POLICY__CLIENTS": json.dumps(values["networkPolicy"]["clients"], separators=(",", ":")),
        "DASK_KUBERNETES__CONTROLLER__NETWORK_POLICY__EGRESS": json.dumps(values["networkPolicy"]["egress"], separators=(",", ":")),
        "DASK_KUBERNETES__CONTROLLER__DASHBOARD__INGRESS__ENABLED": "true",
        "DASK_KUBERNETES__CONTROLLER__DASHBOARD__INGRESS__HOST": "{cluster}.{namespace}.dask.example.com",
        "DASK_KUBERNETES__CONTROLLER__DASHBOARD__INGRESS__PATH": "/dask/{namespace}/{cluster}",
        "DASK_KUBERNETES__CONTROLLER__DASHBOARD__INGRESS__CLASS_NAME": "nginx",
        "DASK_KUBERNETES__CONTROLLER__DASHBOARD__INGRESS__TLS_SECRET": "dask-dashboards-tls",
        "DASK_KUBERNETES__CONTROLLER__DASHBOARD__INGRESS__ANNOTATIONS": '{"nginx.ingress.kubernetes.io/proxy-read-timeout":"3600"}',
        "POD_ID": {"fieldRef": {"fieldPath": "metadata.name"}},
        "PYTHONPATH": "/opt/dask-operator/plugins",
        "DASK_KUBERNETES__CONTROLLER__CLUSTER_DOMAIN": "cluster.example",
        "POD_NAMESPACE": {"fieldRef": {"fieldPath": "metadata.namespace"}},
    }
    assert {"name": "metrics", "containerPort": 9191, "protocol": "TCP"} in c["ports"]

    (init,) = pod["initContainers"]
    assert init["image"] == c["image"]
    assert init["command"][:3] == ["python", "-m", "pip"]
    assert "--no-deps" in init["command"] and "--target=/opt/dask-operator/plugins" in init["command"]
    assert init["command"][-2:] == ["--index-url=https://pypi.example.com/simple",
                                   "dask-operator-networkpolicy==0.1.0"]
    assert init["securityContext"] == c["securityContext"]
    assert {"name": "plugins", "mountPath": "/opt/dask-operator/plugins", "readOnly": True} in c["volumeMounts"]
    assert {"name": "plugins", "emptyDir": {}} in pod["volumes"]

    role = one(manifests, "Role")
    assert role["rules"][-1] == values["rbac"]["extraRules"][0]

    monitors = {m["metadata"]["name"]: m for m in manifests if m["kind"] in ("ServiceMonitor", "PodMonitor")}
    scheduler = monitors["dask-operator-all-values-scheduler"]
    sm = values["metrics"]["scheduler"]["serviceMonitor"]
    assert scheduler["metadata"]["namespace"] == sm["namespace"]
    assert scheduler["metadata"]["labels"]["release"] == "prometheus"
    assert scheduler["spec"]["jobLabel"] == sm["jobLabel"]
    assert scheduler["spec"]["namespaceSelector"] == sm["namespaceSelector"]
    assert scheduler["spec"]["targetLabels"] == sm["targetLabels"]
    assert scheduler["spec"]["selector"] == {"matchLabels": {"dask.org/component": "scheduler"}}
    assert scheduler["spec"]["endpoints"] == [{
        "port": "http-dashboard", "path": "/metrics", "interval": sm["interval"],
        "metricRelabelings": sm["metricRelabelings"], "relabelings": sm["relabelings"],
    }]
    worker = monitors["dask-operator-all-values-worker"]
    pm = values["metrics"]["worker"]["podMonitor"]
    assert worker["kind"] == "PodMonitor"
    assert worker["metadata"]["namespace"] == pm["namespace"]
    assert worker["metadata"]["labels"]["release"] == "prometheus"
    assert worker["spec"]["jobLabel"] == pm["jobLabel"]
    assert worker["spec"]["namespaceSelector"] == pm["namespaceSelector"]
    assert worker["spec"]["podTargetLabels"] == pm["podTargetLabels"]
    assert worker["spec"]["selector"] == {"matchLabels": {"dask.org/component": "worker"}}
    assert worker["spec"]["podMetricsEndpoints"] == [{
        "port": "http-dashboard", "path": "/metrics", "interval": pm["interval"],
        "metricRelabelings": pm["metricRelabelings"], "relabelings": pm["relabelings"],
    }]
    operator = monitors["dask-operator-all-values-operator"]
    om = values["metrics"]["operator"]["serviceMonitor"]
    service = one(manifests, "Service")
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9191, "targetPort": "metrics", "protocol": "TCP"}]
    assert service["spec"]["selector"].items() <= pod_meta["labels"].items()
    assert operator["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert operator["spec"]["namespaceSelector"] == {"matchNames": ["dask-operator"]}
    assert operator["spec"]["endpoints"] == [{
        "port": "metrics", "path": "/metrics", "interval": om["interval"],
        "metricRelabelings": om["metricRelabelings"], "relabelings": om["relabelings"],
    }]


def test_docs_prometheus_example_enables_both_monitors(render: Render, tmp_path: Path) -> None:
    (tmp_path / "prom.yaml").write_text(DOCS_PROMETHEUS)
    manifests = render("-f", str(tmp_path / "prom.yaml"))
    assert one(manifests, "ServiceMonitor")["spec"]["endpoints"][0]["interval"] == "15s"
    pm = one(manifests, "PodMonitor")["spec"]
    assert pm["podTargetLabels"] == ["dask.org/cluster-name", "dask.org/workergroup-name"]
    assert pm["namespaceSelector"] == {}


def test_monitors_need_both_switches(render: Render) -> None:
    for args in (
        ("--set", "metrics.scheduler.serviceMonitor.enabled=true"),
        ("--set", "metrics.scheduler.enabled=true"),
        ("--set", "metrics.worker.podMonitor.enabled=true"),
        ("--set", "metrics.worker.enabled=true"),
        ("--set", "metrics.operator.port=0", "--set", "metrics.operator.serviceMonitor.enabled=true"),
    ):
        manifests = render(*args)
        assert not by_kind(manifests, "ServiceMonitor") and not by_kind(manifests, "PodMonitor"), args


def test_metrics_port_zero_turns_the_endpoint_off(render: Render) -> None:
    manifests = render("--set", "metrics.operator.port=0")
    assert env(manifests)["DASK_KUBERNETES__CONTROLLER__METRICS__PORT"] == "0"
    assert [p["name"] for p in container(manifests)["ports"]] == ["healthz"]


def test_worker_allocation_zero_delay_is_rendered(render: Render) -> None:
    manifests = render("--set", "workerAllocation.delay=0", "--set", "workerAllocation.size=1")
    assert env(manifests)["DASK_KUBERNETES__CONTROLLER__WORKER_ALLOCATION__DELAY"] == "0"
    assert env(manifests)["DASK_KUBERNETES__CONTROLLER__WORKER_ALLOCATION__BATCH_SIZE"] == "1"


def test_api_rate_limit_and_pass_concurrency_reach_the_operator(render: Render) -> None:
    assert not {k for k in env(render()) if "KUBE_API" in k or "PASSES" in k}  # null: the operator's defaults
    manifests = render("--set", "kubeApi.qps=0", "--set", "kubeApi.burst=50", "--set", "passes.concurrency=80")
    assert env(manifests)["DASK_KUBERNETES__CONTROLLER__KUBE_API__QPS"] == "0"
    assert env(manifests)["DASK_KUBERNETES__CONTROLLER__KUBE_API__BURST"] == "50"
    assert env(manifests)["DASK_KUBERNETES__CONTROLLER__PASSES__CONCURRENCY"] == "80"


def test_extra_env_overrides_chart_env_without_duplicates(render: Render) -> None:
    manifests = render("--set", "extraEnv[0].name=DASK_KUBERNETES__CONTROLLER__METRICS__PORT",
                       "--set-string", "extraEnv[0].value=9999")
    names = [e["name"] for e in container(manifests)["env"]]
    assert names.count("DASK_KUBERNETES__CONTROLLER__METRICS__PORT") == 1
    assert env(manifests)["DASK_KUBERNETES__CONTROLLER__METRICS__PORT"] == "9999"


def test_existing_service_account_and_no_rbac(render: Render) -> None:
    manifests = render("--set", "serviceAccount.create=false", "--set", "serviceAccount.name=ops",
                       "--set", "rbac.create=false", "--set", "livenessProbe.enabled=false")
    assert sorted(m["kind"] for m in manifests) == ["Deployment", "PodDisruptionBudget"]
    pod = one(manifests, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "ops"
    assert "livenessProbe" not in pod["containers"][0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--set", "rbac.clsuter=false"), "clsuter"),
        (("--set", "image.pullPolicy=Sometimes"), "pullPolicy"),
        (("--set", "workerAllocation.size=0"), "size"),
        (("--set", "kopfArgs=--all-namespaces"), "kopfArgs"),
        (("--set", "metrics.worker.podMonitor.intervall=5s"), "intervall"),
    ],
)
def test_schema_rejects_typos_and_wrong_types(helm: str, args: tuple[str, ...], message: str) -> None:
    proc = helm_template(helm, *args, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr


@pytest.mark.parametrize(
    ("kopf_args", "args"),
    [
        ("{--all-namespaces}", ["run", "--all-namespaces", "--standalone"]),
        ("{--all-namespaces,--standalone}", ["run", "--all-namespaces", "--standalone"]),
        ("{--all-namespaces,--peering=dask}", ["run", "--all-namespaces", "--peering=dask"]),
    ],
)
def test_standalone_unless_peering_is_asked_for(render: Render, kopf_args: str, args: list[str]) -> None:
    assert container(render("--set", f"kopfArgs={kopf_args}"))["args"] == [
        *args, "--liveness=http://0.0.0.0:8080/healthz", "--leader-election"
    ]


def test_renders_as_a_dependency_with_global_values(helm: str, tmp_path: Path) -> None:
    parent = tmp_path / "parent"
    shutil.copytree(CHART, parent / "charts" / "dask-kubernetes-operator")
    (parent / "Chart.yaml").write_text(
        "apiVersion: v2\nname: parent\nversion: 0.1.0\ndependencies:\n"
        "  - name: dask-kubernetes-operator\n    version: 0.0.1-set.by.chartpress\n"
    )
    (parent / "values.yaml").write_text("global:\n  imageRegistry: example.com\n")
    proc = subprocess.run([helm, "template", "p", str(parent)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "kind: Deployment" in proc.stdout


def test_kubernetes_older_than_1_30_is_refused(helm: str) -> None:
    proc = helm_template(helm, "--kube-version", "1.29.9", check=False)
    assert proc.returncode != 0 and "kubeVersion" in proc.stderr
    assert helm_template(helm, "--kube-version", "1.30.0").returncode == 0


# -- leader election, replicas, disruption budget ----------------------------------------------------


def test_default_runs_two_operators_with_a_disruption_budget(render: Render) -> None:
    manifests = render()
    deployment = one(manifests, "Deployment")
    pdb = one(manifests, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
    assert pdb["metadata"]["namespace"] == deployment["metadata"]["namespace"]


def test_leader_election_timing_values_reach_the_operator(render: Render) -> None:
    manifests = render("--set", "leaderElection.leaseDurationSeconds=45", "--set", "leaderElection.renewPeriodSeconds=15",
                       "--set", "replicas=3", "--set", "podDisruptionBudget.maxUnavailable=2")
    assert env(manifests)["DASK_KUBERNETES__CONTROLLER__LEADER_ELECTION__LEASE_DURATION"] == "45"
    assert env(manifests)["DASK_KUBERNETES__CONTROLLER__LEADER_ELECTION__RENEW_PERIOD"] == "15"
    assert one(manifests, "Deployment")["spec"]["replicas"] == 3
    assert one(manifests, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 2


def test_without_leader_election_one_operator_is_replaced_not_rolled(render: Render) -> None:
    manifests = render("--set", "leaderElection.enabled=false", "--set", "replicas=1")
    deployment = one(manifests, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert "--leader-election" not in container(manifests)["args"]
    assert not any(k.startswith("DASK_KUBERNETES__CONTROLLER__LEADER_ELECTION") for k in env(manifests))
    assert "PodDisruptionBudget" not in [m["kind"] for m in manifests]


def test_several_replicas_without_leader_election_fail_loudly(helm: str) -> None:
    proc = helm_template(helm, "--set", "leaderElection.enabled=false", check=False)
    assert proc.returncode != 0
    assert "replicas above 1 needs leaderElection.enabled=true" in proc.stderr


def test_one_replica_gets_no_disruption_budget(render: Render) -> None:
    assert "PodDisruptionBudget" not in [m["kind"] for m in render("--set", "replicas=1")]
