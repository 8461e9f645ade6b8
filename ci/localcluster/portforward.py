"""The kubelet's /portForward/<ns>/<pod> endpoint.

The apiserver proxies `pods/portforward` here. Two wire protocols:
- SPDY/3.1 with `X-Stream-Protocol-Version: portforward.k8s.io` (what kubectl uses, tunnelled
  through the apiserver): per forwarded connection the client opens an `error` and a `data`
  stream sharing a `requestID` and naming the `port`;
- WebSocket (`v4.channel.k8s.io` / `portforward.k8s.io`, ports in the `ports` query parameter):
  channel 2i carries data of the i-th port and 2i+1 its errors; each channel's first frame
  announces the port (2 bytes, little endian). Used by the Python clients.
Connections go to the pod's IP (a process must listen on the pod IP or 0.0.0.0).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import struct

from . import spdy

log = logging.getLogger("localcluster.portforward")
_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


async def _connect(pod_ip: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection(pod_ip, port), 5)


# ---- SPDY ------------------------------------------------------------------------------------

async def serve_spdy(pod_ip: str, pod_name: str, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
    session = spdy.Session(reader, writer)
    runner = asyncio.create_task(session.run())
    pairs: dict[str, dict[str, spdy.Stream]] = {}
    tasks: set[asyncio.Task[None]] = set()
    try:
        while True:
            stream = await session.streams.get()
            if stream is None:
                break
            pair = pairs.setdefault(stream.headers.get("requestid", ""), {})
            pair[stream.headers.get("streamtype", "")] = stream
            if "error" in pair and "data" in pair:
                pairs.pop(stream.headers.get("requestid", ""), None)
                task = asyncio.create_task(_forward_spdy(session, pod_ip, pod_name, pair["data"], pair["error"]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
    finally:
        for task in list(tasks):
            task.cancel()
        runner.cancel()
        await asyncio.gather(runner, *tasks, return_exceptions=True)


async def _forward_spdy(session: spdy.Session, pod_ip: str, pod_name: str,
                        data: spdy.Stream, error: spdy.Stream) -> None:
    port = int(data.headers.get("port", "0"))
    try:
        pod_reader, pod_writer = await _connect(pod_ip, port)
    except (OSError, asyncio.TimeoutError) as err:
        msg = f"error forwarding port {port} to pod {pod_name}: {err}"
        await session.send_data(error, msg.encode(), fin=True)
        await session.close_stream(data)
        return

    async def to_pod() -> None:
        while (chunk := await data.data.get()) is not None:
            pod_writer.write(chunk)
            await pod_writer.drain()
        with contextlib.suppress(OSError):
            if pod_writer.can_write_eof():
                pod_writer.write_eof()

    async def from_pod() -> None:
        while chunk := await pod_reader.read(65536):
            await session.send_data(data, chunk)
        await session.close_stream(data)

    try:
        await asyncio.gather(to_pod(), from_pod())
    except (ConnectionError, OSError):
        pass
    finally:
        pod_writer.close()
        with contextlib.suppress(Exception):
            await session.close_stream(error)


# ---- WebSocket -------------------------------------------------------------------------------

def websocket_accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()


async def _ws_read(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    b1, b2 = await reader.readexactly(2)
    opcode, masked, length = b1 & 0x0F, b2 & 0x80, b2 & 0x7F
    if length == 126:
        (length,) = struct.unpack(">H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack(">Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if masked else b""
    payload = await reader.readexactly(length)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return opcode, payload


def _ws_frame(payload: bytes, opcode: int = 2) -> bytes:
    n = len(payload)
    if n < 126:
        head = struct.pack(">BB", 0x80 | opcode, n)
    elif n < 1 << 16:
        head = struct.pack(">BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack(">BBQ", 0x80 | opcode, 127, n)
    return head + payload


async def serve_websocket(pod_ip: str, pod_name: str, ports: list[int],
                          reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    lock = asyncio.Lock()

    async def send(channel: int, data: bytes) -> None:
        async with lock:
            writer.write(_ws_frame(bytes([channel]) + data))
            await writer.drain()

    conns: dict[int, asyncio.StreamWriter] = {}
    readers: list[asyncio.Task[None]] = []
    for i, port in enumerate(ports):
        await send(2 * i, struct.pack("<H", port))
        await send(2 * i + 1, struct.pack("<H", port))
        try:
            pod_reader, pod_writer = await _connect(pod_ip, port)
        except (OSError, asyncio.TimeoutError) as err:
            await send(2 * i + 1, f"error forwarding port {port} to pod {pod_name}: {err}".encode())
            continue
        conns[2 * i] = pod_writer

        async def pump(r: asyncio.StreamReader = pod_reader, ch: int = 2 * i) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while chunk := await r.read(65536):
                    await send(ch, chunk)
        readers.append(asyncio.create_task(pump()))
    async def from_client() -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, OSError):
            while True:
                opcode, payload = await _ws_read(reader)
                if opcode == 8:  # close
                    return
                if opcode == 9:  # ping
                    async with lock:
                        writer.write(_ws_frame(payload, 10))
                    continue
                if opcode in (1, 2) and payload:
                    target = conns.get(payload[0])
                    if target is not None and len(payload) > 1:
                        target.write(payload[1:])
                        await target.drain()

    client = asyncio.create_task(from_client())
    async def all_pod_sides() -> None:
        await asyncio.gather(*readers, return_exceptions=True)

    pods_done = asyncio.create_task(all_pod_sides())
    try:
        # Like the kubelet: once every pod-side connection has ended, close the WebSocket.
        await asyncio.wait({client, pods_done}, return_when=asyncio.FIRST_COMPLETED)
        if pods_done.done():
            with contextlib.suppress(ConnectionError, OSError):
                async with lock:
                    writer.write(_ws_frame(struct.pack(">H", 1000), 8))
                    await writer.drain()
    finally:
        client.cancel()
        pods_done.cancel()
        for task in readers:
            task.cancel()
        for w in conns.values():
            w.close()

