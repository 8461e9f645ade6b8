"""The runtime forgets deleted objects, so a long-running operator does not grow without bound."""

import asyncio

from dask_operator.pluginmanager import build_plugin_manager
from dask_operator.runtime import Runtime
from fake_api import FakeKube, fake_cache


def make_runtime() -> Runtime:
    return Runtime(pm=None, kube=(kube := FakeKube()), scheduler=None, cache=fake_cache(kube))  # type: ignore[arg-type]


def test_forget_drops_everything_kept_for_an_object():
    rt = make_runtime()
    key = ("DaskWorkerGroup", "ns", "simple-default")
    rt.lock(*key)
    rt.next_backoff(key)
    rt.failures[key] = [1.0]
    rt.warned["uid-1"] = "warning"
    rt.applied_spec["uid-1"] = "hash"
    other = ("DaskWorkerGroup", "ns", "other")
    rt.next_backoff(other)
    rt.applied_spec["uid-2"] = "hash"
    rt.forget(key, "uid-1")
    assert rt.remembered() == 2  # only the other object's backoff and applied spec
    rt.forget(uid="uid-2")
    rt.forget(other)
    assert rt.remembered() == 0


def test_forget_keeps_a_lock_that_a_running_pass_holds():
    async def scenario() -> None:
        rt = make_runtime()
        key = ("DaskCluster", "ns", "simple")
        async with rt.lock(*key):
            rt.forget(key)
            assert rt.lock(*key).locked()  # the same lock: a new pass still waits for the running one
        rt.forget(key)
        assert rt.remembered() == 0

    asyncio.run(scenario())


class _Closable:
    async def close(self) -> None:
        pass


def test_close_cancels_a_running_pass_after_the_grace_period():
    async def scenario() -> None:
        rt = make_runtime()
        rt.pm = build_plugin_manager(load_entry_points=False, disabled=())
        rt.scheduler = _Closable()  # type: ignore[assignment]
        started, cancelled = asyncio.Event(), asyncio.Event()

        async def slow_pass() -> None:
            async with rt.pass_context("DaskWorkerGroup", "g", "ns"):
                started.set()
                try:
                    await asyncio.sleep(3600)  # e.g. waiting between two batches of workers
                except asyncio.CancelledError:
                    cancelled.set()
                    raise

        rt.poke(("DaskWorkerGroup", "ns", "g"), slow_pass, delay=0)
        await asyncio.wait_for(started.wait(), 5)
        await asyncio.wait_for(rt.close(timeout=0.05), 5)
        assert cancelled.is_set()
        assert rt.closing

    asyncio.run(scenario())
