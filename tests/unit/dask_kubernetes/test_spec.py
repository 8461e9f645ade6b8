"""make_cluster_spec / make_worker_spec: every default, env and resources handling, commands."""

from __future__ import annotations

import ast
import copy
from typing import Any

import pytest

from dask_kubernetes.operator import make_cluster_spec, make_worker_spec
from dask_kubernetes.operator.spec import SCHEDULER_HTTP_ROUTES_ENV


def worker_container(spec: dict[str, Any]) -> dict[str, Any]:
    containers = spec["spec"]["worker"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def scheduler_container(spec: dict[str, Any]) -> dict[str, Any]:
    containers = spec["spec"]["scheduler"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_dict(container: dict[str, Any]) -> dict[str, str]:
    return {entry["name"]: entry.get("value") for entry in container.get("env", [])}


# --- make_cluster_spec defaults ---------------------------------------------------------------


def test_cluster_spec_is_a_daskcluster_named_after_the_cluster() -> None:
    spec = make_cluster_spec("foo")
    assert spec["apiVersion"] == "kubernetes.dask.org/v1"
    assert spec["kind"] == "DaskCluster"
    assert spec["metadata"] == {"name": "foo"}
    assert set(spec["spec"]) == {"worker", "scheduler", "idleTimeout"}


def test_cluster_spec_defaults() -> None:
    spec = make_cluster_spec("foo")
    assert spec["spec"]["idleTimeout"] == 0
    # n_workers=None leaves replicas to the CRD default (1)
    assert "replicas" not in spec["spec"]["worker"]
    worker = worker_container(spec)
    scheduler = scheduler_container(spec)
    assert worker["name"] == "worker"
    assert scheduler["name"] == "scheduler"
    assert worker["image"] == scheduler["image"] == "ghcr.io/dask/dask:latest"
    assert "env" not in worker
    assert "resources" not in worker and "resources" not in scheduler


def test_worker_default_command_and_args() -> None:
    worker = worker_container(make_cluster_spec("foo"))
    assert worker["args"] == [
        "dask",
        "worker",
        "--name",
        "$(DASK_WORKER_NAME)",
        "--dashboard",
        "--dashboard-address",
        "8788",
    ]
    assert worker["ports"] == [{"name": "http-dashboard", "containerPort": 8788, "protocol": "TCP"}]


def test_scheduler_command_ports_and_probes() -> None:
    scheduler = scheduler_container(make_cluster_spec("foo"))
    assert scheduler["args"] == ["dask", "scheduler"]
    assert scheduler["ports"] == [
        {"name": "tcp-comm", "containerPort": 8786, "protocol": "TCP"},
        {"name": "http-dashboard", "containerPort": 8787, "protocol": "TCP"},
    ]
    for probe in ("readinessProbe", "livenessProbe"):
        assert scheduler[probe]["httpGet"] == {"port": "http-dashboard", "path": "/health"}


def test_scheduler_enables_the_http_api_the_operator_uses() -> None:
    scheduler = scheduler_container(make_cluster_spec("foo"))
    routes = ast.literal_eval(env_dict(scheduler)[SCHEDULER_HTTP_ROUTES_ENV])
    assert "distributed.http.scheduler.api" in routes
    # the variable replaces distributed's list, so its defaults must still be there
    assert {"distributed.http.health", "distributed.http.scheduler.prometheus"} <= set(routes)


def test_scheduler_http_routes_match_distributed_defaults() -> None:
    import dask.config
    import distributed  # noqa: F401  (registers distributed's config defaults)

    defaults = dask.config.get("distributed.scheduler.http.routes")
    routes = ast.literal_eval(
        env_dict(scheduler_container(make_cluster_spec("foo")))[SCHEDULER_HTTP_ROUTES_ENV]
    )
    assert set(defaults) <= set(routes)


def test_user_routes_env_is_not_overridden() -> None:
    spec = make_cluster_spec("foo", env={SCHEDULER_HTTP_ROUTES_ENV: "['mine']"})
    assert env_dict(scheduler_container(spec))[SCHEDULER_HTTP_ROUTES_ENV] == "['mine']"


def test_scheduler_service() -> None:
    service = make_cluster_spec("foo")["spec"]["scheduler"]["service"]
    assert service["type"] == "ClusterIP"
    assert service["selector"] == {
        "dask.org/cluster-name": "foo",
        "dask.org/component": "scheduler",
    }
    assert service["ports"] == [
        {"name": "tcp-comm", "protocol": "TCP", "port": 8786, "targetPort": "tcp-comm"},
        {"name": "http-dashboard", "protocol": "TCP", "port": 8787, "targetPort": "http-dashboard"},
    ]


# --- make_cluster_spec options ----------------------------------------------------------------


def test_options_reach_the_spec() -> None:
    spec = make_cluster_spec(
        "bar",
        image="foo.com/dask:1",
        n_workers=5,
        scheduler_service_type="LoadBalancer",
        idle_timeout=300,
    )
    assert spec["spec"]["worker"]["replicas"] == 5
    assert worker_container(spec)["image"] == scheduler_container(spec)["image"] == "foo.com/dask:1"
    assert spec["spec"]["scheduler"]["service"]["type"] == "LoadBalancer"
    assert spec["spec"]["idleTimeout"] == 300


def test_zero_workers_is_kept() -> None:
    assert make_cluster_spec("foo", n_workers=0)["spec"]["worker"]["replicas"] == 0


def test_jupyter_adds_the_flag_to_the_scheduler_only() -> None:
    spec = make_cluster_spec("foo", jupyter=True)
    assert scheduler_container(spec)["args"] == ["dask", "scheduler", "--jupyter"]
    assert "--jupyter" not in worker_container(spec)["args"]


def test_env_dict_goes_to_scheduler_and_workers_in_order() -> None:
    spec = make_cluster_spec("foo", env={"FOO": "bar", "EXTRA_PIP_PACKAGES": "jupyterlab"})
    assert worker_container(spec)["env"] == [
        {"name": "FOO", "value": "bar"},
        {"name": "EXTRA_PIP_PACKAGES", "value": "jupyterlab"},
    ]
    scheduler_env = scheduler_container(spec)["env"]
    assert scheduler_env[:2] == worker_container(spec)["env"]
    assert scheduler_env[2]["name"] == SCHEDULER_HTTP_ROUTES_ENV


def test_env_dict_numbers_become_strings() -> None:
    spec = make_cluster_spec("foo", env={"THREADS": 4})
    assert worker_container(spec)["env"] == [{"name": "THREADS", "value": "4"}]


@pytest.mark.parametrize("value", [True, None, ["a"], {"a": 1}])
def test_env_dict_rejects_non_string_values(value: Any) -> None:
    with pytest.raises(ValueError, match="FOO"):
        make_cluster_spec("foo", env={"FOO": value})


def test_env_list_of_kubernetes_entries_is_kept() -> None:
    env: list[dict[str, Any]] = [
        {"name": "FOO", "value": "bar"},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    ]
    original = copy.deepcopy(env)
    spec = make_cluster_spec("foo", env=env)
    assert worker_container(spec)["env"] == original
    # a copy: editing the spec does not change the caller's list, nor one container the other
    worker_container(spec)["env"][0]["value"] = "changed"
    assert env == original
    assert scheduler_container(spec)["env"][0]["value"] == "bar"


@pytest.mark.parametrize("env", [[{"value": "x"}], ["FOO=bar"], "FOO=bar"])
def test_env_list_rejects_malformed_entries(env: Any) -> None:
    with pytest.raises(ValueError, match="env"):
        make_cluster_spec("foo", env=env)


def test_resources_go_to_scheduler_and_workers() -> None:
    resources = {"requests": {"memory": "2Gi"}, "limits": {"memory": "64Gi"}}
    spec = make_cluster_spec("foo", resources=resources)
    assert worker_container(spec)["resources"] == resources
    assert scheduler_container(spec)["resources"] == resources
    worker_container(spec)["resources"]["limits"]["memory"] = "1Gi"
    assert resources["limits"]["memory"] == "64Gi"


def test_resources_only_requests() -> None:
    spec = make_cluster_spec("foo", resources={"requests": {"cpu": "1"}})
    assert worker_container(spec)["resources"] == {"requests": {"cpu": "1"}}


def test_resources_typo_names_the_bad_key_and_the_allowed_ones() -> None:
    with pytest.raises(ValueError) as info:
        make_cluster_spec("foo", resources={"limit": {"memory": "2Gi"}})
    message = str(info.value)
    assert "'limit'" in message
    assert "'requests'" in message and "'limits'" in message


def test_resources_must_be_a_mapping() -> None:
    with pytest.raises(ValueError, match="resources"):
        make_cluster_spec("foo", resources=["limits"])  # type: ignore[arg-type]


def test_worker_command_string_is_split_into_words() -> None:
    spec = make_cluster_spec("foo", worker_command="dask cuda worker --rmm-pool-size '1 GB'")
    assert worker_container(spec)["args"][:6] == [
        "dask",
        "cuda",
        "worker",
        "--rmm-pool-size",
        "1 GB",
        "--name",
    ]


def test_worker_command_list_is_used_as_is() -> None:
    spec = make_cluster_spec("foo", worker_command=["python", "-m", "distributed.cli.dask_worker"])
    assert worker_container(spec)["args"][:4] == [
        "python",
        "-m",
        "distributed.cli.dask_worker",
        "--name",
    ]


@pytest.mark.parametrize("command", ["", "   ", []])
def test_empty_worker_command_is_rejected(command: Any) -> None:
    with pytest.raises(ValueError, match="worker_command"):
        make_cluster_spec("foo", worker_command=command)


def test_unknown_service_type_is_rejected() -> None:
    with pytest.raises(ValueError, match="ClusterIP"):
        make_cluster_spec("foo", scheduler_service_type="Clusterip")


@pytest.mark.parametrize("kwargs", [{"n_workers": -1}, {"idle_timeout": -5}, {"n_workers": 1.5}])
def test_negative_or_fractional_counts_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="0 or more"):
        make_cluster_spec("foo", **kwargs)


def test_spec_is_freshly_built_each_call() -> None:
    first = make_cluster_spec("foo")
    first["spec"]["worker"]["spec"]["containers"][0]["args"].append("--nthreads")
    scheduler_container(first)["ports"].pop()
    second = make_cluster_spec("foo")
    assert "--nthreads" not in worker_container(second)["args"]
    assert len(scheduler_container(second)["ports"]) == 2


# --- make_worker_spec -------------------------------------------------------------------------


def test_worker_spec_defaults() -> None:
    worker = make_worker_spec()
    assert worker["replicas"] == 3
    (container,) = worker["spec"]["containers"]
    assert container["image"] == "ghcr.io/dask/dask:latest"
    assert container["args"][:2] == ["dask", "worker"]
    assert set(worker) == {"replicas", "spec"}


def test_worker_spec_as_documented() -> None:
    worker = make_worker_spec(
        cluster_name="example", n_workers=2, resources={"limits": {"nvidia.com/gpu": 1}}
    )
    worker["spec"]["nodeSelector"] = {"cloud.google.com/gke-nodepool": "gpu-node-pool"}
    assert worker["replicas"] == 2
    assert worker["spec"]["containers"][0]["resources"] == {"limits": {"nvidia.com/gpu": 1}}


def test_worker_spec_matches_the_cluster_default_group() -> None:
    kwargs: dict[str, Any] = {
        "image": "img:1",
        "n_workers": 4,
        "env": {"A": "1"},
        "resources": {"limits": {"cpu": "2"}},
        "worker_command": ["dask", "worker"],
    }
    assert make_worker_spec(**kwargs) == make_cluster_spec("foo", **kwargs)["spec"]["worker"]


def test_worker_spec_validates_like_the_cluster_spec() -> None:
    with pytest.raises(ValueError, match="'limit'"):
        make_worker_spec(resources={"limit": {}})
    with pytest.raises(ValueError, match="0 or more"):
        make_worker_spec(n_workers=-2)


# --- the routes variable really enables the HTTP API ------------------------------------------


async def test_routes_variable_serves_the_scheduler_http_api() -> None:
    """Parse the variable like dask does in a scheduler pod, then ask a real (in-process,
    loopback-only) scheduler for the routes the operator calls."""
    import json

    import dask.config
    from distributed import Scheduler
    from tornado.httpclient import AsyncHTTPClient

    value = env_dict(scheduler_container(make_cluster_spec("foo")))[SCHEDULER_HTTP_ROUTES_ENV]
    parsed = dask.config.collect_env({SCHEDULER_HTTP_ROUTES_ENV: value})
    routes = parsed["distributed"]["scheduler"]["http"]["routes"]
    with dask.config.set({"distributed.scheduler.http.routes": routes}):
        async with Scheduler(
            host="127.0.0.1", port=0, dashboard_address="127.0.0.1:0"
        ) as scheduler:
            base = f"http://127.0.0.1:{scheduler.http_server.port}"
            client = AsyncHTTPClient()
            idle = json.loads((await client.fetch(f"{base}/api/v1/check_idle")).body)
            assert "idle_since" in idle
            target = json.loads((await client.fetch(f"{base}/api/v1/adaptive_target")).body)
            assert target == {"workers": 0}
            retired = await client.fetch(
                f"{base}/api/v1/retire_workers", method="POST", body=json.dumps({"n": 0})
            )
            assert retired.code == 200
            assert (await client.fetch(f"{base}/health")).body == b"ok"
