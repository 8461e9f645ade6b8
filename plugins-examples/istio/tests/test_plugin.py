"""Unit tests with the operator's testing kit: everything the plugin decides, without a cluster."""

import json

import pytest
from dask_operator.testing import running
from dask_operator_istio import plugin

ON = {plugin.ENABLED: "true"}


@pytest.fixture
def pm(dask_plugin_manager):
    return dask_plugin_manager(plugin)


@pytest.fixture(autouse=True)
def settings():
    saved = dict(plugin.SETTINGS)
    yield plugin.SETTINGS
    plugin.SETTINGS.clear()
    plugin.SETTINGS.update(saved)


def mesh(rendered):
    """The plugin's objects among the cluster's plugin objects (the built-ins add their own)."""
    return [r for r in rendered.resources if r["metadata"]["labels"]["dask.org/component"] == "istio"]


def kinds(rendered):
    return sorted(f"{r['kind']}/{r['metadata']['name']}" for r in mesh(rendered))


def test_clusters_without_the_annotation_are_untouched(pm, dask_plugin_manager, dask_cluster, dask_render):
    assert dask_render(pm, dask_cluster()).children() == dask_render(dask_plugin_manager(), dask_cluster()).children()


def test_mesh_objects_and_a_service_per_worker(pm, dask_cluster, dask_render):
    rendered = dask_render(pm, dask_cluster("c", "ns", workers=2, annotations=ON))
    assert kinds(rendered) == [
        "DestinationRule/c-scheduler",
        "EndpointSlice/c-default-worker-0000000000",
        "EndpointSlice/c-default-worker-0000000001",
        "PeerAuthentication/c-dask",
        "Service/c-default-worker-0000000000",
        "Service/c-default-worker-0000000001",
    ]
    peer = rendered.get("PeerAuthentication")
    assert peer["spec"] == {"selector": {"matchLabels": {"dask.org/cluster-name": "c"}}, "mtls": {"mode": "STRICT"}}
    rule = rendered.get("DestinationRule")
    assert rule["spec"]["host"] == "c-scheduler.ns.svc.cluster.local"
    assert rule["spec"]["trafficPolicy"]["tls"]["mode"] == "ISTIO_MUTUAL"
    # every object is owned by the cluster and labelled like the operator's own children
    assert len(mesh(rendered)) == 6
    for obj in mesh(rendered):
        assert obj["metadata"]["ownerReferences"][0]["kind"] == "DaskCluster"
        assert obj["metadata"]["labels"]["dask.org/cluster-name"] == "c"
        assert obj["metadata"]["labels"]["dask.org/component"] == "istio"


def test_worker_service_and_endpoints_name_the_pod(pm, dask_cluster, dask_render):
    rendered = dask_render(pm, dask_cluster("c", "ns", annotations=ON))
    pod = rendered.worker_pods[0]
    name = pod["metadata"]["name"]
    service = rendered.get("Service", name)
    assert service["spec"]["clusterIP"] == "None" and "selector" not in service["spec"]
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {"tcp-worker": 8790, "http-dashboard": 8788}
    endpoints = rendered.get("EndpointSlice", name)
    assert endpoints["metadata"]["labels"]["kubernetes.io/service-name"] == name
    assert endpoints["endpoints"][0]["addresses"] == ["10.244.0.10"]
    assert endpoints["endpoints"][0]["targetRef"]["name"] == name


def test_pods_without_an_ip_get_only_their_service(pm, dask_cluster, dask_render):
    cluster = dask_cluster("c", "ns", annotations=ON)
    first = dask_render(pm, cluster)
    pending = dict(first.worker_pods[0], status={"phase": "Pending"})
    rendered = dask_render(pm, cluster, worker_pods=[pending])
    assert kinds(rendered) == ["DestinationRule/c-scheduler", "PeerAuthentication/c-dask", "Service/c-default-worker-0000000000"]


def test_workers_advertise_their_service(pm, dask_cluster, dask_render):
    rendered = dask_render(pm, dask_cluster("c", "ns", annotations=ON))
    (worker,) = rendered.containers("worker")
    args = worker["args"]
    assert args[args.index("--listen-address") + 1] == "tcp://0.0.0.0:8790"
    assert args[args.index("--contact-address") + 1] == "tcp://$(DASK_ISTIO_WORKER_SERVICE).ns.svc.cluster.local:8790"
    env = {e["name"]: e for e in worker["env"]}
    assert env["DASK_ISTIO_WORKER_SERVICE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    # deterministic: every worker of the group has the same spec hash (no rolling-update loop)
    hashes = {p["metadata"]["annotations"]["kubernetes.dask.org/spec-hash"] for p in dask_render(
        pm, dask_cluster("c", "ns", annotations=ON, workers=3)).worker_pods}
    assert len(hashes) == 1


def test_sidecars_are_injected_into_scheduler_and_workers(pm, dask_cluster, dask_render):
    rendered = dask_render(pm, dask_cluster(annotations=ON))
    for meta in (rendered.deployment["spec"]["template"]["metadata"], rendered.worker_pods[0]["metadata"]):
        assert meta["labels"]["sidecar.istio.io/inject"] == "true"
        assert json.loads(meta["annotations"]["proxy.istio.io/config"]) == {"holdApplicationUntilProxyStarts": True}


def test_turning_the_mesh_on_or_off_changes_the_scheduler_spec_hash(pm, dask_cluster, dask_render):
    # Injection acts when a pod is created: the operator must replace the running scheduler.
    def scheduler_hash(annotations):
        deployment = dask_render(pm, dask_cluster("c", "ns", annotations=annotations)).get("Deployment")
        return deployment["metadata"]["annotations"]["kubernetes.dask.org/spec-hash"]

    assert scheduler_hash(ON) != scheduler_hash({})
    assert scheduler_hash(ON) == scheduler_hash(ON)


def test_tls_scheme_follows_the_scheduler_address(pm, dask_cluster, dask_render):
    from dask_operator import hookimpl

    class TLS:
        @hookimpl
        def dask_scheduler_address(self, cluster):
            return "tls://c-scheduler.ns.svc.cluster.local:8786"

    pm.register(TLS(), name="tls")
    rendered = dask_render(pm, dask_cluster("c", "ns", annotations=ON))
    args = rendered.containers("worker")[0]["args"]
    assert args[args.index("--contact-address") + 1].startswith("tls://")


def test_dashboard_through_a_gateway(pm, dask_cluster, dask_render, settings):
    cluster = dask_cluster("c", "ns", annotations={**ON, plugin.GATEWAY: "istio-system/public", plugin.DASHBOARD_HOST: "dask.example.com"})
    service = dask_render(pm, cluster).get("VirtualService", "c-dashboard")
    assert service["spec"]["gateways"] == ["istio-system/public"] and service["spec"]["hosts"] == ["dask.example.com"]
    route = service["spec"]["http"][0]["route"][0]["destination"]
    assert route == {"host": "c-scheduler.ns.svc.cluster.local", "port": {"number": 8787}}
    # operator-wide defaults (dask_configure) apply to clusters that only opt in
    pm.hook.dask_configure(config={"istio": {"gateway": "mesh/gw", "dashboard-domain": "dask.example.org"}})
    service = dask_render(pm, dask_cluster("c", "ns", annotations=ON)).get("VirtualService")
    assert service["spec"]["gateways"] == ["mesh/gw"] and service["spec"]["hosts"] == ["c-ns.dask.example.org"]


def test_invalid_annotations_are_reported(pm, dask_cluster, dask_render):
    rendered = dask_render(pm, dask_cluster(annotations={**ON, plugin.MTLS: "SOMETIMES", plugin.GATEWAY: "gw"}))
    assert not rendered.valid
    assert any("SOMETIMES" in e for e in rendered.errors) and any("dashboard-host" in e for e in rendered.errors)
    assert rendered.children() == []


def test_long_names_get_no_worker_service_and_a_warning(pm, dask_cluster, dask_render):
    rendered = dask_render(pm, dask_cluster("a" * 45, "ns", annotations=ON))
    assert [r["kind"] for r in mesh(rendered)] == ["PeerAuthentication", "DestinationRule"]
    assert any("longer than 63" in w for w in rendered.warnings)
    assert "--contact-address" not in rendered.containers("worker")[0]["args"]


def test_users_own_addresses_are_respected(pm, dask_cluster, dask_render):
    cluster = dask_cluster(annotations=ON)
    cluster["spec"]["worker"]["spec"]["containers"][0]["args"] += ["--worker-port", "9000"]
    rendered = dask_render(pm, cluster)
    assert "--contact-address" not in rendered.containers("worker")[0]["args"]
    assert any("own listen/contact address" in w for w in rendered.warnings)


def test_rbac_covers_every_kind_it_creates(pm, dask_cluster, dask_render):
    rules = [r for rules in pm.hook.dask_rbac_rules() for r in rules]
    allowed = {(g, res) for r in rules for g in r["apiGroups"] for res in r["resources"] if "create" in r["verbs"] and "delete" in r["verbs"]}
    plural = {"PeerAuthentication": "peerauthentications", "DestinationRule": "destinationrules",
              "VirtualService": "virtualservices", "Service": "services", "EndpointSlice": "endpointslices"}
    cluster = dask_cluster(annotations={**ON, plugin.GATEWAY: "gw", plugin.DASHBOARD_HOST: "h"})
    for obj in mesh(dask_render(pm, cluster)):
        group = obj["apiVersion"].rpartition("/")[0]
        assert (group, plural[obj["kind"]]) in allowed, obj["kind"]


def test_running_helper_sets_an_ip(dask_plugin_manager, dask_cluster, dask_render):
    pod = dask_render(dask_plugin_manager(), dask_cluster()).worker_pods[0]
    assert running(pod, "10.0.0.7")["status"]["podIP"] == "10.0.0.7"
