import pytest
from dask_operator import health
from dask_operator.runtime import Runtime
from fake_api import FakeKube, FakeScheduler, fake_cache


def obj(uid, version, name="c", namespace="ns1"):
    return {"metadata": {"uid": uid, "resourceVersion": str(version), "name": name, "namespace": namespace}}


def test_delivered_versions_are_in_sync():
    tracker = health.WatchTracker(stall_seconds=100)
    tracker.observe("DaskCluster", obj("u1", 5), "ADDED")
    assert tracker.compare("DaskCluster", [obj("u1", 5)], at=0) == []
    assert tracker.lagging == {}


def test_an_undelivered_change_fails_only_after_the_stall_time():
    tracker = health.WatchTracker(stall_seconds=100)
    tracker.observe("DaskCluster", obj("u1", 5), "MODIFIED")
    assert tracker.compare("DaskCluster", [obj("u1", 9)], at=0) == []
    assert tracker.compare("DaskCluster", [obj("u1", 12)], at=99) == [], "a busy object keeps its first lag time"
    stalled = tracker.compare("DaskCluster", [obj("u1", 12)], at=100)
    assert len(stalled) == 1 and "DaskCluster ns1/c" in stalled[0]
    tracker.observe("DaskCluster", obj("u1", 12), "MODIFIED")  # the watch caught up
    assert tracker.compare("DaskCluster", [obj("u1", 12)], at=200) == []


def test_watch_ahead_of_the_list_and_never_seen_objects():
    tracker = health.WatchTracker(stall_seconds=10)
    tracker.observe("Pod", obj("p", 20), "MODIFIED")
    assert tracker.compare("Pod", [obj("p", 18)], at=0) == [], "a stale list is not a stall"
    assert tracker.compare("Pod", [obj("new", 3)], at=0) == []
    assert tracker.compare("Pod", [obj("new", 3)], at=10) != [], "an object the watch never delivered"


def test_deleted_and_vanished_objects_are_forgotten():
    tracker = health.WatchTracker(stall_seconds=10)
    tracker.compare("Pod", [obj("gone", 3)], at=0)
    assert tracker.compare("Pod", [], at=50) == [] and tracker.lagging == {}
    tracker.observe("Pod", obj("x", 1), "ADDED")
    tracker.observe("Pod", obj("x", 2), "DELETED")
    assert ("Pod", "x") not in tracker.seen


def test_opaque_versions_compare_by_equality():
    tracker = health.WatchTracker(stall_seconds=10)
    tracker.observe("Pod", obj("o", "abc"), "ADDED")
    assert tracker.compare("Pod", [obj("o", "abc")], at=0) == []
    assert tracker.compare("Pod", [obj("o", "abd")], at=0) == []
    assert tracker.compare("Pod", [obj("o", "abd")], at=10) != []


def test_namespaces_to_list(monkeypatch):
    tracker = health.WatchTracker()
    tracker.namespaces = {"dev-a", "dev-b", "prod"}
    monkeypatch.setattr(health, "_served", (("team", "dev-*"), False))
    assert health.namespaces_to_list(tracker) == ["dev-a", "dev-b", "team"]
    monkeypatch.setattr(health, "_served", ((), True))
    assert health.namespaces_to_list(tracker) == [""]
    monkeypatch.setattr(health, "_served", None)
    assert health.namespaces_to_list(tracker) == ["dev-a", "dev-b", "prod"]


async def test_probe_reports_and_raises_on_stall(pm, monkeypatch):
    kube = FakeKube()
    kube.put({"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskCluster", "metadata": {"name": "c", "uid": "u1", "resourceVersion": "7"}})
    rt = Runtime(pm, kube, FakeScheduler(), fake_cache(kube))
    monkeypatch.setattr(health, "_served", (("ns1",), False))
    tracker = health.WatchTracker(stall_seconds=0.4)
    report = await health.probe(rt, tracker)
    assert report["watches"]["DaskCluster"] == {"objects": 1, "undelivered": 1}
    import asyncio

    await asyncio.sleep(0.45)
    with pytest.raises(health.WatchesStalled, match="DaskCluster ns1/c"):
        await health.probe(rt, tracker)
    tracker.observe("DaskCluster", kube.objects[("DaskCluster", "ns1", "c")], "MODIFIED")
    with pytest.raises(health.WatchesStalled):  # until the next comparison, half a stall period later
        await health.probe(rt, tracker)
    await asyncio.sleep(0.21)
    assert (await health.probe(rt, tracker))["watches"]["DaskCluster"]["undelivered"] == 0
