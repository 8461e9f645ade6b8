"""Shared fixtures of tests/integration/{jobs,autoscaler,metrics}.

They reuse the controller suite's ``Operator`` (tests/integration/controller/conftest.py,
loaded by path under another module name), started with:

* a Prometheus endpoint on a free port of 127.0.0.1 (``operator.metrics_port``);
* short windows so the suite stays quick: reconcile every 3 s, idle checks every 1 s,
  autoscaler polls every 1 s with a 10 s scale-down stabilisation window.
"""

from __future__ import annotations

import copy
import importlib.util
import re
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location(
    "controller_suite_conftest", REPO / "tests" / "integration" / "controller" / "conftest.py"
)
assert _spec and _spec.loader
_ctl = importlib.util.module_from_spec(_spec)
sys.modules["controller_suite_conftest"] = _ctl
_spec.loader.exec_module(_ctl)

Operator = _ctl.Operator
kube = _ctl.kube
wait = _ctl.wait
wait_for = _ctl.wait_for
pytest_runtest_makereport = _ctl.pytest_runtest_makereport

FAST = {
    "DASK_KUBERNETES__CONTROLLER__IDLE_CHECK_INTERVAL": "1",
    "DASK_KUBERNETES__CONTROLLER__AUTOSCALER__POLL_INTERVAL": "1",
    "DASK_KUBERNETES__CONTROLLER__AUTOSCALER__SCALE_DOWN_STABILIZATION": "10",
    "DASK_KUBERNETES__CONTROLLER__METRICS__ADDRESS": "127.0.0.1",
}


@pytest.fixture(scope="session")
def crds(k8s: Any) -> None:
    k8s.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "chart" / "crds"))
    for crd in ("daskclusters", "daskworkergroups", "daskjobs", "daskautoscalers"):
        k8s.kubectl("wait", "--for=condition=Established", f"crd/{crd}.kubernetes.dask.org", "--timeout=60s")


class IssueOperator(Operator):  # type: ignore[misc,valid-type]
    """The controller suite's operator process plus a metrics port."""

    metrics_port = 0

    def start(self, **extra_env: str) -> Any:
        self.metrics_port = _ctl._free_port()
        env = {**FAST, "DASK_KUBERNETES__CONTROLLER__METRICS__PORT": str(self.metrics_port), **extra_env}
        return super().start(**env)


@pytest.fixture
def operator(k8s: Any, crds: None, namespace: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    env = dict(k8s.env)
    env.setdefault("PYTHONUNBUFFERED", "1")
    op = IssueOperator(env, namespace, tmp_path)
    request.node.stash[_ctl._LOG_KEY] = op.logs
    op.start()
    try:
        yield op
    finally:
        if op.proc is not None and op.proc.poll() is None:
            code = op.stop()
            assert code == 0, f"dask-operator exited with {code} after SIGTERM:\n{op.log_text()[-4000:]}"
            assert "Traceback" not in op.logs[-1].read_text(errors="replace"), "the operator logged a traceback"


@pytest.fixture
def examples() -> Any:
    """The docs' manifests without their namespace (each test has its own)."""

    def load(name: str) -> dict[str, Any]:
        obj: dict[str, Any] = yaml.safe_load((REPO / "examples" / name).read_text())
        obj = copy.deepcopy(obj)
        obj["metadata"].pop("namespace", None)
        return obj

    return load


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text format -> {'name{label="v",...}': value} (labels as printed)."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.match(r"^(\S+?(?:\{.*\})?)\s+(\S+)$", line)
        if match:
            samples[match.group(1)] = float(match.group(2))
    return samples


@pytest.fixture
def scrape(operator: Any) -> Any:
    def get() -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5) as r:
            return parse_metrics(r.read().decode())

    return get
