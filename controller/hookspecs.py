"""The hook specifications of the Dask operator: the whole contract between core and plugins.

Every hook is prefixed ``dask_`` and belongs to the pluggy project ``dask_operator``. Hooks come
in three flavours, and the plugin manager enforces the sync/async rule at start-up:

* **Builders and decisions** (``pure``): synchronous, side-effect free ``def`` functions. They get
  plain dicts and return plain data (or mutate the manifest they are handed). Never ``async def``:
  pluggy does not await, and a coroutine is "not None", so it would win every firstresult call.
* **firstresult** builders return the first non-``None`` result. The built-in implementations are
  registered with ``trylast=True`` so any third-party implementation runs first and wins.
* **Notifications** (``async ok``): called for their side effects (metrics, logging, chat-ops).
  They may be ``async def``; the core awaits every returned awaitable in one place.

Objects passed to hooks are the Kubernetes objects as dicts (``metadata``, ``spec``, ``status``),
after ``dask_cluster_defaults`` for clusters. Hooks must not call the Kubernetes API or a Dask
scheduler: the core does all I/O (``kube.py``, ``scheduler_api.py``). Observed objects (pods,
worker groups, a Deployment or Service as the API server has them) come from the operator's
watch cache and are shared with it: read them, never change them (copy first). Only the
manifest a builder is handed to modify is the plugin's to change.

Components (``component`` arguments) are the values of the ``dask.org/component`` label:
``scheduler`` (the scheduler Deployment and Service), ``workergroup``, ``worker`` and, for manifests
returned by ``dask_cluster_resources``, whatever the plugin put in that label (default ``extra``).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

import pluggy

PROJECT_NAME = "dask_operator"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

# Hooks whose implementations may be ``async def`` (notifications). Every other hook is pure.
ASYNC_HOOKS = frozenset(
    {
        "dask_startup",
        "dask_cleanup",
        "dask_cluster_phase_changed",
        "dask_cluster_deleted",
        "dask_workers_changed",
    }
)

Manifest = dict[str, Any]


# --- Operator lifecycle -------------------------------------------------------------------------


@hookspec
def dask_configure(config: dict[str, Any]) -> None:
    """Read or adjust the operator configuration.

    When: once, at start-up, after every plugin is registered and before kopf starts.
    Params: ``config`` -- the operator's configuration (the dask config subtree
    ``kubernetes.controller`` as a nested dict); plugins read their own keys from it and may set
    defaults for keys that are missing.
    Returns: nothing. Pure (sync). Not firstresult.
    """


@hookspec
def dask_startup(settings: Any, logger: Any) -> None:
    """Prepare a plugin when the operator starts.

    When: once, in kopf's start-up phase, before any object is handled.
    Params: ``settings`` -- kopf's ``OperatorSettings`` (a plugin may tune it); ``logger``.
    Returns: nothing. Notification: may be ``async def``.
    """


@hookspec
def dask_cleanup(logger: Any) -> None:
    """Release what ``dask_startup`` acquired.

    When: once, when the operator stops (SIGTERM, SIGINT).
    Params: ``logger``.
    Returns: nothing. Notification: may be ``async def``.
    """


@hookspec
def dask_leadership_changed(leader: bool, identity: str) -> None:
    """The operator became a standby or the leader (with leader election on).

    When: once as a standby, before waiting for the Lease (the metrics endpoint starts here, so
    a standby serves metrics), and once when it holds the Lease, before ``dask_startup``.
    Params: ``leader`` (True when it holds the Lease), ``identity`` (its Lease holder identity).
    Returns: nothing. Notification, synchronous (called before kopf starts).
    """


@hookspec
def dask_rbac_rules() -> list[dict[str, Any]]:
    """Declare the extra Kubernetes permissions a plugin needs.

    When: by ``dask-operator rbac`` (which prints the operator's ClusterRole rules) and by the
    chart tooling; plugins that create new kinds of objects must list them here.
    Params: none.
    Returns: a list of RBAC PolicyRule dicts (``apiGroups``, ``resources``, ``verbs``). Pure.
    Not firstresult (all lists are concatenated).
    """
    return []


@hookspec
def dask_reconcile_context(kind: str, name: str, namespace: str) -> AbstractAsyncContextManager[Any]:
    """Wrap a reconcile pass (metrics, tracing, logging context).

    When: around every reconcile pass of every kind (``DaskCluster``, ``DaskWorkerGroup``, ...).
    Params: ``kind``, ``name``, ``namespace`` of the object being reconciled.
    Returns: an async context manager (e.g. from ``contextlib.asynccontextmanager``), entered
    before the pass and exited after it, with the exception if the pass failed. Pure: the hook
    itself is a plain ``def`` returning the manager (the manager may be async). Not firstresult
    (every manager is entered).
    """
    raise NotImplementedError


@hookspec
def dask_pass_finished(kind: str, namespace: str, name: str, seconds: float) -> None:
    """Notify that a pass requested by a change has finished.

    When: after every reconcile pass that a watch event asked for (a change of the object or of
    one of its children), not after the retries a pass schedules itself.
    Params: ``kind``, ``namespace``, ``name`` of the object; ``seconds`` -- from the change's
    arrival to the end of the pass that saw it (waiting for the debounce and for a free pass
    slot included; see ``passes.concurrency``).
    Returns: nothing. Notification: may be ``async def``.
    """


# --- DaskCluster: defaults, validation, building ------------------------------------------------


@hookspec
def dask_cluster_defaults(cluster: Manifest) -> None:
    """Fill in defaults on a working copy of a DaskCluster.

    When: at the start of every DaskCluster and DaskWorkerGroup pass, before validation and
    building. The copy is never written back: the operator never writes a user's spec.
    Params: ``cluster`` -- a deep copy of the DaskCluster object; mutate it in place.
    Returns: nothing. Pure. Not firstresult.
    """


@hookspec
def dask_cluster_validate(cluster: Manifest) -> list[str]:
    """Check a DaskCluster for problems the CRD schema cannot express.

    When: after ``dask_cluster_defaults``, on every pass.
    Params: ``cluster`` -- the defaulted DaskCluster.
    Returns: a list of human-readable error strings (empty when valid). Any error puts the
    cluster in phase ``Error`` with condition ``Ready=False`` (reason ``InvalidSpec``) and a
    Warning Event; nothing is created or changed until the spec is fixed. Pure. All lists are
    concatenated.
    """
    return []


@hookspec
def dask_cluster_warnings(cluster: Manifest) -> list[str]:
    """Report things about a DaskCluster the user should know but that do not stop it.

    When: after validation, on every pass; the core posts each warning as a Warning Event once
    per generation of the object.
    Params: ``cluster`` -- the defaulted DaskCluster.
    Returns: a list of messages. Pure. All lists are concatenated.
    """
    return []


@hookspec
def dask_worker_group_warnings(cluster: Manifest, worker_group: Manifest) -> list[str]:
    """Like ``dask_cluster_warnings``, for a DaskWorkerGroup (posted on the group).

    When: on every DaskWorkerGroup pass whose cluster exists.
    Params: ``cluster`` -- the defaulted DaskCluster; ``worker_group`` -- the group.
    Returns: a list of messages. Pure. All lists are concatenated.
    """
    return []


@hookspec(firstresult=True)
def dask_scheduler_address(cluster: Manifest) -> str | None:
    """Give the address workers and clients inside Kubernetes use to reach the scheduler.

    When: on every DaskCluster and DaskWorkerGroup pass, before building.
    Params: ``cluster`` -- the defaulted DaskCluster.
    Returns: an address such as ``tcp://{cluster}-scheduler.{ns}.svc.cluster.local:8786``
    (firstresult; the built-in scheduler plugin answers last). Injected into workers as
    ``DASK_SCHEDULER_ADDRESS`` and shown in ``status.schedulerAddress``. Pure.
    """


@hookspec(firstresult=True)
def dask_scheduler_build_deployment(cluster: Manifest) -> Manifest | None:
    """Build the scheduler Deployment ``{cluster}-scheduler``.

    When: on every DaskCluster pass with a valid spec.
    Params: ``cluster`` -- the defaulted DaskCluster.
    Returns: a Deployment manifest (dict), or ``None`` to let the next implementation answer.
    The core then adds labels, the owner reference and the spec hash, calls
    ``dask_modify_manifest`` and applies it. Pure. firstresult.
    """


@hookspec(firstresult=True)
def dask_scheduler_build_service(cluster: Manifest) -> Manifest | None:
    """Build the scheduler Service ``{cluster}-scheduler``.

    When: on every DaskCluster pass with a valid spec.
    Params: ``cluster`` -- the defaulted DaskCluster.
    Returns: a Service manifest, or ``None``. Pure. firstresult.
    """


@hookspec(firstresult=True)
def dask_worker_group_build(cluster: Manifest) -> Manifest | None:
    """Build the cluster's default DaskWorkerGroup ``{cluster}-default``.

    When: on every DaskCluster pass with a valid spec.
    Params: ``cluster`` -- the defaulted DaskCluster.
    Returns: a DaskWorkerGroup manifest, or ``None``. Its ``spec.worker.replicas`` is only used
    when the group is created or when the cluster's ``spec.worker.replicas`` changes, so that
    ``kubectl scale daskworkergroup`` and autoscalers are not undone. Pure. firstresult.
    """


@hookspec(firstresult=True)
def dask_worker_build_pod(
    cluster: Manifest, worker_group: Manifest, name: str, scheduler_address: str
) -> Manifest | None:
    """Build one worker Pod.

    When: whenever a DaskWorkerGroup pass creates a worker, and on every pass to compute the
    spec hash that decides whether existing workers are outdated (rolling update).
    Params: ``cluster`` -- the defaulted DaskCluster; ``worker_group`` -- the DaskWorkerGroup;
    ``name`` -- the Pod name ``{group}-worker-{10 hex}``; ``scheduler_address`` -- from
    ``dask_scheduler_address``.
    Returns: a Pod manifest, or ``None``. Must be deterministic for a given name (no clocks, no
    randomness): the rolling update compares hashes. Pure. firstresult.
    """


@hookspec
def dask_cluster_resources(cluster: Manifest, worker_pods: list[Manifest]) -> list[Manifest]:
    """Ask for extra namespaced objects to exist alongside a cluster (Istio, certificates, ...).

    When: on every DaskCluster pass with a valid spec, after the built-in children are built
    and before any of them is applied (so a plugin's objects exist before the scheduler starts).
    Params: ``cluster`` -- the defaulted DaskCluster; ``worker_pods`` -- the cluster's worker
    Pods (every group, not being deleted) as listed at the start of the pass, for per-worker
    objects; a new worker's Pod event triggers another pass, so it is seen within seconds.
    Returns: a list of manifests (any kind; ``metadata.name`` required, namespace = the
    cluster's). The core owns them: it sets the cluster as owner, runs ``dask_child_labels`` and
    ``dask_modify_manifest`` on them (component: their ``dask.org/component`` label, default
    ``extra``), applies them, lists them in ``status.resources`` and deletes objects it applied
    before that are no longer returned. Pure. All lists are concatenated.
    """
    return []


@hookspec
def dask_cluster_prerequisites(cluster: Manifest) -> list[dict[str, Any]]:
    """Name objects that must exist before a cluster's scheduler and workers are created.

    When: on every DaskCluster and DaskWorkerGroup pass with a valid spec, after the objects of
    ``dask_cluster_resources`` were applied (so a Certificate can be created and its Secret
    awaited in the same pass).
    Params: ``cluster`` -- the defaulted DaskCluster.
    Returns: a list of references ``{"apiVersion", "kind", "name", "reason"}`` in the cluster's
    namespace (``reason`` says why, for the user). While any is missing the core creates no
    scheduler, worker group or worker Pod of the cluster (existing ones are left alone), sets
    phase ``Pending`` and condition ``PrerequisitesReady=False`` (reason
    ``WaitingForPrerequisites``) and posts an Event naming what it waits for; it checks again on
    every pass. Pure. All lists are concatenated.
    """
    return []


@hookspec
def dask_child_labels(cluster: Manifest, component: str) -> dict[str, str]:
    """Add labels to every child of a cluster.

    When: for every child the core builds (scheduler Deployment/Service, worker groups, worker
    Pods, extra resources), after metadata propagation and before ``dask_modify_manifest``.
    Params: ``cluster`` -- the defaulted DaskCluster; ``component`` -- see module docs.
    Returns: labels to merge. Reserved labels (``dask.org/*``, ``app.kubernetes.io/*``) cannot be
    overridden this way. Pure. All dicts are merged (later plugins win on conflicts).
    """
    return {}


@hookspec
def dask_modify_manifest(cluster: Manifest, component: str, manifest: Manifest) -> None:
    """Change any manifest just before it is applied (sidecars, annotations, TLS volumes, ...).

    When: last step before every apply/create of a child of a cluster.
    Params: ``cluster`` -- the defaulted DaskCluster; ``component``; ``manifest`` -- mutate it in
    place. Must be deterministic (it feeds the spec hash). Pod labels and annotations set here
    (on a Pod or a pod template) are part of the spec hash, so changing them re-creates the pods
    (right for what acts at pod admission, like sidecar injection); labels meant to change in
    place belong in ``dask_child_labels``.
    Returns: nothing. Pure. Not firstresult.
    """


# --- Scaling, status, notifications -------------------------------------------------------------


@hookspec(firstresult=True)
def dask_workers_to_retire(
    cluster: Manifest, worker_group: Manifest, candidates: list[dict[str, Any]], n: int
) -> list[str] | None:
    """Choose which running workers of a group to retire when it scales down.

    When: during a DaskWorkerGroup pass that must remove ``n`` running workers (pending pods
    are removed first, without asking). Only workers of this group are candidates.
    Params: ``cluster``; ``worker_group``; ``candidates`` -- dicts with ``name`` (Pod name),
    ``address`` (scheduler-side address or ``None`` if the worker is not connected),
    ``connected`` (bool), ``outdated`` (bool: its spec hash is stale), ``created``
    (creationTimestamp) and, when the scheduler reports them, ``metrics`` (e.g. ``managed_bytes``,
    ``executing``); ``n`` -- how many to choose.
    Returns: up to ``n`` Pod names, or ``None`` to defer. The core retires them through the
    scheduler (``retire_workers``) and deletes exactly the Pods the scheduler retired. Pure.
    firstresult.
    """


@hookspec
def dask_cluster_status(cluster: Manifest, observed: dict[str, Any]) -> dict[str, Any]:
    """Add fields to a DaskCluster's status.

    When: at the end of every DaskCluster pass, after the core computed its own status.
    Params: ``cluster``; ``observed`` -- what the core saw: ``deployment``, ``service``,
    ``worker_groups`` (list), ``worker_pods`` (list), ``status`` (the core's status so far).
    Returns: a status fragment, deep-merged into the status (a plugin's conditions are added to
    the list by ``type``). Pure. All fragments are merged in order.
    """
    return {}


@hookspec
def dask_cluster_phase_changed(cluster: Manifest, old: str | None, new: str) -> None:
    """Notify that a DaskCluster's ``status.phase`` changed.

    When: after the status with the new phase was written.
    Params: ``cluster``; ``old`` phase (``None`` for a new cluster); ``new`` phase.
    Returns: nothing. Notification: may be ``async def``.
    """


@hookspec
def dask_cluster_deleted(cluster: Manifest) -> None:
    """Notify that a DaskCluster was deleted (its children are garbage-collected).

    When: once, when the operator's watch reports the DaskCluster gone. Best effort: no
    finalizer holds the deletion, so a cluster deleted while no operator runs is not reported.
    Params: ``cluster``.
    Returns: nothing. Notification: may be ``async def``.
    """


@hookspec
def dask_workers_changed(
    cluster: Manifest,
    worker_group: Manifest,
    created: list[str],
    retired: list[str],
    deleted: list[str],
) -> None:
    """Notify that a pass created, retired or deleted worker Pods of a group.

    When: at the end of a DaskWorkerGroup pass that changed anything.
    Params: ``cluster``; ``worker_group``; Pod names ``created``, ``retired`` (through the
    scheduler), ``deleted`` (all deleted Pods, retired or not).
    Returns: nothing. Notification: may be ``async def``.
    """


# --- DaskJob, DaskAutoscaler, idle timeout, observation -----------------------------------------

ASYNC_HOOKS = ASYNC_HOOKS | frozenset(
    {
        "dask_job_phase_changed",
        "dask_autoscaler_decided",
        "dask_cluster_observed",
        "dask_scheduler_unreachable",
        "dask_pass_finished",
    }
)


@hookspec(firstresult=True)
def dask_job_build_cluster(job: Manifest) -> Manifest | None:
    """Build the DaskCluster of a DaskJob (named like the job).

    When: on a DaskJob pass that finds the job's cluster missing (it is created once; later
    changes of ``spec.cluster`` do not touch a running job's cluster).
    Params: ``job`` -- the DaskJob object.
    Returns: a DaskCluster manifest, or ``None``. The core adds the owner reference (the job)
    and creates it. Pure. firstresult (the built-in job plugin answers last).
    """


@hookspec(firstresult=True)
def dask_job_build_runner_pod(job: Manifest, scheduler_address: str) -> Manifest | None:
    """Build the runner Pod ``{job}-runner`` of a DaskJob.

    When: on a DaskJob pass once the job's cluster has a ready scheduler and no runner Pod
    exists (again after a failed attempt, within ``spec.backoffLimit``).
    Params: ``job`` -- the DaskJob; ``scheduler_address`` -- the address of the job's
    scheduler (``dask_scheduler_address`` of the job's cluster), to inject as
    ``DASK_SCHEDULER_ADDRESS``.
    Returns: a Pod manifest, or ``None``. The core then adds the job's propagated metadata,
    the reserved labels (component ``job-runner``), the owner reference, runs
    ``dask_child_labels``/``dask_modify_manifest`` and creates it. Pure. firstresult.
    """


@hookspec
def dask_job_phase_changed(job: Manifest, old: str | None, new: str) -> None:
    """Notify that a DaskJob's ``status.jobStatus`` changed.

    When: after the status with the new value was written (for ``Successful``/``Failed``:
    before the job's cluster is deleted). ``job["status"]`` holds the new status
    (``startTime``, ``endTime``, ``reason``, ``attempts``).
    Params: ``job``; ``old`` value (``None`` for a new job); ``new`` value.
    Returns: nothing. Notification: may be ``async def``.
    """


@hookspec(firstresult=True)
def dask_autoscaler_desired_workers(
    autoscaler: Manifest,
    worker_group: Manifest,
    target: int,
    current: int,
    recent: list[dict[str, Any]],
) -> dict[str, Any] | None:
    """Decide how many workers a DaskAutoscaler's worker group should have now.

    When: on every autoscaler poll (``spec.pollIntervalSeconds``) after the scheduler answered
    its adaptive target.
    Params: ``autoscaler`` -- the DaskAutoscaler; ``worker_group`` -- the DaskWorkerGroup it
    scales; ``target`` -- the scheduler's adaptive target (raw, not clamped); ``current`` --
    the group's ``spec.worker.replicas``; ``recent`` -- this operator's earlier polls of the
    autoscaler, oldest first, as ``{"time": epoch seconds, "target": raw target}`` (the current
    one last; after an operator restart the list starts with ``current`` as a target, so a
    restart never shortens a stabilisation window).
    Returns: ``{"workers": int, "reason": str}`` (``reason`` is shown in the status), or
    ``None``. The core writes ``workers`` to the group's replicas when it differs; the group's
    normal scale-down path retires the workers. Pure. firstresult.
    """


@hookspec
def dask_autoscaler_decided(
    autoscaler: Manifest,
    worker_group: Manifest,
    target: int,
    current: int,
    desired: int,
    decision: str,
    reason: str,
) -> None:
    """Notify the outcome of one autoscaler poll.

    When: after the autoscaler's status was written (and the group scaled, if it was).
    Params: ``autoscaler``; ``worker_group``; ``target`` -- the scheduler's raw target;
    ``current`` and ``desired`` replicas; ``decision`` -- ``ScaleUp``, ``ScaleDown`` or
    ``Hold``; ``reason`` -- why.
    Returns: nothing. Notification: may be ``async def``.
    """


@hookspec(firstresult=True)
def dask_cluster_idle_timeout(cluster: Manifest) -> float | None:
    """Say after how many idle seconds a DaskCluster is deleted.

    When: on every idle check of every DaskCluster (``idle-check-interval`` seconds).
    Params: ``cluster`` -- the defaulted DaskCluster.
    Returns: seconds (``0`` or ``None``: never delete). The built-in answers
    ``spec.idleTimeout``. The core asks the scheduler ``check_idle``; a busy or unreachable
    scheduler resets the idle time. Pure. firstresult.
    """


@hookspec
def dask_cluster_observed(cluster: Manifest, status: dict[str, Any]) -> None:
    """Notify what a DaskCluster pass observed (for gauges: phase, workers desired/ready).

    When: at the end of every DaskCluster pass with a valid spec, after its status was written.
    Params: ``cluster`` -- the defaulted DaskCluster; ``status`` -- the status just written.
    Returns: nothing. Notification: may be ``async def``.
    """


@hookspec
def dask_scheduler_unreachable(cluster: Manifest, call: str, error: str) -> None:
    """Notify that neither the HTTP API nor the RPC of a cluster's scheduler answered.

    When: whenever a scheduler call made by the core fails that way (``retire_workers``,
    ``get_workers``, ``adaptive_target``, ``check_idle``).
    Params: ``cluster`` -- the DaskCluster; ``call`` -- the call that failed; ``error``.
    Returns: nothing. Notification: may be ``async def``.
    """
