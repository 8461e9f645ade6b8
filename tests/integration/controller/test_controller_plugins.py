"""A third-party plugin installed through its entry point takes part in the real operator."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.cluster

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_installed_plugin_overrides_validates_and_labels(operator, kube, wait, test_plugin):
    operator.stop()
    operator.start(DASK_OPERATOR_TEST_PLUGIN="1")

    rejected = yaml.safe_load((EXAMPLES / "cluster.yaml").read_text())
    rejected["metadata"]["name"] = "rejected"
    rejected["metadata"]["annotations"] = {"test-plugin.dask.org/invalid": "no GPUs here"}
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(rejected))
    kube.kubectl("apply", "-f", str(EXAMPLES / "cluster.yaml"))

    # the plugin's validation: phase Error, Ready=False InvalidSpec, a Warning Event, no children
    cluster = wait(lambda: (c := kube.get("daskcluster", "rejected")) and c.get("status", {}).get("phase") == "Error" and c)
    ready = kube.condition("daskcluster", "rejected", "Ready")
    assert ready["status"] == "False" and ready["reason"] == "InvalidSpec" and "no GPUs here" in ready["message"]
    assert any("no GPUs here" in e["message"] for e in kube.events("InvalidSpec"))
    assert cluster["status"]["observedGeneration"] == cluster["metadata"]["generation"]

    # ... while the other cluster is served, with the plugin's Service and labels
    kube.wait_ready("simple")
    service = kube.get("service", "simple-scheduler")
    assert service["metadata"]["annotations"]["test-plugin.dask.org/built-by"] == "dask-operator-test-plugin"
    assert service["spec"]["type"] == "ClusterIP"  # the plugin's Service, not the docs' NodePort
    assert service["metadata"]["labels"]["test-plugin.dask.org/component"] == "scheduler"
    assert service["metadata"]["labels"]["dask.org/component"] == "scheduler"  # reserved label kept
    worker = kube.pods("dask.org/cluster-name=simple,dask.org/component=worker")[0]
    assert worker["metadata"]["labels"]["test-plugin.dask.org/component"] == "worker"
    assert not kube.items("deployments", "dask.org/cluster-name=rejected")

    # fixing the spec (removing the annotation) lets the cluster start
    kube.kubectl("annotate", "daskcluster", "rejected", "test-plugin.dask.org/invalid-")
    kube.wait_ready("rejected")
