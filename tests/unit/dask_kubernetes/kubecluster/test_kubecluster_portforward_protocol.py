"""The port-forward client against a stand-in for the apiserver's pods/portforward stream.

The stand-in speaks the kubelet's websocket protocol (``v4.channel.k8s.io``: channel byte,
port prefix on each channel's first frame, errors on channel 1) and connects to a local TCP
server in place of the pod. The real apiserver and kubelet are exercised by the e2e tests.
"""

import asyncio
import os
import struct

import aiohttp
import pytest
from aiohttp import web
from kubernetes_asyncio import client

from dask_kubernetes.operator.kubecluster.k8s import Kube
from dask_kubernetes.operator.kubecluster.portforward import PROTOCOL, PortForward, _ChannelDemux


class FakePortForwardServer:
    def __init__(self):
        self.requests = []

    async def handle(self, request):
        ws = web.WebSocketResponse(protocols=(PROTOCOL,))
        await ws.prepare(request)
        port = int(request.query["ports"])
        self.requests.append({"path": request.path, "port": port, "protocol": ws.ws_protocol})
        prefix = struct.pack("<H", port)
        await ws.send_bytes(b"\x00" + prefix)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError as error:
            await ws.send_bytes(b"\x01" + prefix + f"dial tcp: {error}".encode())
            await ws.close()
            return ws
        await ws.send_bytes(b"\x01" + prefix)

        async def pod_to_client():
            while chunk := await reader.read(32 * 1024):
                await ws.send_bytes(b"\x00" + chunk)
            await ws.close()

        sender = asyncio.ensure_future(pod_to_client())
        async for message in ws:
            assert message.type == aiohttp.WSMsgType.BINARY
            assert message.data[0] == 0
            writer.write(message.data[1:])
            await writer.drain()
        sender.cancel()
        writer.close()
        return ws


async def echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


@pytest.fixture
async def apiserver():
    fake = FakePortForwardServer()
    app = web.Application()
    app.router.add_get("/api/v1/namespaces/{namespace}/pods/{pod}/portforward", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    configuration = client.Configuration(host=f"http://127.0.0.1:{port}")
    kube = Kube(configuration)
    yield fake, kube
    await kube.close()
    await runner.cleanup()


@pytest.fixture
async def echo_server():
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def test_bytes_round_trip_through_the_forward(apiserver, echo_server):
    fake, kube = apiserver
    asked = []

    async def pod_name():
        asked.append(1)
        return "foo-scheduler-abc"

    forward = PortForward(kube, "team", pod_name, remote_port=echo_server)
    await forward.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", forward.local_port)
        payload = os.urandom(1_500_000)  # several frames each way
        writer.write(payload)
        await writer.drain()
        received = await asyncio.wait_for(reader.readexactly(len(payload)), 30)
        assert received == payload
        writer.close()
    finally:
        await forward.stop()
    assert fake.requests == [
        {
            "path": "/api/v1/namespaces/team/pods/foo-scheduler-abc/portforward",
            "port": echo_server,
            "protocol": PROTOCOL,
        }
    ]
    assert asked == [1]


async def test_each_connection_gets_its_own_stream(apiserver, echo_server):
    fake, kube = apiserver

    async def pod_name():
        return "foo-scheduler-abc"

    forward = PortForward(kube, "team", pod_name, remote_port=echo_server)
    await forward.start()

    async def talk(i):
        reader, writer = await asyncio.open_connection("127.0.0.1", forward.local_port)
        message = f"hello {i}\n".encode()
        writer.write(message)
        line = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        return line == message

    try:
        assert all(await asyncio.gather(*(talk(i) for i in range(5))))
    finally:
        await forward.stop()
    assert len(fake.requests) == 5


async def test_errors_from_the_pod_side_close_the_connection_and_are_kept(apiserver):
    fake, kube = apiserver
    probe = await asyncio.start_server(echo, "127.0.0.1", 0)
    closed_port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()

    async def pod_name():
        return "foo-scheduler-abc"

    forward = PortForward(kube, "team", pod_name, remote_port=closed_port)
    await forward.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", forward.local_port)
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        for _ in range(50):
            if forward.last_error:
                break
            await asyncio.sleep(0.05)
        assert "dial tcp" in forward.last_error
    finally:
        await forward.stop()


async def test_a_failing_pod_lookup_closes_only_that_connection(apiserver, echo_server):
    _, kube = apiserver
    calls = []

    async def pod_name():
        calls.append(1)
        if len(calls) == 1:
            raise LookupError("no running scheduler pod")
        return "foo-scheduler-abc"

    forward = PortForward(kube, "team", pod_name, remote_port=echo_server)
    await forward.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", forward.local_port)
        assert await asyncio.wait_for(reader.read(), 10) == b""
        assert "no running scheduler pod" in forward.last_error
        reader, writer = await asyncio.open_connection("127.0.0.1", forward.local_port)
        writer.write(b"again\n")
        assert await asyncio.wait_for(reader.readline(), 10) == b"again\n"
        writer.close()
    finally:
        await forward.stop()


def test_demux_strips_each_channels_port_prefix_once():
    demux = _ChannelDemux()
    port = struct.pack("<H", 8786)
    assert demux.feed(b"\x00" + port) == b""
    assert demux.feed(b"\x01" + port) == b""
    assert demux.feed(b"\x00" + port) == port  # later frames are all data
    assert demux.feed(b"\x00abc") == b"abc"
    assert demux.feed(b"\x01boom") == b""
    assert demux.error == b"boom"
    assert demux.feed(b"\x05ignored") == b""
    assert demux.feed(b"") == b""


def test_demux_handles_a_prefix_split_across_frames():
    demux = _ChannelDemux()
    assert demux.feed(b"\x00\x52") == b""
    assert demux.feed(b"\x00\x22data") == b"data"
