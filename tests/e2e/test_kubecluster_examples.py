"""The notebook-style examples run top to bottom against the chart-installed operator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("operator_release")]

REPO = Path(__file__).resolve().parents[2]


def test_kubecluster_notebook_quickstart_runs(k8s, kubectl, namespace):
    env = {**k8s.env, "DASK_KUBERNETES__NAMESPACE": namespace}
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "notebook_quickstart.py")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "sum of squares: 332833500" in result.stdout
    assert "Created DaskCluster" in result.stdout  # progress is shown unless quiet
    left = kubectl("get", "daskclusters", "-n", namespace, "-o", "name").stdout.split()
    assert left == []
