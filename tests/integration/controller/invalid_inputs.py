"""A catalogue of specs the CRDs accept but that cannot be realised, each with the answer the
operator gives: a named condition on the object the user applied and a Warning Event.

Each case is a function of the docs' manifests (``examples``) that returns the objects to apply
and the expected answer. The CRD-level catalogue (specs rejected at apply time) is in
``tests/integration/crds/test_crds_apply.py``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Manifest = dict[str, Any]
Examples = Callable[[str], Manifest]


@dataclass(frozen=True)
class Answer:
    """Where the operator reports a case: ``kind/name`` gets condition ``condition`` with
    ``reason`` (and ``status``), and a Warning Event with ``event`` (default: ``reason``)."""

    kind: str
    name: str
    condition: str
    reason: str
    status: str = "False"
    event: str | None = None
    message: str = ""  # a part of the condition's message

    @property
    def event_reason(self) -> str:
        return self.event or self.reason


Case = Callable[[Examples], tuple[list[Manifest], Answer]]
CASES: dict[str, Case] = {}


def case(name: str) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        CASES[name] = fn
        return fn
    return register


def cluster(examples: Examples, name: str, replicas: int = 1) -> Manifest:
    obj = copy.deepcopy(examples("cluster.yaml"))
    obj["metadata"]["name"] = name
    obj["spec"]["scheduler"]["service"]["selector"]["dask.org/cluster-name"] = name
    obj["spec"]["scheduler"]["service"]["type"] = "ClusterIP"
    obj["spec"]["worker"]["replicas"] = replicas
    return obj


def scheduler_container(obj: Manifest) -> Manifest:
    return obj["spec"]["scheduler"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def worker_container(obj: Manifest) -> Manifest:
    return obj["spec"]["worker"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def rejected_child(name: str, message: str = "") -> Answer:
    return Answer("daskcluster", name, "Ready", "InvalidSpec", event="ChildRejected", message=message)


def rejected_worker(name: str, message: str = "") -> Answer:
    return Answer("daskworkergroup", f"{name}-default", "Ready", "WorkerPodRejected", message=message)


# --- the scheduler Service -------------------------------------------------------------------

@case("service type unknown")
def _svc_type(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-svc-type")
    obj["spec"]["scheduler"]["service"]["type"] = "Bogus"
    return [obj], rejected_child("c-svc-type", "Bogus")


@case("service port out of range")
def _svc_port(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-svc-port")
    obj["spec"]["scheduler"]["service"]["ports"][1]["port"] = 70000
    return [obj], rejected_child("c-svc-port", "70000")


@case("nodePort on a ClusterIP service")
def _svc_nodeport(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-svc-nodeport")
    obj["spec"]["scheduler"]["service"]["ports"][1]["nodePort"] = 30999
    return [obj], rejected_child("c-svc-nodeport", "nodePort")


@case("service ports with one name")
def _svc_dup(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-svc-dup")
    obj["spec"]["scheduler"]["service"]["ports"][1]["name"] = "tcp-comm"
    return [obj], rejected_child("c-svc-dup", "Duplicate")


@case("externalTrafficPolicy on a ClusterIP service")
def _svc_etp(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-svc-etp")
    obj["spec"]["scheduler"]["service"]["externalTrafficPolicy"] = "Local"
    return [obj], rejected_child("c-svc-etp", "externalTrafficPolicy")


@case("service session affinity unknown")
def _svc_affinity(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-svc-affinity")
    obj["spec"]["scheduler"]["service"]["sessionAffinity"] = "Sometimes"
    return [obj], rejected_child("c-svc-affinity", "Sometimes")


@case("service selector value too long")
def _svc_selector(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-svc-selector")
    obj["spec"]["scheduler"]["service"]["selector"]["extra"] = "v" * 70
    return [obj], rejected_child("c-svc-selector", "63")


# --- the scheduler Deployment ----------------------------------------------------------------

@case("scheduler container name in capitals")
def _sched_name(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-sched-name")
    scheduler_container(obj)["name"] = "Scheduler"
    return [obj], rejected_child("c-sched-name", "Scheduler")


@case("scheduler port name longer than 15")
def _sched_port_name(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-sched-portname")
    scheduler_container(obj)["ports"].append({"name": "a-very-long-port-name", "containerPort": 9000})
    return [obj], rejected_child("c-sched-portname", "a-very-long-port-name")


@case("scheduler cpu request above its limit")
def _sched_cpu(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-sched-cpu")
    scheduler_container(obj)["resources"] = {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}
    return [obj], rejected_child("c-sched-cpu", "cpu")


@case("scheduler mounts a volume it does not have")
def _sched_mount(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-sched-mount")
    scheduler_container(obj)["volumeMounts"] = [{"name": "nowhere", "mountPath": "/data"}]
    return [obj], rejected_child("c-sched-mount", "nowhere")


@case("scheduler restartPolicy Never")
def _sched_restart(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-sched-restart")
    obj["spec"]["scheduler"]["spec"]["restartPolicy"] = "Never"
    return [obj], rejected_child("c-sched-restart", "Never")


@case("scheduler label value too long")
def _sched_label(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-sched-label")
    obj["spec"]["scheduler"]["metadata"] = {"labels": {"team": "x" * 70}}
    return [obj], rejected_child("c-sched-label", "63")


@case("scheduler env name with '='")
def _sched_env(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-sched-env")
    scheduler_container(obj)["env"] = [{"name": "A=B", "value": "1"}]
    return [obj], rejected_child("c-sched-env", "A=B")


@case("scheduler toleration operator unknown")
def _sched_toleration(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-sched-tol")
    obj["spec"]["scheduler"]["spec"]["tolerations"] = [{"key": "k", "operator": "Sometimes", "effect": "NoSchedule"}]
    return [obj], rejected_child("c-sched-tol", "Sometimes")


@case("scheduler probe without handler")
def _sched_probe(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-sched-probe")
    scheduler_container(obj)["readinessProbe"] = {"periodSeconds": 5}
    return [obj], rejected_child("c-sched-probe", "handler")


@case("scheduler annotation key invalid")
def _sched_annotation(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-sched-annot")
    obj["spec"]["scheduler"]["metadata"] = {"annotations": {"bad key!": "x"}}
    return [obj], rejected_child("c-sched-annot", "bad key!")


@case("scheduler image pull policy unknown")
def _sched_pull(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-sched-pull")
    scheduler_container(obj)["imagePullPolicy"] = "Sometimes"
    return [obj], rejected_child("c-sched-pull", "Sometimes")


# --- a scheduler that cannot start ------------------------------------------------------------

@case("scheduler on a node that does not exist")
def _sched_unschedulable(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-sched-nonode")
    obj["spec"]["scheduler"]["spec"]["nodeSelector"] = {"dask.org/no-such-node": "true"}
    return [obj], Answer("daskcluster", "c-sched-nonode", "SchedulerReady", "Unschedulable")


@case("scheduler asks for more cpu than any node has")
def _sched_cpu_huge(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-sched-bigcpu")
    scheduler_container(obj)["resources"] = {"requests": {"cpu": "1000"}}
    return [obj], Answer("daskcluster", "c-sched-bigcpu", "SchedulerReady", "Unschedulable")


@case("scheduler image with surrounding spaces")
def _sched_image(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-sched-image")
    scheduler_container(obj)["image"] = " ghcr.io/dask/dask:latest "
    return [obj], Answer("daskcluster", "c-sched-image", "SchedulerReady", "FailedCreate")


# --- worker pods --------------------------------------------------------------------------------

@case("worker memory limit negative")
def _w_memory(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-w-memory")
    worker_container(obj)["resources"] = {"limits": {"memory": "-1Gi"}}
    return [obj], rejected_worker("c-w-memory", "memory")


@case("worker container name in capitals")
def _w_name(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-w-name")
    worker_container(obj)["name"] = "Worker"
    return [obj], rejected_worker("c-w-name", "Worker")


@case("worker cpu request above its limit")
def _w_cpu(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-w-cpu")
    worker_container(obj)["resources"] = {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}
    return [obj], rejected_worker("c-w-cpu", "cpu")


@case("worker mounts a volume it does not have")
def _w_mount(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-w-mount")
    worker_container(obj)["volumeMounts"] = [{"name": "nowhere", "mountPath": "/data"}]
    return [obj], rejected_worker("c-w-mount", "nowhere")


@case("worker restartPolicy unknown")
def _w_restart(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-w-restart")
    obj["spec"]["worker"]["spec"]["restartPolicy"] = "Sometimes"
    return [obj], rejected_worker("c-w-restart", "Sometimes")


@case("worker nodeSelector value invalid")
def _w_selector(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-w-selector")
    obj["spec"]["worker"]["spec"]["nodeSelector"] = {"disk": "fast disk!"}
    return [obj], rejected_worker("c-w-selector", "fast disk!")


@case("worker service account name invalid")
def _w_sa(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-w-sa")
    obj["spec"]["worker"]["spec"]["serviceAccountName"] = "Bad_Name"
    return [obj], Answer("daskworkergroup", "c-w-sa-default", "Ready", "CreateWorkersFailed", message="Bad_Name")


@case("worker activeDeadlineSeconds 0")
def _w_deadline(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-w-deadline")
    obj["spec"]["worker"]["spec"]["activeDeadlineSeconds"] = 0
    return [obj], rejected_worker("c-w-deadline", "activeDeadlineSeconds")


@case("worker env name with '='")
def _w_env(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-w-env")
    worker_container(obj)["env"] = [{"name": "A=B", "value": "1"}]
    return [obj], rejected_worker("c-w-env", "A=B")


@case("worker hostPort out of range")
def _w_hostport(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-w-hostport")
    worker_container(obj)["ports"][0]["hostPort"] = 70000
    return [obj], rejected_worker("c-w-hostport", "70000")


@case("worker label key invalid")
def _w_label_key(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-w-labelkey")
    obj["spec"]["worker"]["metadata"] = {"labels": {"bad key!": "x"}}
    return [obj], rejected_child("c-w-labelkey", "bad key!")


@case("worker label value too long")
def _w_label_value(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-w-labelvalue")
    obj["spec"]["worker"]["metadata"] = {"labels": {"team": "x" * 70}}
    return [obj], rejected_child("c-w-labelvalue", "63")


@case("worker on a node that does not exist")
def _w_unschedulable(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = cluster(ex, "c-w-nonode")
    obj["spec"]["worker"]["spec"]["nodeSelector"] = {"dask.org/no-such-node": "true"}
    return [obj], Answer("daskcluster", "c-w-nonode", "WorkersReady", "Unschedulable")


# --- worker groups, autoscalers and jobs --------------------------------------------------------

def group(ex: Examples, name: str, cluster_name: str) -> Manifest:
    obj = copy.deepcopy(ex("highmemworkers.yaml"))
    obj["metadata"]["name"] = name
    obj["spec"]["cluster"] = cluster_name
    obj["spec"]["worker"]["replicas"] = 1
    del obj["spec"]["worker"]["spec"]["containers"][0]["resources"]
    return obj


@case("worker group of a cluster that does not exist")
def _g_missing(ex: Examples) -> tuple[list[Manifest], Answer]:
    return [group(ex, "g-orphan", "no-such-cluster")], Answer("daskworkergroup", "g-orphan", "ClusterFound", "ClusterNotFound")


@case("worker group whose pods are rejected")
def _g_rejected(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = group(ex, "g-rejected", "c-g-host")
    obj["spec"]["worker"]["spec"]["containers"][0]["name"] = "Worker"
    return [cluster(ex, "c-g-host", replicas=0), obj], Answer("daskworkergroup", "g-rejected", "Ready", "WorkerPodRejected", message="Worker")


@case("worker group asking for more memory than any node has")
def _g_memory(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = group(ex, "g-bigmem", "c-g-host2")
    obj["spec"]["worker"]["spec"]["containers"][0]["resources"] = {"requests": {"memory": "100Ti"}}
    return [cluster(ex, "c-g-host2", replicas=0), obj], Answer("daskcluster", "c-g-host2", "WorkersReady", "Unschedulable")


@case("worker group named like another cluster's default group")
def _g_conflict(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = group(ex, "c-g-owner-default", "c-g-other")
    return ([cluster(ex, "c-g-owner", replicas=0), cluster(ex, "c-g-other", replicas=0), obj],
            Answer("daskworkergroup", "c-g-owner-default", "Ready", "WorkerGroupConflict"))


@case("autoscaler of a cluster that does not exist")
def _a_missing(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = copy.deepcopy(ex("autoscaler.yaml"))
    obj["metadata"]["name"] = "a-orphan"
    obj["spec"]["cluster"] = "no-such-cluster"
    return [obj], Answer("daskautoscaler", "a-orphan", "AbleToScale", "ClusterNotFound")


def job(ex: Examples, name: str) -> Manifest:
    obj = copy.deepcopy(ex("job.yaml"))
    obj["metadata"]["name"] = name
    obj["metadata"].pop("namespace", None)
    obj["spec"]["cluster"]["spec"]["scheduler"]["service"]["selector"]["dask.org/cluster-name"] = name
    obj["spec"]["cluster"]["spec"]["worker"]["replicas"] = 1
    return obj


@case("job runner container name in capitals")
def _j_runner(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = job(ex, "j-runner-name")
    obj["spec"]["job"]["spec"]["containers"][0]["name"] = "Job"
    return [obj], Answer("daskjob", "j-runner-name", "Failed", "RunnerRejected", status="True", message="Job")


@case("job cluster service type unknown")
def _j_service(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = job(ex, "j-svc-type")
    obj["spec"]["cluster"]["spec"]["scheduler"]["service"]["type"] = "Bogus"
    return [obj], Answer("daskjob", "j-svc-type", "Failed", "InvalidCluster", status="True", event="JobFailed", message="Bogus")


@case("job runner on a node that does not exist")
def _j_unschedulable(ex: Examples) -> tuple[list[Manifest], Answer]:
    obj = job(ex, "j-nonode")
    obj["spec"]["job"]["spec"]["nodeSelector"] = {"dask.org/no-such-node": "true"}
    return [obj], Answer("daskjob", "j-nonode", "RunnerReady", "Unschedulable")
