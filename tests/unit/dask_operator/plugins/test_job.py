import copy
from pathlib import Path

import pytest
import yaml
from dask_operator.plugins import job as job_plugin

REPO = Path(__file__).resolve().parents[4]


@pytest.fixture
def job():
    obj = yaml.safe_load((REPO / "examples" / "job.yaml").read_text())
    obj["metadata"].update({"namespace": "ns1", "uid": "uid-j", "generation": 1})
    return obj


def test_cluster_is_named_like_the_job_and_takes_its_spec(job):
    job["spec"]["cluster"]["spec"]["idleTimeout"] = 30
    cluster = job_plugin.dask_job_build_cluster(job)
    assert (cluster["apiVersion"], cluster["kind"]) == ("kubernetes.dask.org/v1", "DaskCluster")
    assert cluster["metadata"]["name"] == "simple-job" and cluster["metadata"]["namespace"] == "ns1"
    assert cluster["spec"] == job["spec"]["cluster"]["spec"] and cluster["spec"]["idleTimeout"] == 30
    cluster["spec"]["worker"]["replicas"] = 99
    assert job["spec"]["cluster"]["spec"]["worker"]["replicas"] == 2, "the job is not modified"


def test_cluster_metadata_job_then_cluster_section_without_tool_keys(job):
    job["metadata"]["labels"] = {"team": "a", "tier": "job", "argocd.argoproj.io/instance": "x"}
    job["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{}", "note": "j"}
    job["spec"]["cluster"]["metadata"] = {"labels": {"tier": "cluster"}, "annotations": {"extra": "c"}}
    meta = job_plugin.dask_job_build_cluster(job)["metadata"]
    assert meta["labels"] == {"team": "a", "tier": "cluster"}
    assert meta["annotations"] == {"note": "j", "extra": "c"}


def test_runner_pod(job):
    pod = job_plugin.dask_job_build_runner_pod(job, "tcp://s:8786")
    assert pod["metadata"]["name"] == "simple-job-runner" and pod["kind"] == "Pod"
    assert pod["spec"]["restartPolicy"] == "OnFailure"
    env = pod["spec"]["containers"][0]["env"]
    assert env == [{"name": "DASK_SCHEDULER_ADDRESS", "value": "tcp://s:8786"}]
    assert "env" not in job["spec"]["job"]["spec"]["containers"][0], "the job is not modified"


def test_runner_pod_keeps_user_choices(job):
    spec = job["spec"]["job"]["spec"]
    spec["restartPolicy"] = "Never"
    spec["containers"][0]["env"] = [{"name": "DASK_SCHEDULER_ADDRESS", "value": "tcp://mine:1"}]
    job["spec"]["job"]["metadata"] = {"labels": {"a": "b"}, "annotations": {"c": "d"}}
    pod = job_plugin.dask_job_build_runner_pod(copy.deepcopy(job), "tcp://s:8786")
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["containers"][0]["env"] == [{"name": "DASK_SCHEDULER_ADDRESS", "value": "tcp://mine:1"}]
    assert pod["metadata"]["labels"] == {"a": "b"} and pod["metadata"]["annotations"] == {"c": "d"}


def test_builtins_answer_last(pm):
    for hook in ("dask_job_build_cluster", "dask_job_build_runner_pod"):
        impls = getattr(pm.hook, hook).get_hookimpls()
        assert any(i.plugin_name == "job" and i.trylast for i in impls), hook
