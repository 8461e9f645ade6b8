"""dask_cluster_defaults: a platform's defaults reach every decision, never the user's object.

The plugin below is what a platform team would write: worker containers without resources get
the platform's limits, and clusters that say nothing about idling are deleted after an hour.
"""

from __future__ import annotations

import copy
import time
import types
from typing import Any

import pytest
from dask_operator import hookimpl
from dask_operator import reconcile_idle as ri
from dask_operator.pluginmanager import PluginManager
from dask_operator.runtime import Runtime
from dask_operator.testing import make_cluster, make_plugin_manager, render_cluster
from fake_api import FakeKube, FakeScheduler, fake_cache

LIMITS = {"cpu": "1", "memory": "4Gi"}
IDLE_TIMEOUT = 3600


@hookimpl
def dask_cluster_defaults(cluster: dict[str, Any]) -> None:
    spec = cluster["spec"]
    spec.setdefault("idleTimeout", IDLE_TIMEOUT)
    for container in spec["worker"]["spec"]["containers"]:
        container.setdefault("resources", {"limits": dict(LIMITS)})


@hookimpl
def dask_cluster_validate(cluster: dict[str, Any]) -> list[str]:
    containers = cluster["spec"]["worker"]["spec"]["containers"]
    return [f"worker container {c['name']!r} has no memory limit" for c in containers
            if "memory" not in (c.get("resources") or {}).get("limits", {})]


def plugin(name: str, **hooks: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, fn)
    return module


def platform(*, validation: bool = False) -> PluginManager:
    plugins = [plugin("platform_defaults", dask_cluster_defaults=dask_cluster_defaults)]
    if validation:
        plugins.append(plugin("memory_limits", dask_cluster_validate=dask_cluster_validate))
    return make_plugin_manager(*plugins)


def without_resources(**kwargs: Any) -> dict[str, Any]:
    cluster = make_cluster("c", "ns", **kwargs)
    for container in cluster["spec"]["worker"]["spec"]["containers"]:
        container.pop("resources", None)
    return cluster


# --- building (the testing kit renders a pass through every hook) ---------------------------


def test_defaults_reach_every_worker_pod_but_not_the_users_object():
    cluster = without_resources(workers=2)
    before = copy.deepcopy(cluster)
    rendered = render_cluster(platform(), cluster)
    assert rendered.valid and len(rendered.worker_pods) == 2
    assert [p["spec"]["containers"][0]["resources"] for p in rendered.worker_pods] == [{"limits": LIMITS}] * 2
    assert rendered.worker_groups[0]["spec"]["worker"]["spec"]["containers"][0]["resources"] == {"limits": LIMITS}
    assert rendered.cluster["spec"]["idleTimeout"] == 0  # make_cluster sets 0: the user's value stays
    assert cluster == before, "the DaskCluster the user applied is never changed"


def test_what_the_user_set_wins_over_a_default():
    cluster = without_resources()
    cluster["spec"]["worker"]["spec"]["containers"][0]["resources"] = {"limits": {"memory": "64Gi"}}
    rendered = render_cluster(platform(), cluster)
    assert rendered.worker_pods[0]["spec"]["containers"][0]["resources"] == {"limits": {"memory": "64Gi"}}


def test_validation_sees_the_defaulted_cluster():
    assert render_cluster(platform(validation=True), without_resources()).valid
    plain = make_plugin_manager(plugin("memory_limits", dask_cluster_validate=dask_cluster_validate))
    rendered = render_cluster(plain, without_resources())
    assert rendered.errors == ["worker container 'worker' has no memory limit"]
    assert rendered.worker_pods == [] and rendered.deployment is None


# --- deciding (the operator's idle check reads the same defaults) ---------------------------


@pytest.fixture
def rt() -> Runtime:
    kube = FakeKube()
    kube.put({"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskCluster", "metadata": {"name": "c"},
              "spec": {"worker": {"spec": {"containers": []}}}, "status": {"phase": "Running"}})
    kube.put({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "c-scheduler"},
              "spec": {"clusterIP": "10.0.0.1", "ports": [{"name": "http-dashboard", "port": 8787}]}})
    return Runtime(platform(), kube, FakeScheduler(), fake_cache(kube))  # type: ignore[arg-type]


def stored(rt: Runtime) -> dict[str, Any] | None:
    return rt.kube.objects.get(("DaskCluster", "ns1", "c"))  # type: ignore[attr-defined]


async def test_a_defaulted_idle_timeout_deletes_an_idle_cluster(rt: Runtime):
    assert ri.idle_timeout(rt, stored(rt)) == IDLE_TIMEOUT
    assert ri.idle_timeout(Runtime(make_plugin_manager(), rt.kube, rt.scheduler, rt.cache), stored(rt)) == 0
    rt.scheduler.idle_since = time.time() - 2 * IDLE_TIMEOUT  # type: ignore[attr-defined]
    await ri.check_idle(rt, "ns1", "c")
    cluster = stored(rt)
    assert cluster is not None and cluster["status"]["idleSince"].endswith("Z")
    assert "idleTimeout" not in cluster["spec"], "the default is not written into the user's spec"
    cluster["status"]["idleSince"] = "2020-01-01T00:00:00Z"
    await ri.check_idle(rt, "ns1", "c")
    assert stored(rt) is None and ("c", "Normal", "IdleTimeout") in rt.kube.events  # type: ignore[attr-defined]
