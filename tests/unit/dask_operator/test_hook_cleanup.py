"""dask_cleanup: when the operator stops, kopf's cleanup handler notifies every plugin.

The handler is called here as kopf calls it on SIGTERM/SIGINT (tests/integration/plugins covers
the signal itself, with a real operator process). Plugins are notified while the operator's API
clients are still open, sync and async implementations alike, and a failing plugin stops neither
the others nor the runtime from closing.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import types
import urllib.request
from typing import Any

import dask.config
import pytest
from dask_operator import handlers, hookimpl
from dask_operator.plugins import metrics
from dask_operator.runtime import Runtime
from dask_operator.testing import make_plugin_manager
from fake_api import FakeKube, FakeScheduler, fake_cache


class ClosingKube(FakeKube):
    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    async def close(self) -> None:
        self.closed = True


def plugin(name: str, **hooks: Any) -> tuple[str, types.ModuleType]:
    module = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, fn)
    return name, module


async def stop_operator(kube: ClosingKube, *plugins: tuple[str, types.ModuleType]) -> Runtime:
    """Run kopf's cleanup handler for an operator with the built-ins and ``plugins``."""
    runtime = Runtime(make_plugin_manager(*plugins), kube, FakeScheduler(), fake_cache(kube))  # type: ignore[arg-type]
    await handlers.cleanup(memo=types.SimpleNamespace(runtime=runtime), logger=logging.getLogger("stopping"))
    return runtime


async def test_every_plugin_cleans_up_before_the_clients_close():
    kube = ClosingKube()
    seen: list[tuple[str, bool, str]] = []

    @hookimpl
    def dask_cleanup(logger: Any) -> None:
        seen.append(("sync", kube.closed, logger.name))

    @hookimpl(specname="dask_cleanup")
    async def flush(logger: Any) -> None:
        await asyncio.sleep(0)
        seen.append(("async", kube.closed, logger.name))

    runtime = await stop_operator(kube, plugin("sync_probe", dask_cleanup=dask_cleanup), plugin("async_probe", flush=flush))
    assert sorted(seen) == [("async", False, "stopping"), ("sync", False, "stopping")]
    assert kube.closed and runtime.closing


async def test_a_failing_plugin_does_not_stop_the_others(caplog: pytest.LogCaptureFixture):
    kube = ClosingKube()
    seen: list[str] = []

    @hookimpl
    async def dask_cleanup(logger: Any) -> None:
        raise RuntimeError("cannot flush")

    @hookimpl(specname="dask_cleanup")
    def tidy(logger: Any) -> None:
        seen.append("tidy")

    with caplog.at_level(logging.ERROR, logger="dask_operator"):
        runtime = await stop_operator(kube, plugin("failing", dask_cleanup=dask_cleanup), plugin("tidy", tidy=tidy))
    assert seen == ["tidy"]
    assert "notification hook dask_cleanup failed" in caplog.text and "cannot flush" in caplog.text
    assert kube.closed and runtime.closing


def test_the_metrics_plugin_stops_serving():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = {"kubernetes.controller.metrics.port": port, "kubernetes.controller.metrics.address": "127.0.0.1"}
    with dask.config.set(settings):
        try:
            assert metrics.start_server() == ("127.0.0.1", port)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                assert response.status == 200
            asyncio.run(stop_operator(ClosingKube()))
            with pytest.raises(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
        finally:
            metrics.stop_server()  # idempotent; only does something when the cleanup did not
