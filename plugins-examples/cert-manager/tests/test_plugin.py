"""Unit tests with the operator's testing kit: everything the plugin decides, without a cluster."""

import pytest
from dask_operator_cert_manager import plugin

ON = {plugin.ISSUER: "dask-ca"}


@pytest.fixture
def pm(dask_plugin_manager):
    return dask_plugin_manager(plugin)


def env(container):
    return {e["name"]: e.get("value") for e in container.get("env") or []}


def test_clusters_without_the_annotation_are_untouched(pm, dask_plugin_manager, dask_cluster, dask_render):
    mine, plain = dask_render(pm, dask_cluster()), dask_render(dask_plugin_manager(), dask_cluster())
    assert mine.children() == plain.children()
    assert mine.prerequisites == [] and mine.scheduler_address.startswith("tcp://")


def test_a_certificate_per_cluster_from_the_annotated_issuer(pm, dask_cluster, dask_render):
    cluster = dask_cluster("c", "ns", annotations={**ON, plugin.ISSUER_KIND: "ClusterIssuer"})
    certificate = dask_render(pm, cluster).get("Certificate", "c-dask-tls")
    spec = certificate["spec"]
    assert spec["secretName"] == "c-dask-tls"
    assert spec["issuerRef"] == {"name": "dask-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    assert spec["dnsNames"] == ["c-scheduler", "c-scheduler.ns", "c-scheduler.ns.svc", "c-scheduler.ns.svc.cluster.local"]
    assert {"server auth", "client auth"} <= set(spec["usages"])
    assert certificate["metadata"]["ownerReferences"][0]["name"] == "c"


def test_the_cluster_waits_for_the_secret(pm, dask_cluster, dask_render):
    rendered = dask_render(pm, dask_cluster("c", "ns", annotations=ON))
    assert rendered.prerequisites == [
        {"apiVersion": "v1", "kind": "Secret", "name": "c-dask-tls", "reason": "issued by cert-manager for Certificate c-dask-tls"}
    ]


def test_scheduler_address_and_injected_env_switch_to_tls(pm, dask_cluster, dask_render):
    rendered = dask_render(pm, dask_cluster("c", "ns", annotations=ON))
    assert rendered.scheduler_address == "tls://c-scheduler.ns.svc.cluster.local:8786"
    assert env(rendered.containers("worker")[0])["DASK_SCHEDULER_ADDRESS"] == rendered.scheduler_address


@pytest.mark.parametrize("component", ["scheduler", "worker"])
def test_secret_mounted_and_dask_configured_for_tls(pm, dask_cluster, dask_render, component):
    rendered = dask_render(pm, dask_cluster("c", "ns", annotations=ON))
    pod_spec = rendered.deployment["spec"]["template"]["spec"] if component == "scheduler" else rendered.worker_pods[0]["spec"]
    assert {"name": "dask-tls", "secret": {"secretName": "c-dask-tls", "defaultMode": 0o440}} in pod_spec["volumes"]
    for container in pod_spec["containers"]:
        assert {"name": "dask-tls", "mountPath": "/etc/dask/tls", "readOnly": True} in container["volumeMounts"]
        values = env(container)
        assert values["DASK_DISTRIBUTED__COMM__DEFAULT_SCHEME"] == "tls"
        assert values["DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION"] == "True"
        assert values["DASK_DISTRIBUTED__COMM__TLS__CA_FILE"] == "/etc/dask/tls/ca.crt"
        assert values["DASK_DISTRIBUTED__COMM__TLS__WORKER__KEY"] == "/etc/dask/tls/tls.key"


def test_user_env_wins(pm, dask_cluster, dask_render):
    cluster = dask_cluster(annotations=ON)
    cluster["spec"]["worker"]["spec"]["containers"][0]["env"] = [{"name": "DASK_DISTRIBUTED__COMM__TLS__CA_FILE", "value": "/mine"}]
    values = env(dask_render(pm, cluster).containers("worker")[0])
    assert values["DASK_DISTRIBUTED__COMM__TLS__CA_FILE"] == "/mine"


def test_custom_scheduler_port(pm, dask_cluster, dask_render):
    cluster = dask_cluster("c", "ns", annotations=ON)
    cluster["spec"]["scheduler"]["service"]["ports"][0]["port"] = 9786
    assert dask_render(pm, cluster).scheduler_address == "tls://c-scheduler.ns.svc.cluster.local:9786"


def test_issuer_kind_is_validated(pm, dask_cluster, dask_render):
    rendered = dask_render(pm, dask_cluster(annotations={**ON, plugin.ISSUER_KIND: "Vault"}))
    assert rendered.errors == ["annotation cert-manager.dask.org/issuer-kind must be one of Issuer, ClusterIssuer, not 'Vault'"]


def test_workers_of_every_group_get_tls(pm, dask_cluster, dask_render):
    from dask_operator.testing import make_worker_group

    cluster = dask_cluster("c", "ns", annotations=ON)
    rendered = dask_render(pm, cluster, worker_groups=[make_worker_group(cluster, "highmem", workers=1)])
    assert len(rendered.worker_pods) == 2
    assert all(env(p["spec"]["containers"][0])["DASK_DISTRIBUTED__COMM__DEFAULT_SCHEME"] == "tls" for p in rendered.worker_pods)


def test_rbac(pm):
    rules = [r for rules in pm.hook.dask_rbac_rules() for r in rules]
    assert any("certificates" in r["resources"] and "delete" in r["verbs"] for r in rules)
    assert {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]} in rules
