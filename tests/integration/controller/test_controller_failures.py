"""Failures reach the object the user applied (condition and Warning Event), and work is bounded:
rejected children, a stuck scheduler, capped replicas, conflicting worker groups, crash-looping workers."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.cluster

WORKERS = "dask.org/component=worker"


def apply(kube: Any, obj: dict[str, Any]) -> None:
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(obj))


def named(examples: Any, name: str, replicas: int | None = None) -> dict[str, Any]:
    cluster: dict[str, Any] = examples("cluster.yaml")
    cluster["metadata"]["name"] = name
    cluster["spec"]["scheduler"]["service"]["selector"]["dask.org/cluster-name"] = name
    if replicas is not None:
        cluster["spec"]["worker"]["replicas"] = replicas
    return cluster


def warning(kube: Any, reason: str, name: str) -> list[dict[str, Any]]:
    return [e for e in kube.events(reason) if e["type"] == "Warning" and e["involvedObject"]["name"] == name]


def test_a_child_the_api_server_rejects_is_reported_on_the_cluster(operator, kube, wait, examples):
    cluster = named(examples, "bogus")
    cluster["spec"]["scheduler"]["service"]["type"] = "Bogus"
    apply(kube, cluster)
    ready = wait(lambda: (c := kube.condition("daskcluster", "bogus", "Ready")) and "Bogus" in c["message"] and c,
                 message="Ready=False naming the rejected value")
    assert ready["status"] == "False"
    assert kube.get("daskcluster", "bogus")["status"]["phase"] == "Error"
    assert warning(kube, "ChildRejected", "bogus"), "a Warning Event on the DaskCluster"
    # fixing the spec is all it takes
    kube.kubectl("patch", "daskcluster", "bogus", "--type=merge", "-p", '{"spec":{"scheduler":{"service":{"type":"ClusterIP"}}}}')
    kube.wait_ready("bogus")


def test_rejected_worker_labels_are_reported_on_the_cluster(operator, kube, wait, examples):
    cluster = named(examples, "badlabel", replicas=1)
    cluster["spec"]["worker"]["metadata"] = {"labels": {"bad key!": "x"}}  # they reach the worker group too
    apply(kube, cluster)
    ready = wait(lambda: (c := kube.condition("daskcluster", "badlabel", "Ready")) and "bad key!" in c["message"] and c,
                 message="Ready=False naming the rejected label")
    assert ready["status"] == "False" and kube.get("daskcluster", "badlabel")["status"]["phase"] == "Error"
    assert warning(kube, "ChildRejected", "badlabel")
    assert kube.pods(WORKERS) == []


def test_rejected_worker_pods_are_reported_on_the_group_and_the_cluster(operator, kube, wait, examples):
    cluster = named(examples, "badmemory", replicas=1)
    cluster["spec"]["worker"]["spec"]["containers"][0]["resources"] = {"limits": {"memory": "-1Gi"}}
    apply(kube, cluster)
    wait(lambda: (c := kube.condition("daskworkergroup", "badmemory-default", "Ready")) and c["reason"] == "WorkerPodRejected",
         message="the group says its pods are rejected")
    assert warning(kube, "WorkerPodRejected", "badmemory-default")
    workers = wait(lambda: (c := kube.condition("daskcluster", "badmemory", "WorkersReady")) and c["reason"] == "WorkerPodRejected" and c,
                   message="the cluster says why it has no workers")
    assert "memory" in workers["message"]
    assert warning(kube, "WorkerPodRejected", "badmemory")
    assert kube.pods(WORKERS) == []


def test_a_stuck_scheduler_is_reported_on_the_cluster(operator, kube, wait, examples):
    cluster = named(examples, "spaces")
    cluster["spec"]["scheduler"]["spec"]["containers"][0]["image"] = " ghcr.io/dask/dask:latest "
    apply(kube, cluster)
    cond = wait(lambda: (c := kube.condition("daskcluster", "spaces", "SchedulerReady")) and c["reason"] not in ("SchedulerNotReady", "SchedulerReady") and c,
                timeout=90, message="SchedulerReady names why the scheduler cannot start")
    assert cond["status"] == "False" and cond["message"]
    assert warning(kube, cond["reason"], "spaces")


def test_replicas_above_the_cap_are_not_created_and_are_reported(operator, kube, wait, examples):
    operator.stop()
    operator.start(DASK_KUBERNETES__CONTROLLER__WORKERS__MAX_PER_GROUP="3")
    apply(kube, named(examples, "huge", replicas=50))  # the CRD caps replicas at 10000
    wait(lambda: (c := kube.condition("daskworkergroup", "huge-default", "Ready")) and c["reason"] == "WorkersCapped",
         message="WorkersCapped on the group")
    wait(lambda: (c := kube.condition("daskcluster", "huge", "WorkersReady")) and c["reason"] == "WorkersCapped",
         message="WorkersCapped on the cluster")
    wait(lambda: len(kube.pods(WORKERS)) == 3, message="3 workers")
    assert warning(kube, "WorkersCapped", "huge-default")
    kube.kubectl("delete", "daskcluster", "huge", "--wait=false")
    wait(lambda: not kube.items("pods"), timeout=120, message="every pod gone with the cluster")
    assert len(kube.pods(WORKERS, include_terminating=True)) == 0


def test_a_worker_group_is_never_taken_from_another_cluster(operator, kube, wait, examples):
    apply(kube, named(examples, "dupa", replicas=1))
    apply(kube, named(examples, "dupb", replicas=1))
    kube.wait_ready("dupa")
    kube.wait_ready("dupb")
    dupa_pods = {p["metadata"]["name"] for p in kube.pods("dask.org/cluster-name=dupa," + WORKERS)}
    hijacker = copy.deepcopy(kube.get("daskworkergroup", "dupa-default"))
    # a user re-points dupa's default group at dupb
    kube.kubectl("patch", "daskworkergroup", "dupa-default", "--type=merge", "-p", '{"spec":{"cluster":"dupb"}}')
    cond = wait(lambda: (c := kube.condition("daskworkergroup", "dupa-default", "Ready")) and c["reason"] == "WorkerGroupConflict" and c,
                message="the conflict reported on the group")
    assert "dupa" in cond["message"]
    wait(lambda: warning(kube, "WorkerGroupConflict", "dupb"), message="and on the cluster it names")
    wait(lambda: warning(kube, "WorkerGroupConflict", "dupa"), message="and on the cluster it belongs to")
    owners = kube.get("daskworkergroup", "dupa-default")["metadata"]["ownerReferences"]
    assert [o["uid"] for o in owners] == [hijacker["metadata"]["ownerReferences"][0]["uid"]], "still owned by dupa"
    assert {p["metadata"]["name"] for p in kube.pods("dask.org/cluster-name=dupa," + WORKERS)} == dupa_pods
    assert len(kube.pods("dask.org/cluster-name=dupb," + WORKERS)) == 1, "dupb did not gain workers"


def test_crash_looping_workers_are_replaced_under_a_fresh_name(operator, kube, wait, examples):
    operator.stop()
    operator.start(DASK_KUBERNETES__CONTROLLER__WORKERS__REPLACE_AFTER_RESTARTS="1")
    cluster = named(examples, "crashy", replicas=1)
    cluster["spec"]["worker"]["spec"]["containers"][0]["args"] = ["python", "-c", "raise SystemExit(3)"]
    apply(kube, cluster)
    first = wait(lambda: kube.pods(WORKERS), message="a worker pod")[0]["metadata"]["name"]
    wait(lambda: warning(kube, "ReplacedCrashLoopingWorkers", "crashy-default"), timeout=120,
         message="the crash-looping worker replaced")
    wait(lambda: first not in {p["metadata"]["name"] for p in kube.pods(WORKERS, include_terminating=True)},
         message="the old pod gone")


FAILING_CONTEXT = '''
"""Makes every pass fail unexpectedly while the file named by $FAIL_PASSES_FILE exists."""

import contextlib
import os

from dask_operator import hookimpl


@hookimpl
def dask_reconcile_context(kind, name, namespace):
    if os.path.exists(os.environ["FAIL_PASSES_FILE"]):
        raise RuntimeError("the disk is on fire")
    return contextlib.nullcontext()
'''


def test_an_unexpected_failure_is_a_condition_until_a_pass_succeeds(operator, kube, wait, examples, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "dask_operator_failing_context.py").write_text(FAILING_CONTEXT)
    fail = tmp_path / "fail"
    fail.touch()
    operator.stop()
    operator.start(plugins={"failing": "dask_operator_failing_context"}, python_path=[source], FAIL_PASSES_FILE=str(fail))
    apply(kube, named(examples, "onfire", replicas=1))
    cond = wait(lambda: (c := kube.condition("daskcluster", "onfire", "ReconcileFailed")) and c["status"] == "True" and c,
                message="ReconcileFailed=True")
    assert "the disk is on fire" in cond["message"] and "retrying in" in cond["message"]
    assert warning(kube, "ReconcileFailed", "onfire")
    fail.unlink()
    wait(lambda: (c := kube.condition("daskcluster", "onfire", "ReconcileFailed")) and c["status"] == "False",
         timeout=60, message="ReconcileFailed=False once a pass succeeds")
    kube.wait_ready("onfire")
    assert operator.stop() == 0
