"""Before creating children of an object read from the cache, the pass checks that it still exists."""

from __future__ import annotations

import asyncio

import pytest
from dask_operator import reconcile
from dask_operator.errors import OwnerGone
from dask_operator.runtime import Runtime
from dask_operator.testing import make_plugin_manager
from fake_api import FakeKube, FakeScheduler, fake_cache

CLUSTER = {"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskCluster", "metadata": {"name": "c", "namespace": "ns1"}}


def _runtime(kube: FakeKube) -> Runtime:
    return Runtime(make_plugin_manager(), kube, FakeScheduler(), fake_cache(kube))  # type: ignore[arg-type]


def test_an_owner_that_still_exists_lets_the_pass_create() -> None:
    kube = FakeKube()
    owner = kube.put(CLUSTER)
    asyncio.run(reconcile._ensure_owners_exist(_runtime(kube), owner))


@pytest.mark.parametrize("change", ["deleted", "recreated", "terminating"])
def test_an_owner_deleted_meanwhile_stops_the_pass(change: str) -> None:
    kube = FakeKube()
    owner = kube.put(CLUSTER)
    if change == "deleted":
        kube.objects.clear()
    elif change == "recreated":
        kube.objects.clear()
        kube.put(CLUSTER)  # a namesake with another uid
    else:
        kube.objects[("DaskCluster", "ns1", "c")]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:01Z"
    with pytest.raises(OwnerGone, match="DaskCluster c was deleted"):
        asyncio.run(reconcile._ensure_owners_exist(_runtime(kube), owner))
