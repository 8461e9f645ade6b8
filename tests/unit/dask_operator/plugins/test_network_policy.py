"""The NetworkPolicy plugin: opt-in, peers from the settings and the cluster's annotation."""

from __future__ import annotations

import json

import dask.config
import pytest
from dask_operator.desired import desired_cluster
from dask_operator.plugins import network_policy
from dask_operator.testing import render_cluster

OPERATOR = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "dask-operator"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "dask-kubernetes-operator"}}}
NOTEBOOKS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "jupyterhub"}}}


def settings(**values):
    return dask.config.set({f"kubernetes.controller.network-policy.{k}": v for k, v in values.items()})


def policies(pm, cluster):
    return [r for r in render_cluster(pm, cluster).resources if r["kind"] == "NetworkPolicy"]


def test_off_by_default(pm, cluster):
    assert policies(pm, cluster) == []


def test_the_policy_admits_own_pods_the_operator_and_the_allowed_clients(pm, cluster):
    cluster["metadata"]["annotations"] = {network_policy.CLIENTS_ANNOTATION: json.dumps([{"podSelector": {"matchLabels": {"app": "nb"}}}])}
    with settings(enabled=True, operator=json.dumps(OPERATOR), clients=[NOTEBOOKS]):
        [policy] = policies(pm, cluster)
    assert policy["metadata"]["name"] == "simple-dask"
    assert policy["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert policy["spec"]["podSelector"] == {"matchLabels": {"dask.org/cluster-name": "simple"}}
    assert policy["spec"]["policyTypes"] == ["Ingress"] and "egress" not in policy["spec"]  # egress open
    assert policy["spec"]["ingress"] == [{"from": [
        {"podSelector": {"matchLabels": {"dask.org/cluster-name": "simple"}}},
        OPERATOR,
        NOTEBOOKS,
        {"podSelector": {"matchLabels": {"app": "nb"}}},
    ]}]


def test_configured_egress_restricts_it_to_own_pods_dns_and_those_rules(cluster):
    rule = {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}
    with settings(enabled=True, egress=json.dumps([rule])):
        [policy] = network_policy.dask_cluster_resources(cluster=cluster, worker_pods=[])
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    own, dns, extra = policy["spec"]["egress"]
    assert own == {"to": [{"podSelector": {"matchLabels": {"dask.org/cluster-name": "simple"}}}]}
    assert {"protocol": "UDP", "port": 53} in dns["ports"] and extra == rule


@pytest.mark.parametrize("annotation, enabled, wanted", [
    ("true", False, True), ("false", True, False), (None, True, True), (None, False, False),
])
def test_the_cluster_annotation_decides_for_the_cluster(cluster, annotation, enabled, wanted):
    if annotation is not None:
        cluster["metadata"]["annotations"] = {network_policy.ENABLE_ANNOTATION: annotation}
    with settings(enabled=enabled):
        assert bool(network_policy.dask_cluster_resources(cluster=cluster, worker_pods=[])) is wanted


@pytest.mark.parametrize("value, problem", [
    ("not json", "is not JSON"),
    ('{"podSelector": {}}', "must be a list"),
    ('[{"podselector": {}}]', "namespaceSelector, podSelector and/or ipBlock"),
])
def test_a_bad_clients_annotation_makes_the_cluster_invalid(pm, cluster, value, problem):
    cluster["metadata"]["annotations"] = {network_policy.ENABLE_ANNOTATION: "true", network_policy.CLIENTS_ANNOTATION: value}
    [error] = desired_cluster(pm, cluster).errors
    assert problem in error and network_policy.CLIENTS_ANNOTATION in error


def test_policies_need_rights_on_networkpolicies_only():
    [rule] = network_policy.dask_rbac_rules()
    assert rule["resources"] == ["networkpolicies"] and "get" not in rule["verbs"]
