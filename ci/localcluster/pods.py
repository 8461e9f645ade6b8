"""One pod's life on the process kubelet: sandbox, init containers, containers, probes,
restarts with back-off, status, graceful deletion."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import json
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from . import config, envvars, network, probes, volumes
from .kube import ApiError

if TYPE_CHECKING:
    from .kubelet import Kubelet

log = logging.getLogger("localcluster.pods")
Obj = dict[str, Any]

SHIM = str(Path(__file__).with_name("shim.py"))
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BACKOFF_BASE = float(os.environ.get("DASK_LOCALCLUSTER_BACKOFF_SECONDS", "10"))
BACKOFF_MAX = 300.0
BACKOFF_RESET = 600.0
# How long a container start waits for the node's first listing of the Services before it
# fails with CreateContainerConfigError (and is retried), like the kubelet's check.
SERVICES_WAIT = 10.0
# The pod conditions the kubelet owns (others, e.g. readiness gates, belong to other writers).
KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")
# At most one re-post per pod in this many seconds when the API holds a status we did not post
# (the node controller marks pods not ready again while it still sees the node unreachable).
RESYNC_INTERVAL = 1.0


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


StatusDigest = tuple[str | None, tuple[tuple[str, str], ...]]


def status_digest(status: Obj) -> StatusDigest:
    """What of a pod status the kubelet owns and compares: the phase and its conditions."""
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []
                  if c.get("type") in KUBELET_CONDITIONS}
    return status.get("phase"), tuple(sorted(conditions.items()))


def now_nano() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


class StartError(Exception):
    """The runtime could not start the process (exit code 128, reason StartError)."""


class Instance:
    """One run of a container: the process, its log file and the threads pumping output."""

    def __init__(self, proc: asyncio.subprocess.Process, log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path
        self.started_at = now()
        self.started_mono = time.monotonic()
        self.exit_code: int | None = None
        self.finished_at = ""
        self.pumps: list[asyncio.Task[None]] = []
        self.killed_reason = ""

    @property
    def done(self) -> bool:
        return self.exit_code is not None

    async def exited(self) -> int:
        """The main process's exit status. (Process.wait() would also wait for every process
        holding the output pipes, e.g. a backgrounded child.)"""
        while self.proc.returncode is None:  # noqa: ASYNC110 - set by asyncio's child watcher
            await asyncio.sleep(0.05)
        return self.proc.returncode

    async def wait(self) -> int:
        rc = await self.exited()
        # A container ends with its main process: take its process group along (a runtime
        # kills the whole cgroup), so no stray child holds the port or the output pipes.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        done, pending = await asyncio.wait(self.pumps, timeout=5) if self.pumps else (set(), set())
        for task in pending:
            task.cancel()
        self.exit_code = 128 - rc if rc < 0 else rc
        self.finished_at = now()
        return self.exit_code

    async def kill(self, grace: float) -> None:
        if self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(self.exited(), max(grace, 0.1))
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            await self.exited()
        # Children that left the group die with the group leader's namespace teardown later.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def _open_append(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "ab", buffering=0)


async def _pump(stream: asyncio.StreamReader, name: str, path: Path) -> None:
    fh = _open_append(path)
    try:
        while True:
            try:
                line = await stream.readline()
            except ValueError:
                line = await stream.read(65536)
            if not line:
                return
            if not line.endswith(b"\n"):
                line += b"\n"
            fh.write(f"{now_nano()} {name} ".encode() + line)
    finally:
        fh.close()


def _log_tail(path: Path, lines: int = 80, limit: int = 2048) -> str:
    """The termination message of FallbackToLogsOnError: the log's last lines, at most 2 KiB."""
    try:
        raw = path.read_bytes().splitlines()[-lines:]
    except OSError:
        return ""
    text = b"\n".join(line.split(b" ", 2)[-1] for line in raw).decode(errors="replace")
    return text[-limit:]


class Container:
    def __init__(self, spec: Obj, init: bool = False) -> None:
        self.spec = spec
        self.name: str = spec["name"]
        self.init = init
        self.sidecar = init and spec.get("restartPolicy") == "Always"
        self.restart_count = 0
        self.state: Obj = {"waiting": {"reason": "PodInitializing" if not init else "ContainerCreating"}}
        self.last_state: Obj = {}
        self.ready = False
        self.started = False
        self.instance: Instance | None = None
        self.env: dict[str, str] = {}
        self.mounts: list[Obj] = []
        self.failures = 0  # consecutive quick failures, for back-off

    def status(self) -> Obj:
        s: Obj = {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": "process://" + self.spec.get("image", ""),
            "ready": self.ready,
            "started": self.started,
            "restartCount": self.restart_count,
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.instance is not None:
            s["containerID"] = f"process://{self.instance.proc.pid}"
        resources = self.spec.get("resources") or {}
        if resources.get("requests") or resources.get("limits"):
            s["resources"] = {k: v for k, v in resources.items() if k in ("requests", "limits") and v}
        return s

    def log_path(self, pod_dir: Path, restart: int | None = None) -> Path:
        n = self.restart_count if restart is None else restart
        return pod_dir / "logs" / self.name / f"{n}.log"


class PodWorker:
    def __init__(self, kubelet: Kubelet, pod: Obj) -> None:
        self.k = kubelet
        self.pod = pod
        meta = pod["metadata"]
        self.uid: str = meta["uid"]
        self.ns: str = meta["namespace"]
        self.name: str = meta["name"]
        self.dir = kubelet.cfg.state_path / "pods" / self.uid
        self.netns = network.netns_name(self.uid)
        self.pod_ip = ""
        spec = pod["spec"]
        self.policy: str = spec.get("restartPolicy", "Always")
        self.init = [Container(c, init=True) for c in spec.get("initContainers") or []]
        self.containers = [Container(c) for c in spec.get("containers") or []]
        self.sandbox = False
        self.initialized = not self.init
        self.phase = "Pending"
        self.reason = ""
        self.message = ""
        self.start_time = now()
        self.started_mono = time.monotonic()
        self.conditions: dict[str, tuple[str, str]] = {}
        self.deleting = asyncio.Event()
        self.gone = False
        self.changed = asyncio.Event()
        self.last_sent: Obj | None = None
        self.sent_digests: collections.deque[StatusDigest] = collections.deque(maxlen=8)
        self._resynced_at = 0.0
        self._resync_pending = False
        self.volume_paths: dict[str, str] = {}
        self.task: asyncio.Task[None] | None = None
        self.sidecars: list[asyncio.Task[None]] = []
        self.hosts_written = b""

    # ---- bookkeeping -------------------------------------------------------------------

    @property
    def all_containers(self) -> list[Container]:
        return self.init + self.containers

    def container(self, name: str) -> Container | None:
        return next((c for c in self.all_containers if c.name == name), None)

    def update(self, pod: Obj) -> None:
        self.pod = pod
        if pod["metadata"].get("deletionTimestamp"):
            self.deleting.set()
        self.check_status()

    def check_status(self, periodic: bool = False) -> None:
        """Posts the status again when the API holds one this kubelet did not post, e.g. Ready
        set to False by the node controller while the apiserver could not hear from the node.
        On updates, a status it posted a moment ago (an echo arriving late) does not count."""
        if self.gone or self.last_sent is None:
            return
        in_api = status_digest(self.pod.get("status") or {})
        if in_api == status_digest(self.last_sent):
            return
        if not periodic and in_api in self.sent_digests:
            return
        wait = self._resynced_at + RESYNC_INTERVAL - time.monotonic()
        if wait > 0:
            if not self._resync_pending:
                self._resync_pending = True
                asyncio.get_running_loop().call_later(wait, self._resync_later)
            return
        self._resynced_at = time.monotonic()
        log.info("%s/%s: the API has phase/conditions %s, not the ones this node posted; posting "
                 "them again", self.ns, self.name, in_api)
        # The conditions someone else changed change back now.
        theirs = dict(in_api[1])
        for type_, (status, _) in list(self.conditions.items()):
            if theirs.get(type_) not in (None, status):
                self.conditions[type_] = (status, now())
        self.last_sent = None
        self.touch()

    def _resync_later(self) -> None:
        self._resync_pending = False
        self.check_status(periodic=True)

    def vanish(self) -> None:
        """The pod object is gone from the API (force delete or final delete)."""
        self.gone = True
        self.deleting.set()

    def touch(self) -> None:
        self.changed.set()

    def event(self, type_: str, reason: str, message: str, c: Container | None = None) -> None:
        field = None
        if c is not None:
            field = f"spec.{'initContainers' if c.init else 'containers'}{{{c.name}}}"
        self.k.event(self.pod, type_, reason, message, field)

    # ---- status ------------------------------------------------------------------------

    def _condition(self, type_: str, ok: bool) -> Obj:
        status = "True" if ok else "False"
        prev = self.conditions.get(type_)
        if prev is None or prev[0] != status:
            self.conditions[type_] = (status, now())
        return {"type": type_, "status": status, "lastProbeTime": None,
                "lastTransitionTime": self.conditions[type_][1]}

    def status(self) -> Obj:
        containers_ready = all(c.ready for c in self.containers)
        running = self.phase == "Running"
        status: Obj = {
            "phase": self.phase,
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "startTime": self.start_time,
            "conditions": [
                self._condition("PodReadyToStartContainers", self.sandbox),
                self._condition("Initialized", self.initialized),
                self._condition("ContainersReady", containers_ready and running),
                self._condition("Ready", containers_ready and running),
            ],
            "containerStatuses": [c.status() for c in self.containers],
        }
        if self.init:
            status["initContainerStatuses"] = [c.status() for c in self.init]
        if self.pod_ip:
            status["podIP"] = self.pod_ip
            # Replace, not merge (podIPs is a keyed list): the IP can change after an agent restart.
            status["podIPs"] = [{"$patch": "replace"}, {"ip": self.pod_ip}]
        if self.reason:
            status["reason"] = self.reason
            status["message"] = self.message
        return status

    async def _status_loop(self) -> None:
        path = f"/api/v1/namespaces/{self.ns}/pods/{self.name}"
        while True:
            await self.changed.wait()
            self.changed.clear()
            if self.gone:
                return
            status = self.status()
            if status == self.last_sent:
                continue
            # Remembered before it is sent: its echo from the pod watch may come first.
            self.sent_digests.append(status_digest(status))
            try:
                await self.k.client.patch_status(path, {"status": status})
                self.last_sent = status
            except ApiError as err:
                if err.status == 404:
                    return
                log.warning("status of %s/%s: %s", self.ns, self.name, err)
                await asyncio.sleep(1)
                self.changed.set()
            except Exception as err:  # noqa: BLE001 - keep the loop alive on transport errors
                log.warning("status of %s/%s: %r", self.ns, self.name, err)
                await asyncio.sleep(1)
                self.changed.set()
            await asyncio.sleep(0.05)

    async def _flush_status(self) -> None:
        status = self.status()
        self.sent_digests.append(status_digest(status))  # its echo is no foreign change
        with contextlib.suppress(Exception):
            await self.k.client.patch_status(f"/api/v1/namespaces/{self.ns}/pods/{self.name}",
                                             {"status": status})
            self.last_sent = status

    def _compute_phase(self, final: bool = False) -> None:
        if self.phase in ("Succeeded", "Failed"):
            return
        if not self.initialized:
            self.phase = "Pending"
            return
        running = waiting = succeeded = failed = 0
        for c in self.containers:
            if "running" in c.state:
                running += 1
            elif "terminated" in c.state:
                if c.state["terminated"]["exitCode"] == 0:
                    succeeded += 1
                else:
                    failed += 1
            elif "terminated" in c.last_state:
                if c.last_state["terminated"]["exitCode"] == 0:
                    succeeded += 1
                else:
                    failed += 1
            else:
                waiting += 1
        if final:
            self.phase = "Failed" if failed or waiting or running else "Succeeded"
        elif waiting:
            self.phase = "Pending"
        elif running:
            self.phase = "Running"
        elif self.policy == "Always":
            self.phase = "Running"
        elif self.policy == "OnFailure":
            self.phase = "Succeeded" if not failed else "Running"
        else:
            self.phase = "Failed" if failed else "Succeeded"

    # ---- lifecycle ---------------------------------------------------------------------

    async def run(self) -> None:
        status_task = asyncio.create_task(self._status_loop())
        life = asyncio.create_task(self._lifecycle())
        deleting = asyncio.create_task(self.deleting.wait())
        deadline = asyncio.create_task(self._deadline())
        try:
            await asyncio.wait({life, deleting, deadline}, return_when=asyncio.FIRST_COMPLETED)
            if life.done() and life.exception() is not None:
                log.error("pod %s/%s crashed", self.ns, self.name, exc_info=life.exception())
            if deadline.done() and not self.deleting.is_set():
                life.cancel()
                await asyncio.gather(life, return_exceptions=True)
                await self._terminate()
                self.phase, self.reason = "Failed", "DeadlineExceeded"
                self.message = "Pod was active on the node longer than the specified deadline"
                self.touch()
            deadline.cancel()
            await self.deleting.wait()
            life.cancel()
            await asyncio.gather(life, return_exceptions=True)
            await self._terminate()
        finally:
            deleting.cancel()
            status_task.cancel()
            await asyncio.gather(status_task, return_exceptions=True)
            if not self.gone:
                await self._flush_status()
            await self._teardown()
            if not self.gone:
                await self._final_delete()
            self.k.forget(self)

    async def _deadline(self) -> None:
        """spec.activeDeadlineSeconds: returns when the pod has been active for that long."""
        seconds = self.pod["spec"].get("activeDeadlineSeconds")
        if seconds is None:
            await asyncio.Event().wait()
        await asyncio.sleep(max(0.0, float(seconds) - (time.monotonic() - self.started_mono)))
        if self.phase not in ("Succeeded", "Failed"):
            self.event("Normal", "DeadlineExceeded",
                       "Pod was active on the node longer than the specified deadline")
        else:
            await asyncio.Event().wait()

    async def _hook(self, c: Container, kind: str, grace: float) -> bool:
        """Runs the container's postStart/preStop handler; False (and an event) if it failed."""
        handler = (c.spec.get("lifecycle") or {}).get(kind)
        if not handler:
            return True
        if handler.get("sleep"):
            await asyncio.sleep(min(float(handler["sleep"].get("seconds", 0)), grace))
            return True
        probe = {**handler, "timeoutSeconds": grace}
        try:
            ok, msg = await probes.run_probe(probe, self.pod_ip, c.spec,
                                             lambda argv, t: self.exec_in(c, argv, t))
        except asyncio.TimeoutError:
            ok, msg = False, f"timed out after {grace:g}s"
        if not ok:
            reason = "FailedPostStartHook" if kind == "postStart" else "FailedPreStopHook"
            self.event("Warning", reason, f"{kind} hook for container {c.name} failed: {msg}", c)
        return ok

    async def _kill_container(self, c: Container, inst: Instance, grace: float) -> None:
        """preStop, then SIGTERM, then SIGKILL when the grace period (shared with preStop) ends."""
        started = time.monotonic()
        if not inst.done:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._hook(c, "preStop", grace), grace)
        await inst.kill(max(grace - (time.monotonic() - started), 0.1))

    async def _lifecycle(self) -> None:
        self.touch()
        await self._setup_sandbox()
        for c in self.init:
            if c.sidecar:
                self.sidecars.append(asyncio.create_task(self._container_loop(c)))
                while not c.started:  # noqa: ASYNC110 - started flips in the probe task
                    await asyncio.sleep(0.1)
                continue
            if not await self._run_init(c):
                self.phase = "Failed"
                self.touch()
                return
        self.initialized = True
        for c in self.containers:
            c.state = {"waiting": {"reason": "ContainerCreating"}}
        self.touch()
        loops = [asyncio.create_task(self._container_loop(c)) for c in self.containers]
        try:
            await asyncio.gather(*loops)
        finally:
            for t in loops:
                t.cancel()
        # Every container terminated for good: the pod is done; stop sidecars.
        await asyncio.gather(*(c.instance.kill(self._grace()) for c in self.init
                               if c.instance and not c.instance.done))
        self._compute_phase()
        self.touch()

    async def _setup_sandbox(self) -> None:
        while True:
            try:
                previous = (self.pod.get("status") or {}).get("podIP", "")
                self.pod_ip = self.pod_ip or self.k.ipam.allocate(prefer=previous)
                self.dir.mkdir(parents=True, exist_ok=True)
                hosts = self.k.hosts_for(self.ns, self.pod_ip, self.name)
                self.hosts_written = hosts.encode()
                await asyncio.to_thread(network.create_sandbox, self.netns, self.pod_ip, hosts,
                                        self.k.resolv_conf(self.ns))
                self.volume_paths, warnings = await volumes.materialize(self.k.client, self.pod,
                                                                        self.dir / "volumes")
                for w in warnings:
                    self.event("Warning", "FailedMount", w)
                self.sandbox = True
                self.k.hosts_changed()  # Services may have changed while the sandbox was built
                self.touch()
                return
            except (volumes.VolumeError, ApiError) as err:
                self.event("Warning", "FailedMount", f"MountVolume.SetUp failed: {err}")
            except network.NetworkError as err:
                self.event("Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {err}")
            await asyncio.sleep(5)

    def _grace(self) -> float:
        meta, spec = self.pod["metadata"], self.pod["spec"]
        value = meta.get("deletionGracePeriodSeconds")
        if value is None:
            value = spec.get("terminationGracePeriodSeconds", 30)
        return float(value)

    def _restart_wanted(self, c: Container, exit_code: int) -> bool:
        policy = "Always" if c.sidecar else self.policy
        return policy == "Always" or (policy == "OnFailure" and exit_code != 0)

    async def _backoff(self, c: Container, ran_for: float) -> None:
        if ran_for >= BACKOFF_RESET:
            c.failures = 0
        delay = 0.0 if c.failures == 0 else min(BACKOFF_BASE * 2 ** (c.failures - 1), BACKOFF_MAX)
        c.failures += 1
        if delay > 0:
            c.state = {"waiting": {"reason": "CrashLoopBackOff", "message":
                                   f"back-off {delay:g}s restarting failed container={c.name} "
                                   f"pod={self.name}_{self.ns}({self.uid})"}}
            self.event("Warning", "BackOff", "Back-off restarting failed container "
                       f"{c.name} in pod {self.name}_{self.ns}({self.uid})", c)
            self._compute_phase()
            self.touch()
            await asyncio.sleep(delay)
        c.restart_count += 1

    async def _run_once(self, c: Container) -> tuple[int, float] | None:
        """Starts the container and waits for it to end: (exit code, seconds it ran).

        None when it could not be configured (CreateContainerConfigError): retry later.
        """
        try:
            inst = await self._spawn(c)
        except envvars.ContainerConfigError as err:
            c.state = {"waiting": {"reason": "CreateContainerConfigError", "message": str(err)}}
            self.event("Warning", "Failed", f"Error: {err}", c)
            self.touch()
            return None
        except StartError as err:
            msg = f"failed to start container process: {err}"
            c.state = {"terminated": {"exitCode": 128, "reason": "StartError", "message": msg,
                                      "startedAt": "1970-01-01T00:00:00Z", "finishedAt": now()}}
            self.event("Warning", "Failed", f"Error: {msg}", c)
            self._compute_phase()
            self.touch()
            return 128, 0.0
        self.event("Normal", "Started", f"Started container {c.name}", c)
        if not await self._hook(c, "postStart", self._grace()):
            inst.killed_reason = "PostStartHookError"
            await inst.kill(self._grace())
        c.state = {"running": {"startedAt": inst.started_at}}
        c.started = not c.spec.get("startupProbe")
        self._compute_phase()
        self.touch()
        prober = asyncio.create_task(self._probe(c, inst))
        try:
            code = await inst.wait()
        finally:
            prober.cancel()
        c.ready = False
        c.started = False
        reason = inst.killed_reason or ("Completed" if code == 0 else "Error")
        c.state = {"terminated": {"exitCode": code, "reason": reason, "startedAt": inst.started_at,
                                  "finishedAt": inst.finished_at, "containerID": f"process://{inst.proc.pid}"}}
        if code != 0 and c.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            c.state["terminated"]["message"] = _log_tail(inst.log_path)
        self._compute_phase()
        self.touch()
        return code, time.monotonic() - inst.started_mono

    async def _run_with_restarts(self, c: Container, restart_wanted: Callable[[int], bool]) -> int:
        """Run `c` until it exits in a way that wants no restart (with back-off between runs)."""
        while True:
            result = await self._run_once(c)
            if result is None:
                await asyncio.sleep(min(BACKOFF_BASE, 5))
                continue
            code, ran = result
            if not restart_wanted(code):
                return code
            c.last_state = c.state
            await self._backoff(c, ran)

    async def _run_init(self, c: Container) -> bool:
        # An init container is retried until it succeeds, unless the pod never restarts.
        code = await self._run_with_restarts(c, lambda code: code != 0 and self.policy != "Never")
        if code != 0:
            self.reason = ""
        return code == 0

    async def _container_loop(self, c: Container) -> None:
        await self._run_with_restarts(c, lambda code: self._restart_wanted(c, code))

    # ---- processes -----------------------------------------------------------------------

    async def _environment(self, c: Container) -> dict[str, str]:
        """The container's environment, built afresh for every start from the current
        Services, ConfigMaps and Secrets."""
        if not await self.k.services_known(SERVICES_WAIT):
            raise envvars.ContainerConfigError(
                "services have not yet been read at least once, cannot construct envvars")
        spec = c.spec
        cm_names, secret_names = envvars.referenced_objects(spec)
        configmaps: dict[str, dict[str, str] | None] = {}
        secrets: dict[str, dict[str, str] | None] = {}
        for name in cm_names:
            try:
                obj = await self.k.client.get(f"/api/v1/namespaces/{self.ns}/configmaps/{name}")
                configmaps[name] = dict(obj.get("data") or {})
            except ApiError as err:
                if err.status != 404:
                    raise
                configmaps[name] = None
        for name in secret_names:
            try:
                obj = await self.k.client.get(f"/api/v1/namespaces/{self.ns}/secrets/{name}")
                secrets[name] = envvars.secret_data(obj)
            except ApiError as err:
                if err.status != 404:
                    raise
                secrets[name] = None
        pod = dict(self.pod)
        pod["status"] = {**(self.pod.get("status") or {}), "podIP": self.pod_ip,
                         "podIPs": [{"ip": self.pod_ip}], "hostIP": "127.0.0.1",
                         "hostIPs": [{"ip": "127.0.0.1"}]}
        services = envvars.service_env(self.k.services_for_env(self.ns),
                                       self.pod["spec"].get("enableServiceLinks", True))
        env = envvars.container_env(pod, spec, services, configmaps, secrets, self.k.allocatable)
        # What every emulated image provides; the container's own env wins.
        base = {
            "PATH": f"{self.k.cfg.venv}/bin:{SYSTEM_PATH}",
            "HOME": "/root",
            "HOSTNAME": self.name,
        }
        base.update(env)
        return base

    def _mounts(self, c: Container) -> list[Obj]:
        mounts = []
        for vm in c.spec.get("volumeMounts") or []:
            source = self.volume_paths.get(vm["name"])
            if source is None:
                raise envvars.ContainerConfigError(f'volume "{vm["name"]}" not found in pod')
            if vm.get("subPath"):
                source = os.path.join(source, vm["subPath"])
                if not os.path.exists(source):
                    os.makedirs(source, exist_ok=True)
            self.k.ensure_host_path(vm["mountPath"], is_file=os.path.isfile(source))
            mounts.append({"source": source, "target": vm["mountPath"],
                           "readOnly": bool(vm.get("readOnly"))})
        return mounts + self._image_remounts(mounts)

    def _image_remounts(self, mounts: list[Obj]) -> list[Obj]:
        """Bind the emulated image (the venv and the checkout its editable installs point into)
        back over any volume mounted on one of their ancestors, e.g. an emptyDir at /tmp when
        the checkout lives under /tmp. The shim mounts shallow targets first, so these win."""
        image_paths = {os.path.realpath(self.k.cfg.venv), str(config.REPO_ROOT.resolve())}
        extra: list[Obj] = []
        for path in sorted(image_paths):
            for m in mounts:
                target = os.path.realpath(m["target"])
                if path != target and not path.startswith(target.rstrip("/") + "/"):
                    continue
                if path != target and os.path.isdir(m["source"]):
                    # The mount point must exist inside the volume that hides it.
                    os.makedirs(os.path.join(m["source"], os.path.relpath(path, target)), exist_ok=True)
                extra.append({"source": path, "target": path, "readOnly": False})
                break
        return extra

    def _resolve(self, argv0: str, env: dict[str, str], workdir: str) -> None:
        if "/" in argv0:
            path = argv0 if argv0.startswith("/") else os.path.join(workdir or "/", argv0)
            if not os.path.isfile(path):
                raise StartError(f'exec: "{argv0}": stat {path}: no such file or directory')
            if not os.access(path, os.X_OK):
                raise StartError(f'exec: "{argv0}": permission denied')
            return
        if shutil.which(argv0, path=env.get("PATH", "")) is None:
            raise StartError(f'exec: "{argv0}": executable file not found in $PATH')

    async def _spawn(self, c: Container, argv: list[str] | None = None,
                     capture: bool = True) -> Instance:
        if argv is None:
            env = await self._environment(c)
            command, args = envvars.expand_command(c.spec, env)
            argv = command + args if command else args
            if not argv:
                raise StartError("no command specified (the emulated image has no entrypoint)")
            c.env = env
            c.mounts = self._mounts(c)
        out = asyncio.subprocess.PIPE if capture else asyncio.subprocess.DEVNULL
        proc = await self.launch(c, argv, asyncio.subprocess.DEVNULL, out)
        if not capture:
            return Instance(proc, Path(os.devnull))
        inst = Instance(proc, c.log_path(self.dir))
        assert proc.stdout is not None and proc.stderr is not None
        inst.pumps = [asyncio.create_task(_pump(proc.stdout, "stdout", inst.log_path)),
                      asyncio.create_task(_pump(proc.stderr, "stderr", inst.log_path))]
        c.instance = inst
        return inst

    async def launch(self, c: Container, argv: list[str], stdin: int, out: int) -> asyncio.subprocess.Process:
        """Starts argv in the pod's namespaces with the container's env and mounts."""
        workdir = c.spec.get("workingDir") or ""
        if workdir:
            self.k.ensure_host_path(workdir)
        self._resolve(argv[0], c.env, workdir)
        spec = {"hostname": self.name, "mounts": c.mounts, "workingDir": workdir, "argv": argv}
        spec_path = self.dir / f"{c.name}-{time.monotonic_ns()}.json"
        spec_path.write_text(json.dumps(spec))
        cmd = [self.k.ip_binary, "netns", "exec", self.netns, sys.executable, "-I", "-S", SHIM,
               str(spec_path)]
        return await asyncio.create_subprocess_exec(
            *cmd, env=c.env, stdin=stdin, stdout=out, stderr=out, start_new_session=True,
            limit=1 << 20)

    async def exec_in(self, c: Container, argv: list[str], timeout: float) -> int:
        """Runs a command inside the container's namespaces (exec probes)."""
        try:
            inst = await self._spawn(c, argv, capture=False)
        except StartError:
            return 126
        try:
            return await asyncio.wait_for(inst.wait(), timeout)
        except asyncio.TimeoutError:
            await inst.kill(0)
            raise

    # ---- probes ------------------------------------------------------------------------

    async def _probe(self, c: Container, inst: Instance) -> None:
        spec = c.spec

        async def attempt(probe: Obj) -> tuple[bool, str]:
            return await probes.run_probe(probe, self.pod_ip, spec,
                                          lambda argv, t: self.exec_in(c, argv, t))

        async def restart(kind: str, probe: Obj) -> None:
            self.event("Normal", "Killing",
                       f"Container {c.name} failed {kind} probe, will be restarted", c)
            inst.killed_reason = "Error"
            grace = probe.get("terminationGracePeriodSeconds", self._grace())
            await self._kill_container(c, inst, float(grace))

        startup = spec.get("startupProbe")
        if startup:
            await asyncio.sleep(startup.get("initialDelaySeconds", 0))
            failures = 0
            while True:
                ok, msg = await attempt(startup)
                if ok:
                    c.started = True
                    self.touch()
                    break
                failures += 1
                self.event("Warning", "Unhealthy", f"Startup probe failed: {msg}", c)
                if failures >= startup.get("failureThreshold", 3):
                    await restart("startup", startup)
                    return
                await asyncio.sleep(startup.get("periodSeconds", 10))

        async def readiness() -> None:
            probe = spec.get("readinessProbe")
            if not probe:
                c.ready = True
                self.touch()
                return
            await asyncio.sleep(probe.get("initialDelaySeconds", 0))
            successes = failures = 0
            while True:
                ok, msg = await attempt(probe)
                if ok:
                    successes, failures = successes + 1, 0
                    if successes >= probe.get("successThreshold", 1) and not c.ready:
                        c.ready = True
                        self.touch()
                else:
                    successes, failures = 0, failures + 1
                    self.event("Warning", "Unhealthy", f"Readiness probe failed: {msg}", c)
                    if failures >= probe.get("failureThreshold", 3) and c.ready:
                        c.ready = False
                        self.touch()
                await asyncio.sleep(probe.get("periodSeconds", 10))

        async def liveness() -> None:
            probe = spec.get("livenessProbe")
            if not probe:
                return
            await asyncio.sleep(probe.get("initialDelaySeconds", 0))
            failures = 0
            while True:
                ok, msg = await attempt(probe)
                if ok:
                    failures = 0
                else:
                    failures += 1
                    self.event("Warning", "Unhealthy", f"Liveness probe failed: {msg}", c)
                    if failures >= probe.get("failureThreshold", 3):
                        await restart("liveness", probe)
                        return
                await asyncio.sleep(probe.get("periodSeconds", 10))

        await asyncio.gather(readiness(), liveness())

    # ---- deletion ----------------------------------------------------------------------

    async def _terminate(self) -> None:
        grace = 0.5 if self.gone else self._grace()
        running = [c for c in self.all_containers if c.instance and not c.instance.done]
        for c in running:
            self.event("Normal", "Killing", f"Stopping container {c.name}", c)
        await asyncio.gather(*(self._stop(c, grace) for c in running))
        for c in self.all_containers:
            if "waiting" in c.state and c.instance is None:
                c.state = {"terminated": {"exitCode": 137 if not self.initialized else 0,
                                          "reason": "ContainerStatusUnknown" if c.init else "Error",
                                          "startedAt": "1970-01-01T00:00:00Z", "finishedAt": now()}}
            c.ready = False
        self._compute_phase(final=True)

    async def _stop(self, c: Container, grace: float) -> None:
        inst = c.instance
        assert inst is not None
        await self._kill_container(c, inst, grace)
        code = await inst.wait()
        c.state = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                  "startedAt": inst.started_at, "finishedAt": inst.finished_at}}

    async def _teardown(self) -> None:
        self.sandbox = False
        await asyncio.to_thread(network.delete_sandbox, self.netns)
        if self.pod_ip:
            self.k.ipam.release(self.pod_ip)
        await asyncio.to_thread(shutil.rmtree, self.dir, True)

    async def _final_delete(self) -> None:
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                "preconditions": {"uid": self.uid}}
        try:
            await self.k.client.delete(f"/api/v1/namespaces/{self.ns}/pods/{self.name}", body)
        except ApiError as err:
            if err.status not in (404, 409):
                log.warning("final delete of %s/%s: %s", self.ns, self.name, err)
