"""The request-count benchmark's pure parts (the figures themselves are read by people)."""

from collections import Counter

import pytest
from api_requests import Figure, idle_cluster, lifecycle_total, parse_sizes, rss_mb, table
from apiproxy import RequestKind
from stubnode import NODE_LABEL


def test_idle_sizes_are_parsed_sorted_and_unique():
    assert parse_sizes("100,10") == [10, 100]
    assert parse_sizes("10, 10") == [10]
    assert parse_sizes("") == []
    with pytest.raises(ValueError):
        parse_sizes("0")


def test_rss_comes_from_vmrss_in_megabytes():
    assert rss_mb("Name:\tpython\nVmHWM:\t  99999 kB\nVmRSS:\t  102400 kB\n") == 100.0
    assert rss_mb("Name:\tzombie\n") == 0.0


def test_idle_clusters_have_no_workers_and_may_live_on_the_stub_node():
    on_stub = idle_cluster("idle-0001", on_stub_node=True)
    on_process = idle_cluster("idle-0001", on_stub_node=False)
    assert on_stub["spec"]["worker"]["replicas"] == 0
    assert on_stub["spec"]["scheduler"]["spec"]["nodeSelector"] == {NODE_LABEL: "true"}
    assert "nodeSelector" not in on_process["spec"]["scheduler"]["spec"]


def test_lifecycle_total_and_table():
    get, post = RequestKind("GET", "pods"), RequestKind("POST", "pods")
    steps = [Figure("create", Counter({get: 3, post: 2}), 80.0), Figure("delete", Counter({get: 1}), 81.5, quiet=False)]
    total = lifecycle_total(steps)
    assert total == Counter({get: 4, post: 2})
    idle = Figure("idle", Counter({get: 20}), 90.0, per_minute=40.0)
    lines = table([*steps, idle]).splitlines()
    assert lines[0].split()[:3] == ["requests", "per", "min"]
    assert lines[1].split()[:2] == ["create", "5"]
    assert lines[2].split()[:3] == ["delete", "*", "1"]  # not quiet: marked
    assert lines[3].split()[:3] == ["idle", "20", "40.0"]
    assert steps[0].as_json()["by_request"] == {"GET pods": 3, "POST pods": 2}
