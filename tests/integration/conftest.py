"""Fixtures shared by the integration tests: the operator under test and kubectl helpers.

`operator` is `dask-operator run --standalone --namespace <ns>` as a host process, started with
our plugin testing kit (`dask_operator.testing`, the same one plugin authors use). It runs with
the local cluster's KUBECONFIG, reaches schedulers through their Services' ClusterIPs, serves
Prometheus metrics on a free loopback port and uses short windows so the suite stays quick:
reconcile every 3 s, idle checks every 1 s, autoscaler polls every 1 s with a 10 s scale-down
stabilisation window. Tests may stop, kill and start it again. Its logs are attached to the
report of a failed test (by the kit). At the end it gets SIGTERM and must exit cleanly.
"""

from __future__ import annotations

import copy
import json
import os
import re
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from dask_operator.testing import OperatorProcess, wait_for

REPO = Path(__file__).resolve().parents[2]

FAST = {
    "DASK_KUBERNETES__CONTROLLER__IDLE_CHECK_INTERVAL": "1",
    "DASK_KUBERNETES__CONTROLLER__AUTOSCALER__POLL_INTERVAL": "1",
    "DASK_KUBERNETES__CONTROLLER__AUTOSCALER__SCALE_DOWN_STABILIZATION": "10",
    "DASK_KUBERNETES__CONTROLLER__METRICS__ADDRESS": "127.0.0.1",
}

os.environ.setdefault("DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", "20s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Operator:
    """The operator serving one test namespace: one process at a time, restartable."""

    def __init__(self, runner: Callable[..., OperatorProcess], env: dict[str, str], namespace: str) -> None:
        self.runner = runner  # the kit's dask_operator_runner: stops and reports every process
        self.env = env
        self.namespace = namespace
        self.processes: list[OperatorProcess] = []
        self.metrics_port = 0

    @property
    def process(self) -> OperatorProcess:
        assert self.processes, "the operator was never started"
        return self.processes[-1]

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.process.proc

    @property
    def port(self) -> int:
        """The port of the liveness endpoint (/healthz)."""
        return self.process.port

    def start(self, *, plugins: Mapping[str, str] | None = None, python_path: Iterable[str | Path] = (),
              **extra_env: str) -> Operator:
        """Start (again), with extra environment and, through the kit, extra plugins
        (``{entry point name: module}`` found on ``python_path``)."""
        assert not (self.processes and self.process.running), "already running"
        self.metrics_port = _free_port()
        env = {**self.env, **FAST, "DASK_KUBERNETES__CONTROLLER__METRICS__PORT": str(self.metrics_port), **extra_env}
        self.processes.append(self.runner(self.namespace, env=env, plugins=plugins, python_path=python_path))
        return self

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as when a node dies."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> int:
        """SIGTERM and wait; the exit code."""
        return self.process.stop()

    def log_text(self) -> str:
        return "\n".join(p.log() for p in self.processes)


@pytest.fixture(scope="session")
def crds(k8s: Any) -> None:
    """The CRDs from chart/crds/, applied server-side (idempotent; shared with other suites)."""
    k8s.apply_crds(REPO / "chart" / "crds")


@pytest.fixture
def operator(k8s: Any, crds: None, namespace: str, dask_operator_runner: Callable[..., OperatorProcess]) -> Iterator[Operator]:
    op = Operator(dask_operator_runner, dict(k8s.env), namespace).start()
    yield op
    if op.process.running:
        code = op.stop()
        assert code == 0, f"dask-operator exited with {code} after SIGTERM:\n{op.process.log()[-4000:]}"
        assert "Traceback" not in op.process.log(), "the operator logged a traceback"


class Kube:
    """Small kubectl-based helpers for one namespace (the tests read state as a user would)."""

    def __init__(self, k8s: Any, namespace: str) -> None:
        self.k8s = k8s
        self.ns = namespace

    def kubectl(self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result: subprocess.CompletedProcess[str] = self.k8s.kubectl(*args, "-n", self.ns, check=check, input=input, timeout=timeout)
        return result

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        proc = self.kubectl("get", kind, name, "-o", "json", "--ignore-not-found")
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    def items(self, kind: str, selector: str | None = None) -> list[dict[str, Any]]:
        args = ["get", kind, "-o", "json"] + (["-l", selector] if selector else [])
        items: list[dict[str, Any]] = json.loads(self.kubectl(*args).stdout)["items"]
        return items

    def pods(self, selector: str, *, include_terminating: bool = False) -> list[dict[str, Any]]:
        pods = self.items("pods", selector)
        return pods if include_terminating else [p for p in pods if not p["metadata"].get("deletionTimestamp")]

    def events(self, reason: str | None = None) -> list[dict[str, Any]]:
        events = self.items("events")
        return [e for e in events if reason is None or e.get("reason") == reason]

    def condition(self, kind: str, name: str, type_: str) -> dict[str, Any] | None:
        obj = self.get(kind, name) or {}
        return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == type_), None)

    def wait_ready(self, cluster: str, timeout: int = 180) -> dict[str, Any]:
        self.kubectl("wait", "--for=condition=Ready", f"daskcluster/{cluster}", f"--timeout={timeout}s", timeout=timeout + 30)
        obj = self.get("daskcluster", cluster)
        assert obj is not None
        return obj

    def scheduler_address(self, cluster: str) -> str:
        svc = self.get("service", f"{cluster}-scheduler")
        assert svc is not None
        return f"tcp://{svc['spec']['clusterIP']}:8786"


@pytest.fixture
def kube(k8s: Any, namespace: str) -> Kube:
    return Kube(k8s, namespace)


@pytest.fixture
def wait() -> Any:
    return wait_for


@pytest.fixture
def examples() -> Any:
    """The docs' manifests without their namespace (each test has its own)."""

    def load(name: str) -> dict[str, Any]:
        obj: dict[str, Any] = copy.deepcopy(yaml.safe_load((REPO / "examples" / name).read_text()))
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
def scrape(operator: Operator) -> Any:
    def get() -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5) as r:
            return parse_metrics(r.read().decode())

    return get


TEST_PLUGIN = REPO / "tests" / "unit" / "dask_operator" / "fixtures" / "test_plugin"


@pytest.fixture(scope="session")
def test_plugin() -> str:
    """The fixture plugin project installed into this venv (inert unless DASK_OPERATOR_TEST_PLUGIN=1)."""
    import importlib.metadata

    import tomllib

    wanted = tomllib.loads((TEST_PLUGIN / "pyproject.toml").read_text())["project"]["version"]
    try:
        installed: str | None = importlib.metadata.version("dask-operator-test-plugin")
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if installed != wanted:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", str(TEST_PLUGIN)], check=True)
    return "dask-operator-test-plugin"
