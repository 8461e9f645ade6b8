"""dask_operator.testing: the plugin authors' kit (pure parts; the operator runner's cluster use
is exercised by tests/integration/plugins)."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest
from dask_operator import hookimpl, names
from dask_operator.errors import PluginError
from dask_operator.testing import (
    _entry_point_dir,
    make_cluster,
    make_plugin_manager,
    make_worker_group,
    render_cluster,
    run_operator,
    running,
)

HASH = names.ANNOTATION_SPEC_HASH


def module(name: str, **functions) -> types.ModuleType:
    mod = types.ModuleType(name)
    for key, fn in functions.items():
        setattr(mod, key, fn)
    return mod


def test_make_cluster_is_what_kubecluster_creates_as_the_api_returns_it():
    cluster = make_cluster("c", "ns", workers=3, annotations={"a": "b"}, labels={"l": "v"})
    meta = cluster["metadata"]
    assert (meta["name"], meta["namespace"], meta["generation"]) == ("c", "ns", 1)
    assert meta["uid"] == make_cluster("c", "ns")["metadata"]["uid"] != make_cluster("d", "ns")["metadata"]["uid"]
    assert meta["annotations"] == {"a": "b"} and meta["labels"] == {"l": "v"}
    assert cluster["spec"]["worker"]["replicas"] == 3
    assert cluster["spec"]["scheduler"]["spec"]["containers"][0]["args"][:2] == ["dask", "scheduler"]


def test_plugins_are_registered_by_module_name_or_given_name():
    @hookimpl
    def dask_child_labels(cluster, component):
        return {"team": "data"}

    pm = make_plugin_manager(module("my_company.labels", dask_child_labels=dask_child_labels))
    assert pm.has_plugin("labels") and pm.has_plugin("scheduler")
    pm = make_plugin_manager(("named", module("m", dask_child_labels=dask_child_labels)), builtins=False)
    assert [n for n, _ in pm.list_name_plugin()] == ["named"]


def test_plugin_manager_checks_like_the_operator_start_up():
    @hookimpl
    async def dask_child_labels(cluster, component):
        return {}

    with pytest.raises(PluginError, match="dask_child_labels"):
        make_plugin_manager(module("sloppy", dask_child_labels=dask_child_labels))


def test_render_builds_every_child_like_a_pass():
    rendered = render_cluster(make_plugin_manager(), make_cluster("c", "ns", workers=2))
    assert rendered.valid and rendered.warnings == []
    assert [f"{m['kind']}/{m['metadata']['name']}" for m in rendered.children()] == [
        "PodDisruptionBudget/c-scheduler", "Service/c-scheduler", "Deployment/c-scheduler", "DaskWorkerGroup/c-default",
        "Pod/c-default-worker-0000000000", "Pod/c-default-worker-0000000001",
    ]
    assert rendered.scheduler_address == "tcp://c-scheduler.ns.svc.cluster.local:8786"
    cluster_uid = make_cluster("c", "ns")["metadata"]["uid"]
    assert rendered.deployment["metadata"]["ownerReferences"][0]["uid"] == cluster_uid
    group_uid = rendered.worker_groups[0]["metadata"]["uid"]
    assert all(p["metadata"]["ownerReferences"][0]["uid"] == group_uid for p in rendered.worker_pods)
    # the same spec hash for every worker of a group: what the rolling update compares
    assert len({p["metadata"]["annotations"][HASH] for p in rendered.worker_pods}) == 1
    env = {e["name"]: e.get("value") for e in rendered.containers("worker")[0]["env"]}
    assert env["DASK_SCHEDULER_ADDRESS"] == rendered.scheduler_address
    assert env["DASK_WORKER_NAME"] == "c-default-worker-0000000000"
    assert rendered.worker_pods[0]["metadata"]["labels"][names.LABEL_WORKER_GROUP] == "c-default"


def test_render_extra_groups_and_worker_counts():
    cluster = make_cluster("c", "ns", workers=1)
    group = make_worker_group(cluster, "highmem", workers=2)
    rendered = render_cluster(make_plugin_manager(), cluster, worker_groups=[group], workers=0)
    assert [p["metadata"]["name"] for p in rendered.worker_pods] == [
        "c-highmem-worker-0000000000", "c-highmem-worker-0000000001"]


def test_resources_see_running_workers_and_status_fragments_merge():
    seen = []

    @hookimpl
    def dask_cluster_resources(cluster, worker_pods):
        seen.append([(p["metadata"]["name"], p["status"]["podIP"]) for p in worker_pods])
        return [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "extra"}, "data": {"n": str(len(worker_pods))}}]

    @hookimpl
    def dask_cluster_status(cluster, observed):
        return {"mine": {"workers": len(observed["worker_pods"])}}

    pm = make_plugin_manager(module("p", dask_cluster_resources=dask_cluster_resources, dask_cluster_status=dask_cluster_status))
    rendered = render_cluster(pm, make_cluster("c", "ns", workers=2))
    assert seen == [[("c-default-worker-0000000000", "10.244.0.10"), ("c-default-worker-0000000001", "10.244.0.11")]]
    extra = rendered.get("ConfigMap", "extra")
    assert extra["metadata"]["labels"][names.LABEL_COMPONENT] == names.COMPONENT_EXTRA
    assert extra["metadata"]["ownerReferences"][0]["kind"] == "DaskCluster"
    assert rendered.status == {"mine": {"workers": 2}}
    first = rendered.worker_pods[0]
    render_cluster(pm, make_cluster("c", "ns", workers=2), worker_pods=[running(first, "10.0.0.9")])
    assert seen[-1] == [("c-default-worker-0000000000", "10.0.0.9")]


def test_invalid_clusters_build_nothing():
    rendered = render_cluster(make_plugin_manager(), make_cluster("x" * 60, "ns"))
    assert not rendered.valid and "at most" in rendered.errors[0]
    assert rendered.children() == []
    with pytest.raises(AssertionError, match="expected one Deployment"):
        rendered.get("Deployment")


def test_entry_point_dir_is_discovered_like_an_installed_distribution(tmp_path: Path):
    root = _entry_point_dir({"mine": "my_pkg.plugin", "other": "my_pkg.handlers"}, tmp_path)
    eps = {ep.name: ep.value for d in importlib.metadata.distributions(path=[str(root)])
           for ep in d.entry_points if ep.group == "dask_operator_plugin"}
    assert eps == {"mine": "my_pkg.plugin", "other": "my_pkg.handlers"}


def test_operator_with_a_plugin_that_cannot_import_exits_naming_it(tmp_path: Path):
    # Plugins load before any API call, so no cluster is needed to see the failure.
    operator = run_operator("nowhere", plugins={"ghost": "dask_operator_ghost_plugin"}, log_dir=tmp_path,
                            kubeconfig=str(tmp_path / "missing-kubeconfig"), wait=False)
    assert operator.wait_exit(60) == 1
    assert "entry point 'ghost'" in operator.log() and "dask_operator_ghost_plugin" in operator.log()


def test_the_fixtures_reach_any_pytest_run(tmp_path: Path):
    """The kit is a pytest11 entry point: a plugin project's tests get its fixtures by themselves."""
    (tmp_path / "test_mine.py").write_text(textwrap.dedent('''
        def test_kit(dask_plugin_manager, dask_cluster, dask_render, dask_operator_runner):
            rendered = dask_render(dask_plugin_manager(), dask_cluster("k", "ns"))
            assert rendered.service["metadata"]["name"] == "k-scheduler"
    '''))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "1 passed" in proc.stdout, proc.stdout + proc.stderr
