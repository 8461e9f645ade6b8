"""The watch-fed cache: index entries, and the overlay of the operator's own writes."""

from __future__ import annotations

from typing import Any

import pytest
from dask_operator import cache


def pod(name: str, rv: int, uid: str | None = None, cluster: str = "c", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "ns", "uid": uid or f"uid-{name}", "resourceVersion": str(rv),
                     "labels": {"dask.org/cluster-name": cluster}, "managedFields": [{"manager": "x"}], **meta},
    }


class Watched:
    """What kopf's indices hold: the latest delivered version of every object."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}

    def deliver(self, obj: dict[str, Any]) -> None:
        self.objects[obj["metadata"]["uid"]] = obj

    def delete(self, uid: str) -> None:
        self.objects.pop(uid)

    def index(self, cached: cache.CachedKind) -> dict[Any, list[dict[str, Any]]]:
        result: dict[Any, list[dict[str, Any]]] = {}
        for obj in self.objects.values():
            if obj["kind"] == cached.kind:
                for key, value in cache.index_entries(cached, obj).items():
                    result.setdefault(key, []).append(value)
        return result


class LiveIndices(dict[str, Any]):
    def __init__(self, watched: Watched) -> None:
        super().__init__({k.index: None for k in cache.CACHED_KINDS})
        self.watched = watched

    def __getitem__(self, name: str) -> Any:
        cached = next(k for k in cache.CACHED_KINDS if k.index == name)
        watched = self.watched

        class View(dict[Any, Any]):
            def __contains__(self, key: object) -> bool:
                return key in watched.index(cached)

            def __getitem__(self, key: Any) -> Any:
                return watched.index(cached)[key]

            def __iter__(self) -> Any:
                return iter(watched.index(cached))

        return View()


@pytest.fixture
def setup() -> tuple[Watched, cache.Cache, list[float]]:
    watched = Watched()
    now = [0.0]
    return watched, cache.Cache(LiveIndices(watched), clock=lambda: now[0]), now


def test_index_entries_trim_managed_fields_and_key_by_name_and_cluster() -> None:
    kind = cache.cached_kind("v1", "Pod")
    assert kind is not None
    entries = cache.index_entries(kind, pod("w1", 5))
    assert set(entries) == {("name", "ns", "w1"), ("cluster", "ns", "c")}
    assert "managedFields" not in entries[("name", "ns", "w1")]["metadata"]
    service = cache.cached_kind("v1", "Service")
    assert service is not None
    assert set(cache.index_entries(service, {"metadata": {"name": "s", "namespace": "ns"}})) == {("name", "ns", "s")}


def test_reads_come_from_the_watch_as_private_copies(setup: Any) -> None:
    watched, c, _ = setup
    watched.deliver(pod("w1", 5))
    got = c.get("v1", "Pod", "ns", "w1")
    assert got is not None and got["metadata"]["resourceVersion"] == "5"
    got["metadata"]["name"] = "changed"
    assert c.get("v1", "Pod", "ns", "w1")["metadata"]["name"] == "w1"
    assert [p["metadata"]["name"] for p in c.of_cluster("v1", "Pod", "ns", "c")] == ["w1"]
    assert c.of_cluster("v1", "Pod", "ns", "other") == []
    assert c.keys("Pod") == [("ns", "w1")]


def test_a_created_object_is_seen_before_the_watch_delivers_it(setup: Any) -> None:
    watched, c, _ = setup
    c.wrote(pod("w2", 9))
    assert c.get("v1", "Pod", "ns", "w2") is not None
    assert len(c.of_cluster("v1", "Pod", "ns", "c")) == 1
    watched.deliver(pod("w2", 9))
    assert len(c.of_cluster("v1", "Pod", "ns", "c")) == 1
    assert c.overlay_size() == 0, "the watch caught up: the overlay entry is gone"


def test_a_write_wins_over_an_older_watched_version_only(setup: Any) -> None:
    watched, c, _ = setup
    watched.deliver(pod("w1", 5))
    c.wrote(pod("w1", 7, phase="new"))
    assert c.get("v1", "Pod", "ns", "w1")["metadata"]["resourceVersion"] == "7"
    watched.deliver(pod("w1", 8))
    assert c.get("v1", "Pod", "ns", "w1")["metadata"]["resourceVersion"] == "8"


def test_a_deleted_object_disappears_until_the_watch_confirms(setup: Any) -> None:
    watched, c, _ = setup
    watched.deliver(pod("w1", 5))
    c.deleted(pod("w1", 5))
    assert c.get("v1", "Pod", "ns", "w1") is None
    watched.deliver(pod("w1", 6, deletionTimestamp="now"))  # still hidden: it is going away
    assert c.get("v1", "Pod", "ns", "w1") is None
    watched.delete("uid-w1")
    c.watched_deletion("Pod", "uid-w1")
    assert c.overlay_size() == 0


def test_a_namesake_created_after_a_deletion_is_visible(setup: Any) -> None:
    watched, c, _ = setup
    watched.deliver(pod("w1", 5, uid="old"))
    c.deleted(pod("w1", 5, uid="old"))
    c.wrote(pod("w1", 11, uid="new"))
    got = c.get("v1", "Pod", "ns", "w1")
    assert got is not None and got["metadata"]["uid"] == "new"


def test_overlay_entries_expire(setup: Any) -> None:
    _, c, now = setup
    c.wrote(pod("w3", 9))
    now[0] += cache.OVERLAY_TTL + 1
    assert c.get("v1", "Pod", "ns", "w3") is None
    assert c.overlay_size() == 0


def test_kinds_not_watched_are_ignored_and_missing_indices_fail_loudly(setup: Any) -> None:
    _, c, _ = setup
    c.wrote({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "ns", "uid": "u"}})
    assert c.overlay_size() == 0
    assert not cache.Cache.serves("v1", "Secret") and cache.Cache.serves("v1", "Pod")
    with pytest.raises(RuntimeError, match="dask_pods"):
        cache.Cache({"dask_clusters": {}})


def test_reads_per_cluster_share_the_cache_objects_instead_of_copying_them() -> None:
    kind = cache.cached_kind("v1", "Pod")
    assert kind is not None
    indices: dict[str, Any] = {k.index: {} for k in cache.CACHED_KINDS}
    indices[kind.index] = {key: [obj] for key, obj in cache.index_entries(kind, pod("w1", 5)).items()}
    c = cache.Cache(indices)
    first, second = c.of_cluster("v1", "Pod", "ns", "c"), c.of_cluster("v1", "Pod", "ns", "c")
    assert first[0] is second[0], "thousands of pods per pass: copies would cost more than the pass"


def test_a_rewrite_under_another_cluster_moves_the_overlay_entry(setup: Any) -> None:
    _, c, _ = setup
    c.wrote(pod("w1", 5, cluster="c"))
    c.wrote(pod("w1", 6, cluster="d"))
    assert c.of_cluster("v1", "Pod", "ns", "c") == []
    assert [p["metadata"]["resourceVersion"] for p in c.of_cluster("v1", "Pod", "ns", "d")] == ["6"]
    assert c.overlay_size() == 1


def test_expired_entries_nobody_reads_are_swept_by_a_later_write(setup: Any) -> None:
    _, c, now = setup
    c.wrote(pod("w3", 9, cluster="gone"))
    now[0] += cache.OVERLAY_TTL + 1
    c.wrote(pod("w4", 10))
    assert c.overlay_size() == 1


def test_watched_tells_whether_the_watch_delivered_the_operators_writes(setup: Any) -> None:
    watched, c, _ = setup
    created = pod("w1", 7)
    c.wrote(created)
    assert not c.watched([created]), "written, not delivered yet"
    watched.deliver(pod("w1", 6))
    assert not c.watched([created]), "an older version is not the write"
    watched.deliver(pod("w1", 8))
    assert c.watched([created])
    assert c.watched([]) and c.watched([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}])


def test_a_cluster_that_lost_children_is_remembered_for_the_overlay_ttl(setup: Any) -> None:
    _, c, now = setup
    assert not c.lost_children("ns", "c")
    c.child_deleted("ns", "c")
    assert c.lost_children("ns", "c") and not c.lost_children("ns", "other")
    now[0] += cache.OVERLAY_TTL + 1
    assert not c.lost_children("ns", "c")
