"""Each example plugin is its own project with its own tests: run them as its author would.

``pytest`` runs in the example's directory (its pyproject.toml configures it) in a subprocess,
with the example installed in this venv and the operator's testing kit loaded as a pytest
plugin. Tests marked ``cluster`` run against the local cluster in a second pass.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from plugin_helpers import example_dirs

EXAMPLES = example_dirs()


def run_pytest(example: Path, marker: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", marker, "tests"],
        cwd=example, capture_output=True, text=True, env=env, timeout=600,
    )


def summary(proc: subprocess.CompletedProcess[str]) -> str:
    return (proc.stdout + proc.stderr)[-6000:]


def test_every_example_is_a_project_with_tests_and_a_readme():
    assert sorted(p.name for p in EXAMPLES) == ["cert-manager", "istio", "minimal"]
    for example in EXAMPLES:
        assert (example / "README.md").is_file(), example
        assert list((example / "tests").glob("test_*.py")), example
        assert "[project.entry-points.dask_operator_plugin]" in (example / "pyproject.toml").read_text()


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_unit_tests_pass(example: Path, examples_installed: dict[str, str]) -> None:
    proc = run_pytest(example, "not cluster")
    assert proc.returncode == 0, summary(proc)
    assert " passed" in proc.stdout and " failed" not in proc.stdout, summary(proc)


@pytest.mark.cluster
def test_example_cluster_tests_pass(k8s: Any, dask_crds: None, examples_installed: dict[str, str]) -> None:
    """The examples' own tests against the local cluster (the kit's runner and namespace)."""
    env = dict(k8s.env)
    env["KUBECTL"] = str(Path(k8s.bin_dir) / "kubectl")
    ran = 0
    for example in EXAMPLES:
        proc = run_pytest(example, "cluster", env)
        if proc.returncode == 5:  # no test marked cluster in this example
            continue
        assert proc.returncode == 0, summary(proc)
        ran += 1
    assert ran >= 1, "no example has a cluster test"
