"""All Kubernetes I/O of the operator (kubernetes_asyncio), on plain dict manifests.

Objects are addressed by ``apiVersion`` + ``kind``; the path of kinds the core does not know is
found once through API discovery. Writes of whole children use server-side apply with the field
manager ``dask-operator`` (idempotent create-or-update); status and metadata use merge patches.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from . import config as operator_config
from . import names
from .errors import ShuttingDown
from .ratelimit import TokenBucket

if TYPE_CHECKING:
    from .cache import Cache

logger = logging.getLogger(__name__)

Manifest = dict[str, Any]

_OBJECT = {200: "object", 201: "object", 202: "object"}


@dataclass(frozen=True)
class ResourcePath:
    prefix: str  # "/api/v1" or "/apis/{group}/{version}"
    plural: str
    namespaced: bool = True


KNOWN: dict[tuple[str, str], ResourcePath] = {
    ("v1", "Pod"): ResourcePath("/api/v1", "pods"),
    ("v1", "Service"): ResourcePath("/api/v1", "services"),
    ("v1", "Event"): ResourcePath("/api/v1", "events"),
    ("v1", "ConfigMap"): ResourcePath("/api/v1", "configmaps"),
    ("v1", "Secret"): ResourcePath("/api/v1", "secrets"),
    ("v1", "Namespace"): ResourcePath("/api/v1", "namespaces", namespaced=False),
    ("apps/v1", "Deployment"): ResourcePath("/apis/apps/v1", "deployments"),
    (names.API_VERSION, names.CLUSTER_KIND): ResourcePath(
        f"/apis/{names.API_VERSION}", names.CLUSTER_PLURAL
    ),
    (names.API_VERSION, names.WORKER_GROUP_KIND): ResourcePath(
        f"/apis/{names.API_VERSION}", names.WORKER_GROUP_PLURAL
    ),
}


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rejection(exc: BaseException) -> str | None:
    """The API server's message if ``exc`` says it rejected the object as invalid (400, 422)."""
    if not isinstance(exc, ApiException) or exc.status not in (400, 422):
        return None
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except (ValueError, AttributeError):
        return str(exc.reason)


TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


def transient_failure(exc: BaseException) -> str | None:
    """What went wrong, if ``exc`` is an API server failure that a later attempt may not meet
    (overload, a timeout, an unreachable server): retried with back-off, not a bug."""
    if isinstance(exc, ApiException) and exc.status in TRANSIENT_STATUSES:
        return f"the API server answered {exc.status} {exc.reason}"
    if isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ServerTimeoutError, asyncio.TimeoutError, ConnectionError)):
        return f"the API server could not be reached ({type(exc).__name__}: {exc})"
    return None


def owner_reference(owner: Manifest, controller: bool = True) -> dict[str, Any]:
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def is_owned_by(obj: Manifest, owner_uid: str) -> bool:
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") == owner_uid for ref in refs)


class Kube:
    """A thin async client for dict manifests."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.api = api_client
        self._discovered: dict[tuple[str, str], ResourcePath] = {}
        self._events: dict[tuple[str, str, str, str], tuple[str, int, float]] = {}
        self._instance = os.environ.get("HOSTNAME") or socket.gethostname()
        self.closed = False
        self.cache: Cache | None = None  # told about every write, so passes never read a stale view
        self.limiter = TokenBucket(*operator_config.kube_api_limits())  # kube-api.qps/burst

    def _wrote(self, result: Any) -> None:
        if self.cache is not None and isinstance(result, dict) and result.get("metadata"):
            self.cache.wrote(result)

    @classmethod
    async def connect(cls) -> Kube:
        """Connect with the in-cluster service account, else the kubeconfig ($KUBECONFIG)."""
        try:
            config.load_incluster_config()
        except config.ConfigException:
            await config.load_kube_config()
        return cls(client.ApiClient())

    async def close(self) -> None:
        self.closed = True
        await self.api.close()

    # --- low level ------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: list[tuple[str, Any]] | None = None,
        content_type: str | None = None,
    ) -> Any:
        if self.closed:
            raise ShuttingDown(f"{method} {path}: the operator is stopping")
        await self.limiter.acquire()
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        return await self.api.call_api(
            path,
            method,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
            response_types_map=_OBJECT,
            _return_http_data_only=True,
        )

    async def resource(self, api_version: str, kind: str) -> ResourcePath:
        key = (api_version, kind)
        if key in KNOWN:
            return KNOWN[key]
        if key not in self._discovered:
            prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            listing = await self._call("GET", prefix)
            for res in listing.get("resources", []):
                if res.get("kind") == kind and "/" not in res.get("name", ""):
                    self._discovered[key] = ResourcePath(prefix, res["name"], res.get("namespaced", True))
                    break
            else:
                raise LookupError(f"the API server does not serve kind {kind} in {api_version}")
        return self._discovered[key]

    async def _path(self, api_version: str, kind: str, namespace: str | None, name: str | None = None) -> str:
        res = await self.resource(api_version, kind)
        path = res.prefix
        if res.namespaced and namespace:
            path += f"/namespaces/{namespace}"
        path += f"/{res.plural}"
        if name:
            path += f"/{name}"
        return path

    # --- reads ----------------------------------------------------------------------------

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> Manifest | None:
        try:
            result: Manifest = await self._call("GET", await self._path(api_version, kind, namespace, name))
            return result
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def list(
        self, api_version: str, kind: str, namespace: str, label_selector: str | None = None
    ) -> list[Manifest]:
        query = [("labelSelector", label_selector)] if label_selector else []
        result = await self._call("GET", await self._path(api_version, kind, namespace), query=query)
        items: list[Manifest] = result.get("items", [])
        for item in items:  # lists omit these per item
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    # --- writes ---------------------------------------------------------------------------

    async def create(self, manifest: Manifest) -> Manifest:
        meta = manifest["metadata"]
        path = await self._path(manifest["apiVersion"], manifest["kind"], meta.get("namespace"))
        result: Manifest = await self._call("POST", path, body=manifest, query=[("fieldManager", names.FIELD_MANAGER)])
        self._wrote(result)
        return result

    async def apply(self, manifest: Manifest) -> Manifest:
        """Server-side apply (create or update) owned by the ``dask-operator`` field manager."""
        meta = manifest["metadata"]
        path = await self._path(manifest["apiVersion"], manifest["kind"], meta.get("namespace"), meta["name"])
        body = {k: v for k, v in manifest.items() if k != "status"}
        body["metadata"] = {k: v for k, v in meta.items() if k not in ("resourceVersion", "uid", "managedFields")}
        result: Manifest = await self._call(
            "PATCH",
            path,
            body=body,
            query=[("fieldManager", names.FIELD_MANAGER), ("force", "true")],
            content_type="application/apply-patch+yaml",
        )
        self._wrote(result)
        return result

    async def patch(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        patch: Any,
        *,
        subresource: str | None = None,
        json_patch: bool = False,
    ) -> Manifest | None:
        """A JSON merge patch (or a JSON patch); ``None`` if the object is gone."""
        path = await self._path(api_version, kind, namespace, name)
        if subresource:
            path += f"/{subresource}"
        try:
            result: Manifest = await self._call(
                "PATCH",
                path,
                body=patch,
                query=[("fieldManager", names.FIELD_MANAGER)],
                content_type="application/json-patch+json" if json_patch else "application/merge-patch+json",
            )
            self._wrote(result)
            return result
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def patch_status(self, obj: Manifest, status: dict[str, Any]) -> Manifest | None:
        meta = obj["metadata"]
        return await self.patch(
            obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"], {"status": status}, subresource="status"
        )

    async def delete(
        self, api_version: str, kind: str, namespace: str, name: str, *, uid: str | None = None
    ) -> bool:
        """Delete (background propagation); False if it was already gone."""
        body: dict[str, Any] = {"propagationPolicy": "Background"}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            result = await self._call("DELETE", await self._path(api_version, kind, namespace, name), body=body)
        except ApiException as exc:
            if exc.status in (404, 409):
                return False
            raise
        if self.cache is not None:
            if isinstance(result, dict) and result.get("kind") == kind and (result.get("metadata") or {}).get("deletionTimestamp"):
                self.cache.wrote(result)  # graceful deletion: it is terminating now
            else:
                gone = {"apiVersion": api_version, "kind": kind, "metadata": {"namespace": namespace, "name": name, "uid": uid}}
                if isinstance(result, dict) and result.get("kind") == kind:
                    gone = result
                self.cache.deleted(gone)
        return True

    # --- events ---------------------------------------------------------------------------

    async def event(self, obj: Manifest, type_: str, reason: str, message: str) -> None:
        """Post a Kubernetes Event about ``obj``; repeats within 10 minutes bump its count.

        Never raises: an Event that cannot be written must not break a reconcile.
        """
        meta = obj.get("metadata", {})
        key = (meta.get("uid", ""), type_, reason, message)
        now = now_rfc3339()
        try:
            previous = self._events.get(key)
            if previous and time.monotonic() - previous[2] < 600:
                name, count, _ = previous
                patched = await self.patch(
                    "v1", "Event", meta["namespace"], name, {"count": count + 1, "lastTimestamp": now}
                )
                if patched is not None:
                    self._events[key] = (name, count + 1, time.monotonic())
                    return
            body = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
                "involvedObject": {
                    "apiVersion": obj.get("apiVersion"),
                    "kind": obj.get("kind"),
                    "name": meta.get("name"),
                    "namespace": meta.get("namespace"),
                    "uid": meta.get("uid"),
                },
                "reason": reason,
                "message": message[:1024],
                "type": type_,
                "source": {"component": names.MANAGED_BY},
                "reportingComponent": names.MANAGED_BY,
                "reportingInstance": self._instance[:128],
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
            }
            created = await self.create(body)
            self._events[key] = (created["metadata"]["name"], 1, time.monotonic())
            if len(self._events) > 5000:  # bounded memory: forget the oldest half
                for old in sorted(self._events, key=lambda k: self._events[k][2])[:2500]:
                    del self._events[old]
        except Exception as exc:  # noqa: BLE001 - events are best effort
            logger.warning("could not post event %s/%s on %s: %s", type_, reason, meta.get("name"), exc)
