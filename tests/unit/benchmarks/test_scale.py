"""Pure parts of benchmarks/scale.py: sizes, placement, histogram quantiles, the table."""

import math
import subprocess
import sys

import pytest
import scale

METRICS = """# HELP dask_operator_pass_latency_seconds x
# TYPE dask_operator_pass_latency_seconds histogram
dask_operator_pass_latency_seconds_bucket{kind="DaskCluster",le="0.5"} 2.0
dask_operator_pass_latency_seconds_bucket{kind="DaskCluster",le="1.0"} 6.0
dask_operator_pass_latency_seconds_bucket{kind="DaskCluster",le="+Inf"} 10.0
dask_operator_pass_latency_seconds_count{kind="DaskCluster"} 10.0
dask_operator_pass_latency_seconds_bucket{kind="DaskWorkerGroup",le="0.5"} 0.0
dask_operator_pass_latency_seconds_bucket{kind="DaskWorkerGroup",le="1.0"} 0.0
dask_operator_pass_latency_seconds_bucket{kind="DaskWorkerGroup",le="+Inf"} 0.0
"""


def test_the_scale_factor_shrinks_every_scenario_but_keeps_100_workers_per_s3_cluster():
    small = scale.sizes_for(0.1)
    assert (small.s1_clusters, small.s2_workers, small.s3_clusters, small.s3_workers) == (100, 100, 10, 100)
    full = scale.sizes_for(1)
    assert full.pods("S1") == 2000 and full.pods("S2") == 1001 and full.pods("S3") == 10100
    assert scale.sizes_for(0.0001).s3_clusters == 1
    with pytest.raises(ValueError):
        scale.sizes_for(0)


def test_enough_fake_nodes_for_the_biggest_scenario():
    assert scale.fake_nodes_needed(scale.sizes_for(1), ["S1", "S2", "S3"]) * scale.PODS_PER_FAKE_NODE >= 10100
    assert scale.fake_nodes_needed(scale.sizes_for(0.1), ["S2"]) == 1


def test_scenarios_are_parsed_in_their_order_and_unknown_ones_refused():
    assert scale.parse_scenarios("s3, S1") == ["S1", "S3"]
    with pytest.raises(ValueError):
        scale.parse_scenarios("S4")


def test_every_pod_of_a_benchmark_cluster_goes_to_the_fake_nodes():
    cluster = scale.cluster_on_fake_nodes("c", 3)
    for part in ("scheduler", "worker"):
        spec = cluster["spec"][part]["spec"]
        assert spec["nodeSelector"] == {"type": "kwok"}
        assert any(t["key"] == "kwok.x-k8s.io/node" for t in spec["tolerations"])
    assert cluster["spec"]["worker"]["replicas"] == 3
    assert cluster["spec"]["scheduler"]["service"]["clusterIP"] == "None"  # no address from the /24 Service range
    assert scale.plain_service("s", "ns")["spec"]["clusterIP"] == "None"
    assert scale.plain_pod("p", "ns")["spec"]["nodeSelector"] == {"type": "kwok"}


def test_quantiles_interpolate_inside_buckets_summed_over_kinds():
    buckets = scale.histogram_buckets(METRICS, "dask_operator_pass_latency_seconds")
    assert buckets == {0.5: 2.0, 1.0: 6.0, math.inf: 10.0}
    assert scale.quantile(buckets, 0.5) == pytest.approx(0.5 + 0.5 * (5 - 2) / 4)
    assert scale.quantile(buckets, 0.99) == 1.0  # beyond the last finite bound
    assert scale.quantile({0.5: 0.0, math.inf: 0.0}, 0.5) is None
    diff = scale.bucket_difference({0.5: 5.0, math.inf: 7.0}, {0.5: 2.0, math.inf: 2.0})
    assert diff == {0.5: 3.0, math.inf: 5.0}


def test_the_table_shows_the_ratio_to_the_floor():
    figure = scale.Figure("S2", "1 DaskCluster 0 -> 1000 workers", 1001, seconds=30.0, floor_seconds=20.0,
                          latency_seconds={"p50": 0.4, "p95": 1.2, "p99": None})
    row = scale.table([figure]).splitlines()[1]
    assert " 1.50 " in row and "0.40" in row
    assert figure.as_json()["ratio"] == 1.5


def test_the_script_documents_its_options():
    out = subprocess.run([sys.executable, str(scale.Path(scale.__file__)), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for option in ("--scenarios", "--scale-factor", "--json", "--floor-concurrency"):
        assert option in out.stdout
