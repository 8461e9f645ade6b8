"""A small asyncio client for the Kubernetes REST API (plain dicts, list+watch informers)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import yaml

log = logging.getLogger("localcluster.kube")

Obj = dict[str, Any]


class ApiError(Exception):
    def __init__(self, status: int, body: Any, method: str, path: str) -> None:
        self.status = status
        self.body = body
        msg = body.get("message") if isinstance(body, dict) else str(body)[:300]
        super().__init__(f"{method} {path}: {status} {msg}")


class Client:
    def __init__(self, kubeconfig: Path) -> None:
        doc = yaml.safe_load(kubeconfig.read_text())
        cluster = doc["clusters"][0]["cluster"]
        user = doc["users"][0]["user"]
        self.server = cluster["server"].rstrip("/")
        ctx = ssl.create_default_context(
            cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = Path(tmp, "c.crt"), Path(tmp, "c.key")
            cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
            key.write_bytes(base64.b64decode(user["client-key-data"]))
            ctx.load_cert_chain(str(cert), str(key))
        self._ssl = ctx
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=50),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, method: str, path: str, body: Any = None,
                      params: dict[str, str] | None = None,
                      content_type: str = "application/json", timeout: float = 30) -> Obj:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        async with self.session.request(
            method, self.server + path, data=data, params=params, headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            text = await resp.text()
            try:
                payload = json.loads(text) if text else {}
            except ValueError:
                payload = text
            if resp.status >= 400:
                raise ApiError(resp.status, payload, method, path)
            return payload if isinstance(payload, dict) else {}

    async def get(self, path: str, **params: str) -> Obj:
        return await self.request("GET", path, params=params or None)

    async def create(self, path: str, body: Obj) -> Obj:
        return await self.request("POST", path, body)

    async def patch_status(self, path: str, body: Obj) -> Obj:
        return await self.request("PATCH", path + "/status", body,
                                  content_type="application/strategic-merge-patch+json")

    async def merge_patch(self, path: str, body: Obj) -> Obj:
        return await self.request("PATCH", path, body, content_type="application/merge-patch+json")

    async def delete(self, path: str, body: Obj | None = None) -> Obj:
        return await self.request("DELETE", path, body)

    async def watch(self, path: str, resource_version: str,
                    params: dict[str, str] | None = None) -> AsyncIterator[Obj]:
        query = {"watch": "1", "resourceVersion": resource_version,
                 "allowWatchBookmarks": "true", "timeoutSeconds": "300", **(params or {})}
        async with self.session.get(self.server + path, params=query,
                                    timeout=aiohttp.ClientTimeout(total=None, sock_read=400)) as resp:
            if resp.status >= 400:
                raise ApiError(resp.status, await resp.text(), "WATCH", path)
            async for line in resp.content:
                if line.strip():
                    yield json.loads(line)


Handler = Callable[[str, Obj], Awaitable[None]]


async def informer(client: Client, path: str, handler: Handler,
                   params: dict[str, str] | None = None,
                   on_sync: Callable[[list[Obj]], Awaitable[None]] | None = None) -> None:
    """Lists then watches `path` for ever, calling handler(type, obj) for every change.

    After every (re)list, on_sync gets the full list so the caller can drop objects that
    vanished while the watch was down.
    """
    while True:
        try:
            listing = await client.request("GET", path, params=params)
            items = listing.get("items", [])
            if on_sync:
                await on_sync(items)
            for item in items:
                await handler("ADDED", item)
            rv = listing["metadata"]["resourceVersion"]
            while True:
                async for event in client.watch(path, rv, params):
                    kind, obj = event["type"], event["object"]
                    if kind == "ERROR":
                        raise ApiError(obj.get("code", 500), obj, "WATCH", path)
                    rv = obj["metadata"]["resourceVersion"]
                    if kind != "BOOKMARK":
                        await handler(kind, obj)
        except asyncio.CancelledError:
            raise
        except ApiError as err:
            if err.status != 410:
                log.warning("informer %s: %s", path, err)
                await asyncio.sleep(1)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as err:
            log.warning("informer %s: %r; relisting", path, err)
            await asyncio.sleep(1)
        except Exception:  # noqa: BLE001 - a handler bug must not stop the node agent
            log.exception("informer %s: handler failed; relisting", path)
            await asyncio.sleep(1)
