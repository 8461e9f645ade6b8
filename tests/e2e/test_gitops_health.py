"""Health as GitOps tools read it, on live objects reconciled by the chart's operator: the real
kstatus library (Flux) and the Argo CD Lua checks of examples/gitops, fed the same JSON.

The rows of the health table (docs/health.md): a Ready DaskCluster and its DaskWorkerGroup are
Current; a DaskCluster right after a spec change is InProgress; a DaskCluster whose spec the API
server rejects is Failed (and Current again once fixed); a failed DaskJob is Failed; a
DaskAutoscaler (and a DaskWorkerGroup) whose DaskCluster does not exist is InProgress, then
Failed after the grace period. Plus each kind's lifecycle."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from chart_release import wait_for
from health_checks import argocd_checks, kstatus, kstatus_binary

from dask_kubernetes.operator import make_cluster_spec

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("operator_release")]

IMAGE = "ghcr.io/dask/dask:latest"
GROUP = "kubernetes.dask.org/v1"
MISSING_GRACE = 60  # health.missing-cluster-seconds, the chart's default
Verdict = tuple[str, str]  # (kstatus, Argo CD)


class Judge:
    """The verdicts of both tools on one object, and every object judged (for failure output)."""

    def __init__(self) -> None:
        self.binary = kstatus_binary()
        self.argocd = argocd_checks()
        self.seen: list[tuple[Verdict, dict[str, Any]]] = []

    def __call__(self, obj: dict[str, Any]) -> Verdict:
        verdict = (kstatus(self.binary, obj)["status"], self.argocd[obj["kind"]](obj)[0])
        self.seen.append((verdict, obj))
        return verdict

    def messages(self, obj: dict[str, Any]) -> tuple[str, str]:
        return kstatus(self.binary, obj)["message"], self.argocd[obj["kind"]](obj)[1]

    def last(self, count: int = 3) -> str:
        return "\n".join(f"{v}: {json.dumps(o.get('status'), sort_keys=True)[:1500]}" for v, o in self.seen[-count:])


@pytest.fixture(scope="module")
def judge() -> Judge:
    return Judge()


def apply(k8s: Any, namespace: str, *manifests: dict[str, Any]) -> None:
    k8s.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(manifests))


def live(k8s: Any, namespace: str, kind: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = k8s.kubectl_json("get", kind.lower(), name, "-n", namespace)
    return obj


def wait_verdict(k8s: Any, judge: Judge, namespace: str, kind: str, name: str, expected: Verdict,
                 timeout: float = 300, also: Callable[[dict[str, Any]], bool] = lambda obj: True) -> dict[str, Any]:
    """Poll the live object until both tools give ``expected`` (and ``also`` holds)."""
    def check() -> dict[str, Any] | None:
        obj = live(k8s, namespace, kind, name)
        return obj if judge(obj) == expected and also(obj) else None

    found: dict[str, Any] = wait_for(f"{kind} {name} to be {expected}", check, timeout,
                                     diagnose=lambda: judge.last())
    return found


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), {})


def cluster(name: str, workers: int = 1) -> dict[str, Any]:
    spec = make_cluster_spec(name, image=IMAGE, n_workers=workers)
    spec["metadata"].pop("namespace", None)
    return spec


def test_ready_cluster_and_group_are_current_a_spec_change_is_in_progress(k8s: Any, namespace: str, judge: Judge) -> None:
    apply(k8s, namespace, cluster("healthy"))
    ready = wait_verdict(k8s, judge, namespace, "DaskCluster", "healthy", ("Current", "Healthy"))
    assert condition(ready, "Ready")["status"] == "True"
    assert ready["status"]["observedGeneration"] == ready["metadata"]["generation"]
    group = wait_verdict(k8s, judge, namespace, "DaskWorkerGroup", "healthy-default", ("Current", "Healthy"))
    assert condition(group, "Reconciling")["status"] == "False" and condition(group, "Stalled")["status"] == "False"

    # The object the API server returns for a spec change: a generation the operator has not seen.
    changed = json.loads(k8s.kubectl("patch", "daskcluster", "healthy", "-n", namespace, "--type=merge",
                                     "-p", '{"spec":{"worker":{"replicas":2}}}', "-o", "json").stdout)
    assert changed["metadata"]["generation"] > changed["status"]["observedGeneration"]
    assert judge(changed) == ("InProgress", "Progressing")
    # Then the operator works on it (Reconciling) until the second worker is ready.
    wait_verdict(k8s, judge, namespace, "DaskCluster", "healthy", ("Current", "Healthy"),
                 also=lambda obj: obj["status"]["workers"] == {"desired": 2, "ready": 2})


def test_cluster_the_api_server_rejects_is_failed_until_fixed(k8s: Any, namespace: str, judge: Judge) -> None:
    bad = cluster("rejected")
    bad["spec"]["scheduler"]["service"]["type"] = "Bogus"
    apply(k8s, namespace, bad)
    failed = wait_verdict(k8s, judge, namespace, "DaskCluster", "rejected", ("Failed", "Degraded"), timeout=120)
    stalled = condition(failed, "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == "InvalidSpec" and "Bogus" in stalled["message"]
    assert failed["status"]["phase"] == "Error"
    flux_message, argo_message = judge.messages(failed)
    assert "Bogus" in flux_message and "Bogus" in argo_message
    # still Failed on the next passes (not InProgress for ever, not Current)
    time.sleep(3)
    assert judge(live(k8s, namespace, "DaskCluster", "rejected")) == ("Failed", "Degraded")

    k8s.kubectl("patch", "daskcluster", "rejected", "-n", namespace, "--type=merge",
                "-p", '{"spec":{"scheduler":{"service":{"type":"ClusterIP"}}}}')
    fixed = wait_verdict(k8s, judge, namespace, "DaskCluster", "rejected", ("Current", "Healthy"))
    assert condition(fixed, "Stalled")["status"] == "False"


def job(name: str, script: str, **spec: Any) -> dict[str, Any]:
    cluster_spec = make_cluster_spec(name, image=IMAGE, n_workers=0)["spec"]
    return {
        "apiVersion": GROUP,
        "kind": "DaskJob",
        "metadata": {"name": name},
        "spec": {
            "job": {"spec": {"restartPolicy": "Never",
                             "containers": [{"name": "job", "image": IMAGE, "args": ["python", "-c", script]}]}},
            "cluster": {"spec": cluster_spec},
            **spec,
        },
    }


JOB_VERDICTS = {
    "JobCreated": ("InProgress", "Progressing"),
    "ClusterCreated": ("InProgress", "Progressing"),
    "Running": ("Current", "Progressing"),
    "Successful": ("Current", "Healthy"),
    "Failed": ("Failed", "Degraded"),
}


def test_job_lifecycles_succeeded_failed_suspended(k8s: Any, namespace: str, judge: Judge) -> None:
    apply(k8s, namespace,
          job("works", "print('done')"),
          job("breaks", "raise SystemExit(3)", backoffLimit=0),
          job("paused", "print('never')", suspend=True))
    done = wait_verdict(k8s, judge, namespace, "DaskJob", "works", ("Current", "Healthy"), timeout=300,
                        also=lambda obj: obj["status"].get("jobStatus") == "Successful")
    assert condition(done, "Ready")["reason"] == "Completed"
    broken = wait_verdict(k8s, judge, namespace, "DaskJob", "breaks", ("Failed", "Degraded"), timeout=300)
    assert broken["status"]["jobStatus"] == "Failed"
    assert condition(broken, "Stalled")["reason"] == "BackoffLimitExceeded"
    paused = wait_verdict(k8s, judge, namespace, "DaskJob", "paused", ("Current", "Suspended"), timeout=60,
                          also=lambda obj: condition(obj, "Suspended").get("status") == "True")
    assert condition(paused, "Ready")["reason"] == "Suspended"
    # every state the jobs went through was read the same way by both tools
    states = set()
    for verdict, obj in judge.seen:
        status = obj.get("status") or {}
        if obj["kind"] == "DaskJob" and status.get("observedGeneration") == obj["metadata"]["generation"] \
                and not obj["spec"].get("suspend") and status.get("jobStatus") in JOB_VERDICTS:
            states.add(status["jobStatus"])
            assert verdict == JOB_VERDICTS[status["jobStatus"]], (obj["metadata"]["name"], status)
    assert {"Successful", "Failed"} <= states

    # resuming the suspended job makes it work again (InProgress) until it has run
    k8s.kubectl("patch", "daskjob", "paused", "-n", namespace, "--type=merge", "-p", '{"spec":{"suspend":false}}')
    resumed = wait_verdict(k8s, judge, namespace, "DaskJob", "paused", ("Current", "Healthy"), timeout=300,
                           also=lambda obj: obj["status"].get("jobStatus") == "Successful")
    assert condition(resumed, "Suspended")["status"] == "False"


def autoscaler(name: str, cluster_name: str) -> dict[str, Any]:
    return {"apiVersion": GROUP, "kind": "DaskAutoscaler", "metadata": {"name": name},
            "spec": {"cluster": cluster_name, "minimum": 1, "maximum": 1}}


def test_autoscaler_and_worker_group_without_cluster_are_in_progress_then_failed(
    k8s: Any, namespace: str, judge: Judge
) -> None:
    orphan_group = {"apiVersion": GROUP, "kind": "DaskWorkerGroup", "metadata": {"name": "orphan"},
                    "spec": {"cluster": "nowhere", "worker": cluster("nowhere")["spec"]["worker"]}}
    apply(k8s, namespace, autoscaler("lost", "nowhere"), orphan_group, cluster("there"), autoscaler("scales", "there"))
    for kind, name in (("DaskAutoscaler", "lost"), ("DaskWorkerGroup", "orphan")):
        waiting = wait_verdict(k8s, judge, namespace, kind, name, ("InProgress", "Progressing"), timeout=60,
                               also=lambda obj: condition(obj, "Ready").get("reason") == "ClusterNotFound")
        assert condition(waiting, "Reconciling")["status"] == "True"
    # the autoscaler of an existing cluster is Current once it has polled the scheduler
    able = wait_verdict(k8s, judge, namespace, "DaskAutoscaler", "scales", ("Current", "Healthy"), timeout=300)
    assert condition(able, "AbleToScale")["status"] == "True"
    for kind, name in (("DaskAutoscaler", "lost"), ("DaskWorkerGroup", "orphan")):
        stalled = wait_verdict(k8s, judge, namespace, kind, name, ("Failed", "Degraded"), timeout=MISSING_GRACE + 60)
        assert condition(stalled, "Stalled")["reason"] == "ClusterNotFound"
        assert "nowhere" in judge.messages(stalled)[0]
