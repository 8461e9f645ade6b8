"""Pure decisions made while waiting: pod states and progress reporting."""

from dask_kubernetes.operator.kubecluster.podstate import (
    conditions_summary,
    pod_ready,
    pod_trouble,
    pod_waiting_reason,
)
from dask_kubernetes.operator.kubecluster.progress import Progress


def pod(phase="Running", ready=False, **container):
    return {
        "metadata": {"name": "foo-scheduler-abc"},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "scheduler", "ready": ready, **container}],
        },
    }


def test_ready_needs_running_and_the_ready_condition():
    assert pod_ready(pod(ready=True))
    assert not pod_ready(pod(ready=False))
    assert not pod_ready(pod(phase="Pending", ready=True))


def test_crash_loop_is_trouble():
    troubled = pod(
        state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}}, restartCount=2
    )
    assert pod_trouble(troubled) == "is in CrashLoopBackOff: back-off 10s"


def test_restarts_without_readiness_are_trouble_with_the_exit_code():
    restarted = pod(
        state={"running": {}},
        restartCount=3,
        lastState={"terminated": {"exitCode": 2}},
    )
    assert pod_trouble(restarted) == "keeps crashing (restarted 3 times, last exit code 2)"


def test_failed_pod_is_trouble():
    assert pod_trouble({"status": {"phase": "Failed", "reason": "Evicted"}}) == "failed (Evicted)"


def test_bad_image_is_trouble():
    assert "ImagePullBackOff" in pod_trouble(
        pod(state={"waiting": {"reason": "ImagePullBackOff"}})
    )


def test_starting_or_ready_pods_are_not_trouble():
    assert pod_trouble(pod(state={"waiting": {"reason": "ContainerCreating"}})) is None
    assert pod_trouble(pod(ready=True, restartCount=1, state={"running": {}})) is None
    assert pod_trouble({"status": {"phase": "Pending"}}) is None


def test_waiting_reason_prefers_the_container_then_conditions():
    assert (
        pod_waiting_reason(
            pod(phase="Pending", state={"waiting": {"reason": "ContainerCreating"}})
        )
        == "ContainerCreating"
    )
    unschedulable = {
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/1 nodes",
                }
            ],
        }
    }
    assert pod_waiting_reason(unschedulable) == "Unschedulable: 0/1 nodes"


def test_conditions_summary_lists_what_is_not_true():
    obj = {
        "status": {
            "conditions": [
                {"type": "Ready", "status": "False", "message": "scheduler not ready"},
                {"type": "SpecValid", "status": "True", "message": "fine"},
            ]
        }
    }
    assert conditions_summary(obj) == "Ready=False: scheduler not ready"


def test_progress_reports_each_step_once_and_then_periodically():
    lines = []
    now = [0.0]
    progress = Progress(lines.append, every=10, clock=lambda: now[0])
    progress("Waiting for A")
    now[0] = 5
    progress("Waiting for A")
    now[0] = 12
    progress("Waiting for A")
    now[0] = 13
    progress("Waiting for B")
    now[0] = 15
    progress.done("B is there")
    assert lines == [
        "Waiting for A",
        "Waiting for A (waited 12s)",
        "Waiting for B",
        "B is there (2s)",
    ]
