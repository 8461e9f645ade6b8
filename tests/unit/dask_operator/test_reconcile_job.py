"""The DaskJob pass against an in-memory API: the state machine, crash between status and
cleanup, failures counted once, backoffLimit, deadline, suspend, TTL, waiting for an old runner."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from dask_operator import reconcile_job as rj
from dask_operator.errors import RetryLater
from dask_operator.runtime import Runtime
from fake_api import FakeKube, FakeScheduler, fake_cache

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def rt(pm):
    return Runtime(pm, kube := FakeKube(), FakeScheduler(), fake_cache(kube))


@pytest.fixture
def job(rt):
    body = yaml.safe_load((REPO / "examples" / "job.yaml").read_text())
    body["metadata"]["namespace"] = "ns1"
    return rt.kube.put(body)


async def step(rt, name="simple-job"):
    return await rj.reconcile_job(rt, "ns1", name)


def status(rt, name="simple-job"):
    return rt.kube.objects[("DaskJob", "ns1", name)].get("status", {})


def cluster_running(rt, name="simple-job"):
    rt.kube.objects[("DaskCluster", "ns1", name)]["status"] = {"phase": "Running"}


def set_runner(rt, phase, restarts=0, name="simple-job"):
    pod = rt.kube.objects[("Pod", "ns1", f"{name}-runner")]
    pod["status"] = {"phase": phase, "containerStatuses": [{"restartCount": restarts}]}
    return pod


def phases(rt, name="simple-job"):
    return [r[3:] for n, _, r in rt.kube.events if n == name and r.startswith("Job")]


async def test_happy_path_status_first_cluster_after(rt, job):
    await step(rt)
    assert status(rt)["jobStatus"] == "ClusterCreated"
    cluster = rt.kube.objects[("DaskCluster", "ns1", "simple-job")]
    assert cluster["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
    await step(rt)
    assert ("Pod", "ns1", "simple-job-runner") not in rt.kube.objects, "no runner before the scheduler is ready"
    cluster_running(rt)
    await step(rt)
    runner = rt.kube.objects[("Pod", "ns1", "simple-job-runner")]
    assert runner["metadata"]["labels"]["dask.org/component"] == "job-runner"
    assert runner["metadata"]["ownerReferences"][0]["kind"] == "DaskJob"
    assert {"name": "DASK_SCHEDULER_ADDRESS", "value": "tcp://simple-job-scheduler.ns1.svc.cluster.local:8786"} in runner["spec"]["containers"][0]["env"]
    set_runner(rt, "Running")
    await step(rt)
    assert status(rt)["jobStatus"] == "Running" and status(rt)["attempts"] == 1
    set_runner(rt, "Succeeded")
    rt.kube.fail_next_delete_of = "simple-job"  # the operator dies right after the status write
    with pytest.raises(RuntimeError):
        await step(rt)
    assert status(rt)["jobStatus"] == "Successful" and ("DaskCluster", "ns1", "simple-job") in rt.kube.objects
    await step(rt)  # the next pass (after a restart) only cleans up
    assert ("DaskCluster", "ns1", "simple-job") not in rt.kube.objects
    assert ("Pod", "ns1", "simple-job-runner") in rt.kube.objects, "keepRunnerPod defaults to true"
    assert phases(rt) == ["JobCreated", "ClusterCreated", "Running", "Successful"]
    assert status(rt)["startTime"] <= status(rt)["endTime"]
    assert {c["type"]: c["status"] for c in status(rt)["conditions"]}["Complete"] == "True"


async def start_runner(rt):
    await step(rt)
    cluster_running(rt)
    await step(rt)


async def test_backoff_limit_counts_each_failed_pod_once(rt, job):
    rt.kube.objects[("DaskJob", "ns1", "simple-job")]["spec"].update({"backoffLimit": 1})
    rt.kube.objects[("DaskJob", "ns1", "simple-job")]["spec"]["job"]["spec"]["restartPolicy"] = "Never"
    await start_runner(rt)
    set_runner(rt, "Failed")
    rt.kube.fail_next_delete_of = "simple-job-runner"  # crash after counting, before deleting
    with pytest.raises(RuntimeError):
        await step(rt)
    await step(rt)  # the same failed pod is not counted twice
    assert status(rt)["failures"] == 1 and ("Pod", "ns1", "simple-job-runner") not in rt.kube.objects
    await step(rt)  # second attempt
    assert status(rt)["attempts"] == 2
    set_runner(rt, "Failed")
    await step(rt)
    assert status(rt)["jobStatus"] == "Failed" and status(rt)["reason"] == "BackoffLimitExceeded"
    assert ("DaskCluster", "ns1", "simple-job") not in rt.kube.objects
    assert ("Pod", "ns1", "simple-job-runner") in rt.kube.objects, "the last failed runner is kept for its logs"
    health = {c["type"]: (c["status"], c["reason"]) for c in status(rt)["conditions"]}
    assert health["Stalled"] == ("True", "BackoffLimitExceeded") and health["Ready"][0] == "False"
    assert health["Reconciling"][0] == "False"


async def test_on_failure_restarts_count_and_unset_limit_is_unlimited(rt, job):
    await start_runner(rt)
    set_runner(rt, "Running", restarts=7)
    await step(rt)
    assert status(rt)["jobStatus"] == "Running" and status(rt)["attempts"] == 8
    rt.kube.objects[("DaskJob", "ns1", "simple-job")]["spec"]["backoffLimit"] = 2
    await step(rt)
    assert status(rt)["jobStatus"] == "Failed" and status(rt)["reason"] == "BackoffLimitExceeded"
    assert ("Pod", "ns1", "simple-job-runner") not in rt.kube.objects, "a still-restarting runner is stopped"


def test_backoff_limit_defaults():
    assert rj.backoff_limit({"spec": {}}, "Never") == 0
    assert rj.backoff_limit({"spec": {}}, "OnFailure") is None
    assert rj.backoff_limit({"spec": {"backoffLimit": 3}}, "Never") == 3


async def test_deadline_exceeded(rt, job):
    rt.kube.objects[("DaskJob", "ns1", "simple-job")]["spec"]["activeDeadlineSeconds"] = 60
    await start_runner(rt)
    assert 0 < await step(rt) <= 60, "the pass says when the deadline falls due"
    rt.kube.objects[("DaskJob", "ns1", "simple-job")]["status"]["startTime"] = "2020-01-01T00:00:00Z"
    await step(rt)
    assert status(rt)["jobStatus"] == "Failed" and status(rt)["reason"] == "DeadlineExceeded"
    assert ("Pod", "ns1", "simple-job-runner") not in rt.kube.objects and ("DaskCluster", "ns1", "simple-job") not in rt.kube.objects


async def test_suspend_removes_pods_and_resume_restarts_the_clock(rt, job):
    await start_runner(rt)
    spec = rt.kube.objects[("DaskJob", "ns1", "simple-job")]["spec"]
    spec["suspend"] = True
    await step(rt)
    assert ("Pod", "ns1", "simple-job-runner") not in rt.kube.objects and ("DaskCluster", "ns1", "simple-job") not in rt.kube.objects
    assert status(rt)["jobStatus"] == "JobCreated" and "startTime" not in status(rt)
    assert {c["type"]: c["status"] for c in status(rt)["conditions"]}["Suspended"] == "True"
    # suspended as asked: Ready (kstatus Current), not Reconciling
    assert {c["type"]: c["status"] for c in status(rt)["conditions"] if c["type"] in ("Ready", "Reconciling", "Stalled")} \
        == {"Ready": "True", "Reconciling": "False", "Stalled": "False"}
    spec["suspend"] = False
    await step(rt)
    assert status(rt)["startTime"] and status(rt)["jobStatus"] == "ClusterCreated"
    assert {c["type"]: c["status"] for c in status(rt)["conditions"]}["Suspended"] == "False"
    assert {c["type"]: c["status"] for c in status(rt)["conditions"]}["Reconciling"] == "True"


async def test_ttl_deletes_the_job_and_keep_runner_pod_false(rt, job):
    spec = rt.kube.objects[("DaskJob", "ns1", "simple-job")]["spec"]
    spec.update({"ttlSecondsAfterFinished": 100, "keepRunnerPod": False})
    await start_runner(rt)
    set_runner(rt, "Succeeded")
    left = await step(rt)
    assert 0 < left <= 100 and ("Pod", "ns1", "simple-job-runner") not in rt.kube.objects
    rt.kube.objects[("DaskJob", "ns1", "simple-job")]["status"]["endTime"] = "2020-01-01T00:00:00Z"
    await step(rt)
    assert ("DaskJob", "ns1", "simple-job") not in rt.kube.objects


async def test_waits_for_the_runner_and_cluster_of_a_previous_namesake(rt, job):
    old_owner = [{"kind": "DaskJob", "name": "simple-job", "uid": "old-uid", "controller": True}]
    rt.kube.put({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "simple-job-runner", "namespace": "ns1",
                 "ownerReferences": old_owner, "deletionTimestamp": "2026-01-01T00:00:00Z"}, "spec": {}})
    await step(rt)  # cluster created
    cluster_running(rt)
    with pytest.raises(RetryLater, match="previous DaskJob"):
        await step(rt)
    del rt.kube.objects[("Pod", "ns1", "simple-job-runner")]
    await step(rt)
    assert rt.kube.objects[("Pod", "ns1", "simple-job-runner")]["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]


async def test_foreign_cluster_is_a_conflict_not_adopted(rt, job):
    rt.kube.put({"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskCluster", "metadata": {"name": "simple-job"}, "spec": {}})
    with pytest.raises(RetryLater, match="does not belong"):
        await step(rt)
    assert status(rt)["reason"] == "ClusterConflict"
    assert "ownerReferences" not in rt.kube.objects[("DaskCluster", "ns1", "simple-job")]["metadata"]


async def test_invalid_cluster_fails_the_job(rt, job):
    await step(rt)
    rt.kube.objects[("DaskCluster", "ns1", "simple-job")]["status"] = {
        "phase": "Error", "conditions": [{"type": "Ready", "status": "False", "message": "spec.worker.replicas must be ..."}]}
    await step(rt)
    assert status(rt)["jobStatus"] == "Failed" and status(rt)["reason"] == "InvalidCluster"
    assert "replicas must be" in status(rt)["message"]
    assert ("DaskCluster", "ns1", "simple-job") not in rt.kube.objects


async def test_cluster_rejected_by_the_api_fails_the_job(rt, job, monkeypatch):
    from kubernetes_asyncio.client.exceptions import ApiException

    async def reject(manifest):
        exc = ApiException(status=422, reason="Unprocessable Entity")
        exc.body = '{"message": "DaskCluster.kubernetes.dask.org \\"simple-job\\" is invalid: spec.idleTimeout: ..."}'
        raise exc

    monkeypatch.setattr(rt.kube, "create", reject)
    await step(rt)
    assert status(rt)["jobStatus"] == "Failed" and status(rt)["reason"] == "InvalidCluster"
    assert "spec.idleTimeout" in status(rt)["message"]


async def test_a_runner_that_finished_between_passes_still_shows_running(rt, job):
    await start_runner(rt)
    pod = set_runner(rt, "Succeeded")
    pod["status"]["containerStatuses"][0]["state"] = {"terminated": {"exitCode": 0, "startedAt": "2026-01-01T00:00:01Z"}}
    await step(rt)
    assert phases(rt) == ["JobCreated", "ClusterCreated", "Running", "Successful"]
