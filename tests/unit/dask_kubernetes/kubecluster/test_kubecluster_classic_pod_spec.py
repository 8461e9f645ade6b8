"""The "Migrating from classic" recipe: a classic pod spec becomes a DaskCluster worker spec."""

from dask_kubernetes.classic import make_pod_spec
from dask_kubernetes.operator import make_cluster_spec


def test_the_documented_merge_works():
    pod_spec = make_pod_spec(image="ghcr.io/dask/dask:latest", memory_limit="4G", env={"A": "1"})
    cluster_spec = make_cluster_spec(name="merge-example")
    cluster_spec["spec"]["worker"]["spec"] = pod_spec["spec"]
    container = cluster_spec["spec"]["worker"]["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/dask/dask:latest"
    assert container["args"][:2] == ["dask", "worker"]
    assert "$(DASK_WORKER_NAME)" in container["args"]  # the operator names workers after pods
    assert container["args"][-2:] == ["--memory-limit", "4G"]
    assert container["resources"] == {"limits": {"memory": "4G"}}
    assert container["env"] == [{"name": "A", "value": "1"}]


def test_classic_keywords_map_to_resources_and_args():
    pod = make_pod_spec(
        image="img",
        labels={"foo": "bar"},
        threads_per_worker=2,
        cpu_limit=2,
        cpu_request=1,
        memory_request="1G",
        gpu_limit=1,
        resources="GPU=1",
        annotations={"a": "b"},
    )
    container = pod["spec"]["containers"][0]
    assert pod["kind"] == "Pod"
    assert pod["metadata"] == {"labels": {"foo": "bar"}, "annotations": {"a": "b"}}
    assert container["resources"] == {
        "limits": {"cpu": 2, "nvidia.com/gpu": 1},
        "requests": {"cpu": 1, "memory": "1G"},
    }
    assert container["args"][container["args"].index("--nthreads") + 1] == "2"
    assert container["args"][-2:] == ["--resources", "GPU=1"]
    assert pod["spec"]["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert pod["spec"]["restartPolicy"] == "Never"


def test_extra_configs_override_last():
    pod = make_pod_spec(
        image="img",
        extra_container_config={"imagePullPolicy": "Always", "name": "custom"},
        extra_pod_config={"restartPolicy": "OnFailure", "nodeSelector": {"disk": "ssd"}},
    )
    assert pod["spec"]["containers"][0]["name"] == "custom"
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    assert pod["spec"]["restartPolicy"] == "OnFailure"
    assert pod["spec"]["nodeSelector"] == {"disk": "ssd"}
