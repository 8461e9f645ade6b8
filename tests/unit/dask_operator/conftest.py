"""Fixtures for the controller's unit tests: built-in plugin managers and sample objects."""

from __future__ import annotations

import copy
import importlib.metadata
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomllib
import yaml
from dask_operator.pluginmanager import PluginManager, build_plugin_manager

REPO = Path(__file__).resolve().parents[3]
TEST_PLUGIN = Path(__file__).parent / "fixtures" / "test_plugin"


@pytest.fixture(scope="session")
def test_plugin_installed() -> str:
    """The fixture plugin project, pip-installed into this venv (its entry points are real)."""
    return ensure_test_plugin()


def ensure_test_plugin() -> str:
    """pip-install tests/unit/dask_operator/fixtures/test_plugin unless this version is installed."""
    wanted = tomllib.loads((TEST_PLUGIN / "pyproject.toml").read_text())["project"]["version"]
    try:
        installed = importlib.metadata.version("dask-operator-test-plugin")
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if installed != wanted:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", str(TEST_PLUGIN)], check=True
        )
        importlib.invalidate_caches()
    return "dask-operator-test-plugin"


@pytest.fixture
def pm() -> PluginManager:
    """Only the built-in plugins (no entry points), as the operator registers them."""
    return build_plugin_manager(load_entry_points=False, disabled=())


def _with_identity(obj: dict[str, Any], namespace: str = "ns1", uid: str = "uid-1") -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"].update({"namespace": namespace, "uid": uid, "generation": 1})
    return obj


@pytest.fixture
def cluster() -> dict[str, Any]:
    """The user docs' cluster.yaml (DaskCluster "simple") as the API would return it."""
    return _with_identity(yaml.safe_load((REPO / "examples" / "cluster.yaml").read_text()))


@pytest.fixture
def highmem_group() -> dict[str, Any]:
    return _with_identity(yaml.safe_load((REPO / "examples" / "highmemworkers.yaml").read_text()), uid="uid-g")
