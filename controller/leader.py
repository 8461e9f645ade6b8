"""Leader election: one reconciling operator per deployment, held by a ``coordination.k8s.io`` Lease.

kubernetes_asyncio's ``leaderelection`` reads and then writes the Lease at every retry period,
polls it from every standby and never releases it, which would cost an idle deployment about
a request a second and delay every rolling update by a whole lease duration. Here:

* the leader renews every ``renew-period`` with one conditional update (the Lease's
  ``resourceVersion`` from the previous answer; a 409 means someone else wrote it);
* a standby watches the one Lease (one request per watch timeout) and decides on its own clock
  when the holder stopped renewing: expiry is "no change observed for ``leaseDurationSeconds``",
  as client-go does, so clock skew between nodes does not matter;
* on SIGTERM the leader releases the Lease (empty holder) and a watching standby takes it at once.

The decisions are pure functions (:func:`can_take`, :func:`claimed`, :func:`released`); the
I/O is :class:`LeaseStore`; :class:`Elector` ties them together.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from . import config

logger = logging.getLogger("dask_operator")

Lease = dict[str, Any]
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
WATCH_TIMEOUT = 300  # seconds: a standby's only request while the leader renews normally
RETRY_AFTER_FAILURE = 2.0  # seconds between attempts after a failed request
RELEASE_TIMEOUT = 1.0  # seconds the release on SIGTERM may take (the exit budget is 3 s)


class LeadershipLost(Exception):
    """The Lease could not be renewed in time, or someone else holds it now."""


# --- settings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeaseSettings:
    """Which Lease, who we are, and its timing."""

    name: str
    namespace: str
    identity: str
    duration: float = 15.0
    renew_period: float = 5.0

    @property
    def renew_deadline(self) -> float:
        """Seconds without a successful renewal after which the leader steps down: well before
        a standby may consider the Lease expired."""
        return self.duration * 2 / 3

    @classmethod
    def from_config(cls, served_namespaces: Iterable[str] = ()) -> LeaseSettings:
        duration = float(config.get("leader-election.lease-duration"))
        renew = float(config.get("leader-election.renew-period"))
        if not 0 < renew < duration * 2 / 3:
            raise ValueError(
                f"leader-election.renew-period ({renew:g} s) must be above 0 and below two thirds "
                f"of leader-election.lease-duration ({duration:g} s)"
            )
        return cls(
            name=str(config.get("leader-election.lease-name")),
            namespace=lease_namespace(config.get("leader-election.lease-namespace"), served_namespaces),
            identity=default_identity(),
            duration=duration,
            renew_period=renew,
        )


def lease_namespace(configured: str | None, served: Iterable[str]) -> str:
    """The configured namespace, else the pod's, else the first exact served namespace."""
    if configured:
        return configured
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    if SERVICE_ACCOUNT_NAMESPACE.exists():
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    exact = [ns for ns in served if not any(ch in ns for ch in "*?[,!")]
    return exact[0] if exact else "default"


def default_identity() -> str:
    """Pod name (HOSTNAME) plus a random suffix: a restarted process is a new candidate."""
    return f"{os.environ.get('HOSTNAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


# --- pure decisions ------------------------------------------------------------------------------


def micro_time(at: datetime.datetime | None = None) -> str:
    """A Kubernetes MicroTime."""
    at = at or datetime.datetime.now(datetime.timezone.utc)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def holder_of(lease: Lease | None) -> str:
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


def version_of(lease: Lease | None) -> str:
    return str(((lease or {}).get("metadata") or {}).get("resourceVersion") or "")


def can_take(lease: Lease | None, identity: str, unchanged_for: float, default_duration: float) -> bool:
    """May ``identity`` claim the Lease? Yes when there is none, nobody holds it, we hold it, or
    its holder has not renewed it for its ``leaseDurationSeconds`` (seen on our own clock)."""
    holder = holder_of(lease)
    if lease is None or not holder or holder == identity:
        return True
    duration = (lease.get("spec") or {}).get("leaseDurationSeconds") or default_duration
    return unchanged_for >= float(duration)


def claimed(lease: Lease | None, settings: LeaseSettings, now: str) -> Lease:
    """The Lease held by ``settings.identity`` from ``now`` (conditional on its version)."""
    spec = dict((lease or {}).get("spec") or {})
    transitions = int(spec.get("leaseTransitions") or 0)
    if holder_of(lease) != settings.identity:
        if lease is not None:
            transitions += 1
        spec["acquireTime"] = now
    spec.update(
        holderIdentity=settings.identity,
        leaseDurationSeconds=int(settings.duration),
        renewTime=now,
        leaseTransitions=transitions,
    )
    metadata: dict[str, Any] = {"name": settings.name, "namespace": settings.namespace}
    if version_of(lease):
        metadata["resourceVersion"] = version_of(lease)
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}


def released(lease: Lease, now: str) -> Lease:
    """The Lease given up: no holder, so a standby takes it at once."""
    body = claimed(lease, LeaseSettings("", "", holder_of(lease)), now)
    body["metadata"] = {**lease["metadata"]}
    body["spec"].update(holderIdentity="", leaseDurationSeconds=1, renewTime=now)
    return body


# --- I/O -----------------------------------------------------------------------------------------


class Conflict(Exception):
    """Someone else wrote the Lease first (409)."""


class LeaseStore:
    """Read, create, update and watch one Lease (all the Lease I/O)."""

    def __init__(self, api: client.ApiClient, namespace: str, name: str) -> None:
        self.api = api
        self.collection = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self.name = name

    async def _call(self, method: str, path: str, body: Any = None, query: list[tuple[str, Any]] | None = None,
                    timeout: float | None = None, stream: bool = False) -> Any:
        try:
            return await self.api.call_api(
                path, method, query_params=query or [], header_params={"Accept": "application/json", "Content-Type": "application/json"},
                body=body, auth_settings=["BearerToken"], response_types_map={200: "object", 201: "object"},
                _return_http_data_only=True, _preload_content=not stream, _request_timeout=timeout,
            )
        except ApiException as exc:
            if exc.status == 409:
                raise Conflict(str(exc.reason)) from exc
            raise

    async def read(self) -> Lease | None:
        try:
            lease: Lease = await self._call("GET", f"{self.collection}/{self.name}")
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return lease

    async def write(self, lease: Lease, timeout: float | None = None) -> Lease:
        """Create the Lease (no version yet) or update it conditionally; :class:`Conflict` if
        it changed since it was read."""
        if version_of(lease):
            result: Lease = await self._call("PUT", f"{self.collection}/{self.name}", lease, timeout=timeout)
        else:
            result = await self._call("POST", self.collection, lease, timeout=timeout)
        return result

    async def watch(self, version: str, timeout: float) -> Any:
        """An open watch response on the Lease from ``version`` (lines of JSON events)."""
        query = [("fieldSelector", f"metadata.name={self.name}"), ("watch", "true"),
                 ("resourceVersion", version), ("timeoutSeconds", int(timeout))]
        return await self._call("GET", self.collection, query=query, timeout=timeout + 10, stream=True)


class Elector:
    """Waits for the Lease as a standby, renews it as the leader, releases it on the way out."""

    def __init__(self, store: LeaseStore, settings: LeaseSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.lease: Lease | None = None
        self._seen: tuple[str, str] = ("", "")  # (holder, renewTime) last observed
        self._seen_at = clock()

    def observe(self, lease: Lease | None) -> None:
        """Note the Lease; restart the expiry countdown when its holder or renewal changed."""
        self.lease = lease
        key = (holder_of(lease), str(((lease or {}).get("spec") or {}).get("renewTime") or ""))
        if key != self._seen:
            self._seen, self._seen_at = key, self.clock()

    def unchanged_for(self) -> float:
        return self.clock() - self._seen_at

    def _may_take(self) -> bool:
        return can_take(self.lease, self.settings.identity, self.unchanged_for(), self.settings.duration)

    async def wait_for_leadership(self, stop: asyncio.Event) -> bool:
        """Standby until the Lease is ours (True) or ``stop`` is set (False)."""
        announced = ""
        while not stop.is_set():
            try:
                self.observe(await self.store.read())
                if self._may_take():
                    self.lease = await self.store.write(claimed(self.lease, self.settings, micro_time()))
                    logger.info("leader election: %s is the leader now (Lease %s/%s)",
                                self.settings.identity, self.settings.namespace, self.settings.name)
                    return True
                if holder_of(self.lease) != announced:
                    announced = holder_of(self.lease)
                    logger.info("leader election: standby; %s holds Lease %s/%s", announced,
                                self.settings.namespace, self.settings.name)
                await self._watch_until_takeable(stop)
            except Conflict:
                continue  # someone else wrote it first: look again
            except Exception as exc:  # noqa: BLE001 - an unreachable apiserver: try again later
                logger.warning("leader election: %s: %s (again in %.0f s)", type(exc).__name__, exc, RETRY_AFTER_FAILURE)
                await _sleep_unless(stop, RETRY_AFTER_FAILURE)
        return False

    async def _watch_until_takeable(self, stop: asyncio.Event) -> None:
        """Follow the Lease until it is released, deleted or expired, the watch ends, or stop."""
        response = await self.store.watch(version_of(self.lease), WATCH_TIMEOUT)
        try:
            while not stop.is_set():
                left = float(((self.lease or {}).get("spec") or {}).get("leaseDurationSeconds") or self.settings.duration)
                left -= self.unchanged_for()
                if left <= 0:
                    return  # expired: the caller reads it once more and takes it
                line = await _first(response.content.readline(), stop, left + 0.1)
                if line is None:
                    continue  # stop, or time to check the expiry
                if not line:
                    return  # the watch ended (timeout): read and watch again
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    return
                if event.get("type") == "DELETED":
                    self.observe(None)
                    return
                self.observe(event.get("object"))
                if not holder_of(self.lease):
                    return  # released
        finally:
            response.release()

    async def keep_leadership(self) -> None:
        """Renew every renew-period until cancelled; raise :class:`LeadershipLost` when a
        renewal has not succeeded for the renew deadline or someone else holds the Lease.

        Plain sleeps on purpose: kopf treats tasks created while it runs as its own and waits
        for them when it stops (``asyncio.wait_for`` would create one per renewal)."""
        renewed = self.clock()
        delay = self.settings.renew_period
        while True:
            await asyncio.sleep(delay)
            try:
                self.lease = await self.store.write(claimed(self.lease, self.settings, micro_time()), timeout=self.settings.renew_period)
                renewed, delay = self.clock(), self.settings.renew_period
                continue
            except Conflict:
                self.observe(await self.store.read())
                if holder_of(self.lease) != self.settings.identity:
                    raise LeadershipLost(f"{holder_of(self.lease) or 'nobody'} holds Lease {self.settings.name} now") from None
                delay = 0
            except Exception as exc:  # noqa: BLE001 - retried until the renew deadline
                logger.warning("leader election: cannot renew Lease %s: %s: %s", self.settings.name, type(exc).__name__, exc)
                delay = min(RETRY_AFTER_FAILURE, self.settings.renew_period)
            if self.clock() - renewed >= self.settings.renew_deadline:
                raise LeadershipLost(f"Lease {self.settings.name} not renewed for {self.clock() - renewed:.0f} s")

    async def release(self) -> None:
        """Give the Lease up if we hold it (one request, bounded by RELEASE_TIMEOUT)."""
        if self.lease is None or holder_of(self.lease) != self.settings.identity:
            return
        try:
            self.lease = await asyncio.wait_for(self.store.write(released(self.lease, micro_time()), timeout=RELEASE_TIMEOUT), RELEASE_TIMEOUT)
            logger.info("leader election: %s released Lease %s/%s", self.settings.identity, self.settings.namespace, self.settings.name)
        except Exception as exc:  # noqa: BLE001 - the Lease then expires on its own
            logger.warning("leader election: could not release Lease %s (%s: %s); it expires in %.0f s",
                           self.settings.name, type(exc).__name__, exc, self.settings.duration)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        pass


async def _first(read: Any, stop: asyncio.Event, timeout: float) -> bytes | None:
    """The awaited line, or None on stop or timeout (the read is then cancelled)."""
    reader = asyncio.ensure_future(read)
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({reader, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if reader in done:
        return bytes(reader.result())
    reader.cancel()
    return None


# --- the operator's life with leader election ------------------------------------------------------


async def run_as_leader(
    settings: LeaseSettings,
    operator: Callable[[], Awaitable[None]],
    on_change: Callable[[bool, str], None],
    liveness_endpoint: str | None = None,
) -> int:
    """Stand by until the Lease is ours, then run ``operator()`` (kopf) while renewing it.

    Returns the exit status: 0 after SIGTERM/SIGINT (the Lease released), 1 when leadership was
    lost (the operator stopped; Kubernetes restarts the process as a standby).
    """
    from kubernetes_asyncio import config as kube_config

    from . import standby

    try:
        kube_config.load_incluster_config()
    except kube_config.ConfigException:
        await kube_config.load_kube_config()
    loop = asyncio.get_running_loop()
    async with client.ApiClient() as api:
        elector = Elector(LeaseStore(api, settings.namespace, settings.name), settings)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        on_change(False, settings.identity)
        server = await standby.serve_liveness(liveness_endpoint, settings.identity) if liveness_endpoint else None
        try:
            won = await elector.wait_for_leadership(stop)
        finally:
            if server is not None:
                await server.cleanup()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)  # kopf installs its own
        if not won:
            return 0
        on_change(True, settings.identity)
        lost = asyncio.Event()
        keeper = asyncio.create_task(_keep(elector, lost), name="leader election: renew")
        try:
            await operator()
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            if not lost.is_set():
                await elector.release()
        return 1 if lost.is_set() else 0


async def _keep(elector: Elector, lost: asyncio.Event) -> None:
    try:
        await elector.keep_leadership()
    except LeadershipLost as exc:
        logger.error("leader election: leadership lost: %s; stopping (a restart makes this a standby)", exc)
        lost.set()
        # kopf's own graceful stop; a kopf stop_flag would leave a waiter task that kopf then
        # waits 5 s for on every SIGTERM.
        signal.raise_signal(signal.SIGTERM)
