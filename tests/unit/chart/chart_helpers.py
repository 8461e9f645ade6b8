"""Shared by the chart tests (unit and e2e): find helm, render the chart, pick manifests."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "chart"
ALL_VALUES = Path(__file__).with_name("values-all.yaml")
BIN_CACHE = Path(
    os.environ.get("DASK_TESTENV_CACHE", Path.home() / ".cache" / "dask-kubernetes-operator")
) / "bin"

Render = Callable[..., list[dict[str, Any]]]


def find_helm() -> str:
    """helm from PATH, else from the binary cache ci/build-tools.sh fills."""
    helm = shutil.which("helm") or (str(BIN_CACHE / "helm") if (BIN_CACHE / "helm").exists() else None)
    if helm is None:
        pytest.fail("helm not found on PATH or in the binary cache: run ci/build-tools.sh")
    return helm


def all_values_text(namespace: str) -> str:
    return ALL_VALUES.read_text().replace("__NAMESPACE__", namespace)


def render_manifests(
    helm: str, *args: str, namespace: str = "dask-operator", values_dir: Path | None = None,
    all_values: bool = False,
) -> list[dict[str, Any]]:
    """Render the chart and return its manifests; `all_values=True` adds values-all.yaml."""
    extra = list(args)
    if all_values:
        assert values_dir is not None, "all_values needs a directory for the values file"
        path = values_dir / "values-all.yaml"
        path.write_text(all_values_text(namespace))
        extra = ["-f", str(path), *extra]
    out = helm_template(helm, *extra, namespace=namespace).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def helm_template(
    helm: str,
    *args: str,
    namespace: str = "dask-operator",
    release: str = "dask-kubernetes-operator-1666875935",
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    cmd = [helm, "template", release, str(CHART), "--namespace", namespace, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return proc


def by_kind(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(manifests, kind)
    assert len(found) == 1, f"expected one {kind}, got {[m['metadata']['name'] for m in found]}"
    return found[0]
