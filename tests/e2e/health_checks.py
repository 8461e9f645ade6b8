"""What GitOps tools make of a live Dask object: kstatus (Flux) through the real library, and
the Argo CD Lua health checks of examples/gitops, run in LuaJIT (Lua 5.1, like Argo CD's
gopher-lua). Both are fed the same JSON, read from the local cluster."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CLI_UTILS_VERSION = os.environ.get("CLI_UTILS_VERSION", "0.37.2")
ARGOCD_CHECKS = REPO / "examples" / "gitops" / "argocd-health-checks.yaml"
KINDS = ("DaskCluster", "DaskWorkerGroup", "DaskJob", "DaskAutoscaler")


def kstatus_binary() -> str:
    """ci/build-kstatus.sh (a no-op once cached), then the cached binary's path."""
    subprocess.run(["bash", str(REPO / "ci" / "build-kstatus.sh")], check=True, capture_output=True, timeout=900)
    cache = Path(os.environ.get("DASK_TESTENV_CACHE", Path.home() / ".cache" / "dask-kubernetes-operator"))
    return str(cache / f"kstatus-v{CLI_UTILS_VERSION}" / "bin" / "kstatus")


def kstatus(binary: str, obj: dict[str, Any]) -> dict[str, str]:
    """{"status": "Current" | "InProgress" | "Failed" | ..., "message": ...} of status.Compute."""
    proc = subprocess.run([binary], input=json.dumps(obj), capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise AssertionError(f"kstatus failed ({proc.returncode}): {proc.stderr}")
    result: dict[str, str] = json.loads(proc.stdout)
    return result


ArgoCheck = Callable[[dict[str, Any]], tuple[str, str]]


def argocd_checks() -> dict[str, ArgoCheck]:
    """kind -> check(obj) -> (health status, message), as Argo CD runs the scripts."""
    from lupa import luajit21 as lupa

    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    config_map = next(d for d in yaml.safe_load_all(ARGOCD_CHECKS.read_text()) if d and d.get("kind") == "ConfigMap")
    checks: dict[str, ArgoCheck] = {}
    for kind in KINDS:
        script = config_map["data"][f"resource.customizations.health.kubernetes.dask.org_{kind}"]
        fn = lua.eval(f"function(obj)\n{script}\nend")

        def check(obj: dict[str, Any], fn: Any = fn) -> tuple[str, str]:
            hs = fn(lua.table_from(obj, recursive=True))
            return str(hs["status"]), str(hs["message"])

        checks[kind] = check
    return checks
