"""All talk to Dask schedulers: the HTTP API first, distributed's RPC as a fallback.

The HTTP API (``/api/v1/...`` on the dashboard port) is decoupled from the scheduler's Python
and Dask versions; the built-in scheduler plugin enables its routes. The RPC is used only when
the HTTP API does not answer (routes disabled, old image).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import aiohttp

from . import names
from .errors import SchedulerUnreachable

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SchedulerEndpoint:
    """Where the operator reaches one scheduler (from the scheduler Service)."""

    http: str | None  # e.g. http://10.96.0.12:8787
    rpc: str | None  # e.g. tcp://10.96.0.12:8786


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    address: str
    # What the scheduler measures about the worker (e.g. managed_bytes); empty if unknown.
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return urlparse(self.address).hostname or ""


class SchedulerAPI:
    def __init__(self, timeout: float = 10, retire_timeout: float = 120) -> None:
        self.timeout = timeout
        self.retire_timeout = retire_timeout
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _get(self, endpoint: SchedulerEndpoint, route: str) -> Any:
        assert endpoint.http
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with self._http().get(endpoint.http + route, timeout=timeout) as response:
            response.raise_for_status()
            return await response.json(content_type=None)

    async def _post(self, endpoint: SchedulerEndpoint, route: str, payload: Any) -> Any:
        assert endpoint.http
        timeout = aiohttp.ClientTimeout(total=self.retire_timeout)
        async with self._http().post(endpoint.http + route, json=payload, timeout=timeout) as response:
            response.raise_for_status()
            return await response.json(content_type=None)

    async def _rpc(self, endpoint: SchedulerEndpoint, method: str, timeout: float, **kwargs: Any) -> Any:
        assert endpoint.rpc
        from distributed.core import rpc

        async with rpc(endpoint.rpc, timeout=self.timeout) as scheduler:
            return await asyncio.wait_for(getattr(scheduler, method)(**kwargs), timeout)

    async def _either(self, endpoint: SchedulerEndpoint, what: str, http: Any, rpc_call: Any) -> Any:
        errors = []
        if endpoint.http:
            try:
                return await http()
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, OSError) as exc:
                errors.append(f"HTTP {endpoint.http}: {type(exc).__name__}: {exc}")
                if isinstance(exc, asyncio.TimeoutError):
                    # Nothing answered on that host in ``timeout`` seconds: the RPC port of the
                    # same host would only make the caller wait as long again. A refusal or an
                    # error answer (dashboard off, routes disabled, an old image) does fall back.
                    raise SchedulerUnreachable(f"{what}: " + "; ".join(errors)) from exc
        if endpoint.rpc:
            try:
                return await rpc_call()
            except Exception as exc:  # noqa: BLE001 - comm errors come in many types
                errors.append(f"RPC {endpoint.rpc}: {type(exc).__name__}: {exc}")
        raise SchedulerUnreachable(f"{what}: " + ("; ".join(errors) or "no scheduler endpoint"))

    async def get_workers(self, endpoint: SchedulerEndpoint) -> list[WorkerInfo]:
        """The workers connected to the scheduler: name, address and, when the scheduler's JSON
        route answers, its metrics (how much data each holds, what it is executing)."""

        async def http() -> list[WorkerInfo]:
            data = await self._get(endpoint, "/api/v1/get_workers")
            try:  # best effort: the metrics only refine which workers to retire
                identity = await self._get(endpoint, "/json/identity.json")
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, OSError):
                identity = {}
            metrics = {a: w.get("metrics") or {} for a, w in (identity.get("workers") or {}).items()}
            return [WorkerInfo(str(w["name"]), w["address"], metrics.get(w["address"], {})) for w in data.get("workers", [])]

        async def rpc_call() -> list[WorkerInfo]:
            identity = await self._rpc(endpoint, "identity", self.timeout)
            return [
                WorkerInfo(str(w.get("name", a)), a, w.get("metrics") or {}) for a, w in identity.get("workers", {}).items()
            ]

        result: list[WorkerInfo] = await self._either(endpoint, "get_workers", http, rpc_call)
        return result

    async def retire_workers(self, endpoint: SchedulerEndpoint, addresses: list[str]) -> dict[str, Any]:
        """Gracefully retire workers (their data is moved first); returns those retired."""
        if not addresses:
            return {}

        async def http() -> dict[str, Any]:
            data = await self._post(endpoint, "/api/v1/retire_workers", {"workers": addresses})
            if isinstance(data, dict) and "Error" in data:
                raise ValueError(str(data["Error"]))
            return dict(data)

        async def rpc_call() -> dict[str, Any]:
            return dict(await self._rpc(endpoint, "retire_workers", self.retire_timeout, workers=addresses))

        result: dict[str, Any] = await self._either(endpoint, "retire_workers", http, rpc_call)
        return result

    async def adaptive_target(self, endpoint: SchedulerEndpoint) -> int:
        async def http() -> int:
            return int((await self._get(endpoint, "/api/v1/adaptive_target"))["workers"])

        async def rpc_call() -> int:
            return int(await self._rpc(endpoint, "adaptive_target", self.timeout))

        result: int = await self._either(endpoint, "adaptive_target", http, rpc_call)
        return result

    async def check_idle(self, endpoint: SchedulerEndpoint) -> float | None:
        """Since when (scheduler clock, epoch seconds) the scheduler is idle; None when busy."""

        async def http() -> float | None:
            value = (await self._get(endpoint, "/api/v1/check_idle"))["idle_since"]
            return None if value is None else float(value)

        async def rpc_call() -> float | None:
            value = await self._rpc(endpoint, "check_idle", self.timeout)
            return None if value is None else float(value)

        result: float | None = await self._either(endpoint, "check_idle", http, rpc_call)
        return result


def endpoint_from_service(service: dict[str, Any] | None) -> SchedulerEndpoint:
    """Reach the scheduler through its Service's ClusterIP (works from inside and outside pods).

    Cluster DNS names do not resolve for an operator running outside the cluster; the ClusterIP
    works in both places. Headless Services fall back to the DNS name. The HTTP URL includes
    the dashboard prefix the Service's ``kubernetes.dask.org/dashboard-prefix`` annotation names.
    """
    if not service:
        return SchedulerEndpoint(None, None)
    spec = service.get("spec", {})
    meta = service.get("metadata", {})
    host = spec.get("clusterIP")
    if not host or host == "None":
        host = f"{meta.get('name')}.{meta.get('namespace')}.svc"
    http_port, rpc_port = None, None
    for port in spec.get("ports", []):
        if port.get("name") == "http-dashboard" or (http_port is None and port.get("port") == 8787):
            http_port = port.get("port")
        if port.get("name") == "tcp-comm" or (rpc_port is None and port.get("port") == 8786):
            rpc_port = port.get("port")
    prefix = "/" + str((meta.get("annotations") or {}).get(names.ANNOTATION_DASHBOARD_PREFIX) or "").strip("/")
    return SchedulerEndpoint(
        f"http://{host}:{http_port}{prefix.rstrip('/')}" if http_port else None,
        f"tcp://{host}:{rpc_port}" if rpc_port else None,
    )
