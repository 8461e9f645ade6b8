"""ci/gen_plugin_docs.py: docs/plugins.md cannot drift from the hookspecs and the examples."""

from __future__ import annotations

import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from dask_operator import hookspecs

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "ci" / "gen_plugin_docs.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_plugin_docs", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_plugin_docs"] = module
    spec.loader.exec_module(module)
    return module


gen = load()


def test_docs_are_up_to_date():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_hookspec_is_in_the_table_with_its_kind():
    listed = {h.name: h for h in gen.hooks()}
    specs = {n for n, fn in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("dask_")}
    assert set(listed) == specs
    assert listed["dask_scheduler_address"].kind == "pure, firstresult"
    assert listed["dask_startup"].kind == "notification (may be async)"
    assert listed["dask_cluster_resources"].signature == "dask_cluster_resources(cluster, worker_pods)"
    assert listed["dask_cluster_prerequisites"].section == "DaskCluster: defaults, validation, building"
    assert all(h.when and h.returns for h in listed.values())
    text = gen.hooks_block()
    for name in specs:
        assert f"](hooks.md#{name})" in text


def test_examples_are_read_from_their_sources():
    found = {(e.directory, ep.name): ep for e in gen.examples() for ep in e.entry_points}
    assert set(found) == {("cert-manager", "cert_manager"), ("istio", "istio"), ("minimal", "minimal"),
                          ("minimal", "minimal_handlers")}
    assert found[("minimal", "minimal")].hooks == ["dask_child_labels"]
    assert found[("minimal", "minimal_handlers")].kopf_handlers == ["handle_scheduler_service_create (@kopf.on.create)"]
    assert "dask_cluster_prerequisites" in found[("cert-manager", "cert_manager")].hooks


def test_check_reports_drift_and_a_rewrite_fixes_it(tmp_path: Path):
    doc = tmp_path / "plugins.md"
    doc.write_text(gen.DOC.read_text().replace("| pure, firstresult |", "| pure |", 1))
    assert gen.main(["--check", "--doc", str(doc)]) == 1
    assert gen.main(["--doc", str(doc)]) == 0
    assert doc.read_text() == gen.DOC.read_text()
    assert gen.main(["--check", "--doc", str(doc)]) == 0


def test_hand_written_prose_is_kept_and_missing_blocks_are_an_error(tmp_path: Path):
    doc = tmp_path / "plugins.md"
    original = gen.DOC.read_text()
    doc.write_text(original.replace("# Writing operator plugins", "# Writing operator plugins (edited)"))
    gen.main(["--doc", str(doc)])
    assert doc.read_text().startswith("# Writing operator plugins (edited)")
    start = original.index("<!-- BEGIN GENERATED: minimal")
    end = original.index("<!-- END GENERATED: minimal -->") + len("<!-- END GENERATED: minimal -->")
    doc.write_text(original[:start] + original[end:])
    with pytest.raises(SystemExit, match="minimal"):
        gen.main(["--check", "--doc", str(doc)])


def test_generation_is_deterministic():
    assert gen.render(gen.DOC.read_text()) == gen.render(gen.render(gen.DOC.read_text()))


def test_every_api_name_is_in_the_api_table_with_its_comment():
    from dask_operator import api

    listed = {entry.name: entry for entry in gen.api_names()}
    assert set(listed) == set(api.__all__)
    assert listed["GROUP"].usage == 'GROUP = "kubernetes.dask.org"'
    assert listed["scheduler_address"].usage == "scheduler_address(cluster, namespace, cluster_domain, port=8786)"
    assert listed["RetryLater"].usage == "RetryLater(message, delay=10)"
    assert listed["inject_env"].section == "PodSpecs"
    assert all(entry.doc for entry in listed.values())
    text = gen.api_block()
    assert "| `scheduler_name(cluster)` | Name of a cluster's scheduler Deployment and Service" in text
