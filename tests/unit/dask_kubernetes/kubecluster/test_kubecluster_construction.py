"""What KubeCluster decides before talking to Kubernetes (no API server involved)."""

import subprocess
import sys
import textwrap

import dask.config
import pytest
import yaml
from distributed.core import Status

from dask_kubernetes.operator import KubeCluster, make_cluster_spec
from dask_kubernetes.operator.kubecluster import InvalidNameError, kubecluster
from dask_kubernetes.operator.kubecluster.k8s import Kube
from dask_kubernetes.operator.kubecluster.kubecluster import (
    CreateMode,
    load_cluster_spec,
    worker_defaults,
)


@pytest.fixture
def no_api(monkeypatch):
    """Any attempt to reach Kubernetes fails the test."""

    async def forbidden(cls):
        raise AssertionError("KubeCluster talked to Kubernetes")

    monkeypatch.setattr(Kube, "connect", classmethod(forbidden))


@pytest.fixture
def unstarted():
    """Build KubeCluster objects without starting them (asynchronous, never awaited)."""
    made = []

    def make(**kwargs):
        cluster = KubeCluster(asynchronous=True, **kwargs)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.status = Status.closed


@pytest.mark.parametrize("name", ["Bad_Name", "a" * 54, "-x", "9lives"])
def test_invalid_name_fails_before_any_api_call(no_api, name):
    with pytest.raises(InvalidNameError, match="Invalid Dask cluster name"):
        KubeCluster(name=name)


def test_invalid_name_in_a_custom_spec_fails_before_any_api_call(no_api):
    spec = make_cluster_spec(name="ok")
    spec["metadata"]["name"] = "Not_OK"
    with pytest.raises(InvalidNameError, match="Not_OK"):
        KubeCluster(custom_cluster_spec=spec)


def test_resources_typo_names_the_key_before_any_api_call(no_api):
    with pytest.raises(ValueError, match="'limit'"):
        KubeCluster(name="foo", resources={"limit": {"memory": "1Gi"}})


def test_unknown_create_mode_fails_before_any_api_call(no_api):
    with pytest.raises(ValueError, match="create_mode 'maybe'"):
        KubeCluster(name="foo", create_mode="maybe")


async def test_keyword_arguments_become_the_documented_cluster_spec(unstarted):
    cluster = unstarted(
        name="foo",
        namespace="team",
        image="example.org/dask:1",
        n_workers=2,
        env={"FOO": "bar"},
        resources={"limits": {"memory": "1Gi"}},
        worker_command=["python", "-m", "distributed.cli.dask_worker"],
        idle_timeout=30,
        jupyter=True,
    )
    expected = make_cluster_spec(
        name="foo",
        image="example.org/dask:1",
        n_workers=2,
        env={"FOO": "bar"},
        resources={"limits": {"memory": "1Gi"}},
        worker_command=["python", "-m", "distributed.cli.dask_worker"],
        idle_timeout=30,
        jupyter=True,
    )
    assert cluster._manifest == expected
    assert cluster.namespace == "team"
    assert cluster.status == Status.created  # nothing happens until awaited


async def test_env_as_a_list_of_kubernetes_entries_is_kept(unstarted):
    env = [
        {"name": "A", "value": "1"},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    cluster = unstarted(name="foo", env=env)
    worker = cluster._manifest["spec"]["worker"]["spec"]["containers"][0]
    assert worker["env"] == env


async def test_defaults_come_from_dask_config(unstarted, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    with dask.config.set(
        {
            "kubernetes.namespace": "from-config",
            "kubernetes.image": "example.org/dask:cfg",
            "kubernetes.count.start": 5,
            "kubernetes.resource-timeout": 7,
            "kubernetes.create-mode": "connect-only",
            "kubernetes.env": {"X": "1"},
            "kubernetes.port-forward-cluster-ip": True,
        }
    ):
        cluster = unstarted(name="foo")
    assert cluster.namespace == "from-config"
    assert cluster.resource_timeout == 7
    assert cluster.create_mode is CreateMode.CONNECT_ONLY
    assert cluster.port_forward_cluster_ip is True
    worker = cluster._manifest["spec"]["worker"]
    assert worker["replicas"] == 5
    assert worker["spec"]["containers"][0]["image"] == "example.org/dask:cfg"
    assert worker["spec"]["containers"][0]["env"] == [{"name": "X", "value": "1"}]


async def test_arguments_win_over_dask_config(unstarted):
    with dask.config.set({"kubernetes.resource-timeout": 7, "kubernetes.count.start": 5}):
        cluster = unstarted(name="foo", resource_timeout=3, n_workers=1)
    assert cluster.resource_timeout == 3
    assert cluster._manifest["spec"]["worker"]["replicas"] == 1


async def test_generated_name_is_valid(unstarted):
    cluster = unstarted()
    assert cluster.name.startswith("dask-")
    assert len(cluster.name) <= 53


async def test_custom_spec_wins_over_keyword_arguments(unstarted):
    spec = make_cluster_spec(name="selector-example", n_workers=2)
    spec["spec"]["worker"]["spec"]["nodeSelector"] = {"disktype": "ssd"}
    cluster = unstarted(name="ignored", image="ignored:1", custom_cluster_spec=spec)
    assert cluster.name == "selector-example"
    assert cluster._manifest == spec
    assert cluster._manifest is not spec  # the caller's dict is not modified later


async def test_custom_spec_from_a_yaml_path(unstarted, tmp_path):
    path = tmp_path / "cluster-spec.yml"
    path.write_text(yaml.safe_dump(make_cluster_spec(name="example")))
    cluster = unstarted(custom_cluster_spec=str(path))
    assert cluster.name == "example"
    assert cluster._manifest["kind"] == "DaskCluster"


def test_load_cluster_spec_rejects_what_is_not_a_daskcluster(tmp_path):
    with pytest.raises(ValueError, match="not a DaskJob"):
        load_cluster_spec({"kind": "DaskJob", "metadata": {"name": "x"}, "spec": {}})
    with pytest.raises(ValueError, match="DaskCluster manifest"):
        load_cluster_spec({"metadata": {"name": "x"}})
    with pytest.raises(ValueError, match="cannot read"):
        load_cluster_spec(tmp_path / "missing.yaml")


def test_worker_defaults_are_taken_from_the_default_worker_group():
    spec = make_cluster_spec(
        name="foo",
        image="example.org/dask:2",
        env={"A": "1"},
        resources={"requests": {"cpu": "1"}},
    )
    assert worker_defaults(spec) == {
        "image": "example.org/dask:2",
        "env": [{"name": "A", "value": "1"}],
        "resources": {"requests": {"cpu": "1"}},
    }
    assert worker_defaults({"spec": {}}) == {}


async def test_from_name_connects_only(unstarted, monkeypatch):
    made = {}

    def fake_init(self, **kwargs):
        made.update(kwargs)

    monkeypatch.setattr(KubeCluster, "__init__", fake_init)
    KubeCluster.from_name("example", namespace="ns")
    assert made == {"name": "example", "namespace": "ns", "create_mode": CreateMode.CONNECT_ONLY}


def test_shutdown_on_close_defaults_to_ownership(unstarted):
    cluster = KubeCluster.__new__(KubeCluster)
    cluster._shutdown_on_close = None
    cluster._created = True
    assert cluster.shutdown_on_close is True
    cluster._created = False
    assert cluster.shutdown_on_close is False
    cluster._shutdown_on_close = True
    assert cluster.shutdown_on_close is True


def test_importing_the_client_never_imports_kopf():
    code = textwrap.dedent(
        """
        import sys
        from dask_kubernetes.operator import KubeCluster, CreateMode, make_cluster_spec
        import dask_kubernetes.operator.kubecluster.portforward
        assert "kopf" not in sys.modules, "kopf was imported"
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_module_exports():
    assert kubecluster.KubeCluster is KubeCluster


async def test_links_follow_the_dashboard_address_reached(unstarted, monkeypatch):
    from dask_kubernetes.operator.kubecluster.addresses import Endpoint

    cluster = unstarted(name="foo", jupyter=True)
    assert "--jupyter" in cluster._manifest["spec"]["scheduler"]["spec"]["containers"][0]["args"]
    assert cluster.dashboard_link == ""
    assert cluster.jupyter_link is None
    cluster._dashboard = Endpoint("127.0.0.1", 40000, "port-forward")
    assert cluster.dashboard_link == "http://127.0.0.1:40000/status"
    assert cluster.jupyter_link == "http://127.0.0.1:40000/jupyter/lab"
    # the KubeFlow recipe in the user docs: links go through the Jupyter proxy
    monkeypatch.setenv("NB_PREFIX", "/notebook/alice")
    with dask.config.set({"distributed.dashboard.link": "{NB_PREFIX}/proxy/{host}:{port}/status"}):
        assert cluster.dashboard_link == "/notebook/alice/proxy/127.0.0.1:40000/status"
        assert cluster.jupyter_link == "/notebook/alice/proxy/127.0.0.1:40000/jupyter/lab"


async def test_reprs_name_the_cluster_and_its_namespace(unstarted):
    cluster = unstarted(name="foo", namespace="team")
    cluster._worker_groups.add("highmem")
    html = cluster._repr_html_()
    assert "foo" in html and "team" in html and "highmem" in html
    text = cluster.generate_rich_output()
    assert text.splitlines()[0] == "KubeCluster foo (namespace team)"
    assert "extra worker groups: highmem" in text
    assert "KubeCluster(foo" in repr(cluster)


async def test_api_errors_users_can_fix_are_explained(unstarted):
    import json

    from kubernetes_asyncio.client.exceptions import ApiException

    from dask_kubernetes.operator.kubecluster import KubeClusterError

    def api_error(status, message):
        error = ApiException(status=status, reason="x")
        error.body = json.dumps({"message": message})
        return error

    cluster = unstarted(name="foo", namespace="nope")
    missing = cluster._explain(api_error(404, 'namespaces "nope" not found'))
    assert isinstance(missing, KubeClusterError)
    assert "kubectl create namespace nope" in str(missing)
    forbidden = cluster._explain(api_error(403, "daskclusters is forbidden"))
    assert "RBAC" in str(forbidden) and "daskclusters is forbidden" in str(forbidden)
    other = api_error(500, "boom")
    assert cluster._explain(other) is other


async def test_dashboard_link_is_the_exposed_url_when_the_operator_exposes_one(unstarted):
    from dask_kubernetes.operator.kubecluster.addresses import Endpoint

    cluster = unstarted(name="foo")
    cluster._dashboard = Endpoint("127.0.0.1", 40000, "port-forward")
    cluster._cluster = {"status": {"dashboardURL": "http://foo-scheduler.default.svc.cluster.local:8787/status"}}
    assert cluster.dashboard_link == "http://127.0.0.1:40000/status"  # in-cluster only: the forward
    cluster._cluster["status"]["externalDashboardURL"] = "https://foo.default.dask.example.com/status"
    assert cluster.dashboard_link == "https://foo.default.dask.example.com/status"
