"""Passes run behind a bounded gate, at most one waits per object, and changes report latency."""

import asyncio
from typing import Any

import dask
from dask_operator import config, pass_gate


class Recorder:
    """Stands in for the runtime: records the notifications a gated pass sends."""

    def __init__(self) -> None:
        self.notified: list[tuple[str, dict[str, Any]]] = []

    async def notify(self, hook: str, **kwargs: Any) -> None:
        self.notified.append((hook, kwargs))


async def test_no_more_passes_run_at_once_than_the_concurrency_setting():
    with dask.config.set({"kubernetes.controller.passes.concurrency": 2}):
        running, peak = 0, 0
        release = asyncio.Event()

        async def slow_pass() -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await release.wait()
            running -= 1

        rt = Recorder()
        tasks = [asyncio.create_task(pass_gate.gated(rt, "K", "ns", f"o{i}", slow_pass, changed=False)())  # type: ignore[arg-type]
                 for i in range(5)]
        await asyncio.sleep(0.05)
        assert peak == 2
        release.set()
        await asyncio.gather(*tasks)
        assert peak == 2 and running == 0


async def test_a_second_request_for_an_object_already_waiting_is_merged_into_it():
    with dask.config.set({"kubernetes.controller.passes.concurrency": 1}):
        runs: list[str] = []
        release = asyncio.Event()

        async def blocker() -> None:
            await release.wait()

        def recording(name: str):
            async def run() -> None:
                runs.append(name)
            return run

        rt = Recorder()
        first = asyncio.create_task(pass_gate.gated(rt, "K", "ns", "busy", blocker, changed=False)())  # type: ignore[arg-type]
        await asyncio.sleep(0.01)
        waiting = [asyncio.create_task(pass_gate.gated(rt, "K", "ns", "obj", recording(f"r{i}"), changed=False)())  # type: ignore[arg-type]
                   for i in range(3)]
        await asyncio.sleep(0.01)
        release.set()
        await asyncio.gather(first, *waiting)
        assert runs == ["r0"]  # one pass of "obj" waited; the two later requests were merged into it


async def test_a_change_reports_its_latency_and_a_retry_does_not():
    clock_values = iter([10.0, 12.5, 20.0, 21.0])

    def clock() -> float:
        return next(clock_values)

    async def nothing() -> None:
        return None

    rt = Recorder()
    await pass_gate.gated(rt, "DaskCluster", "ns", "a", nothing, changed=True, clock=clock)()  # type: ignore[arg-type]
    await pass_gate.gated(rt, "DaskCluster", "ns", "a", nothing, changed=False, clock=clock)()  # type: ignore[arg-type]
    assert rt.notified == [("dask_pass_finished", {"kind": "DaskCluster", "namespace": "ns", "name": "a", "seconds": 2.5})]


def test_settings_have_sane_floors():
    with dask.config.set({"kubernetes.controller.passes.concurrency": 0, "kubernetes.controller.kube-api.qps": "50",
                          "kubernetes.controller.kube-api.burst": None}):
        assert config.pass_concurrency() == 50
        assert config.kube_api_limits() == (50.0, 100)
