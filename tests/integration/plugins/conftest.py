"""Fixtures for the plugin examples' tests: installed examples, Dask/Istio/cert-manager CRDs."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from plugin_helpers import EXAMPLES, Namespace, example_dirs

REPO = Path(__file__).resolve().parents[3]
# example directory -> its distribution name
DISTRIBUTIONS = {
    "minimal": "dask-operator-minimal",
    "istio": "dask-operator-istio",
    "cert-manager": "dask-operator-cert-manager",
}


@pytest.fixture(scope="session")
def examples_installed() -> dict[str, str]:
    """Every plugins-examples/*/ project installed (editable) in this venv, as ci/venv.sh does."""
    missing = []
    for path in example_dirs():
        try:
            importlib.metadata.distribution(DISTRIBUTIONS.get(path.name, path.name))
        except importlib.metadata.PackageNotFoundError:
            missing.append(str(path))
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *sum((["-e", m] for m in missing), [])], check=True)
        importlib.invalidate_caches()
    return {p.name: DISTRIBUTIONS.get(p.name, p.name) for p in example_dirs()}


@pytest.fixture(scope="session")
def dask_crds(k8s: Any) -> None:
    """The operator's CRDs from chart/crds/ (server-side apply: idempotent, shared with other suites)."""
    k8s.apply_crds(REPO / "chart" / "crds")


def _fetched(project: str) -> list[str]:
    proc = subprocess.run([sys.executable, str(EXAMPLES / "fetch_crds.py"), project], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


@pytest.fixture(scope="session")
def istio_crds(k8s: Any) -> list[str]:
    """Istio's real CRDs (istio.io/api), applied; returns the files."""
    files = _fetched("istio")
    k8s.apply_crds(*files)
    return files


@pytest.fixture(scope="session")
def cert_manager_crds(k8s: Any) -> list[str]:
    """cert-manager's real CRDs (github.com/cert-manager/cert-manager deploy/crds), applied."""
    files = _fetched("cert-manager")
    k8s.apply_crds(*files)
    return files


@pytest.fixture
def ns(k8s: Any, namespace: str) -> Namespace:
    """kubectl helpers for the test's namespace."""
    return Namespace(k8s, namespace)
