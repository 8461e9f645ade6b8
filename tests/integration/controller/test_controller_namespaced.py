"""An operator serving named namespaces works with a namespaced identity: a ServiceAccount bound
to a Role in its namespace only. It makes no cluster-scoped request, so nothing is forbidden."""

from __future__ import annotations

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
- apiGroups: ["", "apps", "kubernetes.dask.org", "events.k8s.io", "coordination.k8s.io"]
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


def namespaced_kubeconfig(kube: Any, namespace: str, admin_kubeconfig: str, path: Path) -> Path:
    kube.kubectl("create", "serviceaccount", "dask-operator")
    kube.kubectl("apply", "-f", "-", input=ROLE)
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
    with run_operator(namespace, kubeconfig=str(kubeconfig), log_dir=tmp_path / "logs") as operator:
        kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(examples("cluster.yaml")))
        kube.wait_ready("simple")
        kube.kubectl("scale", "daskcluster", "simple", "--replicas=3")
        wait(lambda: kube.get("daskcluster", "simple")["status"]["workers"] == {"desired": 3, "ready": 3}, message="3 workers")
        kube.kubectl("delete", "daskcluster", "simple")
        wait(lambda: not kube.items("pods"), timeout=120, message="every pod gone")
        log = operator.log()
    assert "Forbidden" not in log and "403" not in log and "Not enough permissions" not in log, log[-3000:]
