"""The operator survives SIGKILL mid-way and bad input, and never loses data on scale-down."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.cluster

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
WORKERS = "dask.org/cluster-name=simple,dask.org/component=worker"


def docs_cluster(**changes) -> dict:
    cluster = yaml.safe_load((EXAMPLES / "cluster.yaml").read_text())
    for key, value in changes.items():
        cluster["spec"]["worker"][key] = value
    return cluster


def test_sigkill_while_creating_converges_to_exactly_the_desired_children(operator, kube, wait):
    operator.stop()
    # slow worker creation down (one pod every 2 s) so that the kill lands in the middle
    slow = {"DASK_KUBERNETES__CONTROLLER__WORKER_ALLOCATION__BATCH_SIZE": "1",
            "DASK_KUBERNETES__CONTROLLER__WORKER_ALLOCATION__DELAY": "2"}
    operator.start(**slow)
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(docs_cluster(replicas=5)))
    wait(lambda: 1 <= len(kube.pods(WORKERS)) < 5, interval=0.2, message="the first workers")
    operator.kill()
    created_before_kill = len(kube.pods(WORKERS))
    assert created_before_kill < 5
    operator.start(**slow)
    kube.wait_ready("simple", timeout=240)
    group = kube.get("daskworkergroup", "simple-default")
    pods = kube.pods(WORKERS, include_terminating=True)
    assert len(pods) == 5
    assert all(p["metadata"]["ownerReferences"][0]["uid"] == group["metadata"]["uid"] for p in pods)
    assert len(kube.items("deployments")) == 1 and len(kube.items("services")) == 1
    assert [g["metadata"]["name"] for g in kube.items("daskworkergroups")] == ["simple-default"]
    assert len(kube.pods("dask.org/component=scheduler")) == 1


def test_invalid_input_gets_a_clear_answer_and_other_clusters_keep_working(operator, kube, wait):
    long_name = docs_cluster()
    long_name["metadata"]["name"] = "a" * 60
    proc = kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(long_name), check=False)
    assert proc.returncode != 0 and "at most 53 characters" in proc.stderr

    negative = docs_cluster(replicas=-1)
    proc = kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(negative), check=False)
    assert proc.returncode != 0 and "replicas must be 0 or more" in proc.stderr

    orphan = yaml.safe_load((EXAMPLES / "highmemworkers.yaml").read_text())
    orphan["metadata"]["name"] = "orphan-group"
    orphan["spec"]["cluster"] = "no-such-cluster"
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(orphan))
    wait(lambda: (c := kube.condition("daskworkergroup", "orphan-group", "ClusterFound")) and c["status"] == "False",
         message="ClusterFound=False on the orphan group")
    assert any("no-such-cluster" in e["message"] for e in kube.events("ClusterNotFound"))

    kube.kubectl("scale", "daskworkergroup", "orphan-group", "--replicas=-3", check=False)  # rejected by the CRD
    assert kube.get("daskworkergroup", "orphan-group")["spec"]["worker"]["replicas"] == 2

    kube.kubectl("apply", "-f", str(EXAMPLES / "cluster.yaml"))
    kube.wait_ready("simple")
    assert operator.proc.poll() is None
    assert not kube.items("pods", "dask.org/workergroup-name=orphan-group")


def test_scale_down_waits_when_the_scheduler_is_unreachable(operator, kube, wait):
    cluster = docs_cluster()
    # The Service points at ports nothing listens on: workers and the operator cannot reach the
    # scheduler (its own readiness probe, on the pod, still passes).
    for port in cluster["spec"]["scheduler"]["service"]["ports"]:
        port["targetPort"] = 9999
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(cluster))
    wait(lambda: kube.get("daskcluster", "simple") and kube.get("daskcluster", "simple").get("status", {}).get("phase") == "Running")
    wait(lambda: len([p for p in kube.pods(WORKERS) if p["status"].get("phase") == "Running"]) == 2, message="2 running workers")
    kube.kubectl("scale", "daskworkergroup", "simple-default", "--replicas=1")
    blocked = wait(lambda: (c := kube.condition("daskworkergroup", "simple-default", "ScaleDownBlocked")) and c["status"] == "True" and c,
                   message="ScaleDownBlocked=True")
    assert "unreachable" in blocked["message"]
    assert kube.events("ScaleDownBlocked")
    assert len(kube.pods(WORKERS)) == 2, "no worker deleted blindly"

    # opting in to the unsafe fallback deletes the newest worker
    operator.stop()
    operator.start(DASK_KUBERNETES__CONTROLLER__SCALE_DOWN__ALLOW_UNSAFE_FALLBACK="true")
    wait(lambda: len(kube.pods(WORKERS)) == 1, message="one worker left")
    assert kube.events("UnsafeScaleDown")


def test_legacy_cli_shim_can_be_turned_off(operator, kube, wait):
    operator.stop()
    operator.start(DASK_KUBERNETES__CONTROLLER__LEGACY_CLI_SHIM="false")
    kube.kubectl("apply", "-f", str(EXAMPLES / "cluster.yaml"))
    wait(lambda: kube.pods("dask.org/component=scheduler"), message="scheduler pod")
    args = kube.pods("dask.org/component=scheduler")[0]["spec"]["containers"][0]["args"]
    assert args == ["dask-scheduler"]
    assert not kube.events("SpecWarning")


def test_workers_that_keep_failing_are_replaced_with_backoff(operator, kube, wait):
    cluster = docs_cluster(replicas=2)
    cluster["spec"]["worker"]["spec"]["restartPolicy"] = "Never"
    cluster["spec"]["worker"]["spec"]["containers"][0]["args"] = ["python", "-c", "raise SystemExit(3)"]
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(cluster))
    wait(lambda: kube.events("ReplacedWorkers"), message="failed workers replaced")
    wait(lambda: kube.events("WorkersFailing"), timeout=120, message="the WorkersFailing back-off")
    seen = {p["metadata"]["name"] for p in kube.pods(WORKERS, include_terminating=True)}
    created_events = sum(e.get("count", 1) for e in kube.events("CreatedWorkers"))
    time.sleep(15)
    later = {p["metadata"]["name"] for p in kube.pods(WORKERS, include_terminating=True)}
    assert later <= seen, f"new workers created during the back-off: {later - seen}"
    assert sum(e.get("count", 1) for e in kube.events("CreatedWorkers")) == created_events
    assert kube.get("daskcluster", "simple")["status"]["phase"] == "Running"
    assert kube.condition("daskcluster", "simple", "WorkersReady")["status"] == "False"
    assert operator.proc.poll() is None
