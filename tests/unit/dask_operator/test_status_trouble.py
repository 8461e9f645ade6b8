"""Why a cluster is not ready, when something is stuck: pods, Deployments, worker groups."""

from __future__ import annotations

from typing import Any

from dask_operator import status as st


def pod(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "status": status}


def test_pod_trouble_names_stuck_containers_and_unschedulable_pods() -> None:
    waiting = pod(containerStatuses=[{"name": "scheduler", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "no such image"}}}])
    assert st.pod_trouble(waiting) == ("ImagePullBackOff", "pod p, container 'scheduler': no such image")
    unschedulable = pod(conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes"}])
    assert st.pod_trouble(unschedulable) == ("Unschedulable", "pod p: 0/1 nodes")
    starting = pod(containerStatuses=[{"name": "s", "state": {"waiting": {"reason": "ContainerCreating"}}}])
    assert st.pod_trouble(starting) is None


def test_last_exit_reasons_say_why_containers_ended() -> None:
    crash_looping = pod(containerStatuses=[
        {"name": "worker", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
         "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}},
        {"name": "sidecar", "state": {"running": {}}},
    ])
    assert st.last_exit_reasons(crash_looping) == ["OOMKilled"]
    finished = pod(containerStatuses=[{"name": "worker", "state": {"terminated": {"reason": "Error", "exitCode": 3}}}])
    assert st.last_exit_reasons(finished) == ["Error"]
    assert st.last_exit_reasons(pod()) == []


def test_deployment_trouble_reports_replica_failures() -> None:
    failing = {"status": {"conditions": [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "invalid image"}]}}
    assert st.deployment_trouble(failing) == ("FailedCreate", "invalid image")
    assert st.deployment_trouble({"status": {"conditions": [{"type": "Available", "status": "True"}]}}) is None
    assert st.deployment_trouble(None) is None


def test_cluster_status_says_why_instead_of_not_ready() -> None:
    groups = [{"metadata": {"name": "c-default"}, "spec": {"worker": {"replicas": 2}},
               "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "WorkersCapped", "message": "at most 1"}]}}]
    problems = st.worker_group_problems(groups)
    assert problems == [("WorkersCapped", "DaskWorkerGroup c-default: at most 1")]
    failing = {"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "conditions": [
        {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "invalid image"}]}}
    status = st.cluster_status(
        generation=1, deployment=failing, worker_groups=groups, worker_pods=[], default_group="c-default",
        default_selector="", scheduler_address=None, dashboard_address=None, worker_problems=problems,
    )
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["SchedulerReady"]["reason"] == "FailedCreate" and conditions["SchedulerReady"]["message"] == "invalid image"
    assert conditions["WorkersReady"]["reason"] == "WorkersCapped" and "at most 1" in conditions["WorkersReady"]["message"]
    assert conditions["Ready"]["reason"] == "FailedCreate"
