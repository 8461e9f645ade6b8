"""The published dask-kubernetes client (from PyPI, in its own virtualenv built by
ci/published-client-venv.sh, never the project's) drives our operator on the local cluster:
it creates a cluster, computes, scales to 2 workers and closes, deleting the DaskCluster."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
from chart_release import REPO, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("operator_release")]

VERSION = os.environ.get("DASK_KUBERNETES_PUBLISHED_VERSION", "2026.3.0")

SCRIPT = textwrap.dedent('''
    import json, sys
    import importlib.metadata
    from dask_kubernetes.operator import KubeCluster
    from distributed import Client

    namespace, report_file = sys.argv[1], sys.argv[2]
    report = {"version": importlib.metadata.version("dask-kubernetes")}
    import dask_kubernetes
    report["module"] = dask_kubernetes.__file__
    with KubeCluster(name="published", namespace=namespace, n_workers=1, resource_timeout=240) as cluster:
        with Client(cluster, timeout="120s") as client:
            client.wait_for_workers(1, timeout=240)
            report["sum"] = client.submit(sum, client.map(lambda x: x * x, range(100))).result(timeout=120)
            cluster.scale(2)
            client.wait_for_workers(2, timeout=240)
            report["workers"] = len(client.scheduler_info()["workers"])
            report["sum_after_scale"] = client.submit(sum, range(10)).result(timeout=120)
    with open(report_file, "w") as out:
        json.dump(report, out)
''')


@pytest.fixture(scope="session")
def published_python() -> str:
    """The published client's interpreter (the venv is created once and cached)."""
    proc = subprocess.run(["bash", str(REPO / "ci" / "published-client-venv.sh")], capture_output=True, text=True,
                          timeout=900, env={**os.environ, "DASK_KUBERNETES_PUBLISHED_VERSION": VERSION})
    assert proc.returncode == 0, f"ci/published-client-venv.sh failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout.strip().splitlines()[-1]


def test_published_client_creates_computes_scales_and_closes(k8s: Any, namespace: str, published_python: str,
                                                            tmp_path: Path) -> None:
    script = tmp_path / "drive.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in k8s.env.items() if not k.startswith(("PYTHON", "DASK_"))}
    # -I: neither this checkout nor the project's venv may shadow the published package
    report_file = tmp_path / "report.json"  # written after close(): the client's output is a progress display
    proc = subprocess.run([published_python, "-I", str(script), namespace, str(report_file)], capture_output=True,
                          text=True, timeout=900, env=env, cwd=tmp_path)
    detail = f"exit {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-6000:]}"
    assert proc.returncode == 0 and report_file.exists(), detail
    report = json.loads(report_file.read_text())
    assert report["version"] == VERSION, report
    assert str(REPO) not in report["module"], report
    assert report["sum"] == sum(x * x for x in range(100))
    assert report["workers"] == 2 and report["sum_after_scale"] == 45
    # close() deleted the DaskCluster, and the operator's children go with it
    wait_for("the DaskCluster 'published' to be deleted",
             lambda: k8s.kubectl("get", "daskcluster", "published", "-n", namespace, check=False).returncode != 0, 120)
