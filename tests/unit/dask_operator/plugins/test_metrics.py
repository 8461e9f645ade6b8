import contextlib
import socket
import urllib.request

import dask
import pytest
from dask_operator.errors import RetryLater
from dask_operator.plugins import metrics


def sample(name, **labels):
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def test_reconcile_context_counts_results_and_durations():
    before = {r: sample("dask_operator_reconcile_total", kind="UnitKind", result=r) for r in ("success", "retry", "error")}
    async with metrics.dask_reconcile_context("UnitKind", "a", "ns"):
        pass
    with pytest.raises(RetryLater):
        async with metrics.dask_reconcile_context("UnitKind", "a", "ns"):
            raise RetryLater("later")
    with pytest.raises(ValueError):
        async with metrics.dask_reconcile_context("UnitKind", "a", "ns"):
            raise ValueError("boom")
    for result in ("success", "retry", "error"):
        assert sample("dask_operator_reconcile_total", kind="UnitKind", result=result) == before[result] + 1
    assert sample("dask_operator_reconcile_errors_total", kind="UnitKind") >= 1
    assert sample("dask_operator_reconcile_duration_seconds_count", kind="UnitKind") >= 3


def test_clusters_by_phase_and_workers():
    cluster = {"metadata": {"name": "m1", "namespace": "unit"}}
    running = sample("dask_operator_clusters", phase="Running")
    metrics.dask_cluster_phase_changed(cluster, None, "Pending")
    metrics.dask_cluster_observed(cluster, {"phase": "Running", "workers": {"desired": 3, "ready": 2}})
    assert sample("dask_operator_clusters", phase="Running") == running + 1
    assert sample("dask_operator_cluster_workers", namespace="unit", cluster="m1", state="desired") == 3
    assert sample("dask_operator_cluster_workers", namespace="unit", cluster="m1", state="ready") == 2
    metrics.dask_cluster_deleted(cluster)
    assert sample("dask_operator_clusters", phase="Running") == running
    assert metrics.REGISTRY.get_sample_value("dask_operator_cluster_workers", {"namespace": "unit", "cluster": "m1", "state": "ready"}) is None


def test_workers_jobs_autoscalers_scheduler_failures():
    group = {"metadata": {"name": "g", "namespace": "unit2"}}
    metrics.dask_workers_changed({}, group, created=["a", "b"], retired=["c"], deleted=["c", "d"])
    assert sample("dask_operator_workers_created_total", namespace="unit2") == 2
    assert sample("dask_operator_workers_retired_total", namespace="unit2") == 1
    assert sample("dask_operator_workers_deleted_total", namespace="unit2") == 2
    assert sample("dask_operator_scale_events_total", namespace="unit2", direction="up") == 1
    assert sample("dask_operator_scale_events_total", namespace="unit2", direction="down") == 1

    job = {"metadata": {"name": "j"}, "status": {"reason": "UnitReason", "startTime": "2026-01-01T00:00:00Z", "endTime": "2026-01-01T00:01:40Z"}}
    metrics.dask_job_phase_changed(job, "Running", "Failed")
    metrics.dask_job_phase_changed(job, "JobCreated", "ClusterCreated")  # not an outcome
    assert sample("dask_operator_jobs_finished_total", outcome="Failed", reason="UnitReason") == 1
    assert sample("dask_operator_job_duration_seconds_sum", outcome="Failed") >= 100

    scaler = {"metadata": {"name": "s", "namespace": "unit3"}}
    metrics.dask_autoscaler_decided(scaler, {}, target=7, current=2, desired=5, decision="ScaleUp", reason="r")
    assert sample("dask_operator_autoscaler_target_workers", namespace="unit3", autoscaler="s") == 7
    assert sample("dask_operator_autoscaler_desired_workers", namespace="unit3", autoscaler="s") == 5
    before = sample("dask_operator_scheduler_api_failures_total", call="unit_call")
    metrics.dask_scheduler_unreachable({}, "unit_call", "refused")
    assert sample("dask_operator_scheduler_api_failures_total", call="unit_call") == before + 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_on_configured_address_and_port_and_off_with_port_0():
    port = free_port()
    with dask.config.set({"kubernetes.controller.metrics.port": port, "kubernetes.controller.metrics.address": "127.0.0.1"}):
        try:
            assert metrics.start_server() == ("127.0.0.1", port)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                assert b"# TYPE dask_operator_reconcile_total counter" in r.read()
        finally:
            metrics.stop_server()
    with dask.config.set({"kubernetes.controller.metrics.port": 0}):
        assert metrics.start_server() is None


def test_busy_port_is_logged_not_fatal(caplog):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with dask.config.set({"kubernetes.controller.metrics.port": port, "kubernetes.controller.metrics.address": "127.0.0.1"}):
            metrics.dask_startup(settings=None, logger=None)
    assert "metrics: cannot serve" in caplog.text
    with contextlib.suppress(Exception):
        metrics.stop_server()


def test_leadership_gauge_and_a_standby_serves_metrics():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with dask.config.set({"kubernetes.controller.metrics.port": port, "kubernetes.controller.metrics.address": "127.0.0.1"}):
        try:
            metrics.dask_leadership_changed(leader=False, identity="op-a_1234")
            assert sample("dask_operator_leader") == 0
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                assert b"dask_operator_leader 0.0" in r.read()
            metrics.dask_leadership_changed(leader=True, identity="op-a_1234")
            assert sample("dask_operator_leader") == 1
        finally:
            metrics.stop_server()


def test_pass_latency_is_a_histogram_by_kind():
    before = sample("dask_operator_pass_latency_seconds_count", kind="UnitKind")
    below_one = sample("dask_operator_pass_latency_seconds_bucket", kind="UnitKind", le="1.0")
    metrics.dask_pass_finished("UnitKind", "ns", "a", 0.4)
    metrics.dask_pass_finished("UnitKind", "ns", "a", 12.0)
    assert sample("dask_operator_pass_latency_seconds_count", kind="UnitKind") == before + 2
    assert sample("dask_operator_pass_latency_seconds_bucket", kind="UnitKind", le="1.0") == below_one + 1
