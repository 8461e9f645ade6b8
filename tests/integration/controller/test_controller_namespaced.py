"""An operator serving named namespaces works with a namespaced identity: a ServiceAccount bound
to a Role in each namespace it serves only. It makes no cluster-scoped request, so nothing is
forbidden: neither its log nor the API server's counters of cluster-scoped requests show a 403."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from dask_operator.testing import run_operator

pytestmark = pytest.mark.cluster

ROLE = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: dask-operator}
rules:
- apiGroups: ["", "apps", "kubernetes.dask.org", "events.k8s.io", "coordination.k8s.io", "policy", "networking.k8s.io"]
  resources: ["*"]
  verbs: ["*"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dask-operator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: dask-operator}
subjects:
- {kind: ServiceAccount, name: dask-operator}
"""


def refused(log: str) -> list[str]:
    """Log lines about a refused request (not a timestamp whose milliseconds happen to be 403)."""
    return re.findall(r".*(?:Forbidden|Not enough permissions|status=403|\(403\)|'code': 403).*", log)


def forbidden_requests(k8s: Any) -> Counter[str]:
    """Cluster-scoped requests the API server has answered with 403 since it started, by verb and
    resource (every client: the test runs alone, and a namespaced operator must make none)."""
    metrics = k8s.kubectl("get", "--raw", "/metrics").stdout
    found: Counter[str] = Counter()
    for m in re.finditer(r'^apiserver_request_total\{([^}]*)\} (\S+)$', metrics, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if labels.get("code") == "403" and labels.get("scope") == "cluster":
            found[f"{labels.get('verb')} {labels.get('resource')}"] += int(float(m.group(2)))
    return found


def namespaced_kubeconfig(kube: Any, namespace: str, admin_kubeconfig: str, path: Path, also: tuple[str, ...] = ()) -> Path:
    """A kubeconfig for a ServiceAccount of ``namespace`` bound to a Role there and in ``also``."""
    kube.kubectl("create", "serviceaccount", "dask-operator")
    for served in (namespace, *also):
        binding = ROLE.replace("- {kind: ServiceAccount, name: dask-operator}",
                               f"- {{kind: ServiceAccount, name: dask-operator, namespace: {namespace}}}")
        kube.k8s.kubectl("apply", "-n", served, "-f", "-", input=binding)
    token = kube.kubectl("create", "token", "dask-operator", "--duration=1h").stdout.strip()
    admin = yaml.safe_load(Path(admin_kubeconfig).read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])["context"]
    cluster = next(c for c in admin["clusters"] if c["name"] == context["cluster"])
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": cluster["name"], "user": "sa", "namespace": namespace}}],
        "current-context": "sa",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_namespaced_identity_is_enough_and_nothing_is_forbidden(k8s, crds, namespace, kube, wait, examples, tmp_path):
    kubeconfig = namespaced_kubeconfig(kube, namespace, k8s.kubeconfig, tmp_path / "sa.kubeconfig")
    forbidden = kube.kubectl("--kubeconfig", str(kubeconfig), "get", "namespaces", check=False)
    assert forbidden.returncode != 0 and "forbidden" in forbidden.stderr, "the identity really is namespaced"
    before = forbidden_requests(k8s)
    with run_operator(namespace, kubeconfig=str(kubeconfig), log_dir=tmp_path / "logs") as operator:
        kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(examples("cluster.yaml")))
        kube.wait_ready("simple")
        kube.kubectl("scale", "daskcluster", "simple", "--replicas=3")
        wait(lambda: kube.get("daskcluster", "simple")["status"]["workers"] == {"desired": 3, "ready": 3}, message="3 workers")
        kube.kubectl("delete", "daskcluster", "simple")
        wait(lambda: not kube.items("pods"), timeout=120, message="every pod gone")
        log = operator.log()
    assert not refused(log), log[-3000:]
    assert forbidden_requests(k8s) == before, f"cluster-scoped 403s: {forbidden_requests(k8s) - before}"


def test_two_named_namespaces_make_no_forbidden_request(k8s, crds, namespace, kube, wait, examples, tmp_path):
    other = f"{namespace[:50]}-b{uuid.uuid4().hex[:4]}"
    k8s.kubectl("create", "namespace", other)
    try:
        kubeconfig = namespaced_kubeconfig(kube, namespace, k8s.kubeconfig, tmp_path / "sa.kubeconfig", also=(other,))
        wait(lambda: k8s.kubectl("get", "serviceaccount", "default", "-n", other, check=False).returncode == 0,
             message="the second namespace's default ServiceAccount")
        before = forbidden_requests(k8s)
        with run_operator([namespace, other], kubeconfig=str(kubeconfig), log_dir=tmp_path / "logs") as operator:
            for served in (namespace, other):
                k8s.kubectl("apply", "-n", served, "-f", "-", input=yaml.safe_dump(examples("cluster.yaml")))
            for served in (namespace, other):
                wait(lambda served=served: (k8s.kubectl_json("get", "daskcluster", "simple", "-n", served)
                                            .get("status", {}).get("phase") == "Running"),
                     timeout=180, message=f"simple Running in {served}")
            k8s.kubectl("scale", "daskcluster", "simple", "-n", other, "--replicas=2")
            wait(lambda: k8s.kubectl_json("get", "daskcluster", "simple", "-n", other)["status"]["workers"] == {"desired": 2, "ready": 2},
                 message="2 workers in the second namespace")
            for served in (namespace, other):
                k8s.kubectl("delete", "daskcluster", "simple", "-n", served)
            wait(lambda: not k8s.kubectl_json("get", "pods", "-n", other)["items"] and not kube.items("pods"),
                 timeout=120, message="every pod gone in both namespaces")
            log = operator.log()
        after = forbidden_requests(k8s)
    finally:
        k8s.kubectl("delete", "namespace", other, "--wait=false", check=False)
    assert not refused(log), log[-3000:]
    assert after == before, f"cluster-scoped 403s: {after - before}"
