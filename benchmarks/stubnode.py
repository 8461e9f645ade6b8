"""A Node without processes, for benchmarks that need many pods but not what runs in them.

The local cluster's process node runs every container as a real process; a hundred idle Dask
schedulers would be a hundred Python processes (~50 MB each, plus their CPU) on a shared
2-core machine. Pods placed on the stub node (:func:`placement`) are reported Running and
Ready as soon as they are bound, with an address of their own, and a deleted pod is removed at
once, as a kubelet would after its containers stopped. Nothing listens on those addresses, so
only use it for pods nobody talks to (e.g. the schedulers of idle clusters: the operator does
not call the scheduler of a cluster without workers, idle timeout or autoscaler).

:class:`StubNode` registers the Node (tainted, so only pods that tolerate it land there), renews
its Lease, and watches the pods bound to it with the local cluster's own API client
(``ci/localcluster/kube.py``). It runs in a thread of its own with its own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "ci"))

from background import BackgroundService  # noqa: E402
from localcluster.kube import ApiError, Client, informer  # noqa: E402

log = logging.getLogger("benchmarks.stubnode")

NODE_NAME = "benchmark-stub-node"
NODE_LABEL = "dask.org/benchmark-stub-node"
# Pod addresses: outside every local cluster instance's pod range (10.(244+N).0.0/16, N <= 9).
POD_NETWORK = "10.254"
HEARTBEAT_SECONDS = 10

Manifest = dict[str, Any]


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def placement() -> Manifest:
    """The pod-spec fields that put a pod on the stub node (merge them into a pod spec)."""
    return {
        "nodeSelector": {NODE_LABEL: "true"},
        "tolerations": [{"key": NODE_LABEL, "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
    }


def place_on_stub_node(pod_spec: Manifest) -> Manifest:
    """``pod_spec`` with :func:`placement` merged in (a new dict; the input is not changed)."""
    wanted = placement()
    spec = dict(pod_spec)
    spec["nodeSelector"] = {**(pod_spec.get("nodeSelector") or {}), **wanted["nodeSelector"]}
    spec["tolerations"] = [*(pod_spec.get("tolerations") or []), *wanted["tolerations"]]
    return spec


def node_manifest(name: str = NODE_NAME) -> Manifest:
    """The stub Node: labelled for :func:`placement`, tainted so that nothing else lands on it."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", NODE_LABEL: "true"}},
        "spec": {"taints": [{"key": NODE_LABEL, "value": "true", "effect": "NoSchedule"}]},
    }


def node_status(started: str, now: str) -> Manifest:
    """A Ready node with room for a thousand pods."""
    capacity = {"cpu": "1000", "memory": "4Ti", "pods": "1000"}
    ready = {"type": "Ready", "status": "True", "reason": "StubNodeReady", "message": "benchmark stub node",
             "lastHeartbeatTime": now, "lastTransitionTime": started}
    return {
        "capacity": capacity,
        "allocatable": capacity,
        "conditions": [ready],
        "addresses": [{"type": "InternalIP", "address": f"{POD_NETWORK}.255.254"}],
        "nodeInfo": {
            "machineID": uuid.uuid5(uuid.NAMESPACE_DNS, NODE_NAME).hex,
            "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, NODE_NAME)),
            "bootID": "", "kernelVersion": "", "osImage": "benchmark stub", "containerRuntimeVersion": "stub://0",
            "kubeletVersion": "v0.0.0", "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64",
        },
    }


def pod_ip(index: int) -> str:
    """The ``index``-th stub pod address (0 <= index < 65024)."""
    return f"{POD_NETWORK}.{index // 254}.{index % 254 + 1}"


def running_status(pod: Manifest, ip: str, now: str) -> Manifest:
    """The status a kubelet reports for ``pod`` once all its containers run and are ready."""
    containers = pod.get("spec", {}).get("containers") or []
    return {
        "phase": "Running",
        "hostIP": f"{POD_NETWORK}.255.254",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": now,
        "conditions": [
            {"type": t, "status": "True", "lastTransitionTime": now}
            for t in ("PodScheduled", "PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")
        ],
        "containerStatuses": [
            {
                "name": c["name"], "image": c.get("image", ""), "imageID": "", "containerID": f"stub://{c['name']}",
                "ready": True, "started": True, "restartCount": 0, "state": {"running": {"startedAt": now}},
            }
            for c in containers
        ],
    }


class StubNode(BackgroundService):
    """The stub node, served from a thread: ``with StubNode(kubeconfig): ...``."""

    def __init__(self, kubeconfig: str | Path, name: str = NODE_NAME) -> None:
        super().__init__("stub-node")
        self.kubeconfig = Path(kubeconfig)
        self.name = name
        self._tasks: list[asyncio.Task[None]] = []
        self._client: Client | None = None
        self._ips: dict[str, str] = {}  # pod uid -> address
        self._next_ip = 0

    async def _register(self, client: Client) -> None:
        started = _now()
        try:
            await client.create("/api/v1/nodes", node_manifest(self.name))
        except ApiError as err:
            if err.status != 409:
                raise
        await client.patch_status(f"/api/v1/nodes/{self.name}", {"status": node_status(started, _now())})
        self._tasks.append(asyncio.create_task(self._heartbeat(client, started)))
        self._tasks.append(asyncio.create_task(
            informer(client, "/api/v1/pods", self._on_pod, params={"fieldSelector": f"spec.nodeName={self.name}"})
        ))

    async def _heartbeat(self, client: Client, started: str) -> None:
        leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
        while True:
            now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            spec = {"holderIdentity": self.name, "leaseDurationSeconds": 40, "renewTime": now}
            try:
                try:
                    await client.merge_patch(f"{leases}/{self.name}", {"spec": spec})
                except ApiError as err:
                    if err.status != 404:
                        raise
                    await client.create(leases, {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                                 "metadata": {"name": self.name, "namespace": "kube-node-lease"}, "spec": spec})
                await client.patch_status(f"/api/v1/nodes/{self.name}", {"status": node_status(started, _now())})
            except (ApiError, OSError) as err:
                log.warning("stub node heartbeat: %s", err)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def _on_pod(self, event: str, pod: Manifest) -> None:
        meta = pod["metadata"]
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
        try:
            if event == "DELETED":
                self._ips.pop(meta["uid"], None)
            elif meta.get("deletionTimestamp"):
                await self._client_or_fail().delete(path, {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}})
            elif (pod.get("status") or {}).get("phase") != "Running":
                if meta["uid"] not in self._ips:
                    self._ips[meta["uid"]] = pod_ip(self._next_ip)
                    self._next_ip += 1
                ip = self._ips[meta["uid"]]
                await self._client_or_fail().patch_status(path, {"status": running_status(pod, ip, _now())})
        except ApiError as err:
            if err.status not in (404, 409):
                log.warning("stub node: pod %s: %s", meta["name"], err)

    def _client_or_fail(self) -> Client:
        assert self._client is not None
        return self._client

    async def _start(self) -> None:
        self._client = Client(self.kubeconfig)
        await self._register(self._client)

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._client is not None:
            # The node goes away with its pods (the pod garbage collector would take a minute).
            with contextlib.suppress(ApiError, OSError):
                listing = await self._client.get("/api/v1/pods", fieldSelector=f"spec.nodeName={self.name}")
                for pod in listing.get("items", []):
                    meta = pod["metadata"]
                    with contextlib.suppress(ApiError):
                        await self._client.delete(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                                                  {"gracePeriodSeconds": 0})
            with contextlib.suppress(ApiError, OSError):
                await self._client.delete(f"/api/v1/nodes/{self.name}")
            with contextlib.suppress(ApiError, OSError):
                await self._client.delete(f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.name}")
            await self._client.close()

