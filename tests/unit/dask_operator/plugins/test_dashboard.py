"""The dashboard plugin: URLs in the status, the Ingress from the operator's template, the prefix."""

from __future__ import annotations

import dask.config
import pytest
from dask_operator import names
from dask_operator.plugins import dashboard
from dask_operator.scheduler_api import endpoint_from_service
from dask_operator.testing import render_cluster

HOST = "{cluster}.{namespace}.dask.example.com"
PATH = "/dask/{namespace}/{cluster}"


def settings(**ingress):
    return dask.config.set({f"kubernetes.controller.dashboard.ingress.{k.replace('_', '-')}": v for k, v in ingress.items()})


def observed(address="http://simple-scheduler.ns1.svc.cluster.local:8787"):
    return {"status": {"dashboardAddress": address}}


def test_without_exposure_the_status_has_the_in_cluster_url_only(pm, cluster):
    assert dashboard.dask_cluster_resources(cluster=cluster, worker_pods=[]) == []
    status = dashboard.dask_cluster_status(cluster=cluster, observed=observed())
    assert status == {"dashboardURL": "http://simple-scheduler.ns1.svc.cluster.local:8787/status"}
    rendered = render_cluster(pm, cluster)
    assert not [r for r in rendered.resources if r["kind"] == "Ingress"]
    assert "--dashboard-prefix" not in rendered.deployment["spec"]["template"]["spec"]["containers"][0]["args"]


def test_host_pattern_exposes_every_cluster_when_enabled(cluster):
    with settings(enabled=True, host=HOST, class_name="nginx", annotations={"a.example/x": "1"}):
        [ingress] = dashboard.dask_cluster_resources(cluster=cluster, worker_pods=[])
        status = dashboard.dask_cluster_status(cluster=cluster, observed=observed())
    assert ingress["metadata"]["name"] == "simple-dashboard"
    assert ingress["metadata"]["annotations"] == {"a.example/x": "1"}
    assert ingress["spec"]["ingressClassName"] == "nginx" and "tls" not in ingress["spec"]
    [rule] = ingress["spec"]["rules"]
    assert rule["host"] == "simple.ns1.dask.example.com"
    assert rule["http"]["paths"] == [{
        "path": "/", "pathType": "Prefix",
        "backend": {"service": {"name": "simple-scheduler", "port": {"name": "http-dashboard"}}},
    }]
    assert status["externalDashboardURL"] == "http://simple.ns1.dask.example.com/status"
    assert status["dashboardURL"] == "http://simple-scheduler.ns1.svc.cluster.local:8787/status"
    assert status["conditions"][0]["type"] == "DashboardExposed" and status["conditions"][0]["status"] == "True"


def test_a_path_pattern_becomes_the_scheduler_prefix_everywhere(pm, cluster):
    with settings(enabled=True, host="dask.example.com", path=PATH, tls_secret="dask-tls"):
        rendered = render_cluster(pm, cluster)
        status = dashboard.dask_cluster_status(cluster=cluster, observed=observed())
    [ingress] = [r for r in rendered.resources if r["kind"] == "Ingress"]
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/dask/ns1/simple"
    assert ingress["spec"]["tls"] == [{"hosts": ["dask.example.com"], "secretName": "dask-tls"}]
    container = rendered.deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][-2:] == ["--dashboard-prefix", "/dask/ns1/simple"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/dask/ns1/simple/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/dask/ns1/simple/health"
    assert rendered.service["metadata"]["annotations"][dashboard.PREFIX_ANNOTATION] == "/dask/ns1/simple"
    assert status["externalDashboardURL"] == "https://dask.example.com/dask/ns1/simple/status"
    assert status["dashboardURL"] == "http://simple-scheduler.ns1.svc.cluster.local:8787/dask/ns1/simple/status"
    # The operator's own HTTP API calls follow the Service's annotation.
    service = {**rendered.service, "spec": {**rendered.service["spec"], "clusterIP": "10.0.0.7"}}
    assert endpoint_from_service(service).http == "http://10.0.0.7:8787/dask/ns1/simple"
    assert dashboard.PREFIX_ANNOTATION == names.ANNOTATION_DASHBOARD_PREFIX


def test_the_prefix_flag_is_not_added_twice_and_probes_keep_their_prefix():
    container = {"args": ["dask", "scheduler", "--dashboard-prefix", "/mine"],
                 "readinessProbe": {"httpGet": {"port": 8787, "path": "/mine/health"}}}
    assert dashboard.add_prefix_to_container(container, "/mine")
    assert container["args"] == ["dask", "scheduler", "--dashboard-prefix", "/mine"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/mine/health"
    shell = {"command": ["sh", "-c", "dask scheduler"]}
    assert not dashboard.add_prefix_to_container(shell, "/mine") and "args" not in shell


def test_a_scheduler_command_the_plugin_cannot_extend_is_a_warning(cluster):
    cluster["spec"]["scheduler"]["spec"]["containers"][0]["args"] = ["sh", "-c", "dask scheduler"]
    with settings(enabled=True, host="dask.example.com", path=PATH):
        [warning] = dashboard.dask_cluster_warnings(cluster=cluster)
        [condition] = dashboard.dask_cluster_status(cluster=cluster, observed=observed())["conditions"]
    assert "--dashboard-prefix /dask/ns1/simple" in warning
    assert (condition["status"], condition["reason"], condition["message"]) == ("False", "DashboardPrefixNotSet", warning)


@pytest.mark.parametrize("annotation, enabled, exposed", [
    ("true", False, True), ("false", True, False), (None, True, True), (None, False, False),
])
def test_the_cluster_annotation_overrides_the_operator_setting(cluster, annotation, enabled, exposed):
    if annotation is not None:
        cluster["metadata"].setdefault("annotations", {})[dashboard.EXPOSE_ANNOTATION] = annotation
    with settings(enabled=enabled, host=HOST):
        assert bool(dashboard.dask_cluster_resources(cluster=cluster, worker_pods=[])) is exposed


def test_asking_for_exposure_without_a_host_is_a_warning_and_a_false_condition(cluster):
    cluster["metadata"].setdefault("annotations", {})[dashboard.EXPOSE_ANNOTATION] = "true"
    assert dashboard.dask_cluster_resources(cluster=cluster, worker_pods=[]) == []
    [warning] = dashboard.dask_cluster_warnings(cluster=cluster)
    assert "no host pattern" in warning
    [condition] = dashboard.dask_cluster_status(cluster=cluster, observed=observed())["conditions"]
    assert (condition["status"], condition["reason"]) == ("False", "NoIngressTemplate")


def test_turning_exposure_off_says_so_in_the_condition_it_set(cluster):
    cluster["status"] = {"externalDashboardURL": "http://x/status", "conditions": [{"type": "DashboardExposed", "status": "True"}]}
    status = dashboard.dask_cluster_status(cluster=cluster, observed=observed())
    assert status["externalDashboardURL"] is None
    assert status["conditions"][0]["reason"] == "NotRequested"


def test_ingresses_need_rights_on_ingresses_only():
    [rule] = dashboard.dask_rbac_rules()
    assert rule["apiGroups"] == ["networking.k8s.io"] and rule["resources"] == ["ingresses"]
