import importlib
import sys
import types

import pytest
from dask_operator import hookimpl, names
from dask_operator.errors import PluginError, PluginLoadError
from dask_operator.pluginmanager import BUILTIN_PLUGINS, build_plugin_manager


def plugin_module(name, **functions):
    module = types.ModuleType(name)
    for fn_name, fn in functions.items():
        setattr(module, fn_name, fn)
    return module


def service_override():
    @hookimpl
    def dask_scheduler_build_service(cluster):
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "from-third-party"}, "spec": {}}

    return plugin_module("third_party", dask_scheduler_build_service=dask_scheduler_build_service)


def test_builtins_are_registered_by_name(pm):
    assert set(BUILTIN_PLUGINS) <= {name for name, _ in pm.list_name_plugin()}
    assert all(pm.sources[name] == "builtin" for name in BUILTIN_PLUGINS)


def test_third_party_firstresult_wins_whatever_the_registration_order(cluster):
    # registered after the built-ins
    pm_after = build_plugin_manager(load_entry_points=False, disabled=(), extra=[("tp", service_override())])
    assert pm_after.hook.dask_scheduler_build_service(cluster=cluster)["metadata"]["name"] == "from-third-party"
    # registered before the built-ins
    pm_before = build_plugin_manager(builtins={}, load_entry_points=False, disabled=(), extra=[("tp", service_override())])
    for name, module in BUILTIN_PLUGINS.items():
        pm_before.register(importlib.import_module(module), name=name)
    assert pm_before.hook.dask_scheduler_build_service(cluster=cluster)["metadata"]["name"] == "from-third-party"


def test_builtin_answers_when_third_party_defers(cluster):
    @hookimpl
    def dask_scheduler_build_service(cluster):
        return None

    pm = build_plugin_manager(
        load_entry_points=False, disabled=(), extra=[("tp", plugin_module("tp", dask_scheduler_build_service=dask_scheduler_build_service))]
    )
    assert pm.hook.dask_scheduler_build_service(cluster=cluster)["metadata"]["name"] == "simple-scheduler"


def test_async_implementation_of_pure_hook_is_rejected_naming_plugin_and_hook():
    @hookimpl
    async def dask_child_labels(cluster, component):
        return {}

    with pytest.raises(PluginError) as err:
        build_plugin_manager(load_entry_points=False, disabled=(), extra=[("sloppy", plugin_module("sloppy", dask_child_labels=dask_child_labels))])
    assert "'sloppy'" in str(err.value) and "dask_child_labels" in str(err.value)


def test_async_implementation_of_notification_hook_is_accepted():
    @hookimpl
    async def dask_cluster_phase_changed(cluster, old, new):
        return None

    pm = build_plugin_manager(
        load_entry_points=False, disabled=(), extra=[("notify", plugin_module("notify", dask_cluster_phase_changed=dask_cluster_phase_changed))]
    )
    assert pm.has_plugin("notify")


def test_unknown_hook_is_rejected():
    @hookimpl
    def dask_cluster_colour(cluster):
        return "blue"

    with pytest.raises(PluginError) as err:
        build_plugin_manager(load_entry_points=False, disabled=(), extra=[("typo", plugin_module("typo", dask_cluster_colour=dask_cluster_colour))])
    assert "'typo'" in str(err.value) and "dask_cluster_colour" in str(err.value)


def test_blocking_builtin_by_env(monkeypatch, cluster):
    monkeypatch.setenv("DASK_OPERATOR_DISABLE_PLUGINS", "legacy_cli, other")
    pm = build_plugin_manager(load_entry_points=False)
    assert pm.is_blocked("legacy_cli") and not pm.has_plugin("legacy_cli")
    assert pm.has_plugin("scheduler")
    assert [w for warnings in pm.hook.dask_cluster_warnings(cluster=cluster) for w in warnings] == []


def test_builtin_import_failure_names_plugin():
    with pytest.raises(PluginLoadError) as err:
        build_plugin_manager(builtins={"ghost": "dask_operator.plugins.does_not_exist"}, load_entry_points=False, disabled=())
    message = str(err.value)
    assert "'ghost'" in message and "does_not_exist" in message and "DASK_OPERATOR_DISABLE_PLUGINS=ghost" in message


class TestEntryPoints:
    @pytest.fixture(autouse=True)
    def _installed(self, test_plugin_installed):
        pass

    def test_entry_points_are_loaded_with_their_names(self):
        pm = build_plugin_manager(disabled=())
        info = {i.name: i for i in pm.info()}
        assert info["test_plugin"].source == "entry point (dask-operator-test-plugin)"
        assert info["test_plugin"].hooks == ["dask_child_labels", "dask_cluster_validate", "dask_scheduler_build_service"]
        # a module of kopf handlers only: registered, its handlers listed
        assert info["test_handlers"].hooks == []
        assert info["test_handlers"].kopf_handlers == ["scheduler_service_event"]

    def test_entry_point_hooks_take_part(self, monkeypatch, cluster):
        monkeypatch.setenv("DASK_OPERATOR_TEST_PLUGIN", "1")
        pm = build_plugin_manager(disabled=())
        service = pm.hook.dask_scheduler_build_service(cluster=cluster)
        assert service["metadata"]["annotations"] == {"test-plugin.dask.org/built-by": "dask-operator-test-plugin"}

    def test_blocked_entry_point_is_not_imported_or_registered(self, monkeypatch):
        monkeypatch.setenv("DASK_OPERATOR_TEST_PLUGIN_BROKEN", "1")
        monkeypatch.setenv("DASK_OPERATOR_DISABLE_PLUGINS", "test_broken,test_plugin")
        pm = build_plugin_manager()
        assert not pm.has_plugin("test_plugin") and not pm.has_plugin("test_broken")
        assert pm.has_plugin("test_handlers")

    def test_import_failure_stops_with_the_entry_point_named(self, monkeypatch):
        monkeypatch.setenv("DASK_OPERATOR_TEST_PLUGIN_BROKEN", "1")
        sys.modules.pop("dask_operator_test_plugin.broken", None)
        with pytest.raises(PluginLoadError) as err:
            build_plugin_manager(disabled=())
        message = str(err.value)
        assert "'test_broken'" in message
        assert "dask_operator_test_plugin.broken" in message
        assert "dask-operator-test-plugin" in message
        assert "dask_operator_test_plugin_missing_dependency" in message


def test_names_used_by_builtins_are_the_documented_ones(pm, cluster):
    assert pm.hook.dask_scheduler_build_deployment(cluster=cluster)["metadata"]["name"] == names.scheduler_name("simple")
    assert pm.hook.dask_worker_group_build(cluster=cluster)["metadata"]["name"] == "simple-default"
