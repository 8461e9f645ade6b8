import dask.config
import pytest
from dask_operator.plugins import legacy_cli


def test_args_without_command_are_rewritten(cluster):
    dep = {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "s", "args": ["dask-scheduler", "--port", "8786"]}]}}}}
    legacy_cli.dask_modify_manifest(cluster, "scheduler", dep)
    assert dep["spec"]["template"]["spec"]["containers"][0]["args"] == ["dask", "scheduler", "--port", "8786"]


def test_command_is_rewritten_and_paths_understood(cluster):
    pod = {"kind": "Pod", "spec": {"containers": [{"name": "w", "command": ["/opt/conda/bin/dask-worker"], "args": ["--nthreads", "2"]}]}}
    legacy_cli.dask_modify_manifest(cluster, "worker", pod)
    container = pod["spec"]["containers"][0]
    assert container["command"] == ["dask", "worker"] and container["args"] == ["--nthreads", "2"]


def test_current_cli_and_other_programs_are_left_alone(cluster):
    pod = {"kind": "Pod", "spec": {"containers": [{"name": "w", "args": ["dask", "worker"]}, {"name": "side", "command": ["envoy"], "args": ["dask-worker"]}]}}
    before = repr(pod)
    legacy_cli.dask_modify_manifest(cluster, "worker", pod)
    assert repr(pod) == before


def test_warnings_name_the_container_and_the_replacement(cluster, highmem_group):
    warnings = legacy_cli.dask_cluster_warnings(cluster)
    assert len(warnings) == 2
    assert "'scheduler'" in warnings[0] and "'dask scheduler'" in warnings[0]
    assert "'worker'" in warnings[1] and "'dask worker'" in warnings[1]
    assert len(legacy_cli.dask_worker_group_warnings(cluster, highmem_group)) == 1


@pytest.mark.parametrize("value", [False, "false"])
def test_setting_turns_the_shim_off(cluster, value):
    pod = {"kind": "Pod", "spec": {"containers": [{"name": "w", "args": ["dask-worker"]}]}}
    with dask.config.set({"kubernetes.controller.legacy-cli-shim": value}):
        legacy_cli.dask_modify_manifest(cluster, "worker", pod)
        assert legacy_cli.dask_cluster_warnings(cluster) == []
    assert pod["spec"]["containers"][0]["args"] == ["dask-worker"]
