import os
import subprocess
import sys
from pathlib import Path

import yaml

DASK_OPERATOR = str(Path(sys.executable).with_name("dask-operator"))


def run(*args, **env):
    return subprocess.run([DASK_OPERATOR, *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=60)


def test_plugins_lists_builtins_and_entry_points_with_hooks(test_plugin_installed):
    out = run("plugins").stdout
    assert "scheduler  [builtin]" in out and "hook  dask_scheduler_build_deployment" in out
    assert "test_plugin  [entry point (dask-operator-test-plugin)]" in out
    assert "kopf  scheduler_service_event" in out


def test_plugins_shows_blocked(test_plugin_installed):
    out = run("plugins", DASK_OPERATOR_DISABLE_PLUGINS="legacy_cli").stdout
    assert "legacy_cli  [blocked]" in out


def test_import_failure_stops_start_up_naming_the_entry_point(test_plugin_installed):
    for command in (["plugins"], ["run", "--standalone", "-n", "nowhere"]):
        proc = run(*command, DASK_OPERATOR_TEST_PLUGIN_BROKEN="1")
        assert proc.returncode == 1
        assert "entry point 'test_broken'" in proc.stderr
        assert "Traceback" not in proc.stderr


def test_rbac_prints_a_cluster_role_with_plugin_rules():
    role = yaml.safe_load(run("rbac").stdout)
    assert role["kind"] == "ClusterRole"
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert {"daskclusters", "daskclusters/status", "pods", "services", "deployments", "events"} <= resources


def test_routine_successes_and_probe_requests_stay_out_of_the_default_log():
    import logging

    from dask_operator.cli import quiet_chatty_loggers

    quiet_chatty_loggers()
    for name in ("kopf.objects", "kopf.activities", "aiohttp.access"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
    assert logging.getLogger("kopf.objects").isEnabledFor(logging.WARNING)
