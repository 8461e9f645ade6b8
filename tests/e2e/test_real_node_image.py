"""On the real node, the chart's operator is the image built from our Dockerfile, and the
chart's securityContext is enforced by the container runtime, not only accepted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_release import CHART, Release

pytestmark = [pytest.mark.e2e, pytest.mark.realnode]


def _exec(k8s: Any, pod: dict[str, Any], *cmd: str, check: bool = True) -> Any:
    return k8s.kubectl("exec", "-n", pod["metadata"]["namespace"], pod["metadata"]["name"], "-c",
                       pod["spec"]["containers"][0]["name"], "--", *cmd, check=check)


def test_operator_runs_the_dockerfile_image_with_its_security_context_enforced(
        operator_release: Release, k8s: Any) -> None:
    pod = operator_release.pod()
    app_version = yaml.safe_load((Path(CHART) / "Chart.yaml").read_text())["appVersion"]
    status = pod["status"]["containerStatuses"][0]
    assert status["image"] == f"ghcr.io/dask/dask-kubernetes-operator:{app_version}"
    assert status["imageID"].startswith("ghcr.io/dask/dask-kubernetes-operator@sha256:")
    # USER 1000 in the Dockerfile, runAsNonRoot in the chart.
    assert _exec(k8s, pod, "id", "-u").stdout.strip() == "1000"
    # readOnlyRootFilesystem: only the chart's emptyDir at /tmp is writable.
    denied = _exec(k8s, pod, "python", "-c", "open('/probe', 'w')", check=False)
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr
    _exec(k8s, pod, "python", "-c", "open('/tmp/probe', 'w').write('ok')")
    # capabilities drop ALL; seccompProfile RuntimeDefault (Seccomp: 2 = filter mode).
    proc_status = dict(line.split(":\t", 1) for line in
                       _exec(k8s, pod, "cat", "/proc/1/status").stdout.splitlines() if ":\t" in line)
    assert proc_status["CapEff"].strip() == "0000000000000000"
    assert proc_status["Seccomp"].strip() == "2"
    assert proc_status["NoNewPrivs"].strip() == "1"
