"""The chart's values: every documented key and default, one generated source, no drift."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_helpers import ALL_VALUES, CHART, ROOT

sys.path.insert(0, str(ROOT / "ci"))
import gen_values_schema  # noqa: E402

# The user docs' "Chart Configuration Reference": parameter -> default, as the docs print it.
DOCUMENTED_DEFAULTS = {
    "image.name": '"ghcr.io/dask/dask-kubernetes-operator"',
    "image.tag": '"set-by-chartpress"',
    "image.pullPolicy": '"IfNotPresent"',
    "imagePullSecrets": "[]",
    "nameOverride": '""',
    "fullnameOverride": '""',
    "serviceAccount.create": "true",
    "serviceAccount.annotations": "{}",
    "serviceAccount.name": '""',
    "rbac.create": "true",
    "rbac.cluster": "true",
    "podAnnotations": "{}",
    "podSecurityContext": "{}",
    "securityContext.capabilities.drop": '["ALL"]',
    "securityContext.runAsNonRoot": "true",
    "securityContext.runAsUser": "1000",
    "securityContext.allowPrivilegeEscalation": "false",
    "securityContext.readOnlyRootFilesystem": "true",
    # The docs print {}; the operator pod now has default requests and limits (an issue's
    # requirement, which wins over the docs' table).
    "resources": '{"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}',
    "volumes": "[]",
    "volumeMounts": "[]",
    "nodeSelector": "{}",
    "tolerations": "[]",
    "affinity": "{}",
    "priorityClassName": "null",
    "kopfArgs": '["--all-namespaces"]',
    "metrics.scheduler.enabled": "false",
    "metrics.scheduler.serviceMonitor.enabled": "false",
    "metrics.scheduler.serviceMonitor.namespace": '""',
    "metrics.scheduler.serviceMonitor.namespaceSelector": "{}",
    "metrics.scheduler.serviceMonitor.additionalLabels": "{}",
    "metrics.scheduler.serviceMonitor.interval": '"15s"',
    "metrics.scheduler.serviceMonitor.jobLabel": '""',
    "metrics.scheduler.serviceMonitor.targetLabels": '["dask.org/cluster-name"]',
    "metrics.scheduler.serviceMonitor.metricRelabelings": "[]",
    "metrics.worker.enabled": "false",
    "metrics.worker.podMonitor.enabled": "false",
    "metrics.worker.podMonitor.namespace": '""',
    "metrics.worker.podMonitor.namespaceSelector": "{}",
    "metrics.worker.podMonitor.additionalLabels": "{}",
    "metrics.worker.podMonitor.interval": '"15s"',
    "metrics.worker.podMonitor.jobLabel": '""',
    "metrics.worker.podMonitor.podTargetLabels": '["dask.org/cluster-name", "dask.org/workergroup-name"]',
    "metrics.worker.podMonitor.metricRelabelings": "[]",
    "workerAllocation.size": "null",
    "workerAllocation.delay": "null",
}


def lookup(values: dict[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        assert isinstance(node, dict) and part in node, f"{dotted}: {part!r} missing"
        node = node[part]
    return node


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    return gen_values_schema.load_source()


@pytest.mark.parametrize("key", sorted(DOCUMENTED_DEFAULTS))
def test_documented_value_has_documented_default(values: dict[str, Any], key: str) -> None:
    assert lookup(values, key) == json.loads(DOCUMENTED_DEFAULTS[key])


def test_readme_table_lists_every_documented_value_with_its_default() -> None:
    readme = (CHART / "README.md").read_text()
    for key, default in DOCUMENTED_DEFAULTS.items():
        assert f"| `{key}` |" in readme, key
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{key}` |"))
        assert row.endswith(f"| `{default}` |"), row


def test_every_value_is_documented_with_a_default(source: dict[str, Any]) -> None:
    assert gen_values_schema.validate_source(source) == []
    assert len(list(gen_values_schema.walk(source))) > len(DOCUMENTED_DEFAULTS)


def test_values_yaml_is_the_defaults_of_the_source(values: dict[str, Any], source: dict[str, Any]) -> None:
    assert values == gen_values_schema.defaults(source)


def test_generated_files_have_not_drifted() -> None:
    assert gen_values_schema.main(["--check"]) == 0


@pytest.mark.parametrize("victim", ["values.yaml", "values.schema.json", "README.md"])
def test_drift_check_catches_a_hand_edit(tmp_path: Path, victim: str) -> None:
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart, ignore=shutil.ignore_patterns("crds", "templates"))
    path = chart / victim
    path.write_text(path.read_text().replace("IfNotPresent", "Always", 1))
    assert gen_values_schema.main(["--check", "--chart", str(chart)]) == 1
    assert gen_values_schema.main(["--chart", str(chart)]) == 0
    assert gen_values_schema.main(["--check", "--chart", str(chart)]) == 0


def test_schema_forbids_unknown_keys_in_closed_groups() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    for group in ("image", "serviceAccount", "rbac", "metrics", "workerAllocation", "livenessProbe"):
        assert schema["properties"][group]["additionalProperties"] is False, group
    # Kubernetes objects stay open: users may set any SecurityContext field.
    assert schema["properties"]["securityContext"].get("additionalProperties", True) is not False
    assert "x-example" not in json.dumps(schema)


def test_all_values_file_sets_every_value_to_a_non_default(source: dict[str, Any]) -> None:
    # Switches and hardening kept at their default on purpose (flipping them would remove what
    # the render tests check, or weaken the pod); they must still be spelled out.
    kept = {
        "serviceAccount.create",
        "rbac.create",
        "livenessProbe.enabled",
        "securityContext.runAsNonRoot",
        "securityContext.allowPrivilegeEscalation",
        "securityContext.readOnlyRootFilesystem",
        "securityContext.seccompProfile.type",
    }
    all_values = yaml.safe_load(ALL_VALUES.read_text())
    for key, node in gen_values_schema.walk(source):
        if key in kept:
            assert lookup(all_values, key) == node["default"], key
        else:
            assert lookup(all_values, key) != node["default"], key


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    # tomllib is 3.11+; the project supports 3.10.
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert version
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "dask-kubernetes-operator"
    assert chart["kubeVersion"] == ">=1.30.0-0"
    assert chart["version"] == "0.0.1-set.by.chartpress"
    assert chart["appVersion"] == version.group(1)
