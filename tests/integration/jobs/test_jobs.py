"""DaskJob on the local control plane: the docs' job.yaml, failures, retries, deadline, suspend,
TTL, a re-created job and an operator killed between "runner succeeded" and "cluster deleted"."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.cluster

HERE = Path(__file__).resolve().parent
COMPUTE = (
    "from dask.distributed import Client; client = Client(); client.wait_for_workers(2, timeout=60); "
    "print('RESULT', client.submit(sum, range(10)).result(), len(client.scheduler_info()['workers']))"
)


def job_manifest(examples: Any, name: str, script: str | None = None, **spec: Any) -> dict[str, Any]:
    job = examples("job.yaml")
    job["metadata"]["name"] = name
    # the docs' service selector names the cluster "simple-job"
    job["spec"]["cluster"]["spec"]["scheduler"]["service"]["selector"]["dask.org/cluster-name"] = name
    if script is not None:
        job["spec"]["job"]["spec"]["containers"][0]["args"] = ["python", "-c", script]
    job["spec"].update(spec)
    return job


def apply(kube: Any, obj: dict[str, Any]) -> None:
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(obj))


def job_status(kube: Any, name: str) -> dict[str, Any]:
    return (kube.get("daskjob", name) or {}).get("status") or {}


def phases_in_events(kube: Any, name: str) -> list[str]:
    """jobStatus changes told by this test's operator (a chart-installed e2e operator may run
    cluster-wide at the same time and post its own)."""
    events = [e for e in kube.events() if e["involvedObject"].get("name") == name and e["reason"].startswith("Job")
              and e.get("reportingInstance") == socket.gethostname()]
    events.sort(key=lambda e: int(e["metadata"]["resourceVersion"]))  # timestamps have 1 s resolution
    return [e["reason"][3:] for e in events]


def wait_cluster_removed(kube: Any, wait: Any, name: str) -> None:
    """The operator deletes the cluster at once; the garbage collector then removes it."""
    wait(lambda: (c := kube.get("daskcluster", name)) is None or c["metadata"].get("deletionTimestamp"),
         timeout=30, message="the operator to delete the cluster")
    wait(lambda: kube.get("daskcluster", name) is None, timeout=120, message="the cluster to be gone")


def test_docs_job_runs_computes_and_cleans_up(operator: Any, kube: Any, wait: Any, examples: Any) -> None:
    apply(kube, job_manifest(examples, "simple-job", COMPUTE))
    wait(lambda: kube.get("daskcluster", "simple-job"), message="the job's DaskCluster")
    cluster = kube.get("daskcluster", "simple-job")
    job = kube.get("daskjob", "simple-job")
    assert cluster["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]

    status = wait(lambda: (s := job_status(kube, "simple-job")).get("jobStatus") in ("Successful", "Failed") and s,
                  timeout=240, message="the job to finish")
    assert status["jobStatus"] == "Successful", status
    assert status["clusterName"] == "simple-job" and status["jobRunnerPodName"] == "simple-job-runner"
    assert status["startTime"] <= status["endTime"]
    assert status["attempts"] == 1
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["Complete"] == "True" and conditions["Failed"] == "False"
    # the documented phases, in order, told by Events
    assert phases_in_events(kube, "simple-job") == ["JobCreated", "ClusterCreated", "Running", "Successful"]

    runner = kube.get("pod", "simple-job-runner")
    assert runner is not None and runner["status"]["phase"] == "Succeeded", "keepRunnerPod defaults to true"
    env = {e["name"]: e.get("value") for e in runner["spec"]["containers"][0]["env"]}
    assert env["DASK_SCHEDULER_ADDRESS"] == f"tcp://simple-job-scheduler.{kube.ns}.svc.cluster.local:8786"
    assert runner["spec"]["restartPolicy"] == "OnFailure"
    assert runner["metadata"]["labels"]["dask.org/component"] == "job-runner"
    logs = kube.kubectl("logs", "simple-job-runner").stdout
    assert "RESULT 45 2" in logs, logs  # the runner's Client computed on the job's two workers

    wait_cluster_removed(kube, wait, "simple-job")
    wait(lambda: not kube.pods("dask.org/cluster-name=simple-job,dask.org/component in (scheduler,worker)"),
         timeout=90, message="scheduler and worker pods to go")


def test_failing_runner_with_restart_policy_never_fails_and_removes_cluster(operator: Any, kube: Any, wait: Any, examples: Any) -> None:
    job = job_manifest(examples, "failing", "import sys; sys.exit(3)")
    job["spec"]["job"]["spec"]["restartPolicy"] = "Never"
    apply(kube, job)
    status = wait(lambda: (s := job_status(kube, "failing")).get("jobStatus") in ("Successful", "Failed") and s,
                  timeout=180, message="the job to finish")
    assert status["jobStatus"] == "Failed"
    assert status["reason"] == "BackoffLimitExceeded" and status["attempts"] == 1
    assert status["startTime"] <= status["endTime"]
    wait_cluster_removed(kube, wait, "failing")
    assert kube.get("pod", "failing-runner")["status"]["phase"] == "Failed", "the failed runner is kept for its logs"


def test_backoff_limit_2_gives_three_attempts(operator: Any, kube: Any, wait: Any, examples: Any) -> None:
    job = job_manifest(examples, "retries", "import sys; sys.exit(1)", backoffLimit=2)
    job["spec"]["job"]["spec"]["restartPolicy"] = "Never"
    job["spec"]["cluster"]["spec"]["worker"]["replicas"] = 0
    apply(kube, job)
    status = wait(lambda: (s := job_status(kube, "retries")).get("jobStatus") in ("Successful", "Failed") and s,
                  timeout=240, message="the job to finish")
    assert status["jobStatus"] == "Failed" and status["reason"] == "BackoffLimitExceeded"
    assert status["attempts"] == 3
    created = [e for e in kube.events("CreatedRunnerPod") if e["involvedObject"]["name"] == "retries"]
    assert sum(e.get("count", 1) for e in created) == 3


def test_active_deadline_stops_a_long_job(operator: Any, kube: Any, wait: Any, examples: Any) -> None:
    job = job_manifest(examples, "slow", "import time; time.sleep(600)", activeDeadlineSeconds=30)
    job["spec"]["cluster"]["spec"]["worker"]["replicas"] = 0
    apply(kube, job)
    wait(lambda: job_status(kube, "slow").get("jobStatus") == "Running", timeout=120, message="the runner to run")
    status = wait(lambda: (s := job_status(kube, "slow")).get("jobStatus") == "Failed" and s, timeout=90,
                  message="the deadline")
    assert status["reason"] == "DeadlineExceeded"
    wait_cluster_removed(kube, wait, "slow")
    wait(lambda: not kube.pods("dask.org/cluster-name=slow"), timeout=90, message="the runner and cluster pods to go")


def test_suspended_job_creates_nothing_until_resumed(operator: Any, kube: Any, wait: Any, examples: Any) -> None:
    job = job_manifest(examples, "later", "print('ran')", suspend=True)
    job["spec"]["cluster"]["spec"]["worker"]["replicas"] = 0
    apply(kube, job)
    status = wait(lambda: (s := job_status(kube, "later")).get("conditions") and s, message="a status")
    suspended = next(c for c in status["conditions"] if c["type"] == "Suspended")
    assert suspended["status"] == "True" and status["jobStatus"] == "JobCreated"
    # several passes later (reconcile every 3 s) there is still nothing
    kube.kubectl("annotate", "daskjob", "later", "poke=1")
    wait(lambda: any(e["involvedObject"]["name"] == "later" for e in kube.events("Suspended")), message="the Suspended event")
    assert kube.get("daskcluster", "later") is None and kube.pods("dask.org/cluster-name=later") == []
    kube.kubectl("patch", "daskjob", "later", "--type=merge", "-p", json.dumps({"spec": {"suspend": False}}))
    status = wait(lambda: (s := job_status(kube, "later")).get("jobStatus") == "Successful" and s, timeout=180,
                  message="the resumed job to succeed")
    assert status["startTime"] <= status["endTime"]


def test_ttl_deletes_the_finished_job(operator: Any, kube: Any, wait: Any, examples: Any) -> None:
    job = job_manifest(examples, "short", "print('done')", ttlSecondsAfterFinished=5, keepRunnerPod=False)
    job["spec"]["cluster"]["spec"]["worker"]["replicas"] = 0
    apply(kube, job)
    wait(lambda: job_status(kube, "short").get("jobStatus") == "Successful", timeout=180, message="success")
    wait(lambda: kube.get("daskjob", "short") is None, timeout=30, message="the TTL to delete the job")
    wait(lambda: kube.get("pod", "short-runner") is None, timeout=60, message="the runner to go")


def test_recreated_job_waits_for_the_old_runner(operator: Any, kube: Any, wait: Any, examples: Any) -> None:
    job = job_manifest(examples, "again", "import time; time.sleep(600)")
    job["spec"]["cluster"]["spec"]["worker"]["replicas"] = 0
    # the old runner ignores SIGTERM for a while, so it terminates slowly
    job["spec"]["job"]["spec"]["containers"][0]["args"] = [
        "python", "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"]
    job["spec"]["job"]["spec"]["terminationGracePeriodSeconds"] = 10
    apply(kube, job)
    wait(lambda: job_status(kube, "again").get("jobStatus") == "Running", timeout=120, message="first run")
    old_uid = kube.get("pod", "again-runner")["metadata"]["uid"]
    kube.kubectl("delete", "daskjob", "again", "--wait=false")
    wait(lambda: kube.get("daskjob", "again") is None, message="the old job to be gone")
    wait(lambda: (p := kube.get("pod", "again-runner")) is not None and p["metadata"].get("deletionTimestamp"),
         timeout=30, message="the old runner to be terminating")
    job["spec"]["job"]["spec"]["containers"][0]["args"] = ["python", "-c", "print('second')"]
    apply(kube, job)
    status = wait(lambda: (s := job_status(kube, "again")).get("jobStatus") in ("Successful", "Failed") and s,
                  timeout=180, message="the second job to finish")
    assert status["jobStatus"] == "Successful", status
    assert kube.get("pod", "again-runner")["metadata"]["uid"] != old_uid


def test_operator_killed_between_success_and_cluster_deletion(
    operator: Any, kube: Any, wait: Any, examples: Any
) -> None:
    """A plugin SIGKILLs the operator right after the Successful status is written (the
    dask_job_phase_changed notification comes before the cluster is deleted)."""
    operator.stop()
    operator.start(plugins={"kill_after_success": "kill_after_success"}, python_path=[HERE / "kill_after_success"])
    apply(kube, job_manifest(examples, "crash", "print('done')"))
    wait(lambda: operator.proc.poll() is not None, timeout=240, message="the plugin to kill the operator")
    assert operator.proc.returncode == -9
    assert job_status(kube, "crash")["jobStatus"] == "Successful"
    assert kube.get("daskcluster", "crash") is not None, "killed before the cluster was deleted"
    operator.start()
    wait_cluster_removed(kube, wait, "crash")
    status = job_status(kube, "crash")
    assert status["jobStatus"] == "Successful" and status["startTime"] <= status["endTime"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
