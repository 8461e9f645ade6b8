"""Built-in plugin: run ``dask scheduler``/``dask worker`` where a spec says ``dask-scheduler``/``dask-worker``.

distributed 2026.6 removed the hyphenated commands (dask/distributed#9335) but the user docs'
manifests still use them. When ``kubernetes.controller.legacy-cli-shim`` is true (default) the
scheduler and worker containers are rewritten and a Warning Event tells the user; set it to
false (or block the plugin ``legacy_cli``) to run specs unchanged.
"""

from __future__ import annotations

from typing import Any

from dask_operator import api, hookimpl

LEGACY = {"dask-scheduler": ["dask", "scheduler"], "dask-worker": ["dask", "worker"]}


def enabled() -> bool:
    return api.as_bool(api.get_config("legacy-cli-shim", True))


def _legacy_field(container: dict[str, Any]) -> tuple[str, str] | None:
    """("command"|"args", legacy program) when the container starts a legacy command."""
    command = container.get("command") or []
    if command:
        program = str(command[0]).rsplit("/", 1)[-1]
        return ("command", program) if program in LEGACY else None
    args = container.get("args") or []
    if args and str(args[0]).rsplit("/", 1)[-1] in LEGACY:
        return ("args", str(args[0]).rsplit("/", 1)[-1])
    return None


def rewrite_container(container: dict[str, Any]) -> str | None:
    """Rewrite one container in place; returns the legacy program it replaced, if any."""
    found = _legacy_field(container)
    if found is None:
        return None
    field, program = found
    container[field] = LEGACY[program] + list(container[field][1:])
    return program


def describe(pod_spec: dict[str, Any] | None, where: str) -> list[str]:
    messages = []
    for container in (pod_spec or {}).get("containers") or []:
        found = _legacy_field(container)
        if found:
            field, program = found
            messages.append(
                f"{where} container {container.get('name')!r} runs {program!r} ({field}), a command "
                f"removed in distributed 2026.6; the operator runs {' '.join(LEGACY[program])!r} "
                f"instead. Update the spec; kubernetes.controller.legacy-cli-shim=false disables this."
            )
    return messages


@hookimpl
def dask_modify_manifest(cluster: dict[str, Any], component: str, manifest: dict[str, Any]) -> None:
    if not enabled():
        return
    if component == api.COMPONENT_SCHEDULER and manifest.get("kind") == "Deployment":
        pod_spec = manifest.get("spec", {}).get("template", {}).get("spec", {})
    elif component == api.COMPONENT_WORKER and manifest.get("kind") == "Pod":
        pod_spec = manifest.get("spec", {})
    else:
        return
    for container in pod_spec.get("containers") or []:
        rewrite_container(container)


@hookimpl
def dask_cluster_warnings(cluster: dict[str, Any]) -> list[str]:
    if not enabled():
        return []
    spec = cluster.get("spec", {})
    return describe((spec.get("scheduler") or {}).get("spec"), "scheduler") + describe(
        (spec.get("worker") or {}).get("spec"), "worker"
    )


@hookimpl
def dask_worker_group_warnings(cluster: dict[str, Any], worker_group: dict[str, Any]) -> list[str]:
    if not enabled():
        return []
    return describe((worker_group.get("spec", {}).get("worker") or {}).get("spec"), "worker")
