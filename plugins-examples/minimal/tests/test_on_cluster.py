"""The plugin in a real operator against a real cluster ($KUBECONFIG with the Dask CRDs).

Run with ``pytest -m cluster``; the operator's testing kit starts ``dask-operator run``.
"""

import json
import os
import subprocess
import time

import pytest
import yaml
from dask_operator.testing import make_cluster
from dask_operator_minimal import handlers, plugin

pytestmark = pytest.mark.cluster
KUBECTL = os.environ.get("KUBECTL", "kubectl")


def kubectl(*args, input=None):
    return subprocess.run([KUBECTL, *args], input=input, capture_output=True, text=True, check=True).stdout


def wait_for(predicate, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout} s")


def test_labels_and_handler_on_a_real_cluster(dask_namespace, dask_operator_runner):
    dask_operator_runner(dask_namespace, plugins={"minimal": "dask_operator_minimal.plugin",
                                                  "minimal_handlers": "dask_operator_minimal.handlers"}, only=True)
    cluster = make_cluster("costly", dask_namespace, workers=1, annotations={plugin.COST_CENTER: "research-42"})
    for key in ("uid", "generation", "resourceVersion", "creationTimestamp"):
        del cluster["metadata"][key]
    kubectl("apply", "-f", "-", input=yaml.safe_dump(cluster))

    def scheduler_service():
        out = kubectl("get", "service", "costly-scheduler", "-n", dask_namespace, "-o", "json", "--ignore-not-found")
        svc = json.loads(out) if out.strip() else None
        return svc if svc and handlers.SCHEDULER_ADDRESS in (svc["metadata"].get("annotations") or {}) else None

    service = wait_for(scheduler_service)
    assert service["metadata"]["labels"][plugin.COST_CENTER] == "research-42"
    assert service["metadata"]["annotations"][handlers.SCHEDULER_ADDRESS] == f"tcp://costly-scheduler.{dask_namespace}.svc:8786"
    pods = wait_for(lambda: json.loads(kubectl("get", "pods", "-n", dask_namespace, "-l", f"{plugin.COST_CENTER}=research-42",
                                               "-o", "json"))["items"])
    assert {p["metadata"]["labels"]["dask.org/component"] for p in pods} <= {"scheduler", "worker"}
