"""Testing kit for dask-operator plugin authors: a pytest plugin (``dask_operator.testing``).

Installed with the operator and loaded by pytest automatically (entry point ``pytest11``), it
gives plugin tests three levels, from fastest to most real:

* :func:`make_plugin_manager` (fixture ``dask_plugin_manager``): the operator's plugin manager
  with the built-in plugins and yours, checked exactly as at start-up (async pure hooks and
  unknown hooks are rejected);
* :func:`render_cluster` (fixture ``dask_render``): every child the operator would apply for a
  DaskCluster -- scheduler Deployment and Service, worker group, worker Pods, plugin resources,
  prerequisites, status fragments -- computed through all hooks by the core's own code, without
  a Kubernetes API; :func:`make_cluster` (fixture ``dask_cluster``) builds the input;
* :func:`run_operator` (fixture ``dask_operator_runner``): ``dask-operator run`` as a real
  process against the cluster of ``$KUBECONFIG``, with your plugin loaded through the
  ``dask_operator_plugin`` entry-point group even if it is not installed.

Nothing here talks to Kubernetes except :func:`run_operator` and the ``dask_namespace`` fixture.
"""

from __future__ import annotations

import copy
import importlib.metadata
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from . import names
from .pluginmanager import DISABLE_ENV, ENTRY_POINT_GROUP, PluginManager, build_plugin_manager

Manifest = dict[str, Any]

__all__ = [
    "OperatorFailed",
    "OperatorProcess",
    "Rendered",
    "make_cluster",
    "make_plugin_manager",
    "make_worker_group",
    "render_cluster",
    "run_operator",
    "running",
    "wait_for",
]


# --- plugin manager -------------------------------------------------------------------------------


def make_plugin_manager(
    *plugins: Any,
    builtins: bool = True,
    entry_points: bool = False,
    disabled: Iterable[str] = (),
) -> PluginManager:
    """The operator's plugin manager with ``plugins`` registered after the built-ins.

    Each plugin is a module or object with ``@hookimpl`` functions, or a ``(name, plugin)``
    pair (the name is what ``DASK_OPERATOR_DISABLE_PLUGINS`` blocks; default: the module's
    last dotted part). ``entry_points=True`` also loads every installed plugin, as the operator
    does. Raises :class:`~dask_operator.errors.PluginError` like the operator's start-up.
    """
    extra = []
    for plugin in plugins:
        if isinstance(plugin, tuple):
            extra.append(plugin)
        else:
            name = getattr(plugin, "__name__", type(plugin).__name__).rsplit(".", 1)[-1]
            extra.append((name, plugin))
    return build_plugin_manager(
        builtins=None if builtins else {},
        load_entry_points=entry_points,
        disabled=disabled,
        extra=extra,
    )


# --- objects ----------------------------------------------------------------------------------------


def make_cluster(
    name: str = "simple",
    namespace: str = "default",
    *,
    workers: int = 1,
    annotations: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    uid: str | None = None,
    **spec_kwargs: Any,
) -> Manifest:
    """A DaskCluster as the API server returns it (with ``uid`` and ``generation``).

    The spec is what ``KubeCluster(name=..., n_workers=workers, **spec_kwargs)`` creates
    (:func:`dask_kubernetes.operator.make_cluster_spec`).
    """
    from dask_kubernetes.operator import make_cluster_spec

    cluster: Manifest = make_cluster_spec(name=name, n_workers=workers, **spec_kwargs)
    cluster["metadata"].update(
        {
            "namespace": namespace,
            "uid": uid or str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{namespace}.{name}.daskcluster")),
            "generation": 1,
            "resourceVersion": "1",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        }
    )
    if annotations:
        cluster["metadata"]["annotations"] = dict(annotations)
    if labels:
        cluster["metadata"]["labels"] = dict(labels)
    return cluster


def make_worker_group(cluster: Manifest, name: str, *, workers: int = 1, spec: Manifest | None = None) -> Manifest:
    """An extra DaskWorkerGroup ``{cluster}-{name}`` of ``cluster`` (as ``add_worker_group``)."""
    meta = cluster["metadata"]
    group_name = names.worker_group_name(meta["name"], name)
    worker_spec = copy.deepcopy(spec if spec is not None else cluster["spec"]["worker"]["spec"])
    return {
        "apiVersion": names.API_VERSION,
        "kind": names.WORKER_GROUP_KIND,
        "metadata": {
            "name": group_name,
            "namespace": meta["namespace"],
            "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{meta['namespace']}.{group_name}.daskworkergroup")),
            "generation": 1,
        },
        "spec": {"cluster": meta["name"], "worker": {"replicas": workers, "spec": worker_spec}},
    }


def running(pod: Manifest, ip: str = "10.244.0.10", *, ready: bool = True) -> Manifest:
    """A copy of a rendered Pod as the API shows it once it runs (``status.podIP``, phase)."""
    pod = copy.deepcopy(pod)
    pod["metadata"].setdefault("uid", str(uuid.uuid5(uuid.NAMESPACE_DNS, pod["metadata"]["name"])))
    pod["status"] = {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    return pod


# --- rendering --------------------------------------------------------------------------------------


@dataclass
class Rendered:
    """What one DaskCluster pass would apply, computed through the hooks only."""

    cluster: Manifest  # after dask_cluster_defaults
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    scheduler_address: str | None = None
    deployment: Manifest | None = None
    service: Manifest | None = None
    worker_groups: list[Manifest] = field(default_factory=list)
    worker_pods: list[Manifest] = field(default_factory=list)
    resources: list[Manifest] = field(default_factory=list)
    prerequisites: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)  # merged dask_cluster_status fragments

    @property
    def valid(self) -> bool:
        return not self.errors

    def children(self) -> list[Manifest]:
        """Everything the operator would create, in the order it applies them."""
        built = [m for m in (self.service, self.deployment) if m is not None]
        return self.resources + built + self.worker_groups + self.worker_pods

    def all(self, kind: str) -> list[Manifest]:
        return [m for m in self.children() if m.get("kind") == kind]

    def get(self, kind: str, name: str | None = None) -> Manifest:
        """The one child of ``kind`` (named ``name``); AssertionError listing what exists if not."""
        found = [m for m in self.all(kind) if name is None or m["metadata"]["name"] == name]
        if len(found) != 1:
            have = [f"{m['kind']}/{m['metadata']['name']}" for m in self.children()]
            raise AssertionError(f"expected one {kind} {name or ''}, found {len(found)}; children: {have}")
        return found[0]

    def containers(self, component: str) -> list[Manifest]:
        """The containers of the scheduler (Deployment template) or of the first worker Pod."""
        if component == names.COMPONENT_SCHEDULER:
            assert self.deployment is not None, "no scheduler Deployment (invalid cluster?)"
            result: list[Manifest] = self.deployment["spec"]["template"]["spec"]["containers"]
            return result
        assert self.worker_pods, "no worker Pods rendered"
        result = self.worker_pods[0]["spec"]["containers"]
        return result


def _env(container: Manifest) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env") or []}


def container_env(container: Manifest) -> dict[str, Any]:
    """A container's env as ``{name: value or valueFrom}``."""
    return _env(container)


def render_cluster(
    pm: PluginManager,
    cluster: Manifest,
    *,
    worker_groups: Iterable[Manifest] = (),
    workers: int | None = None,
    worker_pods: Iterable[Manifest] = (),
    observed: Mapping[str, Any] | None = None,
) -> Rendered:
    """Compute a DaskCluster's children through every hook, as the operator's pass does.

    ``workers``: how many worker Pods of the default group to render (default: its replicas);
    Pod names are deterministic (``{group}-worker-0000000000``, ...). ``worker_groups``: extra
    DaskWorkerGroups whose Pods are rendered too. ``worker_pods``: the live worker Pods that
    ``dask_cluster_resources`` sees (default: the rendered ones, made :func:`running` with
    distinct IPs). ``observed``: passed to ``dask_cluster_status`` (default: the rendered objects).
    Invalid clusters return with ``errors`` set and nothing built.
    """
    from .desired import desired_cluster, desired_resources, desired_worker_pod

    body = copy.deepcopy(cluster)
    desired = desired_cluster(pm, body)
    result = Rendered(cluster=desired.cluster, errors=desired.errors, warnings=desired.warnings)
    if not desired.valid:
        return result
    address = result.scheduler_address = desired.scheduler_address
    assert desired.deployment and desired.service and desired.default_group
    result.deployment, result.service = desired.deployment, desired.service
    default_group = desired.default_group
    meta = body["metadata"]
    default_group["metadata"].setdefault("uid", str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{meta['namespace']}.{default_group['metadata']['name']}")))
    groups = [default_group] + [copy.deepcopy(g) for g in worker_groups]
    result.worker_groups = [default_group]

    for group in groups:
        count = workers if (workers is not None and group is default_group) else int(group["spec"]["worker"].get("replicas", 1))
        gname = group["metadata"]["name"]
        for index in range(count):
            result.worker_pods.append(desired_worker_pod(pm, desired.cluster, group, names.worker_pod_name(gname, f"{index:010x}"), address))

    live = list(worker_pods) if worker_pods else [running(p, f"10.244.0.{10 + i}") for i, p in enumerate(result.worker_pods)]
    result.resources = desired_resources(pm, desired, body, live)
    result.prerequisites = desired.prerequisites
    seen = dict(observed) if observed is not None else {
        "deployment": result.deployment,
        "service": result.service,
        "worker_groups": result.worker_groups,
        "worker_pods": live,
        "status": {"schedulerAddress": address},
    }
    from .status import deep_merge

    for fragment in pm.hook.dask_cluster_status(cluster=desired.cluster, observed=seen):
        if fragment:
            result.status = deep_merge(result.status, fragment)
    return result


# --- a real operator process --------------------------------------------------------------------------


class OperatorFailed(AssertionError):
    """The operator exited (or never became live); the message holds its log."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _entry_point_dir(plugins: Mapping[str, str], root: Path) -> Path:
    """A directory that makes ``plugins`` ({entry point name: module}) discoverable through
    importlib.metadata (a minimal ``.dist-info``), so the operator loads them exactly as if
    their distribution were installed."""
    dist = root / "dask_operator_testing_plugins-0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: dask-operator-testing-plugins\nVersion: 0\n")
    lines = [f"[{ENTRY_POINT_GROUP}]"] + [f"{name} = {module}" for name, module in plugins.items()]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return root


def installed_plugins() -> dict[str, str]:
    """Entry points of the ``dask_operator_plugin`` group installed in this environment."""
    return {ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


class OperatorProcess:
    """``dask-operator run --standalone --namespace NS`` as a child process with a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, port: int) -> None:
        self.args = args
        self.env = env
        self.log_path = log_path
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(self.args, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_live(self, timeout: float = 60) -> OperatorProcess:
        """Until the liveness endpoint answers; OperatorFailed if the process exits first."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise OperatorFailed(f"dask-operator exited with {self.proc.returncode}:\n{self.log()[-8000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.3)
        raise OperatorFailed(f"dask-operator did not become live within {timeout} s:\n{self.log()[-8000:]}")

    def wait_exit(self, timeout: float = 60) -> int:
        """Wait for the process to exit by itself (e.g. a start-up failure); its exit code."""
        assert self.proc is not None
        try:
            return int(self.proc.wait(timeout))
        except subprocess.TimeoutExpired:
            raise OperatorFailed(f"dask-operator still runs after {timeout} s:\n{self.log()[-8000:]}") from None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, then wait (SIGKILL after ``timeout``); the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return int(self.proc.returncode)

    def __enter__(self) -> OperatorProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.proc is not None:
            self.stop()


def run_operator(
    namespace: str | Sequence[str],
    *,
    plugins: Mapping[str, str] | None = None,
    only: bool = False,
    disable: Iterable[str] = (),
    python_path: Iterable[str | Path] = (),
    env: Mapping[str, str] | None = None,
    kubeconfig: str | None = None,
    log_dir: str | Path | None = None,
    reconcile_interval: float | None = None,
    wait: bool = True,
) -> OperatorProcess:
    """Start ``dask-operator run --standalone --namespace namespace`` against ``$KUBECONFIG``
    (``namespace`` may be a list: one ``--namespace`` each).

    ``plugins``: ``{entry point name: module}`` loaded through the ``dask_operator_plugin``
    group even when not installed (add their source directory with ``python_path``).
    ``only``: block every other installed third-party plugin, so the test sees the built-ins
    plus ``plugins``. ``disable``: plugin names to block (``DASK_OPERATOR_DISABLE_PLUGINS``).
    ``wait``: return once the operator is live (raises :class:`OperatorFailed` if it exits);
    with ``wait=False`` use :meth:`OperatorProcess.wait_exit` to test start-up failures.
    Stop it with :meth:`OperatorProcess.stop` or use it as a context manager.
    """
    plugins = dict(plugins or {})
    blocked = set(disable)
    if only:
        blocked |= set(installed_plugins()) - set(plugins)
    log_root = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="dask-operator-"))
    log_root.mkdir(parents=True, exist_ok=True)
    child_env = dict(os.environ)
    child_env.update(env or {})
    if kubeconfig:
        child_env["KUBECONFIG"] = str(kubeconfig)
    child_env.setdefault("PYTHONUNBUFFERED", "1")
    if reconcile_interval is not None:  # the resync; passes run on every change anyway
        child_env["DASK_KUBERNETES__CONTROLLER__RECONCILE_INTERVAL"] = str(reconcile_interval)
    # Several operators may run at once (one per test namespace): no fixed metrics port.
    child_env.setdefault("DASK_KUBERNETES__CONTROLLER__METRICS__PORT", "0")
    paths = [str(p) for p in python_path]
    if plugins:
        paths.append(str(_entry_point_dir(plugins, log_root / f"entry-points-{uuid.uuid4().hex[:6]}")))
    if paths:
        child_env["PYTHONPATH"] = os.pathsep.join(paths + [p for p in [child_env.get("PYTHONPATH")] if p])
    if blocked:
        child_env[DISABLE_ENV] = ",".join(sorted(blocked | set(filter(None, child_env.get(DISABLE_ENV, "").split(",")))))
    served = [namespace] if isinstance(namespace, str) else list(namespace)
    port = _free_port()
    log_path = log_root / f"operator-{served[0]}-{port}.log"
    args = [
        sys.executable, "-m", "dask_operator.cli", "run", "--standalone",
        *(arg for name in served for arg in ("--namespace", name)),
        f"--liveness=http://127.0.0.1:{port}/healthz",
    ]
    process = OperatorProcess(args, child_env, log_path, port).start()
    if wait:
        try:
            process.wait_live()
        except OperatorFailed:
            process.stop()
            raise
    return process


def wait_for(predicate: Callable[[], Any], timeout: float = 120, interval: float = 1, message: str = "condition") -> Any:
    """Call ``predicate`` every ``interval`` seconds until it returns something truthy, and return
    that; after ``timeout`` seconds fail with an AssertionError naming ``message`` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message} (last: {last!r})")


# --- pytest fixtures ----------------------------------------------------------------------------------

_LOGS = pytest.StashKey[list[OperatorProcess]]()


@pytest.fixture
def dask_plugin_manager() -> Callable[..., PluginManager]:
    """Factory: ``dask_plugin_manager(my_plugin, ...)`` -> the operator's PluginManager."""
    return make_plugin_manager


@pytest.fixture
def dask_cluster() -> Callable[..., Manifest]:
    """Factory: ``dask_cluster(name="simple", namespace="default", annotations=..., workers=1)``."""
    return make_cluster


@pytest.fixture
def dask_render() -> Callable[..., Rendered]:
    """``dask_render(pm, cluster, ...)`` -> :class:`Rendered` (see :func:`render_cluster`)."""
    return render_cluster


@pytest.fixture
def dask_operator_runner(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., OperatorProcess]]:
    """Factory: ``dask_operator_runner(namespace, plugins=..., ...)`` starts an operator (see
    :func:`run_operator`); every one started is stopped after the test, and its log is attached
    to the report of a failed test."""
    started: list[OperatorProcess] = []
    request.node.stash[_LOGS] = started

    def start(namespace: str, **kwargs: Any) -> OperatorProcess:
        kwargs.setdefault("log_dir", tmp_path)
        try:
            process = run_operator(namespace, **kwargs)
        except OperatorFailed:
            raise
        started.append(process)
        return process

    yield start
    for process in started:
        if process.running:
            process.stop()


@pytest.fixture
def dask_namespace() -> Iterator[str]:
    """A fresh namespace in the cluster of ``$KUBECONFIG``, deleted (without waiting) afterwards."""
    import asyncio

    from .kube import Kube

    name = f"dask-plugin-test-{uuid.uuid4().hex[:8]}"

    async def call(create: bool) -> None:
        kube = await Kube.connect()
        try:
            if create:
                await kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
            else:
                await kube.delete("v1", "Namespace", "", name)
        finally:
            await kube.close()

    asyncio.run(call(True))
    try:
        yield name
    finally:
        asyncio.run(call(False))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed and report.when in ("call", "teardown"):
        for process in item.stash.get(_LOGS, []):
            report.sections.append((f"dask-operator log {process.log_path.name} (tail)", process.log()[-20000:]))
