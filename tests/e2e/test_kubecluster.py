"""KubeCluster end to end: the chart-installed operator on the local cluster, real Dask work.

Every test gets a fresh namespace; names only need to be unique within it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from dask.distributed import Client

from dask_kubernetes.operator import KubeCluster, make_cluster_spec, make_worker_spec
from dask_kubernetes.operator.kubecluster import (
    ClusterExistsError,
    ClusterNotFoundError,
    InvalidNameError,
    KubeClusterError,
    SchedulerStartupError,
)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("operator_release")]

RESULT_TIMEOUT = 120
REPO = Path(__file__).resolve().parents[2]

# Pods cannot import this module, so tasks are lambdas: cloudpickle ships those by value.
add_one = lambda x: x + 1  # noqa: E731
read_marker = lambda: os.environ.get("MARKER", "")  # noqa: E731


def names_of(
    kubectl: Callable[..., subprocess.CompletedProcess[str]], kinds: str, ns: str
) -> list[str]:
    out = kubectl("get", kinds, "-n", ns, "-o", "name", "--ignore-not-found").stdout
    return sorted(out.split())


def wait_until_gone(kubectl, kinds: str, ns: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while left := names_of(kubectl, kinds, ns):
        if time.monotonic() > deadline:
            raise AssertionError(f"still there after {timeout}s in {ns}: {left}")
        time.sleep(1)


# -- creating, computing, closing --------------------------------------------------------------


@pytest.mark.both_nodes
def test_kubecluster_context_manager_computes_and_close_deletes_what_it_created(kubectl, namespace):
    with KubeCluster(name="simple", namespace=namespace, n_workers=1) as cluster:
        assert names_of(kubectl, "daskclusters", namespace) == [
            "daskcluster.kubernetes.dask.org/simple"
        ]
        with Client(cluster) as client:
            assert client.submit(add_one, 10).result(timeout=RESULT_TIMEOUT) == 11
        assert cluster.scheduler_address.startswith("tcp://")
        assert cluster.shutdown_on_close
    assert names_of(kubectl, "daskclusters", namespace) == []
    wait_until_gone(kubectl, "daskworkergroups,pods,services", namespace)


async def test_kubecluster_async_context_manager_computes(kubectl, namespace):
    async with KubeCluster(
        name="async", namespace=namespace, n_workers=1, asynchronous=True
    ) as cluster:
        async with Client(cluster, asynchronous=True) as client:
            assert await client.submit(add_one, 10) == 11
    assert names_of(kubectl, "daskclusters", namespace) == []


async def test_kubecluster_two_clusters_at_once_on_the_same_loop(namespace):
    async with (
        KubeCluster(name="first", namespace=namespace, n_workers=1, asynchronous=True) as first,
        KubeCluster(name="second", namespace=namespace, n_workers=1, asynchronous=True) as second,
    ):
        assert first.scheduler_address != second.scheduler_address
        async with (
            Client(first, asynchronous=True) as one,
            Client(second, asynchronous=True) as two,
        ):
            a, b = await asyncio.gather(one.submit(add_one, 1), two.submit(add_one, 2))
            assert (a, b) == (2, 3)
            assert one.scheduler_info()["id"] == first.scheduler_info["id"]
            assert two.scheduler_info()["id"] == second.scheduler_info["id"]
            assert first.scheduler_info["id"] != second.scheduler_info["id"]


def test_kubecluster_custom_worker_command(namespace):
    command = ["dask", "worker", "--nthreads", "3"]
    with KubeCluster(
        name="command", namespace=namespace, n_workers=1, worker_command=command
    ) as cluster:
        with Client(cluster) as client:
            client.wait_for_workers(1, timeout=RESULT_TIMEOUT)
            threads = [w["nthreads"] for w in client.scheduler_info()["workers"].values()]
            assert threads == [3]
            assert client.submit(add_one, 1).result(timeout=RESULT_TIMEOUT) == 2


def test_kubecluster_custom_cluster_spec_from_make_cluster_spec(namespace):
    spec = make_cluster_spec(name="custom", n_workers=1, env={"MARKER": "from-custom-spec"})
    with KubeCluster(custom_cluster_spec=spec, namespace=namespace) as cluster:
        assert cluster.name == "custom"
        with Client(cluster) as client:
            assert client.submit(read_marker).result(timeout=RESULT_TIMEOUT) == "from-custom-spec"


def test_kubecluster_migrating_from_classic_yaml_spec_then_from_name(kubectl, namespace):
    # "Migrating from classic": KubeCluster(custom_cluster_spec="cluster-spec.yml"), then
    # KubeCluster.from_name("example"), scale, Client.
    with KubeCluster(
        custom_cluster_spec=str(REPO / "examples" / "cluster-spec.yml"), namespace=namespace
    ):
        cluster = KubeCluster.from_name("example", namespace=namespace)
        try:
            cluster.scale(1)
            with Client(cluster) as client:
                assert client.submit(add_one, 1).result(timeout=RESULT_TIMEOUT) == 2
        finally:
            cluster.close()
        assert names_of(kubectl, "daskclusters", namespace) == [
            "daskcluster.kubernetes.dask.org/example"
        ]
    assert names_of(kubectl, "daskclusters", namespace) == []


def test_kubecluster_from_name_sees_the_same_scheduler_and_close_leaves_the_cluster(
    kubectl, namespace
):
    with KubeCluster(name="shared", namespace=namespace, n_workers=1) as owner:
        connected = KubeCluster.from_name("shared", namespace=namespace)
        try:
            assert connected == owner
            assert not connected.shutdown_on_close
            with Client(owner) as a, Client(connected) as b:
                assert a.scheduler_info()["id"] == b.scheduler_info()["id"]
                assert b.submit(add_one, 41).result(timeout=RESULT_TIMEOUT) == 42
        finally:
            connected.close()
        # closing the object that merely connected leaves the cluster running
        assert names_of(kubectl, "daskclusters", namespace) == [
            "daskcluster.kubernetes.dask.org/shared"
        ]
        with Client(owner) as client:
            assert client.submit(add_one, 1).result(timeout=RESULT_TIMEOUT) == 2
    assert names_of(kubectl, "daskclusters", namespace) == []


def test_kubecluster_worker_groups_are_added_waited_for_and_deleted(kubectl, namespace):
    with KubeCluster(name="groups", namespace=namespace, n_workers=1) as cluster:
        cluster.add_worker_group(
            name="highmem", n_workers=1, resources={"requests": {"memory": "64Mi"}}
        )
        group = kubectl("get", "daskworkergroup", "groups-highmem", "-n", namespace, "-o", "json")
        assert '"cluster": "groups"' in group.stdout
        cluster.wait_for_workers(2, timeout=RESULT_TIMEOUT)
        assert len(cluster.scheduler_info["workers"]) >= 2

        # the documented call without a name, with a spec from make_worker_spec
        worker_spec = make_worker_spec(cluster_name=cluster.name, n_workers=0)
        extra = cluster.add_worker_group(custom_spec=worker_spec)
        assert f"daskworkergroup.kubernetes.dask.org/groups-{extra}" in names_of(
            kubectl, "daskworkergroups", namespace
        )
        cluster.scale(1, worker_group="highmem")

        cluster.delete_worker_group(name="highmem")
        cluster.delete_worker_group(extra)
        assert "daskworkergroup.kubernetes.dask.org/groups-highmem" not in names_of(
            kubectl, "daskworkergroups", namespace
        )
        deadline = time.monotonic() + RESULT_TIMEOUT
        while len(cluster.scheduler_info["workers"]) > 1:
            assert time.monotonic() < deadline, "the deleted group's worker never left"
            time.sleep(1)


def test_kubecluster_adapt_scales_up_for_work_and_scale_turns_it_off(kubectl, namespace):
    with KubeCluster(name="adaptive", namespace=namespace, n_workers=0) as cluster:
        cluster.adapt(minimum=0, maximum=1)
        autoscaler = kubectl(
            "get", "daskautoscaler", "adaptive", "-n", namespace, "-o", "json"
        ).stdout
        assert '"maximum": 1' in autoscaler
        with Client(cluster) as client:
            assert client.submit(add_one, 1).result(timeout=RESULT_TIMEOUT) == 2
        cluster.scale(0)
        assert names_of(kubectl, "daskautoscalers", namespace) == []
        replicas = kubectl(
            "get",
            "daskcluster",
            "adaptive",
            "-n",
            namespace,
            "-o",
            "jsonpath={.spec.worker.replicas}",
        ).stdout
        assert replicas == "0"


def test_kubecluster_get_logs_has_scheduler_and_worker_logs(namespace):
    with KubeCluster(name="logs", namespace=namespace, n_workers=1) as cluster:
        cluster.wait_for_workers(1, timeout=RESULT_TIMEOUT)
        logs = cluster.get_logs()
        schedulers = [name for name in logs if name.startswith("logs-scheduler")]
        workers = [name for name in logs if name.startswith("logs-default-worker")]
        assert len(schedulers) == 1 and len(workers) == 1, list(logs)
        assert "Scheduler at" in logs[schedulers[0]]
        assert "distributed.worker" in logs[workers[0]]


def test_kubecluster_dashboard_link_answers(namespace):
    with KubeCluster(name="dash", namespace=namespace, n_workers=0) as cluster:
        assert cluster.dashboard_link.startswith("http://")
        with urllib.request.urlopen(cluster.dashboard_link, timeout=30) as response:
            assert response.status == 200
        assert "dash" in cluster._repr_html_()


# -- the port-forward path -------------------------------------------------------------------


@pytest.mark.both_nodes
def test_kubecluster_port_forward_path_computes_and_forwards_the_dashboard(namespace):
    with KubeCluster(
        name="forwarded", namespace=namespace, n_workers=1, port_forward_cluster_ip=True
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        assert cluster.dashboard_link.startswith("http://127.0.0.1:")
        with Client(cluster) as client:
            assert client.submit(add_one, 10).result(timeout=RESULT_TIMEOUT) == 11
        with urllib.request.urlopen(cluster.dashboard_link, timeout=30) as response:
            assert response.status == 200


# -- errors: the documented exception, and nothing left behind --------------------------------


def test_kubecluster_invalid_name_creates_nothing(kubectl, namespace):
    with pytest.raises(InvalidNameError, match="Invalid Dask cluster name 'Not_Valid'"):
        KubeCluster(name="Not_Valid", namespace=namespace)
    assert names_of(kubectl, "daskclusters", namespace) == []


def test_kubecluster_resources_typo_creates_nothing(kubectl, namespace):
    with pytest.raises(ValueError, match="'limit'"):
        KubeCluster(name="typo", namespace=namespace, resources={"limit": {"memory": "1Gi"}})
    assert names_of(kubectl, "daskclusters", namespace) == []


def test_kubecluster_create_only_and_connect_only(kubectl, namespace):
    with pytest.raises(ClusterNotFoundError, match="No DaskCluster named 'ghost'"):
        KubeCluster.from_name("ghost", namespace=namespace)
    assert names_of(kubectl, "daskclusters", namespace) == []
    with KubeCluster(name="once", namespace=namespace, n_workers=0):
        with pytest.raises(ClusterExistsError, match="already exists"):
            KubeCluster(name="once", namespace=namespace, create_mode="CREATE_ONLY")
        # the failed attempt must not delete the cluster it did not create
        assert names_of(kubectl, "daskclusters", namespace) == [
            "daskcluster.kubernetes.dask.org/once"
        ]


def test_kubecluster_crash_looping_scheduler_raises_with_its_logs_and_cleans_up(kubectl, namespace):
    spec = make_cluster_spec(name="crashy", n_workers=1)
    spec["spec"]["scheduler"]["spec"]["containers"][0]["args"] = [
        "python",
        "-c",
        "import sys; print('scheduler-boom: bad config', flush=True); sys.exit(3)",
    ]
    with pytest.raises(SchedulerStartupError, match="scheduler-boom") as info:
        # resource_timeout bounds both the operator's pickup and how long the crash loop is tolerated;
        # 40 s leaves room for a loaded 2-core CI machine.
        KubeCluster(custom_cluster_spec=spec, namespace=namespace, resource_timeout=40)
    assert "scheduler-boom" in info.value.logs
    assert "crashy" in str(info.value)
    wait_until_gone(kubectl, "daskclusters,daskworkergroups,deployments,pods,services", namespace)


# -- interpreter exit ------------------------------------------------------------------------


def run_python(code: str, k8s) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=k8s.env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_kubecluster_exit_closes_owned_clusters_only(k8s, kubectl, namespace):
    with KubeCluster(name="kept", namespace=namespace, n_workers=0):
        result = run_python(
            f"""
            from dask_kubernetes.operator import KubeCluster
            owned = KubeCluster(name="owned", namespace={namespace!r}, n_workers=0, quiet=True)
            borrowed = KubeCluster.from_name("kept", namespace={namespace!r}, quiet=True)
            print("open", owned.name, borrowed.name)
            """,
            k8s,
        )
        assert result.returncode == 0, result.stderr
        assert "open owned kept" in result.stdout
        wait_until_gone(kubectl, "daskclusters/owned", namespace, timeout=60)
        assert names_of(kubectl, "daskclusters", namespace) == [
            "daskcluster.kubernetes.dask.org/kept"
        ]


def test_kubecluster_missing_namespace_is_explained(kubectl):
    with pytest.raises(
        KubeClusterError, match="Namespace 't-test-kubecluster-nowhere' does not exist"
    ):
        KubeCluster(name="lost", namespace="t-test-kubecluster-nowhere")


def test_kubecluster_load_balancer_service_is_reached_through_its_ingress(namespace):
    with KubeCluster(
        name="balanced", namespace=namespace, n_workers=1, scheduler_service_type="LoadBalancer"
    ) as cluster:
        # The load balancer's published address comes first (before NodePort and ClusterIP).
        assert cluster._scheduler_endpoint.source == "load-balancer"
        with Client(cluster) as client:
            assert client.submit(add_one, 2).result(timeout=RESULT_TIMEOUT) == 3


@pytest.mark.both_nodes
def test_kubecluster_node_port_service_is_reached_directly(kubectl, namespace):
    nodes = json.loads(kubectl("get", "nodes", "-o", "json").stdout)["items"]
    # 127.0.0.1 on the process node, the node's own address on the real node.
    node_ips = {a["address"] for n in nodes for a in n["status"]["addresses"] if a["type"] == "InternalIP"}
    with KubeCluster(
        name="nodeport", namespace=namespace, n_workers=1, scheduler_service_type="NodePort"
    ) as cluster:
        # The NodePort on the node's address comes before the ClusterIP; no port-forward needed.
        assert cluster._scheduler_endpoint.source == "node-port"
        host, port = cluster.scheduler_address.removeprefix("tcp://").rsplit(":", 1)
        assert host in node_ips
        assert port != "8786"
        with Client(cluster) as client:
            assert client.submit(add_one, 1).result(timeout=RESULT_TIMEOUT) == 2
