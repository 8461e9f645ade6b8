"""The testing kit's render agrees with what the real operator applies (no drift between them).

The operator stores a hash of every child it builds in the ``kubernetes.dask.org/spec-hash``
annotation; rendering the same DaskCluster through the same plugins must give the same hashes.
"""

from __future__ import annotations

import pytest
from dask_operator.testing import make_plugin_manager, render_cluster, wait_for
from dask_operator_istio import plugin as istio
from plugin_helpers import cluster_manifest

pytestmark = pytest.mark.cluster
HASH = "kubernetes.dask.org/spec-hash"


def test_rendered_children_match_the_operators(examples_installed, dask_crds, istio_crds, ns, dask_operator_runner):
    dask_operator_runner(ns.name, plugins={"istio": "dask_operator_istio.plugin"}, only=True)
    ns.apply(cluster_manifest("same", ns.name, workers=1, annotations={istio.ENABLED: "true"}))
    ns.kubectl("wait", "--for=condition=Ready", "daskcluster/same", "--timeout=180s")
    wait_for(lambda: ns.items("endpointslices", "dask.org/component=istio"), 60, message="the worker's EndpointSlice")

    live_cluster = ns.get("daskcluster", "same")
    live_workers = ns.items("pods", "dask.org/component=worker")
    rendered = render_cluster(make_plugin_manager(istio), live_cluster, worker_pods=live_workers)

    def live_hash(kind: str, name: str) -> str:
        obj = ns.get(kind, name)
        assert obj is not None, f"{kind}/{name}"
        return str(obj["metadata"]["annotations"][HASH])

    assert rendered.deployment["metadata"]["annotations"][HASH] == live_hash("deployment", "same-scheduler")
    assert rendered.service["metadata"]["annotations"][HASH] == live_hash("service", "same-scheduler")
    plurals = {"PeerAuthentication": "peerauthentications.security.istio.io",
               "DestinationRule": "destinationrules.networking.istio.io", "Service": "service",
               "EndpointSlice": "endpointslices", "PodDisruptionBudget": "pdb"}
    assert len(rendered.resources) == 5  # the Istio objects and the scheduler's PodDisruptionBudget
    for resource in rendered.resources:
        name = resource["metadata"]["name"]
        assert resource["metadata"]["annotations"][HASH] == live_hash(plurals[resource["kind"]], name), resource["kind"]
