"""Labels and annotations reach children with the documented precedence; tool-owned keys do not."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.cluster

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
TOOL_KEYS = ("kopf.zalando.org/", "kubectl.kubernetes.io/", "argocd.argoproj.io/")


def cluster_manifest() -> str:
    cluster = yaml.safe_load((EXAMPLES / "cluster.yaml").read_text())
    cluster["metadata"]["labels"] = {"team": "data", "level": "top", "dask.org/component": "superworker",
                                     "argocd.argoproj.io/instance": "my-app"}
    cluster["metadata"]["annotations"] = {"hello": "world", "argocd.argoproj.io/tracking-id": "app:dask/DaskCluster:ns/simple",
                                          "kopf.zalando.org/touched": "yes"}
    cluster["spec"]["worker"]["metadata"] = {"labels": {"level": "worker"}, "annotations": {"foo": "bar"}}
    cluster["spec"]["scheduler"]["metadata"] = {"labels": {"level": "scheduler"}, "annotations": {"fizz": "buzz"}}
    return yaml.safe_dump(cluster)


def no_tool_keys(meta: dict) -> bool:
    keys = list(meta.get("labels", {})) + list(meta.get("annotations", {}))
    return not [k for k in keys if k.startswith(TOOL_KEYS) and k != "kopf.zalando.org/last-handled-configuration"]


def test_metadata_propagation_and_updates(operator, kube, wait):
    # kubectl apply adds kubectl.kubernetes.io/last-applied-configuration to the cluster: it must not spread
    kube.kubectl("apply", "-f", "-", input=cluster_manifest())
    kube.wait_ready("simple")
    scheduler_pod = kube.pods("dask.org/cluster-name=simple,dask.org/component=scheduler")[0]["metadata"]
    service = kube.get("service", "simple-scheduler")["metadata"]
    group = kube.get("daskworkergroup", "simple-default")["metadata"]
    workers = [p["metadata"] for p in kube.pods("dask.org/cluster-name=simple,dask.org/component=worker")]
    assert len(workers) == 2

    for meta in (scheduler_pod, service):  # top-level < spec.scheduler.metadata < base
        assert meta["labels"]["team"] == "data" and meta["labels"]["level"] == "scheduler"
        assert meta["labels"]["dask.org/component"] == "scheduler"
        assert meta["annotations"]["hello"] == "world" and meta["annotations"]["fizz"] == "buzz"
        assert "foo" not in meta["annotations"]
    for meta in [group] + workers:  # top-level < spec.worker.metadata < base, through the group
        assert meta["labels"]["team"] == "data" and meta["labels"]["level"] == "worker"
        assert meta["annotations"]["hello"] == "world" and meta["annotations"]["foo"] == "bar"
        assert "fizz" not in meta["annotations"]
    assert group["labels"]["dask.org/component"] == "workergroup"
    for meta in workers:
        assert meta["labels"]["dask.org/component"] == "worker"
        assert meta["labels"]["dask.org/workergroup-name"] == "simple-default"
    for meta in [scheduler_pod, service, group] + workers:
        assert no_tool_keys(meta), meta
        assert "kubectl.kubernetes.io/last-applied-configuration" not in meta.get("annotations", {})
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "dask-operator"

    # a label and an annotation added to the running cluster reach the existing children in place
    kube.kubectl("label", "daskcluster", "simple", "added=later")
    kube.kubectl("annotate", "daskcluster", "simple", "note=new")
    names_before = {m["name"] for m in workers} | {scheduler_pod["name"]}

    def everywhere() -> bool:
        metas = [kube.get("service", "simple-scheduler")["metadata"], kube.get("daskworkergroup", "simple-default")["metadata"]]
        metas += [p["metadata"] for p in kube.pods("dask.org/cluster-name=simple")]
        return len(metas) == 5 and all(m["labels"].get("added") == "later" and m["annotations"].get("note") == "new" for m in metas)

    wait(everywhere, timeout=60, message="new label and annotation on every child")
    assert {p["metadata"]["name"] for p in kube.pods("dask.org/cluster-name=simple")} == names_before, "nothing restarted"

    # removing them from the cluster removes them from every child; keys others set stay
    kube.kubectl("label", "pod", scheduler_pod["name"], "added-by-someone=else")
    kube.kubectl("label", "daskcluster", "simple", "added-")
    kube.kubectl("annotate", "daskcluster", "simple", "note-")

    def gone_everywhere() -> bool:
        metas = [kube.get("service", "simple-scheduler")["metadata"], kube.get("daskworkergroup", "simple-default")["metadata"]]
        metas += [p["metadata"] for p in kube.pods("dask.org/cluster-name=simple")]
        return len(metas) == 5 and all("added" not in m["labels"] and "note" not in m.get("annotations", {}) for m in metas)

    wait(gone_everywhere, timeout=60, message="removed label and annotation gone from every child")
    assert kube.get("pod", scheduler_pod["name"])["metadata"]["labels"]["added-by-someone"] == "else"
    assert kube.get("daskcluster", "simple")["metadata"]["labels"]["team"] == "data"
    for pod in kube.pods("dask.org/cluster-name=simple"):
        assert pod["metadata"]["labels"]["team"] == "data"
    assert {p["metadata"]["name"] for p in kube.pods("dask.org/cluster-name=simple")} == names_before, "nothing restarted"
