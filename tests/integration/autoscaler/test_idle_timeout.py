"""spec.idleTimeout on the local control plane: an idle cluster is deleted after its timeout
(idle checks every 1 s in these tests), a busy one is not, and the condition Idle shows since
when the scheduler has been idle."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import pytest
import yaml
from distributed import Client

pytestmark = pytest.mark.cluster


def idle_cluster(examples: Any, timeout: int) -> dict[str, Any]:
    cluster = examples("cluster.yaml")
    cluster["spec"]["worker"]["replicas"] = 1
    cluster["spec"]["idleTimeout"] = timeout
    return cluster


def test_idle_cluster_is_deleted_after_its_timeout(operator: Any, kube: Any, wait: Any, examples: Any) -> None:
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(idle_cluster(examples, 10)))
    kube.wait_ready("simple")
    ready_at = time.monotonic()
    idle = wait(lambda: (c := kube.condition("daskcluster", "simple", "Idle")) and c["status"] == "True" and c,
                timeout=30, message="the Idle condition")
    status = kube.get("daskcluster", "simple")["status"]
    assert status["idleSince"].endswith("Z") and "idle since " + status["idleSince"] in idle["message"]
    wait(lambda: (c := kube.get("daskcluster", "simple")) is None or c["metadata"].get("deletionTimestamp"),
         timeout=40, message="the idle cluster to be deleted")
    # Not before idleSince + 10 s (the scheduler may have been idle before the test saw Ready;
    # idleSince has 1 s resolution), and within 30 s (+5 for polling) of readiness.
    idle_since = datetime.strptime(status["idleSince"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert time.time() - idle_since.timestamp() >= 10 - 1, status["idleSince"]
    elapsed = time.monotonic() - ready_at
    assert elapsed <= 30 + 5, elapsed
    event = [e for e in kube.events("IdleTimeout") if e["involvedObject"]["name"] == "simple"]
    assert event and "idleTimeout 10 s" in event[0]["message"]


def test_busy_cluster_is_kept(operator: Any, kube: Any, wait: Any, examples: Any) -> None:
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(idle_cluster(examples, 10)))
    kube.wait_ready("simple")
    with Client(kube.scheduler_address("simple"), timeout="30s") as client:
        future = client.submit(time.sleep, 20, pure=False)
        wait(lambda: (c := kube.condition("daskcluster", "simple", "Idle")) and c["reason"] == "Busy",
             timeout=20, message="the Idle condition to say Busy")
        deadline = time.monotonic() + 15  # longer than the timeout: a busy scheduler never counts as idle
        while time.monotonic() < deadline:
            cluster = kube.get("daskcluster", "simple")
            assert cluster is not None and not cluster["metadata"].get("deletionTimestamp"), "a busy cluster was deleted"
            time.sleep(1)
        future.result()
    # idle again: now it goes
    wait(lambda: (c := kube.get("daskcluster", "simple")) is None or c["metadata"].get("deletionTimestamp"),
         timeout=45, message="the cluster to be deleted once idle")
