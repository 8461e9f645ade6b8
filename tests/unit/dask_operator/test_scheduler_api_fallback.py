"""When the scheduler's HTTP API fails, the RPC is tried only if it can help."""

from __future__ import annotations

import asyncio
import socket

import pytest
from dask_operator.errors import SchedulerUnreachable
from dask_operator.scheduler_api import SchedulerAPI, SchedulerEndpoint


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _silent_server() -> tuple[asyncio.base_events.Server, int]:
    """Accepts connections and never answers: what a scheduler on a node that is gone looks like."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    return server, int(server.sockets[0].getsockname()[1])


async def _unreachable(call: str, endpoint: SchedulerEndpoint) -> str:
    api = SchedulerAPI(timeout=0.3)
    try:
        with pytest.raises(SchedulerUnreachable) as info:
            await getattr(api, call)(endpoint)
    finally:
        await api.close()
    return str(info.value)


def test_an_http_timeout_does_not_wait_for_the_rpc_as_well() -> None:
    async def main() -> str:
        server, port = await _silent_server()
        try:
            return await _unreachable("get_workers", SchedulerEndpoint(f"http://127.0.0.1:{port}", f"tcp://127.0.0.1:{port}"))
        finally:
            server.close()

    message = asyncio.run(main())
    assert "HTTP" in message and "RPC" not in message


def test_a_refused_http_port_falls_back_to_the_rpc() -> None:
    endpoint = SchedulerEndpoint(f"http://127.0.0.1:{_free_port()}", f"tcp://127.0.0.1:{_free_port()}")
    message = asyncio.run(_unreachable("adaptive_target", endpoint))
    assert "HTTP" in message and "RPC" in message, "the dashboard may be off while the scheduler's RPC answers"
