"""DaskAutoscaler on the local control plane: the docs' autoscaler.yaml grows the default group
under load (never above the maximum), shrinks it back after the stabilisation window (10 s in
these tests) without losing a task or touching another group's workers, and leaves the
replicas alone once deleted."""

from __future__ import annotations

import time
from typing import Any

import pytest
import yaml
from distributed import Client

pytestmark = pytest.mark.cluster

DEFAULT = "dask.org/cluster-name=simple,dask.org/workergroup-name=simple-default"
HIGHMEM = "dask.org/cluster-name=simple,dask.org/workergroup-name=simple-highmem"


def apply(kube: Any, obj: dict[str, Any]) -> None:
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(obj))


def replicas(kube: Any) -> int:
    return int(kube.get("daskworkergroup", "simple-default")["spec"]["worker"]["replicas"])


def slow_work(client: Client, n: int, seconds: float) -> Any:
    return client.map(lambda x: (time.sleep(seconds), x + 1)[1], range(n), pure=False)


def test_docs_autoscaler_scales_the_default_group_up_and_back_down(operator: Any, kube: Any, wait: Any, examples: Any) -> None:
    apply(kube, examples("cluster.yaml"))
    kube.wait_ready("simple")
    highmem = examples("highmemworkers.yaml")
    highmem["spec"]["worker"]["replicas"] = 1
    apply(kube, highmem)
    wait(lambda: len([p for p in kube.pods(HIGHMEM) if p["status"].get("phase") == "Running"]) == 1,
         message="the highmem worker")
    highmem_pods = {p["metadata"]["uid"] for p in kube.pods(HIGHMEM)}

    apply(kube, examples("autoscaler.yaml"))
    # idle: the autoscaler brings the docs' 2 workers down to the minimum 1 after the window
    wait(lambda: replicas(kube) == 1, timeout=60, message="an idle cluster to shrink to the minimum")
    status = kube.get("daskautoscaler", "simple")["status"]
    assert status["desiredWorkers"] == 1 and status["lastDecision"] in ("Hold", "ScaleDown")
    assert "lastTarget" in status and status["lastDecisionReason"]
    wait(lambda: len(kube.pods(DEFAULT)) == 1, timeout=60, message="one default worker")

    seen: list[int] = []
    with Client(kube.scheduler_address("simple"), timeout="30s") as client:
        futures = slow_work(client, 60, 2.0)

        def grew() -> bool:
            seen.append(replicas(kube))
            return seen[-1] > 1 and len(kube.pods(DEFAULT)) > 1

        wait(grew, timeout=90, message="the autoscaler to add workers under load")
        results = client.gather(futures)
        assert sorted(results) == list(range(1, 61)), "every task finished once"
        peak = max(seen)
        status = kube.get("daskautoscaler", "simple")["status"]
        assert 1 < peak <= 10 and status["lastScaleTime"]
        assert any(e["reason"] == "ScaleUp" for e in kube.events())

        # work done: back to the minimum after the stabilisation window, through retirement
        wait(lambda: replicas(kube) == 1, timeout=120, message="the group to shrink back to 1")
        wait(lambda: len(kube.pods(DEFAULT)) == 1, timeout=120, message="one default worker pod")
        assert any(e["reason"] == "ScaleDown" for e in kube.events())
        assert any(e["reason"] == "RetiredWorkers" for e in kube.events()), "scale-down went through the scheduler"
        assert len(client.scheduler_info()["workers"]) == 2  # one default + one highmem worker

    assert {p["metadata"]["uid"] for p in kube.pods(HIGHMEM)} == highmem_pods, "the other group was not touched"
    assert kube.get("daskworkergroup", "simple-highmem")["spec"]["worker"]["replicas"] == 1


def test_deleting_the_autoscaler_leaves_the_replicas(operator: Any, kube: Any, wait: Any, examples: Any) -> None:
    apply(kube, examples("cluster.yaml"))
    kube.wait_ready("simple")
    scaler = examples("autoscaler.yaml")
    scaler["spec"]["maximum"] = 3
    scaler["spec"]["scaleDownStabilizationSeconds"] = 600  # it would not shrink during this test anyway
    apply(kube, scaler)
    with Client(kube.scheduler_address("simple"), timeout="30s") as client:
        futures = slow_work(client, 30, 2.0)
        wait(lambda: replicas(kube) == 3, timeout=90, message="the maximum 3 under load")
        kube.kubectl("delete", "daskautoscaler", "simple")
        wait(lambda: kube.get("daskautoscaler", "simple") is None, timeout=30, message="the autoscaler to be deleted")
        client.gather(futures)
    time.sleep(5)  # several former poll intervals: nobody scales the idle group any more
    assert replicas(kube) == 3
    assert len(kube.pods(DEFAULT)) == 3


def test_worker_group_field_scales_another_group_only(operator: Any, kube: Any, wait: Any, examples: Any) -> None:
    cluster = examples("cluster.yaml")
    cluster["spec"]["worker"]["replicas"] = 1
    apply(kube, cluster)
    kube.wait_ready("simple")
    highmem = examples("highmemworkers.yaml")
    highmem["spec"]["worker"]["replicas"] = 1
    apply(kube, highmem)
    scaler = examples("autoscaler.yaml")
    scaler["spec"].update({"workerGroup": "simple-highmem", "minimum": 2, "maximum": 2})
    apply(kube, scaler)
    wait(lambda: kube.get("daskworkergroup", "simple-highmem")["spec"]["worker"]["replicas"] == 2, timeout=60,
         message="the highmem group raised to the minimum 2")
    wait(lambda: len(kube.pods(HIGHMEM)) == 2, timeout=60, message="two highmem workers")
    assert replicas(kube) == 1 and len(kube.pods(DEFAULT)) == 1
    status = kube.get("daskautoscaler", "simple")["status"]
    assert status["desiredWorkers"] == 2 and status["lastDecision"] in ("ScaleUp", "Hold")


def test_missing_cluster_is_reported(operator: Any, kube: Any, wait: Any, examples: Any) -> None:
    apply(kube, examples("autoscaler.yaml"))
    cond = wait(lambda: kube.condition("daskautoscaler", "simple", "AbleToScale"), timeout=30, message="a condition")
    assert cond["status"] == "False" and cond["reason"] == "ClusterNotFound"
    assert any(e["reason"] == "ClusterNotFound" and e["involvedObject"]["kind"] == "DaskAutoscaler" for e in kube.events())
