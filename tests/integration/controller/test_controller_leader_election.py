"""Leader election: two operators against one namespace, one Lease. Only the leader writes;
the standby serves health and metrics; when the leader dies the standby takes over and finishes
its work; on SIGTERM the leader releases the Lease."""

from __future__ import annotations

import json
import signal
import socket
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from dask_operator.testing import OperatorProcess

pytestmark = pytest.mark.cluster

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
WORKERS = "dask.org/cluster-name=simple,dask.org/component=worker"
LEASE = "dask-kubernetes-operator"
# A short Lease keeps the takeover after SIGKILL quick; one worker pod every 2 s so that the
# leader dies in the middle of the scale-up.
ELECTION = {
    "DASK_KUBERNETES__CONTROLLER__LEADER_ELECTION__ENABLED": "true",
    "DASK_KUBERNETES__CONTROLLER__LEADER_ELECTION__LEASE_DURATION": "6",
    "DASK_KUBERNETES__CONTROLLER__LEADER_ELECTION__RENEW_PERIOD": "2",
    "DASK_KUBERNETES__CONTROLLER__WORKER_ALLOCATION__BATCH_SIZE": "1",
    "DASK_KUBERNETES__CONTROLLER__WORKER_ALLOCATION__DELAY": "2",
    "DASK_KUBERNETES__CONTROLLER__METRICS__ADDRESS": "127.0.0.1",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Candidate:
    """One operator process with leader election, its metrics port and its Lease identity."""

    def __init__(self, process: OperatorProcess, metrics_port: int) -> None:
        self.process = process
        self.metrics_port = metrics_port

    def leader_metric(self) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("dask_operator_leader "):
                    return float(line.split()[1])
        raise AssertionError("no dask_operator_leader metric")

    def healthz(self) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.process.port}/healthz", timeout=5) as r:
            return int(r.status)

    def is_leader(self) -> bool:
        return "is the leader now" in self.process.log()


@pytest.fixture
def candidates(k8s: Any, crds: None, namespace: str, dask_operator_runner: Callable[..., OperatorProcess]) -> Callable[[], Candidate]:
    def start() -> Candidate:
        port = _free_port()
        env = {**k8s.env, **ELECTION, "DASK_KUBERNETES__CONTROLLER__METRICS__PORT": str(port),
               "DASK_KUBERNETES__CONTROLLER__LEADER_ELECTION__LEASE_NAMESPACE": namespace}
        return Candidate(dask_operator_runner(namespace, env=env), port)

    return start


def lease_spec(kube: Any) -> dict[str, Any]:
    return json.loads(kube.kubectl("get", "lease", LEASE, "-o", "jsonpath={.spec}").stdout or "{}")


def docs_cluster(replicas: int) -> str:
    cluster = yaml.safe_load((EXAMPLES / "cluster.yaml").read_text())
    cluster["spec"]["worker"]["replicas"] = replicas
    return yaml.safe_dump(cluster)


def test_only_the_leader_reconciles_and_the_standby_takes_over(candidates, kube, wait):
    first = candidates()
    wait(lambda: lease_spec(kube).get("holderIdentity"), interval=0.3, message="a Lease holder")
    second = candidates()
    wait(lambda: "standby" in second.process.log(), interval=0.3, message="the second operator to stand by")
    assert first.is_leader() and not second.is_leader()
    assert (first.leader_metric(), second.leader_metric()) == (1, 0)
    assert second.healthz() == 200

    kube.kubectl("apply", "-f", "-", input=docs_cluster(replicas=2))
    kube.wait_ready("simple")
    wait(lambda: len(kube.pods(WORKERS)) == 2, message="2 workers")
    assert "DaskCluster" not in second.process.log(), "the standby touched a DaskCluster"

    kube.kubectl("scale", "daskcluster", "simple", "--replicas=5")
    wait(lambda: 3 <= len(kube.pods(WORKERS)) < 5, interval=0.2, message="the scale-up under way")
    first.process.proc.kill()  # SIGKILL: the Lease is not released and must expire
    first.process.proc.wait(10)
    assert len(kube.pods(WORKERS)) < 5, "the leader finished the scale-up before it died: the test proves nothing"

    wait(second.is_leader, timeout=60, interval=0.5, message="the standby to take the Lease")
    pods = wait(lambda: p if len(p := kube.pods(WORKERS)) >= 5 else None, timeout=120, message="5 workers")
    assert len(pods) == 5 and len({p["metadata"]["name"] for p in pods}) == 5
    assert second.leader_metric() == 1
    assert lease_spec(kube)["leaseTransitions"] == 1

    second.process.proc.send_signal(signal.SIGTERM)
    assert second.process.proc.wait(3) == 0
    assert lease_spec(kube).get("holderIdentity", "") == "", "the Lease was not released on SIGTERM"


def test_a_released_lease_is_taken_at_once_and_a_standby_exits_cleanly(candidates, kube, wait):
    first = candidates()
    wait(lambda: lease_spec(kube).get("holderIdentity"), interval=0.3, message="a Lease holder")
    second = candidates()
    third = candidates()
    wait(lambda: "standby" in second.process.log() and "standby" in third.process.log(), interval=0.3,
         message="two standbys")

    first.process.proc.send_signal(signal.SIGTERM)
    assert first.process.proc.wait(3) == 0
    assert "released Lease" in first.process.log()
    # released, not expired: a standby watching the Lease takes it well within its duration
    wait(lambda: second.is_leader() or third.is_leader(), timeout=4, interval=0.2, message="a standby to lead")
    assert not (second.is_leader() and third.is_leader())

    standby = third if second.is_leader() else second
    standby.process.proc.send_signal(signal.SIGTERM)
    assert standby.process.proc.wait(3) == 0
    assert "Traceback" not in standby.process.log()
