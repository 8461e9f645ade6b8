"""The CRDs in chart/crds/ against a real kube-apiserver: they install with plain `kubectl apply`,
every manifest of the user docs applies unchanged and loses nothing, current PodSpec fields
survive pruning, the scale and status subresources work, and the CEL rules reject bad objects
with their readable messages."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[3]
CRD_DIR = REPO / "chart" / "crds"
EXAMPLES = REPO / "examples"
DOCS_MANIFESTS = [
    "cluster.yaml",
    "highmemworkers.yaml",
    "job.yaml",
    "autoscaler.yaml",
    "cluster-spec.yml",
]
CRDS = ["daskclusters", "daskworkergroups", "daskjobs", "daskautoscalers"]
API = "kubernetes.dask.org/v1"


@pytest.fixture(scope="module")
def crds(k8s: Any) -> None:
    """Install the CRDs the way the docs' static-manifest route does: client-side apply."""
    k8s.kubectl("apply", "-f", str(CRD_DIR))
    k8s.wait_established([f"{plural}.kubernetes.dask.org" for plural in CRDS])


def apply(k8s: Any, namespace: str, manifest: dict[str, Any], *flags: str) -> Any:
    """kubectl apply one object (strict field validation, kubectl's default) -> the process."""
    return k8s.kubectl(
        "apply",
        "-n",
        namespace,
        "-o",
        "json",
        *flags,
        "-f",
        "-",
        input=json.dumps(manifest),
        check=False,
    )


def get(k8s: Any, namespace: str, kind: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = k8s.kubectl_json("get", "-n", namespace, kind.lower(), name)
    return result


def lost_fields(sent: Any, stored: Any, path: str = "") -> list[str]:
    """Every value of ``sent`` that ``stored`` does not hold (pruned or changed)."""
    if isinstance(sent, dict):
        if not isinstance(stored, dict):
            return [path]
        return [
            lost
            for key in sent
            for lost in lost_fields(sent[key], stored.get(key, _MISSING), f"{path}.{key}")
        ]
    if isinstance(sent, list):
        if not isinstance(stored, list) or len(sent) != len(stored):
            return [path]
        return [
            lost
            for i, item in enumerate(sent)
            for lost in lost_fields(item, stored[i], f"{path}[{i}]")
        ]
    return [] if sent == stored else [path]


_MISSING = object()


def docs_manifest(name: str, namespace: str) -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    # job.yaml names the default namespace; everything else is applied as written
    manifest["metadata"]["namespace"] = namespace
    return manifest


# --- installation and the docs' manifests ------------------------------------------------------


def test_short_names_collide_with_no_other_resource(k8s: Any, crds: None) -> None:
    ours = {"dsk", "daskworkers", "dwg", "djb", "das", "daskcluster", "daskworkergroup", "daskjob"}
    others = set()
    for line in k8s.kubectl("api-resources", "--no-headers", "-o", "wide").stdout.splitlines():
        if "kubernetes.dask.org" in line:
            continue
        fields = line.split()
        others.add(fields[0])
        if len(fields) > 1 and "/" not in fields[1]:  # SHORTNAMES column, when present
            others.update(fields[1].split(","))
    assert ours.isdisjoint(others), ours & others


def test_crds_install_and_serve_the_documented_names(k8s: Any, crds: None) -> None:
    resources = k8s.kubectl("api-resources", "--api-group=kubernetes.dask.org", "-o", "wide").stdout
    for line in (
        "daskclusters",
        "dsk",
        "daskworkergroups",
        "daskworkers",
        "dwg",
        "daskjobs",
        "djb",
        "das",
    ):
        assert line in resources
    # applying again is a no-op, and server-side apply (recommended for large CRDs) works too
    again = k8s.kubectl("apply", "-f", str(CRD_DIR)).stdout
    assert again.count("unchanged") == 4, again
    k8s.kubectl(
        "apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", str(CRD_DIR)
    )


@pytest.mark.parametrize("name", DOCS_MANIFESTS)
def test_docs_manifest_applies_unchanged_and_loses_nothing(
    k8s: Any, crds: None, namespace: str, name: str
) -> None:
    manifest = docs_manifest(name, namespace)
    proc = apply(k8s, namespace, manifest)
    assert proc.returncode == 0, proc.stderr
    assert not proc.stderr.strip(), f"warnings: {proc.stderr}"
    stored = get(k8s, namespace, manifest["kind"], manifest["metadata"]["name"])
    assert lost_fields(manifest["spec"], stored["spec"]) == []
    assert stored["metadata"].get("labels", {}) == manifest["metadata"].get("labels", {})


def test_defaults_are_filled_in(k8s: Any, crds: None, namespace: str) -> None:
    job = docs_manifest("job.yaml", namespace)
    assert apply(k8s, namespace, job).returncode == 0
    stored = get(k8s, namespace, "DaskJob", "simple-job")["spec"]
    assert stored["job"]["spec"]["restartPolicy"] == "OnFailure"
    assert stored["cluster"]["spec"]["idleTimeout"] == 0
    assert stored["suspend"] is False and stored["keepRunnerPod"] is True

    cluster = docs_manifest("cluster.yaml", namespace)
    del cluster["spec"]["worker"]["replicas"]
    assert apply(k8s, namespace, cluster).returncode == 0
    stored = get(k8s, namespace, "DaskCluster", "simple")["spec"]
    assert stored["worker"]["replicas"] == 1
    assert stored["idleTimeout"] == 0
    # a runner's own choice wins over the default
    job["metadata"]["name"] = "never"
    job["spec"]["job"]["spec"]["restartPolicy"] = "Never"
    assert apply(k8s, namespace, job).returncode == 0
    assert (
        get(k8s, namespace, "DaskJob", "never")["spec"]["job"]["spec"]["restartPolicy"] == "Never"
    )


def test_current_podspec_and_servicespec_fields_survive_pruning(
    k8s: Any, crds: None, namespace: str
) -> None:
    pod_spec = {
        "hostUsers": False,
        "schedulingGates": [{"name": "example.com/wait"}],
        "resourceClaims": [{"name": "gpu", "resourceClaimTemplateName": "gpu-template"}],
        "initContainers": [{"name": "sidecar", "image": "busybox", "restartPolicy": "Always"}],
        "containers": [
            {
                "name": "worker",
                "image": "ghcr.io/dask/dask:latest",
                "resources": {
                    "claims": [{"name": "gpu"}],
                    "limits": {"cpu": "500m", "memory": "1Gi"},
                },
                "ports": [{"name": "http-dashboard", "containerPort": 8788}],
            }
        ],
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
            }
        ],
    }
    cluster = {
        "apiVersion": API,
        "kind": "DaskCluster",
        "metadata": {"name": "modern"},
        "spec": {
            "worker": {"replicas": 0, "spec": pod_spec, "metadata": {"labels": {"team": "a"}}},
            "scheduler": {
                "spec": copy.deepcopy(pod_spec),
                "service": {
                    "type": "ClusterIP",
                    "trafficDistribution": "PreferClose",
                    "ports": [{"port": 8786}],
                },
            },
        },
    }
    proc = apply(k8s, namespace, cluster)
    assert proc.returncode == 0, proc.stderr
    stored = get(k8s, namespace, "DaskCluster", "modern")["spec"]
    assert lost_fields(cluster["spec"], stored) == []
    # list-map keys that are not required get their Kubernetes default
    assert stored["worker"]["spec"]["containers"][0]["ports"][0]["protocol"] == "TCP"
    assert stored["scheduler"]["service"]["ports"][0]["protocol"] == "TCP"


# --- subresources and columns ------------------------------------------------------------------


def test_scale_subresource(k8s: Any, crds: None, namespace: str) -> None:
    for name, kind in [("cluster.yaml", "daskcluster"), ("highmemworkers.yaml", "daskworkergroup")]:
        manifest = docs_manifest(name, namespace)
        assert apply(k8s, namespace, manifest).returncode == 0
        obj = f"{kind}/{manifest['metadata']['name']}"
        k8s.kubectl("scale", "-n", namespace, "--replicas=5", obj)
        stored = get(k8s, namespace, kind, manifest["metadata"]["name"])
        assert stored["spec"]["worker"]["replicas"] == 5
        scale = json.loads(
            k8s.kubectl(
                "get",
                "--raw",
                f"/apis/{API}/namespaces/{namespace}/{kind}s/{manifest['metadata']['name']}/scale",
            ).stdout
        )
        assert scale["spec"]["replicas"] == 5
        refused = k8s.kubectl("scale", "-n", namespace, "--replicas=-1", obj, check=False)
        assert refused.returncode != 0


def test_status_keeps_documented_and_plugin_fields_and_shows_in_columns(
    k8s: Any, crds: None, namespace: str
) -> None:
    assert apply(k8s, namespace, docs_manifest("cluster.yaml", namespace)).returncode == 0
    status = {
        "phase": "Running",
        "observedGeneration": 1,
        "workers": {"desired": 2, "ready": 1},
        "replicas": 2,
        "selector": "dask.org/cluster-name=simple,dask.org/workergroup-name=simple-default",
        "schedulerAddress": f"tcp://simple-scheduler.{namespace}.svc.cluster.local:8786",
        "idleSince": "2026-11-26T06:00:00Z",
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "WorkersPending", "message": "1/2 workers ready",
             "lastTransitionTime": "2026-11-26T06:00:00Z", "observedGeneration": 1},
        ],
        "istio": {"virtualService": "simple-dashboard"},  # a plugin's own fragment
    }  # fmt: skip
    k8s.kubectl(
        "patch", "-n", namespace, "daskcluster", "simple", "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}),
    )  # fmt: skip
    stored = get(k8s, namespace, "DaskCluster", "simple")
    assert lost_fields(status, stored["status"]) == []

    # unknown values may be null, and Python's isoformat() timestamps are valid date-times
    k8s.kubectl(
        "patch", "-n", namespace, "daskcluster", "simple", "--subresource=status", "--type=json",
        "-p", json.dumps([
            {"op": "replace", "path": "/status/schedulerAddress", "value": None},
            {"op": "replace", "path": "/status/idleSince", "value": "2026-11-26T06:00:00.123456+00:00"},
        ]),
    )  # fmt: skip
    stored = get(k8s, namespace, "DaskCluster", "simple")
    assert stored["status"]["schedulerAddress"] is None
    assert stored["status"]["idleSince"] == "2026-11-26T06:00:00.123456+00:00"
    refused = k8s.kubectl(
        "patch", "-n", namespace, "daskcluster", "simple", "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"idleSince": 1795674636.5, "workers": {"ready": "1"}}}), check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "status.idleSince" in refused.stderr and "status.workers.ready" in refused.stderr

    table = k8s.kubectl("get", "-n", namespace, "dsk", "simple").stdout.splitlines()
    assert table[0].split() == ["NAME", "WORKERS", "READY", "PHASE", "AGE"]
    assert table[1].split()[:4] == ["simple", "2", "1", "Running"]
    # the dask category lists our kinds and only them
    assert (
        "daskcluster.kubernetes.dask.org/simple"
        in k8s.kubectl("get", "-n", namespace, "dask").stdout
    )


def test_printer_columns_of_the_other_kinds(k8s: Any, crds: None, namespace: str) -> None:
    for name in ("highmemworkers.yaml", "job.yaml", "autoscaler.yaml"):
        assert apply(k8s, namespace, docs_manifest(name, namespace)).returncode == 0
    header = {
        short: k8s.kubectl("get", "-n", namespace, short).stdout.splitlines()
        for short in ("dwg", "djb", "das")
    }
    assert header["dwg"][0].split() == ["NAME", "CLUSTER", "DESIRED", "READY", "AGE"]
    assert header["dwg"][1].split()[:3] == ["simple-highmem", "simple", "2"]
    assert header["djb"][0].split() == ["NAME", "STATUS", "WORKERS", "AGE"]
    assert header["djb"][1].split()[:2] == ["simple-job", "2"]
    assert header["das"][0].split() == ["NAME", "CLUSTER", "MIN", "MAX", "TARGET", "AGE"]
    assert header["das"][1].split()[:4] == ["simple", "simple", "1", "10"]


def test_explain_shows_embedded_podspec_descriptions(k8s: Any, crds: None) -> None:
    text = k8s.kubectl("explain", "daskcluster.spec.worker.spec.schedulingGates").stdout
    assert "scheduling" in text.lower()


# --- CEL rules and schema errors -------------------------------------------------------------


POD = {"containers": [{"name": "c", "image": "ghcr.io/dask/dask:latest"}]}


def cluster(name: str = "bad", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"worker": {"spec": POD}, "scheduler": {"spec": POD}}
    body.update(spec)
    return {"apiVersion": API, "kind": "DaskCluster", "metadata": {"name": name}, "spec": body}


def job(name: str = "bad", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"job": {"spec": POD}, "cluster": {"spec": cluster()["spec"]}}
    body.update(spec)
    return {"apiVersion": API, "kind": "DaskJob", "metadata": {"name": name}, "spec": body}


def autoscaler(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "DaskAutoscaler",
        "metadata": {"name": "bad"},
        "spec": {"cluster": "c", **spec},
    }


def group(name: str = "bad", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"cluster": "c", "worker": {"spec": POD}}
    body.update(spec)
    return {"apiVersion": API, "kind": "DaskWorkerGroup", "metadata": {"name": name}, "spec": body}


REJECTED = {
    "cluster name too long": (
        cluster("a" * 54),
        "metadata.name: Invalid value: DaskCluster names can have at most 53 characters",
    ),
    "cluster name not a DNS label": (
        cluster("9lives"),
        "DaskCluster names must start with a lowercase letter",
    ),
    "job name too long": (job("j" * 54), "DaskJob names can have at most 53 characters"),
    "worker group name too long": (group("g" * 64), "DaskWorkerGroup names can have at most 63 characters"),
    "negative replicas": (
        cluster(worker={"replicas": -1, "spec": POD}),
        "spec.worker.replicas: Invalid value: -1: replicas must be 0 or more",
    ),
    "runaway replicas": (
        cluster(worker={"replicas": 100000, "spec": POD}),
        "replicas must be at most 10000 workers per worker group",
    ),
    "runaway worker group": (
        group(worker={"replicas": 10001, "spec": POD}),
        "replicas must be at most 10000 workers per worker group",
    ),
    "runaway job cluster": (
        job(cluster={"spec": {"worker": {"replicas": 100000, "spec": POD}, "scheduler": {"spec": POD}}}),
        "spec.cluster.spec.worker.replicas",
    ),
    "runaway autoscaler": (autoscaler(minimum=0, maximum=100000), "maximum must be at most 10000 workers"),
    "negative idle timeout": (cluster(idleTimeout=-5), "idleTimeout must be 0 or more seconds"),
    "worker without containers": (
        cluster(worker={"spec": {"containers": []}}),
        "the worker pod spec needs at least one container",
    ),
    "scheduler without containers": (
        cluster(scheduler={"spec": {"containers": []}}),
        "the scheduler pod spec needs at least one container",
    ),
    "no scheduler": (
        {**cluster(), "spec": {"worker": {"spec": POD}}},
        "spec.scheduler: Required value",
    ),
    "misspelt field": (cluster(worker={"replica": 2, "spec": POD}), 'unknown field "spec.worker.replica"'),
    "memory typo": (
        cluster(worker={"spec": {"containers": [{"name": "w", "image": "x", "resources": {"limits": {"memory": "2GB"}}}]}}),
        "limits.memory: Invalid value: \"2GB\"",
    ),
    "group without cluster": (group(cluster=""), "spec.cluster must name the DaskCluster this worker group joins"),
    "autoscaler minimum above maximum": (
        autoscaler(minimum=5, maximum=2),
        "minimum must not be greater than maximum",
    ),
    "autoscaler negative bounds": (autoscaler(minimum=-1, maximum=-1), "minimum must be 0 or more workers"),
    "autoscaler without maximum": (autoscaler(minimum=1), "spec.maximum: Required value"),
    "runner restarting forever": (
        job(job={"spec": {"restartPolicy": "Always", **POD}}),
        "a job runner pod must be able to finish: set restartPolicy to OnFailure or Never",
    ),
    "zero deadline": (job(activeDeadlineSeconds=0), "activeDeadlineSeconds must be 1 or more seconds"),
    "worker containers with one name": (
        cluster(worker={"spec": {"containers": [POD["containers"][0], POD["containers"][0]]}}),
        "spec.worker.spec.containers[1]: Duplicate value",
    ),
    "replicas not a number": (cluster(worker={"replicas": "two", "spec": POD}), "spec.worker.replicas: Invalid value"),
    "worker group name in capitals": (group("Bad"), "a lowercase RFC 1123"),
}  # fmt: skip


@pytest.mark.parametrize("case", REJECTED)
def test_invalid_objects_are_rejected_with_a_readable_message(
    k8s: Any, crds: None, namespace: str, case: str
) -> None:
    manifest, message = REJECTED[case]
    proc = apply(k8s, namespace, manifest, "--dry-run=server")
    assert proc.returncode != 0, f"{case}: accepted"
    assert message in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    "manifest",
    [
        cluster("a" * 53),
        job("j" * 53),
        group("g" * 63),
        autoscaler(minimum=3, maximum=3),
        cluster(idleTimeout=0),
        cluster(worker={"replicas": 10000, "spec": POD}),
        autoscaler(minimum=10000, maximum=10000),
    ],
    ids=["cluster-53", "job-53", "group-63", "min-equals-max", "idle-0", "replicas-cap", "autoscaler-cap"],
)
def test_limits_themselves_are_accepted(
    k8s: Any, crds: None, namespace: str, manifest: dict[str, Any]
) -> None:
    proc = apply(k8s, namespace, manifest, "--dry-run=server")
    assert proc.returncode == 0, proc.stderr


def test_generated_names_pass_the_name_rules(k8s: Any, crds: None, namespace: str) -> None:
    manifest = cluster()
    manifest["metadata"] = {"generateName": "gen-"}
    proc = k8s.kubectl(
        "create", "-n", namespace, "-o", "name", "-f", "-", input=json.dumps(manifest)
    )
    assert proc.stdout.startswith("daskcluster.kubernetes.dask.org/gen-")
