"""A failing pass is retried with a doubling delay; only scheduled retries double it."""

from __future__ import annotations

import asyncio

import pytest
from dask_operator import names, passes
from dask_operator.runtime import Runtime
from dask_operator.testing import make_plugin_manager
from fake_api import FakeKube, FakeScheduler, fake_cache


async def _on_fire(rt: Runtime, namespace: str, name: str) -> float | None:
    raise RuntimeError("the disk is on fire")


def test_only_scheduled_retries_double_the_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(passes.PASSES, names.CLUSTER_KIND, _on_fire)
    kube = FakeKube()
    key = (names.CLUSTER_KIND, "ns1", "x")

    async def main() -> list[float]:
        rt = Runtime(make_plugin_manager(), kube, FakeScheduler(), fake_cache(kube))  # type: ignore[arg-type]
        delays = []
        for changed in (True, True, True, False, True, False):
            await passes.run(rt, *key, changed=changed)
            delays.append(rt.errors[key])
        rt.closing = True
        await rt.close(timeout=0.1)
        return delays

    first = passes.FIRST_ERROR_RETRY
    assert asyncio.run(main()) == [first, first, first, 2 * first, 2 * first, 4 * first], (
        "the failure report changes the object; its event must not escalate the back-off"
    )
