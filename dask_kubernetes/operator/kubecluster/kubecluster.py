"""KubeCluster: a ``distributed`` cluster manager that drives the Dask Operator's resources."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import html
import logging
import uuid
import weakref
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

import yaml
from distributed.core import Status, rpc
from distributed.deploy.cluster import Cluster
from distributed.utils import Log, Logs, NoOpAwaitable, format_dashboard_link
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config import ConfigException

from dask_kubernetes.operator.kubecluster import addresses, apiserver_errors, k8s
from dask_kubernetes.operator.kubecluster.addresses import Endpoint, Forwarding
from dask_kubernetes.operator.kubecluster.atexit_cleanup import register_exit_handler
from dask_kubernetes.operator.kubecluster.config import setting
from dask_kubernetes.operator.kubecluster.errors import (
    ClusterExistsError,
    ClusterNotFoundError,
    ClusterSpecError,
    KubeClusterError,
    KubernetesCredentialsError,
    OperatorTimeoutError,
    SchedulerStartupError,
    SchedulerUnreachableError,
)
from dask_kubernetes.operator.kubecluster.k8s import (
    AUTOSCALERS,
    CLUSTER_LABEL,
    CLUSTERS,
    COMPONENT_LABEL,
    INSTALL_HINT,
    WORKER_GROUPS,
    Kube,
)
from dask_kubernetes.operator.kubecluster.names import (
    default_cluster_name,
    validate_cluster_name,
    validate_worker_group_name,
)
from dask_kubernetes.operator.kubecluster.podstate import (
    LOG_TAIL_LINES,
    api_error_message,
    conditions_summary,
    pod_ready,
    pod_trouble,
    pod_waiting_reason,
    tail,
)
from dask_kubernetes.operator.kubecluster.portforward import PortForward
from dask_kubernetes.operator.kubecluster.progress import Progress
from dask_kubernetes.operator.spec import (
    DEFAULT_WORKER_COMMAND,
    check_resources,
    env_entries,
    make_cluster_spec,
    make_worker_spec,
)

logger = logging.getLogger(__name__)

#: ``adapt()`` without a maximum: the autoscaler's field is an int32.
UNBOUNDED_WORKERS = 2**31 - 1


class CreateMode(str, Enum):
    """What KubeCluster does when a DaskCluster with its name does or does not exist."""

    CREATE_OR_CONNECT = "CREATE_OR_CONNECT"
    CREATE_ONLY = "CREATE_ONLY"
    CONNECT_ONLY = "CONNECT_ONLY"

    @classmethod
    def parse(cls, value: CreateMode | str) -> CreateMode:
        """Accept a member or its name in any case, with ``-`` or ``_`` (dask config strings)."""
        if isinstance(value, cls):
            return value
        key = str(value).strip().upper().replace("-", "_")
        try:
            return cls[key]
        except KeyError:
            options = ", ".join(member.name for member in cls)
            raise ValueError(f"create_mode {value!r} is not one of {options}") from None


def load_cluster_spec(spec: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    """A DaskCluster manifest from a mapping (copied) or from the path of a YAML file."""
    if isinstance(spec, Mapping):
        manifest = copy.deepcopy(dict(spec))
    else:
        path = Path(spec).expanduser()
        try:
            manifest = yaml.safe_load(path.read_text())
        except OSError as error:
            raise ValueError(f"custom_cluster_spec: cannot read {path}: {error}") from error
    if not isinstance(manifest, dict) or not isinstance(manifest.get("spec"), Mapping):
        raise ValueError(
            "custom_cluster_spec must be a DaskCluster manifest with metadata.name and spec "
            "(see make_cluster_spec)"
        )
    kind = manifest.get("kind", "DaskCluster")
    if kind != "DaskCluster":
        raise ValueError(f"custom_cluster_spec must be a DaskCluster, not a {kind}")
    manifest.setdefault("apiVersion", k8s.API_VERSION)
    manifest.setdefault("kind", "DaskCluster")
    manifest.setdefault("metadata", {})
    return manifest


def worker_defaults(cluster: Mapping[str, Any]) -> dict[str, Any]:
    """Image, env and resources of a DaskCluster's default workers (for new worker groups)."""
    pod = ((cluster.get("spec") or {}).get("worker") or {}).get("spec") or {}
    containers = pod.get("containers") or [{}]
    container = next((c for c in containers if c.get("name") == "worker"), containers[0])
    defaults: dict[str, Any] = {}
    if container.get("image"):
        defaults["image"] = container["image"]
    if container.get("env"):
        defaults["env"] = copy.deepcopy(container["env"])
    if container.get("resources"):
        defaults["resources"] = copy.deepcopy(container["resources"])
    return defaults


def _owner_reference(cluster: Mapping[str, Any]) -> dict[str, Any]:
    metadata = cluster["metadata"]
    return {
        "apiVersion": k8s.API_VERSION,
        "kind": "DaskCluster",
        "name": metadata["name"],
        "uid": metadata["uid"],
    }


class KubeCluster(Cluster):
    """Launch a Dask Cluster on Kubernetes using the Operator

    This cluster manager creates a Dask cluster by deploying the necessary kubernetes resources
    the Dask Operator needs to create pods. It can also connect to an existing cluster by
    providing the name of the cluster.

    Parameters
    ----------
    name: str
        Name given the Dask cluster. Ignored in favour of ``custom_cluster_spec["metadata"]["name"]``
        when ``custom_cluster_spec`` is passed. Defaults to ``kubernetes.name`` from dask config
        (``dask-{user}-{uuid}``).
    namespace: str (optional)
        Namespace in which to launch the workers. Defaults to current namespace if available
        or "default".
    image: str (optional)
        Image to run in Scheduler and Worker Pods.
    n_workers: int
        Number of workers on initial launch. Use ``scale`` to change this number in the future.
    resources: Dict[str, str]
        Container resources, ``{"requests": {...}, "limits": {...}}``; any other key raises
        ``ValueError``.
    env: List[dict] | Dict[str, str]
        Environment variables for the scheduler and worker pods: a list of Kubernetes env
        entries or a ``{name: value}`` mapping.
    worker_command: List[str] | str
        The command that starts a worker. Defaults to ``"dask worker"``.
    port_forward_cluster_ip: bool (optional)
        ``True``: always reach a ClusterIP scheduler Service through a port-forward over the
        apiserver; ``False``: never port-forward; ``None`` (default): use the Service's address
        when it answers, else port-forward.
    create_mode: CreateMode (optional)
        ``CREATE_OR_CONNECT`` (default), ``CREATE_ONLY`` (raise if the cluster exists) or
        ``CONNECT_ONLY`` (raise if it does not). Strings are accepted too.
    shutdown_on_close: bool (optional)
        Whether to delete the cluster resource when this object is closed. Defaults to True
        when this object created the cluster and False when it connected to an existing one.
    idle_timeout: int (optional)
        If set the operator deletes the cluster once its scheduler has been idle for this many
        seconds.
    resource_timeout: int (optional)
        Seconds to wait for Kubernetes resources to reach their expected state: for the
        operator to give the DaskCluster a ``status.phase`` and create its scheduler, and for a
        crash-looping scheduler before giving up with its logs. Defaults to 60.
    scheduler_service_type: str (optional)
        Kubernetes service type of the scheduler. Defaults to ClusterIP.
    custom_cluster_spec: str | dict (optional)
        Path to a YAML manifest or a dictionary of a DaskCluster resource, used instead of
        generating one from the other keyword arguments (which are then ignored).
    scheduler_forward_port: int (optional)
        Local port of the forwarded scheduler dashboard (when port-forwarding). Random by
        default.
    jupyter: bool (optional)
        Start Jupyter on the scheduler (see ``jupyter_link``).
    quiet: bool
        If enabled, suppress all printed output. Defaults to False.
    **kwargs: dict
        Passed to ``distributed.deploy.Cluster``.

    Examples
    --------
    >>> from dask_kubernetes.operator import KubeCluster
    >>> cluster = KubeCluster(name="foo")
    >>> cluster.add_worker_group("additional", n_workers=4)
    >>> cluster.scale(10)
    >>> cluster.scale(10, worker_group="additional")
    >>> cluster.adapt(20, 50)
    >>> from dask.distributed import Client
    >>> client = Client(cluster)
    >>> cluster.get_logs()
    >>> existing_cluster = KubeCluster.from_name(name="ialreadyexist")
    """

    _instances: ClassVar[weakref.WeakSet[KubeCluster]] = weakref.WeakSet()

    def __init__(
        self,
        *,
        name: str | None = None,
        namespace: str | None = None,
        image: str | None = None,
        n_workers: int | None = None,
        resources: dict[str, Any] | None = None,
        env: list[dict[str, Any]] | dict[str, str] | None = None,
        worker_command: list[str] | str | None = None,
        port_forward_cluster_ip: bool | None = None,
        create_mode: CreateMode | str | None = None,
        shutdown_on_close: bool | None = None,
        idle_timeout: int | None = None,
        resource_timeout: int | None = None,
        scheduler_service_type: str | None = None,
        custom_cluster_spec: str | dict[str, Any] | None = None,
        scheduler_forward_port: int | None = None,
        jupyter: bool = False,
        loop: Any = None,
        asynchronous: bool = False,
        quiet: bool = False,
        **kwargs: Any,
    ) -> None:
        # Everything up to super().__init__ is local: bad input fails before any API call.
        custom = setting("custom-cluster-spec", custom_cluster_spec)
        manifest = load_cluster_spec(custom) if custom is not None else None
        if manifest is not None:
            name = manifest["metadata"].get("name")
            if not name:
                raise ValueError("custom_cluster_spec needs metadata.name")
            namespace = namespace or manifest["metadata"].get("namespace")
        elif name is None:
            name = default_cluster_name(setting("name"))
        validate_cluster_name(name)
        assert isinstance(name, str)

        self.namespace: str = namespace or setting("namespace") or k8s.current_namespace()
        self.image: str = setting("image", image)
        self.n_workers: int = setting("count.start", n_workers)
        self.resources: dict[str, Any] = setting("resources", resources) or {}
        self.env: Any = setting("env", env) or {}
        self.worker_command: Any = setting("worker-command", worker_command)
        self.port_forward_cluster_ip: bool | None = setting(
            "port-forward-cluster-ip", port_forward_cluster_ip
        )
        self.create_mode = CreateMode.parse(setting("create-mode", create_mode))
        self._shutdown_on_close: bool | None = setting("shutdown-on-close", shutdown_on_close)
        self.idle_timeout: int = int(setting("idle-timeout", idle_timeout) or 0)
        self.resource_timeout: float = float(setting("resource-timeout", resource_timeout))
        self.scheduler_service_type: str = setting("scheduler-service-type", scheduler_service_type)
        self.scheduler_forward_port: int | None = setting(
            "scheduler-forward-port", scheduler_forward_port
        )
        self.jupyter: bool = bool(jupyter or setting("scheduler-jupyter"))
        if manifest is None:
            manifest = make_cluster_spec(
                name=name,
                image=self.image,
                n_workers=self.n_workers,
                resources=self.resources,
                env=self.env,
                scheduler_service_type=self.scheduler_service_type,
                idle_timeout=self.idle_timeout,
                jupyter=self.jupyter,
                worker_command=self.worker_command or DEFAULT_WORKER_COMMAND,
            )
        self._manifest: dict[str, Any] = manifest

        self._kube: Kube | None = None
        self._created = False
        self._cluster: dict[str, Any] = {}
        self._forwards: list[PortForward] = []
        self._dashboard: Endpoint | None = None
        self._scheduler_endpoint: Endpoint | None = None
        self._worker_groups: set[str] = set()
        self._autoscaling: tuple[int, int] | None = None

        super().__init__(asynchronous=asynchronous, loop=loop, quiet=quiet, name=name, **kwargs)

        if not self.asynchronous:
            self._loop_runner.start()
            try:
                self.sync(self._start)
            except BaseException:
                self._loop_runner.stop()
                raise

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_name(cls, name: str, **kwargs: Any) -> KubeCluster:
        """Create an instance of this class to represent an existing cluster by name.

        Will fail if a cluster with that name doesn't already exist.

        Examples
        --------
        >>> cluster = KubeCluster.from_name(name="simple-cluster")
        """
        kwargs.setdefault("create_mode", CreateMode.CONNECT_ONLY)
        return cls(name=name, **kwargs)

    def __await__(self) -> Any:
        async def _() -> KubeCluster:
            if self.status == Status.created:
                await self._start()
            return self

        return _().__await__()

    @property
    def shutdown_on_close(self) -> bool:
        if self._shutdown_on_close is not None:
            return bool(self._shutdown_on_close)
        return self._created

    @shutdown_on_close.setter
    def shutdown_on_close(self, value: bool | None) -> None:
        self._shutdown_on_close = value

    @property
    def kube(self) -> Kube:
        if self._kube is None:
            raise RuntimeError(f"KubeCluster {self.name!r} is not connected to Kubernetes")
        return self._kube

    async def _start(self) -> None:
        self.status = Status.starting
        try:
            try:
                self._kube = await Kube.connect()
            except ConfigException as error:
                raise apiserver_errors.bad_kubeconfig(k8s.kubeconfig_path(), error) from None
            try:
                await self.kube.check_crds()
                await self._create_or_connect()
                await self._wait_for_operator()
                await self._wait_for_scheduler()
                await self._connect_to_scheduler()
            except ApiException as error:
                explained = self._explain(error)
                # a rejected login is said in full; its HTTP response adds nothing but noise
                raise explained from (None if isinstance(explained, KubernetesCredentialsError) else error)
            except KubeClusterError:  # our own errors (e.g. OperatorTimeoutError, a TimeoutError) say it all
                raise
            except apiserver_errors.CONNECTION_ERRORS as error:
                # no aiohttp traceback: the message says which server was tried and what to check
                raise apiserver_errors.unreachable(self.kube.source, error) from None
            await super()._start()
        except BaseException:
            await self._abandon_start()
            raise
        register_exit_handler()
        KubeCluster._instances.add(self)

    def _explain(self, error: ApiException) -> Exception:
        """Turn the API errors users can fix themselves into messages that say how."""
        message = api_error_message(error)
        if error.status == 401:
            source = self._kube.source if self._kube is not None else apiserver_errors.Source("the API server")
            return apiserver_errors.unauthorized(source, message)
        if error.status == 403:
            return KubeClusterError(
                f"Kubernetes refused a request for DaskCluster {self.namespace}/{self.name}: "
                f"{message}. The identity in your kubeconfig (or the pod's service account) needs "
                "the permissions listed in the user docs' RBAC section (dask custom resources, "
                "pods, pods/log, pods/portforward and services)."
            )
        if error.status == 404 and "namespaces" in message:
            return KubeClusterError(
                f"Namespace {self.namespace!r} does not exist: {message}. Create it "
                f"(`kubectl create namespace {self.namespace}`) or pass another namespace."
            )
        return error

    async def _create_or_connect(self) -> None:
        kube, namespace, name = self.kube, self.namespace, self.name
        existing = await kube.get(CLUSTERS, namespace, name)
        if existing is not None:
            if self.create_mode is CreateMode.CREATE_ONLY:
                raise ClusterExistsError(
                    f"A DaskCluster named {name!r} already exists in namespace {namespace!r} and "
                    f"create_mode is CREATE_ONLY. Choose another name, or connect to it with "
                    f"KubeCluster.from_name({name!r})."
                )
            self._cluster = existing
            self._log(f"Connecting to existing DaskCluster {namespace}/{name}")
            return
        if self.create_mode is CreateMode.CONNECT_ONLY:
            raise ClusterNotFoundError(
                f"No DaskCluster named {name!r} in namespace {namespace!r} to connect to "
                f"(create_mode CONNECT_ONLY). `kubectl get daskclusters -n {namespace}` lists "
                "the clusters there."
            )
        manifest = copy.deepcopy(self._manifest)
        manifest["metadata"]["name"] = name
        manifest["metadata"]["namespace"] = namespace
        try:
            self._cluster = await kube.create(CLUSTERS, namespace, manifest)
        except ApiException as error:
            if error.status == 409 and self.create_mode is CreateMode.CREATE_OR_CONNECT:
                # Someone created it between our get and create: connect to theirs.
                self._cluster = await kube.get(CLUSTERS, namespace, name) or {}
                self._log(f"Connecting to existing DaskCluster {namespace}/{name}")
                return
            if error.status in (400, 422):
                raise ClusterSpecError(
                    f"Kubernetes rejected DaskCluster {namespace}/{name}: "
                    f"{api_error_message(error)}"
                ) from error
            raise
        self._created = True
        self._log(f"Created DaskCluster {namespace}/{name}")

    async def _refresh_cluster(self) -> dict[str, Any]:
        cluster = await self.kube.get(CLUSTERS, self.namespace, self.name)
        if cluster is None:
            raise ClusterNotFoundError(
                f"DaskCluster {self.namespace}/{self.name} was deleted (by someone else?)"
            )
        self._cluster = cluster
        phase = (cluster.get("status") or {}).get("phase")
        if phase == "Error":
            reasons = conditions_summary(cluster) or "see `kubectl describe daskcluster`"
            raise ClusterSpecError(
                f"The Dask Operator rejected DaskCluster {self.namespace}/{self.name}: {reasons}"
            )
        return cluster

    @property
    def _phase(self) -> str:
        return str((self._cluster.get("status") or {}).get("phase") or "")

    async def _wait_for_operator(self) -> None:
        """Wait until the operator gives the DaskCluster a phase (proof it is running)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.resource_timeout
        progress = Progress(self._log)
        where = f"DaskCluster {self.namespace}/{self.name}"
        while not (await self._refresh_cluster()).get("status", {}).get("phase"):
            if loop.time() >= deadline:
                raise OperatorTimeoutError(
                    f"Timed out after {self.resource_timeout:.0f}s (resource_timeout) waiting "
                    f"for {where} to get a status.phase: is the Dask Operator running? Check "
                    "`kubectl get pods -A -l app.kubernetes.io/name=dask-kubernetes-operator`; "
                    f"if it is missing: {INSTALL_HINT}"
                )
            progress(f"Waiting for the Dask Operator to pick up {where}")
            await asyncio.sleep(0.5)

    async def _scheduler_pods(self) -> list[dict[str, Any]]:
        pods = await self.kube.list_pods(
            self.namespace, f"{CLUSTER_LABEL}={self.name},{COMPONENT_LABEL}=scheduler"
        )
        return [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]

    async def _wait_for_scheduler(self) -> None:
        """Wait for a ready scheduler; a scheduler that cannot start raises with its logs."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        trouble_since: float | None = None
        progress = Progress(self._log)
        where = f"DaskCluster {self.namespace}/{self.name}"
        while True:
            await self._refresh_cluster()
            pods = await self._scheduler_pods()
            if self._phase == "Running" or any(pod_ready(p) for p in pods):
                progress.done(f"Scheduler of {where} is ready")
                return
            now = loop.time()
            troubled = [(p, why) for p in pods if (why := pod_trouble(p))]
            if troubled:
                trouble_since = trouble_since or now
                failed = any((p.get("status") or {}).get("phase") == "Failed" for p, _ in troubled)
                if failed or now - trouble_since >= self.resource_timeout:
                    raise await self._scheduler_startup_error(*troubled[0])
                pod, why = troubled[0]
                progress(
                    f"Scheduler pod {pod['metadata']['name']} {why}; waiting for it to recover"
                )
            else:
                trouble_since = None
                if not pods and now - started >= self.resource_timeout:
                    raise OperatorTimeoutError(
                        f"{where} has phase {self._phase!r} but no scheduler pod after "
                        f"{self.resource_timeout:.0f}s (resource_timeout): is the Dask Operator "
                        "running and healthy? Check its logs and `kubectl describe daskcluster "
                        f"{self.name} -n {self.namespace}`."
                    )
                if pods:
                    progress(
                        f"Waiting for scheduler pod {pods[0]['metadata']['name']} to be ready "
                        f"({pod_waiting_reason(pods[0])})"
                    )
                else:
                    progress(f"Waiting for the scheduler pod of {where}")
            await asyncio.sleep(1)

    async def _scheduler_startup_error(
        self, pod: dict[str, Any], why: str
    ) -> SchedulerStartupError:
        name = pod["metadata"]["name"]
        previous = await self.kube.pod_logs(self.namespace, name, "scheduler", previous=True)
        current = await self.kube.pod_logs(self.namespace, name, "scheduler")
        logs = "\n".join(text for text in (previous, current) if text.strip())
        shown = tail(logs) if logs.strip() else "(the scheduler wrote no logs)"
        return SchedulerStartupError(
            f"The scheduler of DaskCluster {self.namespace}/{self.name} failed to start: pod "
            f"{name} {why}. Check the scheduler's image, command and configuration. Its logs "
            f"(last {LOG_TAIL_LINES} lines):\n{shown}",
            logs=logs,
        )

    async def _wait_for_service(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.resource_timeout
        service_name = f"{self.name}-scheduler"
        progress = Progress(self._log)
        while (service := await self.kube.get_service(self.namespace, service_name)) is None:
            if loop.time() >= deadline:
                raise OperatorTimeoutError(
                    f"No scheduler Service {self.namespace}/{service_name} after "
                    f"{self.resource_timeout:.0f}s (resource_timeout): is the Dask Operator "
                    "running?"
                )
            progress(f"Waiting for the scheduler Service {self.namespace}/{service_name}")
            await asyncio.sleep(0.5)
        return service

    async def _running_scheduler_pod(self) -> dict[str, Any]:
        """The scheduler pod to forward to: a ready one, else a running one."""
        pods = await self._scheduler_pods()
        ready = [p for p in pods if pod_ready(p)] or [
            p for p in pods if (p.get("status") or {}).get("phase") == "Running"
        ]
        if not ready:
            raise SchedulerUnreachableError(
                f"DaskCluster {self.namespace}/{self.name} has no running scheduler pod"
            )
        return ready[0]

    async def _scheduler_pod_name(self) -> str:
        return str((await self._running_scheduler_pod())["metadata"]["name"])

    async def _reach(
        self, service: dict[str, Any], port_name: str, local_port: int | None = None
    ) -> Endpoint:
        """The address to use for *port_name* of the scheduler Service (see addresses)."""
        service_type = (service.get("spec") or {}).get("type")
        nodes = await self.kube.list_nodes() if service_type in ("NodePort", "LoadBalancer") else []
        route = addresses.plan_route(
            service,
            port_name,
            nodes=nodes,
            in_pod=k8s.running_in_pod(),
            port_forward_cluster_ip=self.port_forward_cluster_ip,
        )
        if route.forwarding is not Forwarding.ALWAYS:
            found = await addresses.find_reachable(route.candidates)
            if found is not None:
                return found
            if route.forwarding is Forwarding.NEVER:
                if not route.candidates:
                    raise SchedulerUnreachableError(
                        f"The scheduler Service of {self.name} has no address for {port_name} "
                        "and port_forward_cluster_ip is False"
                    )
                logger.warning(
                    "%s of %s does not answer; using it anyway (port_forward_cluster_ip=False)",
                    route.candidates[0],
                    self.name,
                )
                return route.candidates[0]
        pod = await self._running_scheduler_pod()
        forward = PortForward(
            self.kube,
            self.namespace,
            self._scheduler_pod_name,
            remote_port=addresses.resolve_container_port(pod, route.target_port),
            local_port=local_port or 0,
        )
        await forward.start()
        self._forwards.append(forward)
        self._log(
            f"Forwarding localhost:{forward.local_port} to {port_name} of the scheduler "
            "through the Kubernetes API"
        )
        return Endpoint(forward.host, forward.local_port, "port-forward")

    async def _connect_to_scheduler(self) -> None:
        service = await self._wait_for_service()
        self._scheduler_endpoint = await self._reach(service, addresses.SCHEDULER_PORT_NAME)
        self.scheduler_comm = rpc(f"tcp://{self._scheduler_endpoint}")
        try:
            addresses.find_service_port(service, addresses.DASHBOARD_PORT_NAME)
        except ValueError:
            self._dashboard = None
        else:
            self._dashboard = await self._reach(
                service, addresses.DASHBOARD_PORT_NAME, self.scheduler_forward_port
            )

    async def _stop_forwards(self) -> None:
        forwards, self._forwards = self._forwards, []
        for forward in forwards:
            with contextlib.suppress(Exception):
                await forward.stop()

    async def _abandon_start(self) -> None:
        """Undo a failed start: delete what we created, close connections."""
        with contextlib.suppress(Exception):
            if self.scheduler_comm is not None:
                await self.scheduler_comm.close_rpc()
        await self._stop_forwards()
        if self._created and self._kube is not None:
            self._log(f"Start failed: deleting DaskCluster {self.namespace}/{self.name}")
            # Untouched by an operator it has no children: delete it outright (foreground
            # deletion would wait for the garbage collector, which may not be running either).
            propagation = "Foreground" if self._phase else "Background"
            try:
                await self._kube.delete(CLUSTERS, self.namespace, self.name, propagation)
                await self._kube.wait_deleted(
                    CLUSTERS, self.namespace, self.name, max(self.resource_timeout, 30)
                )
            except Exception as error:  # keep the original error; say what is left
                logger.warning(
                    "Could not delete DaskCluster %s/%s after a failed start: %s",
                    self.namespace,
                    self.name,
                    error,
                )
            self._created = False
        if self._kube is not None:
            await self._kube.close()
            self._kube = None
        self.status = Status.closed

    # -- closing -----------------------------------------------------------------------------

    def close(self, timeout: float | None = 3600) -> Any:
        """Delete the dask cluster (when this object owns it) and close connections.

        The DaskCluster is deleted only when ``shutdown_on_close`` is true (the default for a
        cluster this object created); its worker groups and autoscaler go with it. *timeout*
        bounds the wait for the deletion, in seconds.
        """
        if self.status == Status.closed:
            return NoOpAwaitable() if self.asynchronous else None
        try:
            result = self.sync(self._close, timeout=timeout)
        finally:
            if not self.asynchronous:
                self._loop_runner.stop()
        return result

    async def _close(self, timeout: float | None = 3600) -> None:
        if self.status == Status.closed:
            return
        try:
            await super()._close()
            if self.shutdown_on_close and self._kube is not None:
                self._log(f"Deleting DaskCluster {self.namespace}/{self.name}")
                await self._kube.delete(CLUSTERS, self.namespace, self.name)
                if not await self._kube.wait_deleted(
                    CLUSTERS, self.namespace, self.name, timeout or 3600
                ):
                    logger.warning(
                        "DaskCluster %s/%s still exists %ss after deleting it",
                        self.namespace,
                        self.name,
                        timeout,
                    )
        finally:
            self.status = Status.closed
            KubeCluster._instances.discard(self)
            await self._stop_forwards()
            if self._kube is not None:
                await self._kube.close()
                self._kube = None

    # -- scaling -----------------------------------------------------------------------------

    def _group_resource_name(self, worker_group: str) -> str:
        return f"{self.name}-{worker_group}"

    def scale(self, n: int, worker_group: str = "default") -> Any:
        """Scale cluster to n workers

        Scaling turns adaptive scaling of that worker group off (the DaskAutoscaler is
        deleted).

        Parameters
        ----------
        n : int
            Target number of workers
        worker_group : str
            Worker group to scale
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"scale() needs a whole number of workers, 0 or more; got {n!r}")
        return self.sync(self._scale, n, worker_group)

    async def _scale(self, n: int, worker_group: str = "default") -> None:
        await self._stop_autoscaler(worker_group)
        if worker_group == "default":
            await self.kube.patch(
                CLUSTERS, self.namespace, self.name, {"spec": {"worker": {"replicas": n}}}
            )
        else:
            group = self._group_resource_name(worker_group)
            if await self.kube.get(WORKER_GROUPS, self.namespace, group) is None:
                raise ValueError(
                    f"Cluster {self.name!r} has no worker group {worker_group!r} "
                    f"(DaskWorkerGroup {self.namespace}/{group})"
                )
            await self.kube.patch(
                WORKER_GROUPS, self.namespace, group, {"spec": {"worker": {"replicas": n}}}
            )

    async def _stop_autoscaler(self, worker_group: str) -> None:
        autoscaler = await self.kube.get(AUTOSCALERS, self.namespace, self.name)
        if autoscaler is None:
            self._autoscaling = None
            return
        target = (autoscaler.get("spec") or {}).get("workerGroup") or self._group_resource_name(
            "default"
        )
        if target == self._group_resource_name(worker_group):
            await self.kube.delete(AUTOSCALERS, self.namespace, self.name, "Background")
            self._autoscaling = None
            self._log(f"Adaptive scaling of {self.name} turned off")

    def adapt(  # type: ignore[override]
        self, minimum: int | None = None, maximum: int | None = None
    ) -> Any:
        """Turn on adaptivity

        The operator's DaskAutoscaler ``{name}`` asks the scheduler how many workers it wants
        and scales the default worker group between *minimum* and *maximum*. ``scale()`` turns
        it off again.

        Parameters
        ----------
        minimum : int
            Minimum number of workers (default 0)
        maximum : int
            Maximum number of workers (default ``kubernetes.count.max``, else unbounded)

        Examples
        --------
        >>> cluster.adapt()  # Allow scheduler to add/remove workers within k8s cluster resource limits
        >>> cluster.adapt(minimum=1, maximum=10) # Allow scheduler to add/remove workers within 1-10 range
        """
        minimum = 0 if minimum is None else minimum
        if maximum is None:
            maximum = setting("count.max") or UNBOUNDED_WORKERS
        for label, value in (("minimum", minimum), ("maximum", maximum)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"adapt() {label} must be a whole number, 0 or more; got {value!r}"
                )
        assert isinstance(maximum, int)
        if minimum > maximum:
            raise ValueError(f"adapt() minimum ({minimum}) is greater than maximum ({maximum})")
        return self.sync(self._adapt, minimum, maximum)

    async def _adapt(self, minimum: int, maximum: int) -> None:
        cluster = await self._refresh_cluster()
        body = {
            "apiVersion": k8s.API_VERSION,
            "kind": "DaskAutoscaler",
            "metadata": {
                "name": self.name,
                "labels": {CLUSTER_LABEL: self.name},
                "ownerReferences": [_owner_reference(cluster)],
            },
            "spec": {"cluster": self.name, "minimum": minimum, "maximum": maximum},
        }
        try:
            await self.kube.create(AUTOSCALERS, self.namespace, body)
        except ApiException as error:
            if error.status != 409:
                raise
            await self.kube.patch(
                AUTOSCALERS,
                self.namespace,
                self.name,
                {"spec": {"minimum": minimum, "maximum": maximum}},
            )
        self._autoscaling = (minimum, maximum)
        shown = "unbounded" if maximum == UNBOUNDED_WORKERS else str(maximum)
        self._log(f"Adaptive scaling of {self.name} between {minimum} and {shown} workers")

    # -- worker groups -----------------------------------------------------------------------

    def add_worker_group(
        self,
        name: str | None = None,
        n_workers: int = 3,
        image: str | None = None,
        resources: dict[str, Any] | None = None,
        worker_command: list[str] | str | None = None,
        env: list[dict[str, Any]] | dict[str, str] | None = None,
        custom_spec: dict[str, Any] | None = None,
        *,
        n: int | None = None,
    ) -> Any:
        """Create a dask worker group by name

        Creates the DaskWorkerGroup ``{cluster}-{name}``. Returns the group name (generated
        when only *custom_spec* is given).

        Parameters
        ----------
        name: str
            Name of the worker group
        n_workers: int
            Number of workers on initial launch (``n`` is accepted as an alias). Use
            ``.scale(n_workers, worker_group=name)`` to change this number in the future.
        image: str (optional)
            Image to run in the worker pods. If omitted will use the cluster default.
        resources: Dict[str, str]
            Resources to be passed to the underlying pods. If omitted will use the cluster
            default.
        worker_command: List[str] | str (optional)
            The command that starts a worker. Defaults to ``"dask worker"``.
        env: List[dict] | Dict[str, str]
            Environment variables of the worker pods. If omitted will use the cluster default.
        custom_spec: dict (optional)
            A worker spec (see ``make_worker_spec``) used instead of generating one from the
            other keyword arguments.

        Examples
        --------
        >>> cluster.add_worker_group("high-mem-workers", n_workers=5)
        """
        if n is not None:
            n_workers = n
        if name is None:
            if custom_spec is None:
                raise TypeError("add_worker_group() needs a name (or a custom_spec)")
            name = f"group-{uuid.uuid4().hex[:6]}"
        validate_worker_group_name(self.name, name)
        if custom_spec is not None:
            worker = copy.deepcopy(dict(custom_spec))
        else:
            defaults = worker_defaults(self._cluster or self._manifest)
            worker = make_worker_spec(
                image=image or defaults.get("image") or self.image,
                n_workers=n_workers,
                resources=check_resources(resources) if resources else defaults.get("resources"),
                env=env_entries(env) if env is not None else defaults.get("env"),
                worker_command=worker_command or DEFAULT_WORKER_COMMAND,
            )
        return self.sync(self._add_worker_group, name, worker)

    async def _add_worker_group(self, name: str, worker: dict[str, Any]) -> str:
        cluster = await self._refresh_cluster()
        group = self._group_resource_name(name)
        body = {
            "apiVersion": k8s.API_VERSION,
            "kind": "DaskWorkerGroup",
            "metadata": {
                "name": group,
                "labels": {CLUSTER_LABEL: self.name},
                "ownerReferences": [_owner_reference(cluster)],
            },
            "spec": {"cluster": self.name, "worker": worker},
        }
        try:
            await self.kube.create(WORKER_GROUPS, self.namespace, body)
        except ApiException as error:
            if error.status == 409:
                raise ValueError(
                    f"Cluster {self.name!r} already has a worker group {name!r}"
                ) from error
            if error.status in (400, 422):
                raise ValueError(
                    f"Kubernetes rejected worker group {name!r}: {api_error_message(error)}"
                ) from error
            raise
        self._worker_groups.add(name)
        self._log(f"Created worker group {name} (DaskWorkerGroup {self.namespace}/{group})")
        return name

    def delete_worker_group(self, name: str) -> Any:
        """Delete a dask worker group by name

        Parameters
        ----------
        name: str
            Name of the worker group

        Examples
        --------
        >>> cluster.delete_worker_group("high-mem-workers")
        """
        return self.sync(self._delete_worker_group, name)

    async def _delete_worker_group(self, name: str) -> None:
        group = self._group_resource_name(name)
        # Background: the group goes now; the garbage collector and operator remove its pods.
        if not await self.kube.delete(WORKER_GROUPS, self.namespace, group, "Background"):
            raise ValueError(f"Cluster {self.name!r} has no worker group {name!r}")
        self._worker_groups.discard(name)
        self._log(f"Deleted worker group {name}")

    # -- logs --------------------------------------------------------------------------------

    def get_logs(self) -> Any:  # type: ignore[override]
        """Get logs for Dask scheduler and workers.

        Returns a mapping of pod name to that pod's log (every pod of the cluster: scheduler,
        workers of all groups and, for a DaskJob's cluster, the job runner).

        Examples
        --------
        >>> cluster.get_logs()
        {'foo-scheduler-5c8ffb6b7b-sjgrg': ..., 'foo-default-worker-0269dbfa0c': ...}
        >>> print(cluster.get_logs()["foo-scheduler-5c8ffb6b7b-sjgrg"])
        """
        return self.sync(self._get_pod_logs)

    async def _get_pod_logs(self) -> Logs:
        pods: dict[str, dict[str, Any]] = {}
        for selector in (f"{CLUSTER_LABEL}={self.name}", f"app.kubernetes.io/instance={self.name}"):
            for pod in await self.kube.list_pods(self.namespace, selector):
                pods.setdefault(pod["metadata"]["name"], pod)
        logs = Logs()
        for pod_name in sorted(pods):
            pod_spec = pods[pod_name].get("spec") or {}
            containers = [c["name"] for c in pod_spec.get("containers") or []]
            parts = []
            for container in containers:
                text = await self.kube.pod_logs(self.namespace, pod_name, container)
                parts.append(text if len(containers) == 1 else f"--- {container} ---\n{text}")
            logs[pod_name] = Log("\n".join(parts))
        return logs

    def logs(self) -> Any:
        """Alias of :meth:`get_logs`."""
        return self.get_logs()

    async def _worker_pod_names(self) -> set[str]:
        pods = await self.kube.list_pods(
            self.namespace, f"{CLUSTER_LABEL}={self.name},{COMPONENT_LABEL}=worker"
        )
        return {p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp")}

    @property
    def requested(self) -> Any:
        """Names of the worker pods of this cluster, every group (workers are named after
        their pods). Awaitable in asynchronous mode."""
        return self.sync(self._worker_pod_names)

    @property
    def plan(self) -> Any:
        """Same as :attr:`requested`: the operator, not this object, plans the workers."""
        return self.requested

    # -- links and representation ------------------------------------------------------------

    @property
    def dashboard_link(self) -> str:
        """The dashboard's URL: the one the operator exposes (``status.externalDashboardURL``,
        an Ingress) when there is one, else the address this object reaches it at."""
        exposed = (self._cluster.get("status") or {}).get("externalDashboardURL")
        if exposed:
            return str(exposed)
        if self._dashboard is None:
            return ""
        return str(format_dashboard_link(self._dashboard.host, self._dashboard.port))

    @property
    def jupyter_link(self) -> str | None:
        """URL of the Jupyter server on the scheduler (``jupyter=True``), else None."""
        if not self.jupyter or self._dashboard is None:
            return None
        link = self.dashboard_link
        base = link[: -len("/status")] if link.endswith("/status") else link.rstrip("/")
        return f"{base}/jupyter/lab"

    def generate_rich_output(self) -> str:
        """A plain-text summary of the cluster (what the HTML repr shows, for terminals)."""
        lines = [
            f"KubeCluster {self.name} (namespace {self.namespace})",
            f"  phase:     {self._phase or 'unknown'}",
            f"  scheduler: {self.scheduler_address}",
            f"  dashboard: {self.dashboard_link or '-'}",
            f"  workers:   {len(self.scheduler_info['workers'])}",
        ]
        if self._worker_groups:
            lines.append(f"  extra worker groups: {', '.join(sorted(self._worker_groups))}")
        if self._autoscaling:
            lines.append(f"  adaptive:  {self._autoscaling[0]} to {self._autoscaling[1]} workers")
        if self.jupyter_link:
            lines.append(f"  jupyter:   {self.jupyter_link}")
        return "\n".join(lines)

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and self.name == getattr(other, "name", None)
            and self.namespace == getattr(other, "namespace", None)
        )

    def __hash__(self) -> int:
        return id(self)

    def _scaling_status(self) -> str:
        workers = len(self.scheduler_info["workers"])
        if self._autoscaling:
            minimum, maximum = self._autoscaling
            shown = "∞" if maximum == UNBOUNDED_WORKERS else maximum
            mode = f"Adaptive (DaskAutoscaler, {minimum} to {shown} workers)"
        else:
            mode = "Manual"
        return (
            '<table><tr><td style="text-align: left;">'
            f"Scaling mode: {html.escape(mode)}</td></tr>"
            f'<tr><td style="text-align: left;">Workers: {workers}</td></tr></table>'
        )

    def _repr_html_(self, cluster_status: str | None = None) -> str:
        rows = [
            ("Namespace", self.namespace),
            ("DaskCluster phase", self._phase or "unknown"),
            ("Scheduler address", self.scheduler_address),
        ]
        if self._scheduler_endpoint is not None:
            rows.append(("Reached through", self._scheduler_endpoint.source))
        if self._worker_groups:
            rows.append(("Extra worker groups", ", ".join(sorted(self._worker_groups))))
        if self.jupyter_link:
            rows.append(("Jupyter", self.jupyter_link))
        table = "".join(
            f'<tr><td style="text-align: left;"><strong>{html.escape(k)}:</strong> '
            f"{html.escape(str(v))}</td></tr>"
            for k, v in rows
        )
        status = f'<table style="width: 100%">{table}</table>{cluster_status or ""}'
        return str(super()._repr_html_(cluster_status=status))


__all__ = ["CreateMode", "KubeCluster", "load_cluster_spec", "worker_defaults"]
