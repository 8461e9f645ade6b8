"""Fixtures for the chart tests."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

# The helpers sit next to this file; importable whatever pytest's --import-mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from chart_helpers import Render, find_helm, render_manifests  # noqa: E402


@pytest.fixture(scope="session")
def helm() -> str:
    return find_helm()


@pytest.fixture
def render(helm: str, tmp_path: Path) -> Render:
    """render(*helm_args, namespace=..., all_values=False) -> parsed manifests."""

    def _render(*args: str, namespace: str = "dask-operator", all_values: bool = False) -> list[dict[str, Any]]:
        return render_manifests(helm, *args, namespace=namespace, values_dir=tmp_path, all_values=all_values)

    return _render
