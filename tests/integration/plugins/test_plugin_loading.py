"""How the operator loads the example plugins: listing, disabling by name, import failures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from plugin_helpers import cluster_manifest

DASK_OPERATOR = str(Path(sys.executable).with_name("dask-operator"))
EXAMPLE_HOOKS = {
    "istio": ["dask_cluster_resources", "dask_cluster_validate", "dask_cluster_warnings", "dask_configure",
              "dask_modify_manifest", "dask_rbac_rules"],
    "cert_manager": ["dask_cluster_prerequisites", "dask_cluster_resources", "dask_cluster_validate",
                     "dask_modify_manifest", "dask_rbac_rules", "dask_scheduler_address"],
    "minimal": ["dask_child_labels"],
}


def operator_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DASK_OPERATOR, *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=60)


def listing(output: str) -> dict[str, list[str]]:
    """``dask-operator plugins`` output as {plugin: [hooks and kopf handlers]}."""
    result: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("    "):
            assert current is not None
            result[current].append(" ".join(line.split()))
        elif line.strip():
            current = line.split()[0]
            result[current] = [" ".join(line.split()[1:])]
    return result


def test_plugins_lists_the_examples_with_their_hooks(examples_installed):
    proc = operator_cli("plugins")
    assert proc.returncode == 0, proc.stderr
    plugins = listing(proc.stdout)
    for name, hooks in EXAMPLE_HOOKS.items():
        assert plugins[name][0].startswith("[entry point (dask-operator-"), plugins[name]
        assert plugins[name][1:] == [f"hook {h}" for h in hooks], plugins[name]
    assert plugins["minimal_handlers"][1:] == ["kopf handle_scheduler_service_create"]


def test_rbac_includes_what_the_examples_need(examples_installed):
    proc = operator_cli("rbac", "--rules-only")
    assert proc.returncode == 0, proc.stderr
    assert "virtualservices" in proc.stdout and "peerauthentications" in proc.stdout
    assert "certificates" in proc.stdout and "endpointslices" in proc.stdout
    blocked = operator_cli("rbac", "--rules-only", DASK_OPERATOR_DISABLE_PLUGINS="istio,cert_manager")
    assert "virtualservices" not in blocked.stdout and "certificates" not in blocked.stdout


@pytest.mark.cluster
def test_a_disabled_plugin_creates_nothing(examples_installed, dask_crds, istio_crds, ns, dask_operator_runner):
    from dask_operator_istio import plugin

    operator = dask_operator_runner(ns.name, disable=["istio"])
    assert "plugin istio" not in operator.log()
    ns.apply(cluster_manifest("plain", ns.name, workers=1, annotations={plugin.ENABLED: "true"}))
    ns.kubectl("wait", "--for=condition=Ready", "daskcluster/plain", "--timeout=180s")
    cluster = ns.get("daskcluster", "plain")
    assert [r["kind"] for r in cluster["status"]["resources"]] == ["PodDisruptionBudget"]  # the built-in one only
    kinds = "peerauthentications.security.istio.io,destinationrules.networking.istio.io,endpointslices"
    assert ns.items(kinds, "dask.org/component=istio") == []
    assert ns.names("services") == ["plain-scheduler"]
    for pod in ns.items("pods"):
        assert "sidecar.istio.io/inject" not in pod["metadata"].get("labels", {})
        assert "--contact-address" not in pod["spec"]["containers"][0].get("args", [])


@pytest.mark.cluster
def test_a_plugin_that_fails_to_import_stops_the_operator_naming_it(dask_crds, ns, dask_operator_runner, tmp_path):
    broken = tmp_path / "src" / "dask_operator_broken_example.py"
    broken.parent.mkdir()
    broken.write_text("import a_dependency_nobody_installed  # noqa: F401\n")
    operator = dask_operator_runner(ns.name, plugins={"broken_example": "dask_operator_broken_example"},
                                    python_path=[broken.parent], wait=False)
    assert operator.wait_exit(60) == 1
    log = operator.log()
    assert "entry point 'broken_example'" in log and "dask_operator_broken_example" in log
    assert "No module named 'a_dependency_nobody_installed'" in log
    assert "Traceback" not in log
