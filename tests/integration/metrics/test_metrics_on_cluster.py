"""The operator's Prometheus endpoint: every family in text format, values that move as a
cluster starts and scales, a job finishes, an autoscaler decides and a scheduler cannot be
reached; and the liveness endpoint's watch report."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from distributed import Client

pytestmark = pytest.mark.cluster

FAMILIES = [
    "dask_operator_reconcile_total", "dask_operator_reconcile_errors_total", "dask_operator_reconcile_duration_seconds",
    "dask_operator_clusters", "dask_operator_cluster_workers", "dask_operator_scale_events_total",
    "dask_operator_workers_created_total", "dask_operator_workers_retired_total", "dask_operator_workers_deleted_total",
    "dask_operator_scheduler_api_failures_total", "dask_operator_jobs_finished_total", "dask_operator_job_duration_seconds",
    "dask_operator_autoscaler_target_workers", "dask_operator_autoscaler_desired_workers",
    "dask_operator_autoscaler_decisions_total",
]


def apply(kube: Any, obj: dict[str, Any]) -> None:
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(obj))


def value(samples: dict[str, float], name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for key, v in samples.items():
        metric, _, rest = key.partition("{")
        if metric != name:
            continue
        if all(f'{k}="{val}"' in rest for k, val in labels.items()):
            total += v
    return total


def test_metrics_families_and_values_follow_the_operator(operator: Any, kube: Any, wait: Any, examples: Any, scrape: Any) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5) as r:
        text = r.read().decode()
        assert r.headers["Content-Type"].startswith("text/plain")
    for family in FAMILIES:
        base = family.removesuffix("_total")
        assert f"# TYPE {base} " in text or f"# TYPE {family} " in text, family
    before = scrape()
    ns = kube.ns

    # a cluster starts: reconcile counts and durations, phase gauge, workers, scale-up events
    apply(kube, examples("cluster.yaml"))
    kube.wait_ready("simple")
    m = wait(lambda: (s := scrape()) and value(s, "dask_operator_cluster_workers", namespace=ns, cluster="simple", state="ready") == 2 and s,
             timeout=30, message="the workers gauge")
    assert value(m, "dask_operator_cluster_workers", namespace=ns, cluster="simple", state="desired") == 2
    assert value(m, "dask_operator_clusters", phase="Running") >= 1
    assert value(m, "dask_operator_reconcile_total", kind="DaskCluster", result="success") > value(before, "dask_operator_reconcile_total", kind="DaskCluster", result="success")
    assert value(m, "dask_operator_reconcile_duration_seconds_count", kind="DaskWorkerGroup") > 0
    assert value(m, "dask_operator_workers_created_total", namespace=ns) == 2
    assert value(m, "dask_operator_scale_events_total", namespace=ns, direction="up") >= 1

    # scale down through the scheduler: retirements and deletions
    with Client(kube.scheduler_address("simple"), timeout="30s") as client:
        client.wait_for_workers(2, timeout=60)
    kube.kubectl("scale", "daskcluster", "simple", "--replicas=1")
    m = wait(lambda: (s := scrape()) and value(s, "dask_operator_workers_retired_total", namespace=ns) >= 1 and s,
             timeout=60, message="a retirement")
    assert value(m, "dask_operator_workers_deleted_total", namespace=ns) >= 1
    assert value(m, "dask_operator_scale_events_total", namespace=ns, direction="down") >= 1

    # an autoscaler decides
    apply(kube, examples("autoscaler.yaml"))
    m = wait(lambda: (s := scrape()) and value(s, "dask_operator_autoscaler_decisions_total") > 0 and s,
             timeout=30, message="an autoscaler decision")
    assert value(m, "dask_operator_autoscaler_desired_workers", namespace=ns, autoscaler="simple") >= 1
    assert f'dask_operator_autoscaler_target_workers{{autoscaler="simple",namespace="{ns}"}}' in m

    # a scheduler that cannot be reached: an autoscaler of a cluster whose Service selects nothing
    lost = examples("cluster.yaml")
    lost["metadata"]["name"] = "lost"
    lost["spec"]["worker"]["replicas"] = 0
    lost["spec"]["scheduler"]["service"]["selector"] = {"nothing": "here"}
    apply(kube, lost)
    scaler = examples("autoscaler.yaml")
    scaler["metadata"]["name"] = "lost"
    scaler["spec"]["cluster"] = "lost"
    apply(kube, scaler)
    m = wait(lambda: (s := scrape()) and value(s, "dask_operator_scheduler_api_failures_total", call="adaptive_target") >= 1 and s,
             timeout=90, message="a scheduler API failure")
    cond = kube.condition("daskautoscaler", "lost", "AbleToScale")
    assert cond["status"] == "False" and cond["reason"] == "SchedulerUnreachable"

    # a job finishes
    job = examples("job.yaml")
    job["spec"]["job"]["spec"]["containers"][0]["args"] = ["python", "-c", "print('ok')"]
    job["spec"]["cluster"]["spec"]["worker"]["replicas"] = 0
    apply(kube, job)
    m = wait(lambda: (s := scrape()) and value(s, "dask_operator_jobs_finished_total", outcome="Successful") >= 1 and s,
             timeout=120, message="a finished job")
    assert value(m, "dask_operator_job_duration_seconds_count", outcome="Successful") >= 1
    assert value(m, "dask_operator_reconcile_total", kind="DaskJob") > 0

    # a plain (background) deletion removes the cluster's series: dask_cluster_deleted runs on
    # the watch's DELETED event, with no finalizer on the DaskCluster
    def series_of_simple() -> list[str]:
        return [series for series in scrape() if series.startswith("dask_operator_cluster_workers{")
                and 'cluster="simple"' in series and f'namespace="{ns}"' in series]

    assert series_of_simple()
    kube.kubectl("delete", "daskcluster", "simple", "--wait=true")
    wait(lambda: not series_of_simple(), timeout=30, message="the deleted cluster's workers gauge to go")


def test_liveness_reports_the_watches(operator: Any, kube: Any, wait: Any, examples: Any) -> None:
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(examples("cluster.yaml")))
    kube.wait_ready("simple")

    def report() -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{operator.port}/healthz", timeout=10) as r:
            assert r.status == 200
            data: dict[str, Any] = json.loads(r.read())["watches"]["watches"]
            return data

    # kopf caches probe results for 10 s: wait for a report that includes the new objects
    data = wait(lambda: (d := report())["DaskCluster"]["objects"] == 1 and d, timeout=30, interval=2,
                message="a probe that saw the cluster")
    assert data["DaskWorkerGroup"]["objects"] == 1
    assert data["Pod"]["objects"] == 3  # scheduler and two workers (managed by the operator)
    assert all(isinstance(v, dict) and v["undelivered"] <= v["objects"] for v in data.values())


def test_liveness_fails_when_a_watch_stream_stalls(operator: Any, kube: Any, wait: Any, examples: Any, tmp_path: Any) -> None:
    """A wedged event stream (a plugin handler that never returns for one cluster) leaves a
    change undelivered; after health.watch-stall-seconds (5 s here) /healthz answers 500."""
    release = tmp_path / "release"
    operator.stop()
    operator.start(plugins={"wedge": "wedge_plugin"}, python_path=[Path(__file__).parent / "wedge_plugin"],
                   WEDGE_RELEASE=str(release), DASK_KUBERNETES__CONTROLLER__HEALTH__WATCH_STALL_SECONDS="5")

    def health() -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{operator.port}/healthz", timeout=10) as r:
                return int(r.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    cluster = examples("cluster.yaml")
    cluster["spec"]["worker"]["replicas"] = 0
    cluster["metadata"]["labels"] = {"test.dask.org/wedge": "yes"}
    apply(kube, cluster)
    assert health() == 200
    kube.kubectl("annotate", "daskcluster", "simple", "changed=yes")  # never delivered past the wedge
    wait(lambda: health() == 500, timeout=60, interval=2, message="the liveness probe to fail")
    assert "watch streams stalled: DaskCluster" in operator.log_text()

    release.write_text("")  # unwedge: the change is delivered and the probe recovers
    wait(lambda: health() == 200, timeout=60, interval=2, message="the liveness probe to recover")
    operator.stop()
    operator.start()  # a fresh log for the fixture's no-traceback check (aiohttp logs the 500s)
