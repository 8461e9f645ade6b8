"""The health contract (status_health): Ready, Reconciling and Stalled for the four kinds."""

import datetime

import pytest
from dask_operator import status as st
from dask_operator.status_health import health_conditions, missing_grace_left

NOW = datetime.datetime(2026, 12, 7, 12, 0, 0, tzinfo=datetime.timezone.utc).timestamp()
GRACE = 60.0


def ago(seconds):
    return datetime.datetime.fromtimestamp(NOW - seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def stamped(status, seconds_ago=0):
    """A status as write_status sees it: conditions with their lastTransitionTime."""
    status = dict(status)
    status["conditions"] = st.merge_conditions([], status.get("conditions") or [], ago(seconds_ago))
    return status


def health(kind, status, generation=3, seconds_ago=0):
    conditions = health_conditions(kind, stamped(status, seconds_ago), generation, NOW, GRACE)
    return {c["type"]: c for c in conditions}


def summary(found):
    """(Ready, Reconciling, Stalled) statuses, plus the Stalled reason."""
    return (found["Ready"]["status"], found["Reconciling"]["status"], found["Stalled"]["status"], found["Stalled"]["reason"])


def cluster(ready_workers=2, scheduler_ready=1):
    pods = [
        {"metadata": {"name": f"w{i}", "labels": {"dask.org/workergroup-name": "c-default"}},
         "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if i < ready_workers else "False"}]}}
        for i in range(2)
    ]
    return st.cluster_status(
        generation=3,
        deployment={"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "readyReplicas": scheduler_ready, "updatedReplicas": 1}},
        worker_groups=[{"metadata": {"name": "c-default"}, "spec": {"worker": {"replicas": 2}}}],
        worker_pods=pods, default_group="c-default", default_selector="s", scheduler_address="tcp://x", dashboard_address="http://x",
    )


def test_ready_cluster_is_neither_reconciling_nor_stalled():
    found = health("DaskCluster", cluster())
    assert summary(found) == ("True", "False", "False", "NotStalled")
    assert all(c["observedGeneration"] == 3 for c in found.values())


def test_cluster_on_its_way_is_reconciling_with_the_ready_reason():
    found = health("DaskCluster", cluster(scheduler_ready=0))
    assert summary(found) == ("False", "True", "False", "NotStalled")
    assert found["Reconciling"]["reason"] == "SchedulerNotReady"
    assert summary(health("DaskCluster", cluster(ready_workers=1)))[:3] == ("False", "True", "False")


def test_status_written_before_the_first_full_pass_is_reconciling():
    found = health("DaskCluster", {"phase": "Created"})
    assert summary(found)[:3] == ("False", "True", "False")


@pytest.mark.parametrize("error", [
    "cluster name 'x' is 60 characters; at most 53 fit",
    'the API server rejected Service c-scheduler: Service "c-scheduler" is invalid: spec.type: Unsupported value: "Bogus"',
])
def test_invalid_or_rejected_cluster_is_stalled_with_reason_and_message(error):
    found = health("DaskCluster", st.invalid_cluster_status(3, [error]))
    assert summary(found) == ("False", "False", "True", "InvalidSpec")
    assert found["Stalled"]["message"] == error


def test_cluster_with_a_rejected_worker_pod_is_stalled():
    status = st.cluster_status(
        generation=3, deployment={"metadata": {}, "status": {"readyReplicas": 1, "updatedReplicas": 1}},
        worker_groups=[{"metadata": {"name": "c-default"}, "spec": {"worker": {"replicas": 1}}}], worker_pods=[],
        default_group="c-default", default_selector="s", scheduler_address=None, dashboard_address=None,
        worker_problems=[("WorkerPodRejected", "DaskWorkerGroup c-default: forbidden: exceeded quota")],
    )
    found = health("DaskCluster", status)
    assert summary(found) == ("False", "False", "True", "WorkerPodRejected")
    assert "exceeded quota" in found["Stalled"]["message"]


def test_worker_group_capped_is_stalled_scaling_is_reconciling():
    capped = st.worker_group_status(generation=3, desired=5, pods=[], outdated=0, selector="s",
                                    problem=("WorkersCapped", "5 workers asked for, at most 2 allowed"))
    assert summary(health("DaskWorkerGroup", capped)) == ("False", "False", "True", "WorkersCapped")
    scaling = st.worker_group_status(generation=3, desired=5, pods=[], outdated=0, selector="s")
    assert summary(health("DaskWorkerGroup", scaling))[:3] == ("False", "True", "False")


def test_missing_cluster_is_reconciling_during_the_grace_period_then_stalled():
    status = st.cluster_missing_status(3, "gone", "ns")
    assert summary(health("DaskWorkerGroup", status, seconds_ago=10))[:3] == ("False", "True", "False")
    found = health("DaskWorkerGroup", status, seconds_ago=61)
    assert summary(found) == ("False", "False", "True", "ClusterNotFound")
    assert "'gone' does not exist" in found["Stalled"]["message"]
    assert missing_grace_left(stamped(status, 10), "DaskWorkerGroup", NOW, GRACE) == pytest.approx(50)
    assert missing_grace_left(stamped(cluster()), "DaskCluster", NOW, GRACE) is None


def job(job_status, reason="", message="", suspended=None):
    status = {"jobStatus": job_status, "reason": reason, "message": message}
    if suspended is not None:
        status["conditions"] = [st.condition("Suspended", suspended, "Suspended" if suspended else "Resumed")]
    return status


@pytest.mark.parametrize(("status", "expected"), [
    (job("JobCreated", "Created", "DaskJob accepted"), ("False", "True", "False", "NotStalled")),
    (job("ClusterCreated", "ClusterCreated", "waiting for the scheduler to be ready"), ("False", "True", "False", "NotStalled")),
    (job("Running", "RunnerRunning", "runner pod j-runner is running"), ("True", "False", "False", "NotStalled")),
    (job("Successful", "Completed", "the runner pod j-runner succeeded"), ("True", "False", "False", "NotStalled")),
    (job("Failed", "BackoffLimitExceeded", "the runner failed 1 time(s); backoffLimit is 0"), ("False", "False", "True", "BackoffLimitExceeded")),
    (job("JobCreated", "Suspended", "spec.suspend is true", suspended=True), ("True", "False", "False", "NotStalled")),
    (job("JobCreated", "ClusterConflict", "a DaskCluster named 'j' exists"), ("False", "False", "True", "ClusterConflict")),
])
def test_job_health_follows_its_job_status(status, expected):
    assert summary(health("DaskJob", status)) == expected


def test_failed_job_says_why():
    found = health("DaskJob", job("Failed", "DeadlineExceeded", "the job ran longer than activeDeadlineSeconds=5"))
    assert found["Stalled"]["message"] == "the job ran longer than activeDeadlineSeconds=5"
    assert found["Ready"]["reason"] == "DeadlineExceeded"


def autoscaler(able, reason, message="m"):
    return {"conditions": [st.condition("AbleToScale", able, reason, message), st.condition("ScalingActive", able, reason, message)]}


def test_autoscaler_ready_follows_able_to_scale():
    assert summary(health("DaskAutoscaler", autoscaler(True, "ReadyForNewScale"))) == ("True", "False", "False", "NotStalled")
    assert summary(health("DaskAutoscaler", {}))[:3] == ("False", "True", "False")
    assert summary(health("DaskAutoscaler", autoscaler(False, "SchedulerUnreachable"), seconds_ago=600))[:3] == ("False", "True", "False")


@pytest.mark.parametrize("reason", ["ClusterNotFound", "WorkerGroupNotFound"])
def test_autoscaler_without_its_cluster_is_reconciling_then_stalled(reason):
    status = autoscaler(False, reason, "DaskCluster 'nope' not found in namespace 'ns'")
    assert summary(health("DaskAutoscaler", status, seconds_ago=5))[:3] == ("False", "True", "False")
    assert summary(health("DaskAutoscaler", status, seconds_ago=60)) == ("False", "False", "True", reason)
