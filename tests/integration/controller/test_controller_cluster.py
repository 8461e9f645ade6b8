"""The user docs' cluster.yaml end to end: phases, conditions, children, a computation, scaling."""

from __future__ import annotations

from pathlib import Path

import pytest
from distributed import Client
from distributed import wait as wait_futures

pytestmark = pytest.mark.cluster

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
WORKERS = "dask.org/cluster-name=simple,dask.org/component=worker"


def test_docs_cluster_becomes_ready_and_computes(operator, kube, wait):
    kube.kubectl("apply", "-f", str(EXAMPLES / "cluster.yaml"))
    cluster = kube.wait_ready("simple")  # `kubectl wait --for=condition=Ready daskcluster/simple`
    status = cluster["status"]
    assert status["phase"] == "Running"
    assert status["observedGeneration"] == cluster["metadata"]["generation"]
    assert status["workers"] == {"desired": 2, "ready": 2}
    assert status["replicas"] == 2
    assert status["schedulerAddress"] == f"tcp://simple-scheduler.{kube.ns}.svc.cluster.local:8786"
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {"SchedulerReady": "True", "WorkersReady": "True", "Ready": "True",
                          "Reconciling": "False", "Stalled": "False"}  # the health contract (docs/health.md)

    # children: names, owners, labels
    deployment = kube.get("deployment", "simple-scheduler")
    service = kube.get("service", "simple-scheduler")
    group = kube.get("daskworkergroup", "simple-default")
    for child in (deployment, service, group):
        assert child is not None
        owner = child["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["uid"]) == ("DaskCluster", "simple", cluster["metadata"]["uid"])
    assert service["spec"]["type"] == "NodePort"
    # no finalizers: Dask objects can be deleted while no operator runs
    for obj in (kube.get("daskcluster", "simple"), group):
        assert not obj["metadata"].get("finalizers"), obj["metadata"]["finalizers"]
    pods = kube.pods(WORKERS)
    assert len(pods) == 2
    for pod in pods:
        assert pod["metadata"]["name"].startswith("simple-default-worker-")
        assert len(pod["metadata"]["name"]) == len("simple-default-worker-") + 10
        assert pod["metadata"]["ownerReferences"][0]["uid"] == group["metadata"]["uid"]
        assert pod["metadata"]["labels"]["dask.org/workergroup-name"] == "simple-default"
        env = [e["name"] for e in pod["spec"]["containers"][0]["env"]]
        assert env == ["DASK_WORKER_NAME", "DASK_SCHEDULER_ADDRESS"]
        assert pod["spec"]["containers"][0]["args"][:2] == ["dask", "worker"]  # legacy CLI shim
    scheduler_pod = kube.pods("dask.org/cluster-name=simple,dask.org/component=scheduler")[0]
    assert scheduler_pod["spec"]["containers"][0]["args"] == ["dask", "scheduler"]
    # the docs' `kubectl get svc -l dask.org/cluster-name=simple`
    assert kube.kubectl("get", "svc", "-l", "dask.org/cluster-name=simple", "-o", "name").stdout.split() == ["service/simple-scheduler"]

    with Client(kube.scheduler_address("simple"), timeout="30s") as client:
        client.wait_for_workers(2, timeout=60)
        assert client.submit(lambda: sum(map(lambda x: x + 1, range(10)))).result() == 55
        names = sorted(w["name"] for w in client.scheduler_info()["workers"].values())
        assert names == sorted(p["metadata"]["name"] for p in pods)

    # the story in Events: lifecycle steps and the legacy CLI warning
    reasons = {e["reason"] for e in kube.events()}
    assert {"PhaseCreated", "PhasePending", "PhaseRunning", "CreatedService", "CreatedDeployment",
            "CreatedDaskWorkerGroup", "CreatedWorkers", "SpecWarning"} <= reasons
    warnings = [e["message"] for e in kube.events("SpecWarning")]
    assert any("'dask-scheduler'" in m and "'dask scheduler'" in m for m in warnings)


def test_kubectl_scale_daskcluster_scales_the_default_group(operator, kube, wait):
    kube.kubectl("apply", "-f", str(EXAMPLES / "cluster.yaml"))
    kube.wait_ready("simple")
    kube.kubectl("scale", "daskcluster", "simple", "--replicas=3")
    wait(lambda: len(kube.pods(WORKERS)) == 3 and kube.get("daskworkergroup", "simple-default")["spec"]["worker"]["replicas"] == 3,
         message="3 workers after kubectl scale daskcluster")
    # scaling the group directly is not undone by the cluster's next passes
    kube.kubectl("scale", "daskworkergroup", "simple-default", "--replicas=4")
    wait(lambda: len(kube.pods(WORKERS)) == 4, message="4 workers after kubectl scale daskworkergroup")
    kube.kubectl("label", "daskcluster", "simple", "touched=yes")  # another cluster pass
    wait(lambda: kube.get("daskworkergroup", "simple-default")["metadata"]["labels"].get("touched") == "yes")
    assert kube.get("daskworkergroup", "simple-default")["spec"]["worker"]["replicas"] == 4
    cluster = wait(lambda: (c := kube.get("daskcluster", "simple"))["status"]["workers"]["ready"] == 4 and c)
    assert cluster["status"]["replicas"] == 4


def assert_no_worker_restarted(kube) -> None:
    """A restarted worker lost its data outside the operator's control; say why, with its log."""
    for pod in kube.pods(WORKERS):
        for status in pod["status"].get("containerStatuses") or []:
            if status.get("restartCount"):
                name = pod["metadata"]["name"]
                previous = kube.kubectl("logs", name, "--previous", check=False)
                raise AssertionError(f"worker {name} restarted {status['restartCount']} times; "
                                     f"last state {status.get('lastState')}; previous log:\n"
                                     f"{(previous.stdout + previous.stderr)[-4000:]}")


def test_scale_up_and_down_keeps_persisted_data(operator, kube, wait):
    kube.kubectl("apply", "-f", str(EXAMPLES / "cluster.yaml"))
    kube.wait_ready("simple")
    kube.kubectl("scale", "daskworkergroup", "simple-default", "--replicas=5")
    wait(lambda: len(kube.pods(WORKERS)) == 5, message="5 worker pods")
    with Client(kube.scheduler_address("simple"), timeout="30s") as client:
        client.wait_for_workers(5, timeout=90)
        futures = client.map(lambda i: i * 10, range(100))
        wait_futures(futures, timeout=180)  # bounded: a stuck worker fails here, with its logs
        client.gather(futures)  # 100 keys in memory, spread over the 5 workers
        holders = {w for addrs in client.who_has(futures).values() for w in addrs}
        assert len(holders) > 1
        assert_no_worker_restarted(kube)

        kube.kubectl("scale", "daskworkergroup", "simple-default", "--replicas=3")
        wait(lambda: len(kube.pods(WORKERS, include_terminating=True)) == 3, timeout=120, message="exactly 3 worker pods")
        wait(lambda: len(client.scheduler_info()["workers"]) == 3, message="3 connected workers")
        assert sum(client.gather(futures)) == sum(i * 10 for i in range(100))
        assert all(f.status == "finished" for f in futures)
        connected = sorted(w["name"] for w in client.scheduler_info()["workers"].values())
        assert connected == sorted(p["metadata"]["name"] for p in kube.pods(WORKERS))
    retired = kube.events("RetiredWorkers")
    assert retired and "Retired 2 worker(s)" in retired[0]["message"]


def test_deleted_children_are_recreated_and_cluster_deletion_removes_everything(operator, kube, wait):
    kube.kubectl("apply", "-f", str(EXAMPLES / "cluster.yaml"))
    kube.wait_ready("simple")

    scheduler_pod = kube.pods("dask.org/cluster-name=simple,dask.org/component=scheduler")[0]["metadata"]["name"]
    kube.kubectl("delete", "pod", scheduler_pod, "--wait=false")
    wait(lambda: [p for p in kube.pods("dask.org/cluster-name=simple,dask.org/component=scheduler")
                  if p["metadata"]["name"] != scheduler_pod], message="a new scheduler pod")

    worker = kube.pods(WORKERS)[0]["metadata"]["name"]
    kube.kubectl("delete", "pod", worker, "--wait=false")
    wait(lambda: len(kube.pods(WORKERS)) == 2 and worker not in [p["metadata"]["name"] for p in kube.pods(WORKERS)],
         message="worker pod replaced")

    old_svc = kube.get("service", "simple-scheduler")["metadata"]["uid"]
    kube.kubectl("delete", "service", "simple-scheduler")
    wait(lambda: (s := kube.get("service", "simple-scheduler")) and s["metadata"]["uid"] != old_svc, message="Service re-created")

    old_group = kube.get("daskworkergroup", "simple-default")["metadata"]["uid"]
    kube.kubectl("delete", "daskworkergroup", "simple-default")
    wait(lambda: (g := kube.get("daskworkergroup", "simple-default")) and g["metadata"]["uid"] != old_group,
         message="default worker group re-created")
    wait(lambda: len(kube.pods(WORKERS)) == 2, message="2 workers of the new group")
    kube.wait_ready("simple")

    kube.kubectl("delete", "daskcluster", "simple")
    wait(lambda: not kube.items("pods") and not kube.items("deployments") and not kube.items("services")
         and not kube.items("daskworkergroups"), timeout=120, message="everything the cluster owned is gone")


def test_spec_change_rolls_workers_without_losing_data(operator, kube, wait):
    kube.kubectl("apply", "-f", str(EXAMPLES / "cluster.yaml"))
    kube.wait_ready("simple")
    before = {p["metadata"]["name"] for p in kube.pods(WORKERS)}
    with Client(kube.scheduler_address("simple"), timeout="30s") as client:
        client.wait_for_workers(2, timeout=60)
        futures = client.map(lambda i: i + 1, range(50))
        client.gather(futures)
        kube.kubectl("patch", "daskcluster", "simple", "--type=json", "-p",
                     '[{"op":"add","path":"/spec/worker/spec/containers/0/env","value":[{"name":"ROLLED","value":"yes"}]}]')

        def rolled() -> bool:
            pods = kube.pods(WORKERS, include_terminating=True)
            return (len(pods) == 2 and not before & {p["metadata"]["name"] for p in pods}
                    and all({"name": "ROLLED", "value": "yes"} in p["spec"]["containers"][0]["env"] for p in pods))

        wait(rolled, timeout=180, message="both workers replaced with the new env")
        wait(lambda: len(client.scheduler_info()["workers"]) == 2)
        assert sum(client.gather(futures)) == sum(range(1, 51))
    group = kube.get("daskworkergroup", "simple-default")
    assert {"name": "ROLLED", "value": "yes"} in group["spec"]["worker"]["spec"]["containers"][0]["env"]
    wait(lambda: kube.condition("daskworkergroup", "simple-default", "Ready")["status"] == "True")


def test_scheduler_deployment_edits_are_repaired(operator, kube, wait):
    kube.kubectl("apply", "-f", str(EXAMPLES / "cluster.yaml"))
    kube.wait_ready("simple")
    kube.kubectl("scale", "deployment", "simple-scheduler", "--replicas=0")
    wait(lambda: kube.get("deployment", "simple-scheduler")["spec"]["replicas"] == 1, message="scheduler Deployment restored")
    assert kube.events("RepairedDeployment")
    kube.wait_ready("simple")

