"""What `kubectl dask` prints, from objects as the API server returns them."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from dask_kubernetes.kubectl_dask import cli, render

NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=timezone.utc)


def cluster(name="simple", namespace="default", **status):
    return {
        "kind": "DaskCluster",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": "2026-12-07T11:55:00Z"},
        "status": {"phase": "Running", "workers": {"desired": 3, "ready": 2},
                   "schedulerAddress": f"tcp://{name}-scheduler.{namespace}.svc.cluster.local:8786", **status},
    }


def group(name, cluster_name="simple", namespace="default", replicas=3):
    return {"kind": "DaskWorkerGroup", "metadata": {"name": name, "namespace": namespace, "creationTimestamp": "2026-12-07T11:55:01Z"},
            "spec": {"cluster": cluster_name, "worker": {"replicas": replicas}}, "status": {"workers": {"ready": 2}}}


@pytest.mark.parametrize("created, shown", [
    ("2026-12-07T11:59:15Z", "45s"), ("2026-12-07T11:53:00Z", "7m"), ("2026-12-07T07:00:00Z", "5h"),
    ("2026-12-04T12:00:00Z", "3d"), (None, "<unknown>"),
])
def test_ages_read_like_kubectl(created, shown):
    assert render.age(created, NOW) == shown


def test_list_columns_and_all_namespaces():
    text = render.cluster_rows([cluster(), cluster("other", "team")], [], NOW, all_namespaces=True, wide=False)
    lines = [line.split() for line in text.splitlines()]
    assert lines == [
        ["NAMESPACE", "NAME", "PHASE", "WORKERS", "READY", "AGE"],
        ["default", "simple", "Running", "3", "2", "5m"],
        ["team", "other", "Running", "3", "2", "5m"],
    ]


def test_wide_list_names_the_cluster_groups_scheduler_and_dashboard():
    exposed = cluster(dashboardURL="http://in/status", externalDashboardURL="https://out/status")
    groups = [group("simple-default"), group("simple-gpu"), group("other-default", "other"), group("simple-x", namespace="team")]
    [_, row] = render.cluster_rows([exposed], groups, NOW, all_namespaces=False, wide=True).splitlines()
    assert row.split()[5:] == ["simple-default,simple-gpu", "tcp://simple-scheduler.default.svc.cluster.local:8786", "https://out/status"]


def test_describe_tells_the_story():
    pods = [
        {"metadata": {"name": "simple-default-worker-1", "labels": {render.LABEL_COMPONENT: "worker", render.LABEL_WORKER_GROUP: "simple-default"},
                      "creationTimestamp": "2026-12-07T11:56:00Z"},
         "spec": {"containers": [{}]}, "status": {"phase": "Running", "containerStatuses": [{"ready": True}]}},
        {"metadata": {"name": "simple-scheduler-abc", "labels": {render.LABEL_COMPONENT: "scheduler"}, "creationTimestamp": "2026-12-07T11:55:02Z"},
         "spec": {"containers": [{}]}, "status": {"phase": "Running", "containerStatuses": [{"ready": False}]}},
    ]
    events = [{"type": "Normal", "reason": "PhaseRunning", "message": "scheduler ready", "lastTimestamp": "2026-12-07T11:55:30Z"}]
    c = cluster(conditions=[{"type": "Ready", "status": "False", "reason": "WorkersNotReady", "message": "2/3 workers ready"}])
    text = render.describe(c, [group("simple-default")], pods, [], events, NOW)
    assert "Phase:" in text and "3 desired, 2 ready" in text
    assert "Autoscalers:  <none>" in text
    pod_lines = text[text.index("Pods:"):text.index("Autoscalers:")].splitlines()
    assert pod_lines[2].split()[:2] == ["simple-scheduler-abc", "scheduler"]  # the scheduler first
    assert pod_lines[2].split()[-2] == "0/1" and pod_lines[3].split()[-2] == "1/1"
    assert "WorkersNotReady" in text and "PhaseRunning" in text and "4m" in text


def test_local_dashboard_url_follows_the_service_prefix():
    service = {"metadata": {"annotations": {render.PREFIX_ANNOTATION: "/dask/ns/c"}},
               "spec": {"ports": [{"name": "tcp-comm", "port": 8786}, {"name": "http-dashboard", "port": 9787}]}}
    assert render.dashboard_port(service) == 9787
    assert render.local_dashboard_url(service, "127.0.0.1", 4000) == "http://127.0.0.1:4000/dask/ns/c/status"
    assert render.local_dashboard_url({}, "127.0.0.1", 4000) == "http://127.0.0.1:4000/status"


def test_arguments_follow_kubectl_conventions():
    args = cli.parser().parse_args(["list", "-A", "-o", "wide"])
    assert args.all_namespaces and args.output == "wide" and args.func is cli.cmd_list
    args = cli.parser().parse_args(["scale", "simple", "3", "-n", "team", "-g", "gpu"])
    assert (args.cluster, args.replicas, args.namespace, args.worker_group) == ("simple", 3, "team", "gpu")
    kubectl = cli.Kubectl(cli.parser().parse_args(["describe", "simple", "-n", "team", "--context", "prod"]))
    assert kubectl.command("get", "pods")[1:] == ["--context", "prod", "-n", "team", "get", "pods"]
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["list", "-o", "table"])
