"""User-created DaskWorkerGroups: the docs' highmemworkers.yaml joins its cluster; a missing cluster waits."""

from __future__ import annotations

from pathlib import Path

import pytest
from distributed import Client

pytestmark = pytest.mark.cluster

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_highmem_group_joins_the_cluster(operator, kube, wait):
    kube.kubectl("apply", "-f", str(EXAMPLES / "cluster.yaml"))
    cluster = kube.wait_ready("simple")
    kube.kubectl("apply", "-f", str(EXAMPLES / "highmemworkers.yaml"))
    group = wait(lambda: (g := kube.get("daskworkergroup", "simple-highmem")) and g["metadata"].get("ownerReferences") and g,
                 message="the group adopted by its cluster")
    owner = group["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("DaskCluster", "simple", cluster["metadata"]["uid"])
    selector = "dask.org/cluster-name=simple,dask.org/workergroup-name=simple-highmem"
    wait(lambda: len(kube.pods(selector)) == 2, message="2 highmem pods")
    with Client(kube.scheduler_address("simple"), timeout="30s") as client:
        client.wait_for_workers(4, timeout=90)
        workers = client.scheduler_info()["workers"].values()
        highmem = [w for w in workers if w["name"].startswith("simple-highmem-worker-")]
        assert len(highmem) == 2
        assert all(w["resources"] == {"MEMORY": 32e9} for w in highmem)
        # work that needs the resource runs on the highmem group
        assert client.submit(lambda: 42, resources={"MEMORY": 1e9}).result(timeout=60) == 42
    wait(lambda: kube.get("daskcluster", "simple")["status"]["workers"] == {"desired": 4, "ready": 4})
    # the group is deleted with its cluster (ownerReference)
    kube.kubectl("delete", "daskcluster", "simple")
    wait(lambda: not kube.items("daskworkergroups") and not kube.items("pods"), timeout=120, message="group and pods gone")


def test_group_of_a_missing_cluster_waits_and_joins_when_it_appears(operator, kube, wait):
    kube.kubectl("apply", "-f", str(EXAMPLES / "highmemworkers.yaml"))
    cond = wait(lambda: (c := kube.condition("daskworkergroup", "simple-highmem", "ClusterFound")) and c, message="condition")
    assert cond["status"] == "False" and cond["reason"] == "ClusterNotFound" and "'simple'" in cond["message"]
    assert kube.events("ClusterNotFound")
    assert not kube.items("pods")
    kube.kubectl("apply", "-f", str(EXAMPLES / "cluster.yaml"))
    wait(lambda: len(kube.pods("dask.org/workergroup-name=simple-highmem")) == 2, timeout=120, message="highmem workers")
    wait(lambda: kube.condition("daskworkergroup", "simple-highmem", "ClusterFound")["status"] == "True")
