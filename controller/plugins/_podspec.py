"""Helpers for editing PodSpecs (pure functions); plugins use them through ``dask_operator.api``."""

from __future__ import annotations

from typing import Any


def containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The PodSpec's ``containers`` list (the same list, to edit in place); empty when unset."""
    result: list[dict[str, Any]] = pod_spec.get("containers") or []
    return result


def inject_env(container: dict[str, Any], env: list[dict[str, Any]]) -> None:
    """Append ``env`` entries the user did not set; user values win and keep their order."""
    existing = container.setdefault("env", [])
    present = {e.get("name") for e in existing}
    for entry in env:
        if entry["name"] not in present:
            existing.append(entry)
            present.add(entry["name"])


def has_env(pod_spec: dict[str, Any], name: str) -> bool:
    """Whether any container of the PodSpec sets the environment variable ``name``."""
    return any(e.get("name") == name for c in containers(pod_spec) for e in c.get("env") or [])
