"""Port-forwarding to a pod through the apiserver, without the kubectl binary.

Each local TCP connection gets its own websocket to
``/api/v1/namespaces/{ns}/pods/{pod}/portforward?ports={port}`` with the subprotocol
``v4.channel.k8s.io`` (the apiserver hands the upgrade to the kubelet's
``/portForward/{ns}/{pod}?port={port}``). Frames carry a leading channel byte: channel 0 is the
port's data, channel 1 its error stream; the first frame on each channel starts with the port
number as an unsigned 16-bit little-endian integer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from kubernetes_asyncio import client

from dask_kubernetes.operator.kubecluster.k8s import Kube

logger = logging.getLogger(__name__)

PROTOCOL = "v4.channel.k8s.io"
DATA_CHANNEL = 0
ERROR_CHANNEL = 1
_CHUNK = 64 * 1024


class PortForwardError(ConnectionError):
    """The apiserver or kubelet refused or broke a forwarded connection."""


class _ChannelDemux:
    """Splits incoming frames into data and error bytes, dropping each channel's port prefix."""

    def __init__(self) -> None:
        self._prefix_left = {DATA_CHANNEL: 2, ERROR_CHANNEL: 2}
        self.error = bytearray()

    def feed(self, frame: bytes) -> bytes:
        """Return the data bytes in *frame* (errors are collected in ``self.error``)."""
        if not frame:
            return b""
        channel, payload = frame[0], frame[1:]
        if channel not in self._prefix_left:
            return b""
        skip = min(self._prefix_left[channel], len(payload))
        self._prefix_left[channel] -= skip
        payload = payload[skip:]
        if channel == ERROR_CHANNEL:
            self.error += payload
            return b""
        return payload


async def pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    ws: aiohttp.ClientWebSocketResponse,
) -> str:
    """Copy bytes both ways until either side closes; return what the error channel said."""
    demux = _ChannelDemux()

    async def remote_to_local() -> None:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.BINARY:
                data = demux.feed(message.data)
            elif message.type == aiohttp.WSMsgType.TEXT:  # not sent with v4.channel, be lenient
                data = demux.feed(message.data.encode())
            else:
                break
            if data:
                writer.write(data)
                await writer.drain()
            if demux.error:  # the kubelet could not (or no longer) forward: end the connection
                break

    async def local_to_remote() -> None:
        while chunk := await reader.read(_CHUNK):
            await ws.send_bytes(bytes([DATA_CHANNEL]) + chunk)

    tasks = [
        asyncio.ensure_future(remote_to_local()),
        asyncio.ensure_future(local_to_remote()),
    ]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, aiohttp.ClientError):
                await task
        await ws.close()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return demux.error.decode(errors="replace")


class PortForward:
    """A local listener whose connections are forwarded to *remote_port* of a pod.

    *pod_name* is awaited for every new connection so a restarted pod (new name) is picked up.
    """

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        pod_name: Callable[[], Awaitable[str]],
        remote_port: int,
        local_port: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        self._kube = kube
        self._namespace = namespace
        self._pod_name = pod_name
        self.remote_port = remote_port
        self.host = host
        self._requested_port = local_port
        self._server: asyncio.Server | None = None
        self._ws_api: Any = None
        self._connections: set[asyncio.Task[Any]] = set()
        self.last_error = ""

    @property
    def local_port(self) -> int:
        if self._server is None:
            raise RuntimeError("the port-forward is not started")
        port = self._server.sockets[0].getsockname()[1]
        assert isinstance(port, int)
        return port

    async def start(self) -> None:
        self._ws_api = self._kube.new_websocket_client()
        self._server = await asyncio.start_server(self._serve, self.host, self._requested_port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._ws_api is not None:
            await self._ws_api.close()
            self._ws_api = None

    async def open_websocket(self) -> aiohttp.ClientWebSocketResponse:
        """Open one forwarded stream to the pod's port (one websocket per connection)."""
        pod = await self._pod_name()
        core = client.CoreV1Api(self._ws_api)
        # With _preload_content=False the websocket client returns aiohttp's ws_connect
        # context (the stubs say str).
        connect: Any = await core.connect_get_namespaced_pod_portforward(
            pod, self._namespace, ports=self.remote_port, _preload_content=False
        )
        try:
            ws = await connect
        except aiohttp.WSServerHandshakeError as error:
            raise PortForwardError(
                f"port-forward to pod {self._namespace}/{pod}:{self.remote_port} was refused "
                f"by the apiserver/kubelet (HTTP {error.status}: {error.message})"
            ) from error
        assert isinstance(ws, aiohttp.ClientWebSocketResponse)
        return ws

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            ws = await self.open_websocket()
            error = await pipe(reader, writer, ws)
            if error:
                self.last_error = error
                logger.warning("port-forward to port %s: %s", self.remote_port, error)
        except asyncio.CancelledError:
            # stop() cancels open connections; ending the handler normally spares asyncio's
            # stream callback an exception to log.
            writer.close()
        except Exception as error:  # one broken connection must not stop the listener
            self.last_error = str(error)
            logger.warning("port-forward to port %s failed: %s", self.remote_port, error)
            writer.close()
        finally:
            self._connections.discard(task)
