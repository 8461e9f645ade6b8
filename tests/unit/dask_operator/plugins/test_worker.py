from dask_operator.plugins import worker


def env_of(container):
    return [(e["name"], e.get("value")) for e in container.get("env", [])]


def test_default_group_from_cluster(cluster):
    cluster["spec"]["worker"]["metadata"] = {"labels": {"foo": "baz"}}
    group = worker.dask_worker_group_build(cluster)
    assert group["kind"] == "DaskWorkerGroup" and group["metadata"]["name"] == "simple-default"
    assert group["spec"]["cluster"] == "simple" and group["spec"]["worker"]["replicas"] == 2
    assert group["spec"]["worker"]["spec"] == cluster["spec"]["worker"]["spec"]
    assert group["metadata"]["labels"] == {"foo": "baz"}


def test_worker_pod_env_injection_appends_and_user_values_win(cluster, highmem_group):
    container = highmem_group["spec"]["worker"]["spec"]["containers"][0]
    container["env"] = [{"name": "FOO", "value": "1"}, {"name": "DASK_SCHEDULER_ADDRESS", "value": "tcp://mine:8786"}]
    pod = worker.dask_worker_build_pod(cluster, highmem_group, "simple-highmem-worker-0123456789", "tcp://s:8786")
    assert pod["metadata"]["name"] == "simple-highmem-worker-0123456789"
    assert env_of(pod["spec"]["containers"][0]) == [
        ("FOO", "1"),
        ("DASK_SCHEDULER_ADDRESS", "tcp://mine:8786"),
        ("DASK_WORKER_NAME", "simple-highmem-worker-0123456789"),
    ]
    assert highmem_group["spec"]["worker"]["spec"]["containers"][0]["env"] == [
        {"name": "FOO", "value": "1"},
        {"name": "DASK_SCHEDULER_ADDRESS", "value": "tcp://mine:8786"},
    ], "the group's spec is not modified"


def test_worker_pod_env_without_user_env(cluster, highmem_group):
    pod = worker.dask_worker_build_pod(cluster, highmem_group, "n", "tcp://s:8786")
    assert env_of(pod["spec"]["containers"][0]) == [("DASK_WORKER_NAME", "n"), ("DASK_SCHEDULER_ADDRESS", "tcp://s:8786")]


def test_workers_to_retire_prefers_unconnected_then_outdated_then_newest():
    candidates = [
        {"name": "old", "connected": True, "outdated": False, "created": "2026-01-01T00:00:00Z"},
        {"name": "new", "connected": True, "outdated": False, "created": "2026-01-02T00:00:00Z"},
        {"name": "stale", "connected": True, "outdated": True, "created": "2026-01-01T00:00:00Z"},
        {"name": "ghost", "connected": False, "outdated": False, "created": "2026-01-01T00:00:00Z"},
    ]
    assert worker.dask_workers_to_retire({}, {}, candidates, 3) == ["ghost", "stale", "new"]
    assert worker.dask_workers_to_retire({}, {}, candidates, 0) == []
