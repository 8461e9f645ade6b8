"""SIGTERM: the operator stops within its 3 s budget, even in the middle of a scale-up, and the
next operator finishes the work it left."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.cluster

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
WORKERS = "dask.org/cluster-name=simple,dask.org/component=worker"
EXIT_BUDGET = 3.0  # seconds from SIGTERM to exit: the documented contract (docs/configuration.md)
# one worker pod every 2 s, so that SIGTERM lands in the middle of a pass creating workers
SLOW = {"DASK_KUBERNETES__CONTROLLER__WORKER_ALLOCATION__BATCH_SIZE": "1",
        "DASK_KUBERNETES__CONTROLLER__WORKER_ALLOCATION__DELAY": "2"}


def docs_cluster(replicas: int) -> str:
    cluster = yaml.safe_load((EXAMPLES / "cluster.yaml").read_text())
    cluster["spec"]["worker"]["replicas"] = replicas
    return yaml.safe_dump(cluster)


def sigterm_exit_code(operator) -> int:
    proc = operator.proc
    proc.send_signal(signal.SIGTERM)
    try:
        return int(proc.wait(EXIT_BUDGET))
    except subprocess.TimeoutExpired:
        pytest.fail(f"the operator still runs {EXIT_BUDGET} s after SIGTERM:\n{operator.process.log()[-3000:]}")


def test_sigterm_during_a_scale_up_exits_within_budget_and_the_next_operator_finishes(operator, kube, wait):
    operator.stop()
    operator.start(**SLOW)
    kube.kubectl("apply", "-f", "-", input=docs_cluster(replicas=8))
    wait(lambda: 1 <= len(kube.pods(WORKERS)) < 8, interval=0.2, message="the first workers")

    assert sigterm_exit_code(operator) == 0
    left = len(kube.pods(WORKERS))
    assert left < 8, "the scale-up was finished before SIGTERM: the test proves nothing"

    operator.start()
    wait(lambda: len(kube.pods(WORKERS)) == 8, timeout=180, message="the next operator to finish the scale-up")


def test_sigterm_when_idle_exits_cleanly(operator, kube):
    kube.kubectl("apply", "-f", "-", input=docs_cluster(replicas=1))
    kube.wait_ready("simple")
    assert sigterm_exit_code(operator) == 0
    assert "Traceback" not in operator.process.log()
