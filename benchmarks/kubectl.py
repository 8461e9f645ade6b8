"""kubectl helpers shared by the benchmark scripts (they drive the cluster as a user would)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CRDS = ROOT / "chart" / "crds"


def kubectl(*args: str, input: str | None = None) -> str:
    """Run kubectl; its stdout, or SystemExit with its stderr."""
    proc = subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def get(kind: str, name: str, namespace: str) -> dict[str, Any]:
    """One object as JSON, or {} when it does not exist."""
    proc = subprocess.run(["kubectl", "get", kind, name, "-n", namespace, "-o", "json"], capture_output=True, text=True)
    return json.loads(proc.stdout) if proc.returncode == 0 else {}


def items(kind: str, namespace: str, selector: str | None = None) -> list[dict[str, Any]]:
    """Every object of ``kind`` in ``namespace`` (matching the label ``selector``)."""
    args = ["get", kind, "-n", namespace, "-o", "json"] + (["-l", selector] if selector else [])
    result: list[dict[str, Any]] = json.loads(kubectl(*args))["items"]
    return result


def pods(namespace: str, selector: str, *, terminating: bool = False) -> list[dict[str, Any]]:
    """Pods matching ``selector``; without those being deleted unless ``terminating``."""
    found = items("pods", namespace, selector)
    return [p for p in found if terminating or not p["metadata"].get("deletionTimestamp")]


def apply_crds() -> bool:
    """Apply the CRDs as the chart ships them and wait until they are served; True when they
    were new (kube-controller-manager's garbage collector then needs up to 30 s, its discovery
    resync, before it deletes the children of a deleted object)."""
    fresh = subprocess.run(["kubectl", "get", "crd", "daskclusters.kubernetes.dask.org"], capture_output=True).returncode != 0
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRDS))
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(CRDS))
    return fresh
