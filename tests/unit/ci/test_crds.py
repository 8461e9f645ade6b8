"""The committed CRDs in chart/crds/: contents, and the user docs' manifests against their schemas.

The manifests are checked offline with a small structural validator that mirrors what the
apiserver does with a structural schema: unknown fields (which it would prune, or reject under
strict field validation), wrong types, missing required fields, int-or-string and patterns.
CEL rules need an apiserver; tests/integration/crds/ checks them against the real one.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dask_kubernetes.operator import make_cluster_spec, make_worker_spec

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
KINDS = {
    "DaskCluster": "daskclusters",
    "DaskWorkerGroup": "daskworkergroups",
    "DaskJob": "daskjobs",
    "DaskAutoscaler": "daskautoscalers",
}
# Client-side `kubectl apply` stores the whole object in an annotation; all annotations of an
# object share 256 KiB. Keep a margin for the annotations users and tools add.
ANNOTATION_BUDGET = 240 * 1024


@functools.cache
def load_crd(kind: str) -> dict[str, Any]:
    """The parsed CRD (cached: the files are large; callers must not modify it)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd: dict[str, Any] = yaml.load((CRD_DIR / f"{KINDS[kind]}.yaml").read_text(), Loader=loader)
    return crd


def version(kind: str) -> dict[str, Any]:
    (v1,) = load_crd(kind)["spec"]["versions"]
    result: dict[str, Any] = v1
    return result


def schema(kind: str) -> dict[str, Any]:
    result: dict[str, Any] = version(kind)["schema"]["openAPIV3Schema"]
    return result


def at(node: dict[str, Any], dotted: str) -> dict[str, Any]:
    """The schema of a dotted field path, with [] for array items."""
    for part in dotted.split("."):
        if part == "[]":
            node = node["items"]
        else:
            node = node["properties"][part]
    return node


POD_SPEC_PATHS = {
    "DaskCluster": ["spec.worker.spec", "spec.scheduler.spec"],
    "DaskWorkerGroup": ["spec.worker.spec"],
    "DaskJob": [
        "spec.job.spec",
        "spec.cluster.spec.worker.spec",
        "spec.cluster.spec.scheduler.spec",
    ],
}
POD_SPECS = [(kind, path) for kind, paths in POD_SPEC_PATHS.items() for path in paths]


# --- a structural validator --------------------------------------------------------------------

TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
}


def has_type(value: Any, expected: str) -> bool:
    if expected in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, TYPES[expected])


def validate(value: Any, node: dict[str, Any], path: str = "") -> list[str]:
    """Errors the apiserver's structural validation would report (except CEL)."""
    if node.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            return [f"{path}: must be an integer or a string, got {value!r}"]
        if isinstance(value, str) and "pattern" in node and not re.search(node["pattern"], value):
            return [f"{path}: {value!r} does not match {node['pattern']}"]
        return []
    expected = node.get("type")
    if expected is None:
        assert node.get("x-kubernetes-preserve-unknown-fields"), f"{path}: untyped schema"
        return []
    if not has_type(value, expected):
        return [f"{path}: must be {expected}, got {value!r}"]
    errors = []
    if "enum" in node and value not in node["enum"]:
        errors.append(f"{path}: {value!r} not in {node['enum']}")
    if expected == "string" and "pattern" in node and not re.search(node["pattern"], value):
        errors.append(f"{path}: {value!r} does not match {node['pattern']}")
    if expected == "array":
        for index, item in enumerate(value):
            errors += validate(item, node["items"], f"{path}[{index}]")
    if expected == "object":
        errors += [
            f"{path}.{name}: required" for name in node.get("required", ()) if name not in value
        ]
        properties = node.get("properties", {})
        for key, item in value.items():
            if key in properties:
                errors += validate(item, properties[key], f"{path}.{key}")
            elif "additionalProperties" in node:
                errors += validate(item, node["additionalProperties"], f"{path}.{key}")
            elif not node.get("x-kubernetes-preserve-unknown-fields"):
                errors.append(f"{path}.{key}: unknown field (the apiserver would prune it)")
    return errors


def validate_object(manifest: dict[str, Any]) -> list[str]:
    root = schema(manifest["kind"])
    # metadata is the apiserver's own ObjectMeta; the schema only declares name for CEL.
    body = {key: value for key, value in manifest.items() if key != "metadata"}
    return validate(body, root, manifest["kind"])


def test_validator_finds_unknown_fields_types_required_and_quantities() -> None:
    manifest = yaml.safe_load((EXAMPLES / "cluster.yaml").read_text())
    assert validate_object(manifest) == []
    worker = manifest["spec"]["worker"]
    worker["replica"] = 2
    worker["spec"]["containers"][0]["resources"] = {"limits": {"memory": "2GB", "cpu": 0.5}}
    worker["spec"]["containers"][0]["ports"][0]["containerPort"] = "8788"
    del manifest["spec"]["scheduler"]["spec"]["containers"][0]["name"]
    errors = "\n".join(validate_object(manifest))
    assert "spec.worker.replica: unknown field" in errors
    assert "limits.memory: '2GB' does not match" in errors
    assert "limits.cpu: must be an integer or a string" in errors
    assert "ports[0].containerPort: must be integer" in errors
    assert "containers[0].name: required" in errors


# --- the docs' manifests -----------------------------------------------------------------------


@pytest.mark.parametrize("name", DOCS_MANIFESTS)
def test_docs_manifest_is_valid_and_loses_nothing(name: str) -> None:
    manifest = yaml.safe_load((EXAMPLES / name).read_text())
    assert manifest["apiVersion"] == "kubernetes.dask.org/v1"
    assert validate_object(manifest) == []


def test_generated_cluster_spec_is_valid() -> None:
    spec = make_cluster_spec(
        "foo",
        n_workers=2,
        env={"A": "b"},
        resources={
            "requests": {"memory": "2Gi"},
            "limits": {"memory": "64Gi", "nvidia.com/gpu": 1},
        },
        jupyter=True,
    )
    assert validate_object(spec) == []


def test_generated_worker_spec_is_a_valid_worker_group() -> None:
    group = {
        "apiVersion": "kubernetes.dask.org/v1",
        "kind": "DaskWorkerGroup",
        "spec": {"cluster": "foo", "worker": make_worker_spec(cluster_name="foo", n_workers=2)},
    }
    assert validate_object(group) == []


# --- CRD files ---------------------------------------------------------------------------------


def test_exactly_the_four_crds() -> None:
    assert sorted(path.name for path in CRD_DIR.iterdir()) == sorted(
        f"{p}.yaml" for p in KINDS.values()
    )


@pytest.mark.parametrize("kind", KINDS)
def test_names_group_version(kind: str) -> None:
    crd = load_crd(kind)
    plural = KINDS[kind]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == f"{plural}.kubernetes.dask.org"
    spec = crd["spec"]
    assert spec["group"] == "kubernetes.dask.org"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["plural"] == plural
    assert spec["names"]["singular"] == kind.lower()
    assert spec["names"]["kind"] == kind
    assert spec["names"]["categories"] == ["dask"]
    (v1,) = spec["versions"]
    assert v1["name"] == "v1" and v1["served"] and v1["storage"]


def test_short_names_are_unique_and_as_documented() -> None:
    short = {kind: load_crd(kind)["spec"]["names"]["shortNames"] for kind in KINDS}
    assert short == {
        "DaskCluster": ["dsk"],
        "DaskWorkerGroup": ["daskworkers", "dwg"],
        "DaskJob": ["djb"],
        "DaskAutoscaler": ["das"],
    }
    everything = [name for names in short.values() for name in names]
    everything += [
        load_crd(kind)["spec"]["names"][key] for kind in KINDS for key in ("plural", "singular")
    ]
    assert len(everything) == len(set(everything))


@pytest.mark.parametrize("kind", KINDS)
def test_status_subresource_and_open_status(kind: str) -> None:
    assert version(kind)["subresources"]["status"] == {}
    status = at(schema(kind), "status")
    assert status["x-kubernetes-preserve-unknown-fields"] is True
    assert at(status, "observedGeneration")["type"] == "integer"
    conditions = at(status, "conditions")
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert set(conditions["items"]["properties"]) == {
        "type",
        "status",
        "reason",
        "message",
        "lastTransitionTime",
        "observedGeneration",
    }


STATUS_FIELDS = {
    "DaskCluster": {
        "phase",
        "workers",
        "replicas",
        "selector",
        "schedulerAddress",
        "dashboardAddress",
        "dashboardURL",  # the dashboard plugin
        "externalDashboardURL",
        "idleSince",
        "resources",
    },
    "DaskWorkerGroup": {"replicas", "readyReplicas", "selector", "workers"},
    "DaskJob": {
        "jobStatus",
        "clusterName",
        "jobRunnerPodName",
        "startTime",
        "endTime",
        "attempts",
        "reason",
        "message",
    },
    "DaskAutoscaler": {"desiredWorkers", "lastTarget", "lastDecision", "lastScaleTime"},
}


@pytest.mark.parametrize("kind", KINDS)
def test_status_documents_the_fields_the_operator_writes(kind: str) -> None:
    properties = at(schema(kind), "status")["properties"]
    assert STATUS_FIELDS[kind] | {"observedGeneration", "conditions"} == set(properties)
    for name in STATUS_FIELDS[kind] | {"observedGeneration"}:
        assert properties[name]["nullable"] is True, name


@pytest.mark.parametrize("kind", ["DaskCluster", "DaskWorkerGroup"])
def test_scale_subresource(kind: str) -> None:
    assert version(kind)["subresources"]["scale"] == {
        "specReplicasPath": ".spec.worker.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    assert at(schema(kind), "status.replicas")["type"] == "integer"
    assert at(schema(kind), "status.selector")["type"] == "string"


@pytest.mark.parametrize("kind", ["DaskJob", "DaskAutoscaler"])
def test_no_scale_subresource(kind: str) -> None:
    assert "scale" not in version(kind)["subresources"]


PRINTER_COLUMNS = {
    "DaskCluster": [
        ("Workers", ".status.workers.desired"),
        ("Ready", ".status.workers.ready"),
        ("Phase", ".status.phase"),
        ("Age", ".metadata.creationTimestamp"),
    ],
    "DaskWorkerGroup": [
        ("Cluster", ".spec.cluster"),
        ("Desired", ".spec.worker.replicas"),
        ("Ready", ".status.workers.ready"),
        ("Age", ".metadata.creationTimestamp"),
    ],
    "DaskJob": [
        ("Status", ".status.jobStatus"),
        ("Workers", ".spec.cluster.spec.worker.replicas"),
        ("Age", ".metadata.creationTimestamp"),
    ],
    "DaskAutoscaler": [
        ("Cluster", ".spec.cluster"),
        ("Min", ".spec.minimum"),
        ("Max", ".spec.maximum"),
        ("Target", ".status.desiredWorkers"),
        ("Age", ".metadata.creationTimestamp"),
    ],
}


@pytest.mark.parametrize("kind", KINDS)
def test_printer_columns(kind: str) -> None:
    columns = version(kind)["additionalPrinterColumns"]
    assert [(c["name"], c["jsonPath"]) for c in columns] == PRINTER_COLUMNS[kind]
    root = schema(kind)
    for column in columns[:-1]:  # every column points at a declared field of the right type
        field = at(root, column["jsonPath"].lstrip("."))
        assert field["type"] == column["type"], column
    assert columns[-1]["type"] == "date"


@pytest.mark.parametrize(("kind", "path"), POD_SPECS)
def test_pod_specs_are_the_current_kubernetes_podspec(kind: str, path: str) -> None:
    pod = at(schema(kind), path)
    assert {
        "schedulingGates",
        "resourceClaims",
        "hostUsers",
        "initContainers",
        "containers",
    } <= set(pod["properties"])
    assert pod["required"] == ["containers"]
    # native sidecars: restartPolicy on init containers
    assert at(pod, "initContainers.[].restartPolicy")["type"] == "string"
    containers = at(pod, "containers")
    assert containers["x-kubernetes-list-type"] == "map"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    ports = at(pod, "containers.[].ports")
    assert ports["x-kubernetes-list-map-keys"] == ["containerPort", "protocol"]
    assert at(ports, "[].protocol")["default"] == "TCP"
    port = at(pod, "containers.[].readinessProbe.httpGet.port")
    assert port["x-kubernetes-int-or-string"] is True
    limits = at(pod, "containers.[].resources.limits")["additionalProperties"]
    assert limits["x-kubernetes-int-or-string"] is True and "pattern" in limits
    assert at(pod, "nodeSelector")["x-kubernetes-map-type"] == "atomic"
    rules = pod["x-kubernetes-validations"]
    assert rules[0]["rule"] == "self.containers.size() > 0"
    assert "at least one container" in rules[0]["message"]


def test_services_are_the_current_kubernetes_servicespec() -> None:
    for kind, path in [
        ("DaskCluster", "spec.scheduler.service"),
        ("DaskJob", "spec.cluster.spec.scheduler.service"),
    ]:
        service = at(schema(kind), path)
        assert {"type", "selector", "ports", "trafficDistribution", "ipFamilyPolicy"} <= set(
            service["properties"]
        )
        assert at(service, "ports.[].targetPort")["x-kubernetes-int-or-string"] is True


def test_no_openapi_leftovers() -> None:
    for kind in KINDS:
        text = (CRD_DIR / f"{KINDS[kind]}.yaml").read_text()
        for leftover in ("$ref", "allOf", "oneOf", "x-kubernetes-patch", "x-kubernetes-unions"):
            assert leftover not in text, (kind, leftover)
        # no YAML anchors/aliases: plain YAML for every tool and every reader
        assert not re.search(r"[&*]id\d+", text), kind


# --- defaults and extra fields -----------------------------------------------------------------


def test_defaults() -> None:
    for kind, prefix in [("DaskCluster", "spec"), ("DaskJob", "spec.cluster.spec")]:
        assert at(schema(kind), f"{prefix}.worker.replicas")["default"] == 1
        assert at(schema(kind), f"{prefix}.idleTimeout")["default"] == 0
    assert at(schema("DaskWorkerGroup"), "spec.worker.replicas")["default"] == 1
    assert at(schema("DaskJob"), "spec.job.spec.restartPolicy")["default"] == "OnFailure"
    # only the runner pod gets that default
    assert "default" not in at(schema("DaskCluster"), "spec.worker.spec.restartPolicy")
    assert at(schema("DaskJob"), "spec.suspend")["default"] is False
    assert at(schema("DaskJob"), "spec.keepRunnerPod")["default"] is True
    assert at(schema("DaskAutoscaler"), "spec.minimum")["default"] == 0


EXTRA_SPEC_FIELDS = {
    "DaskCluster": ["worker.replicas", "worker.metadata.labels", "worker.metadata.annotations",
                    "scheduler.metadata.labels", "scheduler.service", "idleTimeout"],
    "DaskWorkerGroup": ["cluster", "worker.replicas", "worker.spec", "worker.metadata.annotations"],
    "DaskJob": ["job.metadata.labels", "cluster.metadata.annotations", "backoffLimit", "activeDeadlineSeconds",
                "ttlSecondsAfterFinished", "suspend", "keepRunnerPod"],
    "DaskAutoscaler": ["cluster", "minimum", "maximum", "workerGroup", "scaleDownStabilizationSeconds",
                       "pollIntervalSeconds"],
}  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_contract_spec_fields_are_declared(kind: str) -> None:
    for field in EXTRA_SPEC_FIELDS[kind]:
        at(schema(kind), f"spec.{field}")


def test_required_fields() -> None:
    assert schema("DaskCluster")["required"] == ["spec"]
    assert at(schema("DaskCluster"), "spec")["required"] == ["worker", "scheduler"]
    assert at(schema("DaskWorkerGroup"), "spec")["required"] == ["cluster", "worker"]
    assert at(schema("DaskJob"), "spec")["required"] == ["job", "cluster"]
    assert at(schema("DaskAutoscaler"), "spec")["required"] == ["cluster", "maximum"]


# --- CEL rules ---------------------------------------------------------------------------------


def rules_of(node: dict[str, Any]) -> dict[str, str]:
    return {r["rule"]: r["message"] for r in node.get("x-kubernetes-validations", [])}


@pytest.mark.parametrize(
    ("kind", "limit"), [("DaskCluster", 53), ("DaskJob", 53), ("DaskWorkerGroup", 63)]
)
def test_name_length_rules(kind: str, limit: int) -> None:
    rules = rules_of(schema(kind))
    message = rules[f"self.metadata.name.size() <= {limit}"]
    assert f"at most {limit} characters" in message and "metadata.name" in message
    for r in schema(kind)["x-kubernetes-validations"]:
        assert r["fieldPath"] == ".metadata.name"


def test_autoscaler_minimum_not_above_maximum() -> None:
    rules = rules_of(at(schema("DaskAutoscaler"), "spec"))
    message = rules["!has(self.minimum) || self.minimum <= self.maximum"]
    assert "minimum must not be greater than maximum" in message


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("DaskCluster", "spec.worker.replicas"),
        ("DaskCluster", "spec.idleTimeout"),
        ("DaskWorkerGroup", "spec.worker.replicas"),
        ("DaskJob", "spec.cluster.spec.worker.replicas"),
        ("DaskJob", "spec.backoffLimit"),
        ("DaskJob", "spec.ttlSecondsAfterFinished"),
        ("DaskAutoscaler", "spec.minimum"),
        ("DaskAutoscaler", "spec.maximum"),
        ("DaskAutoscaler", "spec.scaleDownStabilizationSeconds"),
    ],
)
def test_non_negative_rules(kind: str, path: str) -> None:
    field = path.rsplit(".", 1)[-1]
    message = rules_of(at(schema(kind), path))["self >= 0"]
    assert message.startswith(f"{field} must be 0 or more")


WORKER_COUNTS = [
    ("DaskCluster", "spec.worker.replicas"),
    ("DaskWorkerGroup", "spec.worker.replicas"),
    ("DaskJob", "spec.cluster.spec.worker.replicas"),
    ("DaskAutoscaler", "spec.minimum"),
    ("DaskAutoscaler", "spec.maximum"),
]


@pytest.mark.parametrize(("kind", "path"), WORKER_COUNTS)
def test_worker_counts_are_capped(kind: str, path: str) -> None:
    cap = 10000  # documented in every capped field's description
    node = at(schema(kind), path)
    assert (node["minimum"], node["maximum"]) == (0, cap)
    field = path.rsplit(".", 1)[-1]
    message = rules_of(node)[f"self <= {cap}"]
    assert message.startswith(f"{field} must be at most {cap} workers")
    assert f"At most {cap}." in node["description"]


def test_job_runner_must_be_able_to_finish() -> None:
    rules = rules_of(at(schema("DaskJob"), "spec.job.spec"))
    assert (
        "OnFailure or Never" in rules["!has(self.restartPolicy) || self.restartPolicy != 'Always'"]
    )


def test_worker_group_and_autoscaler_name_their_cluster() -> None:
    for kind in ("DaskWorkerGroup", "DaskAutoscaler"):
        assert (
            "spec.cluster must name the DaskCluster"
            in rules_of(at(schema(kind), "spec.cluster"))["self.size() > 0"]
        )


# --- size --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_fits_client_side_apply(kind: str) -> None:
    size = len(json.dumps(load_crd(kind), separators=(",", ":")))
    assert size < ANNOTATION_BUDGET, f"{kind} CRD is {size} bytes of JSON"
