import re

from dask_operator import names


def test_child_names():
    assert names.scheduler_name("simple") == "simple-scheduler"
    assert names.default_worker_group_name("simple") == "simple-default"
    assert names.worker_group_name("simple", "highmem") == "simple-highmem"


def test_worker_pod_names_are_random_hex():
    a, b = names.worker_pod_name("simple-default"), names.worker_pod_name("simple-default")
    assert re.fullmatch(r"simple-default-worker-[0-9a-f]{10}", a)
    assert a != b


def test_scheduler_address_uses_cluster_domain():
    assert names.scheduler_address("simple", "ns", "example.internal") == "tcp://simple-scheduler.ns.svc.example.internal:8786"


def test_longest_cluster_name_fits_the_service_name():
    assert len(names.scheduler_name("x" * names.MAX_CLUSTER_NAME)) == 63
