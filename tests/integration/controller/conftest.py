"""The `operator` fixture: `dask-operator run --standalone --namespace <ns>` as a host process.

The operator runs with the test cluster's KUBECONFIG and reaches schedulers through their
Services' ClusterIPs. Its log goes to a file that is attached to the report of a failed test.
At the end it gets SIGTERM and must exit cleanly (exit code 0, within 20 s).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
DASK_OPERATOR = str(Path(sys.executable).with_name("dask-operator"))
_LOG_KEY = pytest.StashKey[list[Path]]()

# Fast passes make the suite quick; everything else is the operator's default.
TEST_CONFIG = {
    "DASK_KUBERNETES__CONTROLLER__RECONCILE_INTERVAL": "3",
    # Several operators run on the host at once: no shared metrics port (tests that want one set it).
    "DASK_KUBERNETES__CONTROLLER__METRICS__PORT": "0",
    "DASK_KUBERNETES__CONTROLLER__METRICS__ADDRESS": "127.0.0.1",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Operator:
    """One operator process serving one namespace; can be killed and started again."""

    def __init__(self, env: dict[str, str], namespace: str, log_dir: Path) -> None:
        self.env = env
        self.namespace = namespace
        self.log_dir = log_dir
        self.logs: list[Path] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self, **extra_env: str) -> Operator:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.port = _free_port()
        log = self.log_dir / f"operator-{len(self.logs) + 1}.log"
        self.logs.append(log)
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [DASK_OPERATOR, "run", "--standalone", "--namespace", self.namespace,
                 f"--liveness=http://127.0.0.1:{self.port}/healthz"],
                env={**self.env, **TEST_CONFIG, **extra_env}, stdout=out, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"dask-operator exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"dask-operator did not become live in 60 s:\n{self.log_text()}")

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as when a node dies."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError("dask-operator did not stop within 20 s of SIGTERM") from None
        return int(self.proc.returncode)

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs if p.exists())


@pytest.fixture(scope="session")
def crds(k8s: Any) -> None:
    """The CRDs from chart/crds/, applied server-side (idempotent; shared with other suites)."""
    k8s.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "chart" / "crds"))
    for crd in ("daskclusters", "daskworkergroups"):
        k8s.kubectl("wait", "--for=condition=Established", f"crd/{crd}.kubernetes.dask.org", "--timeout=60s")


@pytest.fixture
def operator(k8s: Any, crds: None, namespace: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Operator]:
    env = dict(k8s.env)
    env.setdefault("PYTHONUNBUFFERED", "1")
    op = Operator(env, namespace, tmp_path)
    request.node.stash[_LOG_KEY] = op.logs
    op.start()
    try:
        yield op
    finally:
        if op.proc is not None and op.proc.poll() is None:
            code = op.stop()
            assert code == 0, f"dask-operator exited with {code} after SIGTERM:\n{op.log_text()[-4000:]}"
            assert "Traceback" not in op.logs[-1].read_text(errors="replace"), "the operator logged a traceback"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when in ("call", "teardown"):
        for log in item.stash.get(_LOG_KEY, []):
            if log.exists():
                text = log.read_text(errors="replace")
                report.sections.append((f"dask-operator log {log.name} (tail)", text[-20000:]))


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


def wait_for(predicate: Any, timeout: float = 120, interval: float = 1, message: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``message`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message} (last: {last!r})")


@pytest.fixture
def kube(k8s: Any, namespace: str) -> Kube:
    return Kube(k8s, namespace)


@pytest.fixture
def wait() -> Any:
    return wait_for


os.environ.setdefault("DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", "20s")


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
