"""httpGet / tcpSocket / exec probes against a pod's own IP."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

Obj = dict[str, Any]
ExecRunner = Callable[[list[str], float], Awaitable[int]]


def resolve_port(port: int | str, container: Obj) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"unknown named port {port!r}")


async def run_probe(probe: Obj, pod_ip: str, container: Obj, exec_runner: ExecRunner) -> tuple[bool, str]:
    """Runs one probe attempt; returns (success, message for the Unhealthy event)."""
    timeout = float(probe.get("timeoutSeconds", 1))
    try:
        if probe.get("httpGet"):
            h = probe["httpGet"]
            scheme = h.get("scheme", "HTTP").lower()
            host = h.get("host") or pod_ip
            port = resolve_port(h["port"], container)
            path = h.get("path", "/")
            if not path.startswith("/"):
                path = "/" + path
            headers = {x["name"]: x["value"] for x in h.get("httpHeaders") or []}
            headers.setdefault("User-Agent", "kube-probe/1.36")
            ctx: ssl.SSLContext | bool = False if scheme == "https" else True
            url = f"{scheme}://{host}:{port}{path}"
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s:
                async with s.get(url, headers=headers, ssl=ctx) as resp:
                    await resp.read()
                    if 200 <= resp.status < 400:
                        return True, ""
                    return False, f"HTTP probe failed with statuscode: {resp.status}"
        if probe.get("tcpSocket") or probe.get("grpc"):
            t = probe.get("tcpSocket") or probe["grpc"]
            port = resolve_port(t["port"], container)
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(t.get("host") or pod_ip, port), timeout)
            writer.close()
            return True, ""
        if probe.get("exec"):
            code = await exec_runner(list(probe["exec"].get("command") or []), timeout)
            if code == 0:
                return True, ""
            return False, f"exec probe failed with exit code {code}"
    except (asyncio.TimeoutError, TimeoutError):
        return False, f"probe timed out after {timeout:g}s"
    except (OSError, aiohttp.ClientError, ValueError) as err:
        return False, f"probe failed: {err}"
    return True, ""
