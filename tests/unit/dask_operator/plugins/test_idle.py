from dask_operator.plugins import idle


def test_idle_timeout_is_spec_idle_timeout():
    assert idle.dask_cluster_idle_timeout({"spec": {"idleTimeout": 30}}) == 30
    assert idle.dask_cluster_idle_timeout({"spec": {}}) == 0
