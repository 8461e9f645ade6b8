"""Small polling helpers for the local cluster's acceptance tests."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
IMAGE = "ghcr.io/dask/dask:latest"


def wait_for(check: Callable[[], T], what: str, timeout: float = 60, interval: float = 0.3) -> T:
    """Polls check() until it returns something truthy; fails naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


def get(kubectl: Callable[..., Any], *args: str) -> dict[str, Any]:
    proc = kubectl("get", *args, "-o", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else {}


def pod_phase(kubectl: Callable[..., Any], ns: str, name: str) -> str:
    return get(kubectl, "pod", name, "-n", ns).get("status", {}).get("phase", "")


def wait_phase(kubectl: Callable[..., Any], ns: str, name: str, phases: set[str],
               timeout: float = 60) -> str:
    return wait_for(lambda: (p := pod_phase(kubectl, ns, name)) in phases and p,
                    f"pod {ns}/{name} to reach {sorted(phases)}", timeout)


def events(kubectl: Callable[..., Any], ns: str, name: str) -> list[dict[str, Any]]:
    doc = get(kubectl, "events", "-n", ns, "--field-selector", f"involvedObject.name={name}")
    return doc.get("items", [])


def apply(kubectl: Callable[..., Any], ns: str, manifest: dict[str, Any] | list[dict[str, Any]]) -> None:
    docs = manifest if isinstance(manifest, list) else [manifest]
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                             "items": docs}))
