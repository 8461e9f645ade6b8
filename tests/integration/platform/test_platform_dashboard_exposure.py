"""Dashboard exposure on the local cluster: the Ingress from the operator's template, the URLs in
the status, a scheduler really serving under the prefix, KubeCluster's link, and the opt-out.
(No ingress controller runs here: the Ingress object is checked, not traffic through it.)"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.cluster

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
SETTINGS = {
    "DASK_KUBERNETES__CONTROLLER__DASHBOARD__INGRESS__ENABLED": "true",
    "DASK_KUBERNETES__CONTROLLER__DASHBOARD__INGRESS__HOST": "dask.example.com",
    "DASK_KUBERNETES__CONTROLLER__DASHBOARD__INGRESS__PATH": "/dask/{namespace}/{cluster}",
    "DASK_KUBERNETES__CONTROLLER__DASHBOARD__INGRESS__TLS_SECRET": "dashboards-tls",
}


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except urllib.error.URLError:  # nothing listening (a scheduler restarting)
        return 0


def test_dashboard_exposed_under_a_prefix_then_made_private(operator, kube, wait):
    operator.stop()
    operator.start(**SETTINGS)
    cluster = yaml.safe_load((EXAMPLES / "cluster.yaml").read_text())
    cluster["spec"]["worker"]["replicas"] = 1
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(cluster))
    # Ready means the readiness probe, moved under the prefix, answers.
    status = kube.wait_ready("simple")["status"]
    prefix = f"/dask/{kube.ns}/simple"
    assert status["externalDashboardURL"] == f"https://dask.example.com{prefix}/status"
    assert status["dashboardURL"] == f"http://simple-scheduler.{kube.ns}.svc.cluster.local:8787{prefix}/status"
    assert kube.condition("daskcluster", "simple", "DashboardExposed")["status"] == "True"

    ingress = kube.get("ingress", "simple-dashboard")
    uid = kube.get("daskcluster", "simple")["metadata"]["uid"]
    assert [r["uid"] for r in ingress["metadata"]["ownerReferences"]] == [uid]
    assert ingress["spec"]["tls"] == [{"hosts": ["dask.example.com"], "secretName": "dashboards-tls"}]
    [path] = ingress["spec"]["rules"][0]["http"]["paths"]
    assert path["path"] == prefix and path["backend"]["service"] == {"name": "simple-scheduler", "port": {"name": "http-dashboard"}}

    # The scheduler serves its dashboard and API under the prefix (through its Service).
    ip = kube.get("service", "simple-scheduler")["spec"]["clusterIP"]
    assert http_status(f"http://{ip}:8787{prefix}/health") == 200
    assert http_status(f"http://{ip}:8787{prefix}/api/v1") == 200
    assert http_status(f"http://{ip}:8787/health") == 404

    # KubeCluster links to the exposed URL.
    from dask_kubernetes.operator import KubeCluster

    with KubeCluster.from_name("simple", namespace=kube.ns) as connected:
        assert connected.dashboard_link == status["externalDashboardURL"]

    # The cluster opts out: the Ingress goes, the scheduler serves at the root again.
    kube.kubectl("annotate", "daskcluster", "simple", "kubernetes.dask.org/dashboard-ingress=false")
    wait(lambda: kube.get("ingress", "simple-dashboard") is None, 60, message="the Ingress deleted")
    status = wait(lambda: (s := kube.get("daskcluster", "simple")["status"]) and "externalDashboardURL" not in s and s, 60,
                  message="no external URL in the status")
    assert status["dashboardURL"] == f"http://simple-scheduler.{kube.ns}.svc.cluster.local:8787/status"
    assert kube.condition("daskcluster", "simple", "DashboardExposed")["reason"] == "NotRequested"
    wait(lambda: http_status(f"http://{ip}:8787/health") == 200, 120, message="the new scheduler serving at the root")
    assert "kubernetes.dask.org/dashboard-prefix" not in (kube.get("service", "simple-scheduler")["metadata"].get("annotations") or {})
