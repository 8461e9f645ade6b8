import pytest
from dask_operator import reconcile_autoscaler as ra
from dask_operator.errors import SchedulerUnreachable
from dask_operator.runtime import Runtime
from fake_api import FakeKube, FakeScheduler, fake_cache


@pytest.fixture
def rt(pm):
    kube = FakeKube()
    kube.put({"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskCluster", "metadata": {"name": "simple"}, "spec": {}})
    for group, replicas in (("simple-default", 1), ("simple-highmem", 2)):
        kube.put({"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskWorkerGroup", "metadata": {"name": group},
                  "spec": {"cluster": "simple", "worker": {"replicas": replicas}}})
    kube.put({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "simple-scheduler"},
              "spec": {"clusterIP": "10.0.0.1", "ports": [{"name": "http-dashboard", "port": 8787}]}})
    kube.put({"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskAutoscaler", "metadata": {"name": "simple"},
              "spec": {"cluster": "simple", "minimum": 1, "maximum": 10, "scaleDownStabilizationSeconds": 0}})
    return Runtime(pm, kube, FakeScheduler(), fake_cache(kube))


def replicas(rt, group="simple-default"):
    return rt.kube.objects[("DaskWorkerGroup", "ns1", group)]["spec"]["worker"]["replicas"]


def status(rt):
    return rt.kube.objects[("DaskAutoscaler", "ns1", "simple")]["status"]


async def test_scales_the_default_group_only_and_reports_why(rt):
    rt.scheduler.target = 40
    assert await ra.reconcile_autoscaler(rt, "ns1", "simple") == 5  # config autoscaler.poll-interval
    assert replicas(rt) == 10 and replicas(rt, "simple-highmem") == 2
    s = status(rt)
    assert (s["desiredWorkers"], s["lastTarget"], s["lastDecision"]) == (10, 40, "ScaleUp")
    assert "within [1, 10]" in s["lastDecisionReason"] and s["lastScaleTime"]
    rt.scheduler.target = 0
    await ra.reconcile_autoscaler(rt, "ns1", "simple")
    assert replicas(rt) == 1 and status(rt)["lastDecision"] == "ScaleDown"
    await ra.reconcile_autoscaler(rt, "ns1", "simple")
    assert status(rt)["lastDecision"] == "Hold"
    ra.forget(rt.kube.objects[("DaskAutoscaler", "ns1", "simple")]["metadata"]["uid"])


async def test_unreachable_scheduler_changes_nothing(rt):
    rt.scheduler.target = SchedulerUnreachable("refused")
    await ra.reconcile_autoscaler(rt, "ns1", "simple")
    assert replicas(rt) == 1
    conditions = {c["type"]: c for c in status(rt)["conditions"]}
    assert conditions["AbleToScale"]["status"] == "False" and conditions["AbleToScale"]["reason"] == "SchedulerUnreachable"


async def test_missing_group(rt):
    rt.kube.objects[("DaskAutoscaler", "ns1", "simple")]["spec"]["workerGroup"] = "simple-nope"
    await ra.reconcile_autoscaler(rt, "ns1", "simple")
    assert {c["type"]: c["reason"] for c in status(rt)["conditions"]}["AbleToScale"] == "WorkerGroupNotFound"


def test_history_starts_with_the_current_replicas_and_is_bounded():
    history = ra.remember("uid-h", current=4, target=1, at=1000.0)
    assert history == [{"time": 1000.0, "target": 4}, {"time": 1000.0, "target": 1}]
    history = ra.remember("uid-h", current=4, target=2, at=1000.0 + ra.HISTORY_SECONDS + 1)
    assert history == [{"time": 1000.0 + ra.HISTORY_SECONDS + 1, "target": 2}]
    ra.forget("uid-h")
    assert ra.decision_word(1, 2) == "ScaleUp" and ra.decision_word(2, 1) == "ScaleDown" and ra.decision_word(2, 2) == "Hold"


def health(rt):
    return {c["type"]: (c["status"], c["reason"]) for c in status(rt)["conditions"] if c["type"] in ("Ready", "Reconciling", "Stalled")}


async def test_every_status_write_carries_the_health_contract(rt):
    rt.scheduler.target = 1
    await ra.reconcile_autoscaler(rt, "ns1", "simple")
    assert health(rt) == {"Ready": ("True", "ReadyForNewScale"), "Reconciling": ("False", "Ready"), "Stalled": ("False", "NotStalled")}
    body = rt.kube.objects[("DaskAutoscaler", "ns1", "simple")]
    assert status(rt)["observedGeneration"] == body["metadata"].get("generation", 0)
    ra.forget(body["metadata"]["uid"])


async def test_missing_cluster_is_reconciling_then_stalled_after_the_grace_period(rt):
    import dask.config

    rt.kube.objects[("DaskAutoscaler", "ns1", "simple")]["spec"]["cluster"] = "gone"
    await ra.reconcile_autoscaler(rt, "ns1", "simple")
    assert health(rt)["Reconciling"] == ("True", "ClusterNotFound") and health(rt)["Stalled"][0] == "False"
    with dask.config.set({"kubernetes.controller.health.missing-cluster-seconds": 0}):
        await ra.reconcile_autoscaler(rt, "ns1", "simple")
    assert health(rt)["Stalled"] == ("True", "ClusterNotFound") and health(rt)["Reconciling"][0] == "False"
