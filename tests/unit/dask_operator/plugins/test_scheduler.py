import ast

from dask_operator.plugins import scheduler


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def test_deployment_from_the_docs_cluster(cluster):
    dep = scheduler.dask_scheduler_build_deployment(cluster)
    assert dep["kind"] == "Deployment" and dep["metadata"]["name"] == "simple-scheduler"
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"] == {"type": "Recreate"}
    assert dep["spec"]["selector"]["matchLabels"] == {"dask.org/cluster-name": "simple", "dask.org/component": "scheduler"}
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"  # user spec kept


def test_http_api_routes_are_enabled_unless_the_user_set_them(cluster):
    container = scheduler.dask_scheduler_build_deployment(cluster)["spec"]["template"]["spec"]["containers"][0]
    routes = ast.literal_eval(env_of(container)[scheduler.HTTP_ROUTES_ENV])
    assert "distributed.http.scheduler.api" in routes and "distributed.http.health" in routes
    cluster["spec"]["scheduler"]["spec"]["containers"][0]["env"] = [{"name": scheduler.HTTP_ROUTES_ENV, "value": "[]"}]
    container = scheduler.dask_scheduler_build_deployment(cluster)["spec"]["template"]["spec"]["containers"][0]
    assert env_of(container)[scheduler.HTTP_ROUTES_ENV] == "[]"
    assert [e["name"] for e in container["env"]].count(scheduler.HTTP_ROUTES_ENV) == 1


def test_http_routes_default_matches_distributed_plus_api():
    import dask.config
    import distributed  # noqa: F401  (loads distributed's defaults)

    defaults = dask.config.get("distributed.scheduler.http.routes")
    assert scheduler.HTTP_ROUTES == list(defaults) + ["distributed.http.scheduler.api"]


def test_service_keeps_user_spec_and_sub_resource_metadata(cluster):
    cluster["spec"]["scheduler"]["metadata"] = {"annotations": {"fizz": "buzz"}}
    svc = scheduler.dask_scheduler_build_service(cluster)
    assert svc["spec"]["type"] == "NodePort"
    assert [p["name"] for p in svc["spec"]["ports"]] == ["tcp-comm", "http-dashboard"]
    assert svc["metadata"]["annotations"] == {"fizz": "buzz"}


def test_service_defaults_when_user_gave_none(cluster):
    del cluster["spec"]["scheduler"]["service"]
    svc = scheduler.dask_scheduler_build_service(cluster)
    assert svc["spec"]["selector"] == {"dask.org/cluster-name": "simple", "dask.org/component": "scheduler"}
    assert {p["port"] for p in svc["spec"]["ports"]} == {8786, 8787}


def test_scheduler_address(cluster):
    assert scheduler.dask_scheduler_address(cluster) == "tcp://simple-scheduler.ns1.svc.cluster.local:8786"
