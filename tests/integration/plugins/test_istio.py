"""The Istio example on the local cluster, with Istio's real CRDs (no Istio control plane: the
sidecar label is inert here, but every object the mesh needs is created, owned and pruned, and
workers really are reached through their own Services)."""

from __future__ import annotations

import re

import pytest
from dask_operator.testing import wait_for
from dask_operator_istio import plugin
from distributed import Client
from plugin_helpers import cluster_manifest

pytestmark = pytest.mark.cluster
PLUGINS = {"istio": "dask_operator_istio.plugin"}
MESH_KINDS = "peerauthentications.security.istio.io,destinationrules.networking.istio.io,virtualservices.networking.istio.io"


@pytest.fixture
def istio_operator(examples_installed, dask_crds, istio_crds, namespace, dask_operator_runner):
    return dask_operator_runner(namespace, plugins=PLUGINS, only=True)


def istio_objects(ns) -> list[str]:
    names = [f"{i['kind']}/{i['metadata']['name']}" for i in ns.items(MESH_KINDS + ",services,endpointslices", "dask.org/component=istio")]
    return sorted(names)


def test_workers_reached_through_their_services_then_everything_goes_with_the_cluster(ns, istio_operator):
    annotations = {plugin.ENABLED: "true", plugin.GATEWAY: "istio-system/public", plugin.DASHBOARD_HOST: "mesh.example.com"}
    ns.apply(cluster_manifest("mesh", ns.name, workers=2, annotations=annotations))
    ns.kubectl("wait", "--for=condition=Ready", "daskcluster/mesh", "--timeout=180s")
    workers = ns.names("pods", "dask.org/component=worker")
    assert len(workers) == 2

    expected = sorted(
        ["DestinationRule/mesh-scheduler", "PeerAuthentication/mesh-dask", "VirtualService/mesh-dashboard"]
        + [f"{kind}/{w}" for w in workers for kind in ("EndpointSlice", "Service")]
    )
    wait_for(lambda: istio_objects(ns) == expected, 60, message=f"mesh objects {expected}")
    cluster = ns.get("daskcluster", "mesh")
    uid = cluster["metadata"]["uid"]
    for item in ns.items(MESH_KINDS + ",services,endpointslices", "dask.org/component=istio"):
        assert [r["uid"] for r in item["metadata"]["ownerReferences"]] == [uid], item["metadata"]["name"]
    virtual_service = ns.get("virtualservices.networking.istio.io", "mesh-dashboard")
    assert virtual_service["spec"]["gateways"] == ["istio-system/public"]
    assert virtual_service["spec"]["hosts"] == ["mesh.example.com"]
    scheduler_pod = ns.items("pods", "dask.org/component=scheduler")[0]
    assert scheduler_pod["metadata"]["labels"]["sidecar.istio.io/inject"] == "true"

    # Workers advertise their Service's name; the scheduler resolves it (through the EndpointSlice,
    # which is what a mesh sees) and it and the other worker reach them on the fixed port.
    # (A Running worker pod may not have logged yet: Ready does not wait for workers to connect.)
    for worker in workers:
        started = rf"Start worker at:\s+tcp://{worker}\.{ns.name}\.svc\.cluster\.local:8790"
        wait_for(lambda w=worker, pattern=started: re.search(pattern, ns.kubectl("logs", w)), 60,
                 message=f"{worker} to log that it starts at its Service address")
    with Client(f"tcp://{ns.scheduler_ip('mesh')}:8786", timeout=30) as client:
        wait_for(lambda: len(client.scheduler_info()["workers"]) == 2, 60, message="2 workers connected")
        addresses = sorted(client.scheduler_info()["workers"])
        pod_ips = [ns.get("pod", w)["status"]["podIP"] for w in workers]
        assert addresses == sorted(f"tcp://{ip}:8790" for ip in pod_ips)
        first = client.submit(lambda: 20, workers=[addresses[0]], pure=False)
        second = client.submit(lambda x: x + 22, first, workers=[addresses[1]])  # fetches from the first
        assert second.result(timeout=60) == 42

    # Scaling down prunes the Service and EndpointSlice of the worker that went.
    ns.kubectl("scale", "daskworkergroup/mesh-default", "--replicas=1")
    wait_for(lambda: len(ns.names("pods", "dask.org/component=worker")) == 1, 120, message="one worker")
    remaining = ns.names("pods", "dask.org/component=worker")[0]
    wait_for(lambda: ns.names("services", "dask.org/component=istio") == [remaining], 60, message="one worker Service")
    wait_for(lambda: ns.names("endpointslices", "dask.org/component=istio") == [remaining], 60, message="one EndpointSlice")

    # Deleting the cluster garbage-collects everything the plugin asked for.
    ns.kubectl("delete", "daskcluster/mesh", "--wait=false")
    wait_for(lambda: istio_objects(ns) == [], 120, message="no mesh objects after the cluster is deleted")


def test_removing_the_annotation_prunes_the_mesh_objects(ns, istio_operator):
    ns.apply(cluster_manifest("opt", ns.name, workers=0, annotations={plugin.ENABLED: "true"}))
    wait_for(lambda: istio_objects(ns) == ["DestinationRule/opt-scheduler", "PeerAuthentication/opt-dask"], 90, message="mesh objects")
    # The pass applies plugin objects first and writes status at its end.
    wait_for(lambda: sorted(r["kind"] for r in ns.get("daskcluster", "opt")["status"].get("resources", []))
             == ["DestinationRule", "PeerAuthentication", "PodDisruptionBudget"], 60,
             message="status.resources listing the mesh objects (and the built-in scheduler PodDisruptionBudget)")

    def scheduler_labels() -> list[dict[str, str]]:
        pods = ns.items("pods", "dask.org/cluster-name=opt,dask.org/component=scheduler")
        return [p["metadata"].get("labels") or {} for p in pods if not p["metadata"].get("deletionTimestamp")]

    wait_for(lambda: [labels.get(plugin.INJECT_LABEL) for labels in scheduler_labels()] == ["true"], 90,
             message="a scheduler pod created with the sidecar label")
    ns.kubectl("annotate", "daskcluster/opt", f"{plugin.ENABLED}-")
    wait_for(lambda: istio_objects(ns) == [], 60, message="mesh objects pruned")
    # Injection acts at pod creation: the scheduler is re-created without the label.
    wait_for(lambda: plugin.INJECT_LABEL not in (ns.get("deployment", "opt-scheduler")["spec"]["template"]["metadata"].get("labels") or {}),
             60, message=f"the scheduler's pod template without {plugin.INJECT_LABEL}")
    wait_for(lambda: (found := scheduler_labels()) and all(plugin.INJECT_LABEL not in labels for labels in found), 120,
             message="the scheduler pod re-created without the sidecar label")
    assert [r["kind"] for r in ns.get("daskcluster", "opt")["status"]["resources"]] == ["PodDisruptionBudget"]
    deleted = {e["message"] for e in ns.events("DeletedPeerAuthentication") + ns.events("DeletedDestinationRule")}
    assert len(deleted) == 2, deleted
    assert ns.get("deployment", "opt-scheduler") is not None  # the cluster itself stays
