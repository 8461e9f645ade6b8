import time

import pytest
from dask_operator import reconcile_idle as ri
from dask_operator.runtime import Runtime
from fake_api import UNREACHABLE, FakeKube, FakeScheduler, fake_cache


def test_idle_start_never_before_the_operator_saw_it():
    assert ri.idle_start(None, scheduler_since=100.0, at=500.0) == 500.0
    assert ri.idle_start(400.0, scheduler_since=100.0, at=500.0) == 400.0
    assert ri.idle_start(400.0, scheduler_since=450.0, at=500.0) == 450.0, "idle again since 450"
    assert ri.idle_start(400.0, scheduler_since=900.0, at=500.0) == 500.0, "a scheduler clock ahead is clamped"


@pytest.fixture
def rt(pm):
    kube = FakeKube()
    kube.put({"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskCluster", "metadata": {"name": "c"},
              "spec": {"idleTimeout": 10}, "status": {"phase": "Running"}})
    kube.put({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "c-scheduler"},
              "spec": {"clusterIP": "10.0.0.1", "ports": [{"name": "http-dashboard", "port": 8787}]}})
    return Runtime(pm, kube, FakeScheduler(), fake_cache(kube))


def cluster(rt):
    return rt.kube.objects.get(("DaskCluster", "ns1", "c"))


def condition(rt):
    return {c["type"]: c for c in cluster(rt)["status"]["conditions"]}["Idle"]


async def test_idle_then_deleted_after_the_timeout(rt):
    rt.scheduler.idle_since = time.time() - 1000
    await ri.check_idle(rt, "ns1", "c")
    assert condition(rt)["status"] == "True" and cluster(rt)["status"]["idleSince"].endswith("Z")
    assert "idle since" in condition(rt)["message"]
    cluster(rt)["status"]["idleSince"] = "2020-01-01T00:00:00Z"
    await ri.check_idle(rt, "ns1", "c")
    assert cluster(rt) is None and ("c", "Normal", "IdleTimeout") in rt.kube.events


@pytest.mark.parametrize(("answer", "reason"), [(None, "Busy"), (UNREACHABLE, "SchedulerUnreachable")])
async def test_busy_or_unreachable_resets_idle_time(rt, answer, reason):
    cluster(rt)["status"]["idleSince"] = "2020-01-01T00:00:00Z"
    rt.scheduler.idle_since = answer
    await ri.check_idle(rt, "ns1", "c")
    assert cluster(rt) is not None and "idleSince" not in cluster(rt)["status"]
    assert condition(rt)["status"] == "False" and condition(rt)["reason"] == reason


async def test_not_ready_and_no_timeout(rt):
    cluster(rt)["status"]["phase"] = "Pending"
    rt.scheduler.idle_since = 1.0
    await ri.check_idle(rt, "ns1", "c")
    assert condition(rt)["reason"] == "SchedulerNotReady"
    cluster(rt)["spec"]["idleTimeout"] = 0
    assert not ri.has_idle_timeout(rt, cluster(rt)) and ri.shows_idle(cluster(rt))
    await ri.check_idle(rt, "ns1", "c")
    assert condition(rt)["reason"] == "NoIdleTimeout"
