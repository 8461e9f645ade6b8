"""Built-in plugin: the scheduler dashboard's URLs, and an Ingress exposing it (opt-in).

Every DaskCluster's status gets ``dashboardURL``, the dashboard inside the Kubernetes cluster
(``http://{cluster}-scheduler.{namespace}.svc.{domain}:8787/status``). When the dashboard is
exposed, the plugin asks for an Ingress ``{cluster}-dashboard`` built from the operator's
template (``kubernetes.controller.dashboard.ingress.*``, chart values ``dashboardIngress.*``:
host pattern, path pattern, IngressClass, TLS Secret, annotations) and the status also gets
``externalDashboardURL`` (``https://`` when a TLS Secret is set) and a ``DashboardExposed``
condition. ``KubeCluster.dashboard_link`` prefers that URL.

A path other than ``/`` (``/dask/{namespace}/{cluster}``, for one host shared by every cluster)
becomes the scheduler's dashboard prefix: ``--dashboard-prefix`` is added to the scheduler
command, its HTTP probes move under the prefix, and the scheduler Service carries the
annotation ``kubernetes.dask.org/dashboard-prefix`` so the operator's own calls to the
scheduler's HTTP API use it too.

Which clusters are exposed: every one when ``dashboard.ingress.enabled`` is true, none otherwise;
the annotation ``kubernetes.dask.org/dashboard-ingress: "true"`` or ``"false"`` on a DaskCluster
overrides that for the cluster.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from dask_operator import api, hookimpl

#: Annotation on a DaskCluster: ``"true"``/``"false"`` exposes its dashboard or not.
EXPOSE_ANNOTATION = f"{api.GROUP}/dashboard-ingress"
#: Annotation the plugin sets on the scheduler Service: the dashboard's HTTP prefix.
PREFIX_ANNOTATION = f"{api.GROUP}/dashboard-prefix"
#: The ``dask.org/component`` label of the Ingress.
COMPONENT = "dashboard"
CONDITION = "DashboardExposed"
PREFIX_FLAG = "--dashboard-prefix"


@dataclass(frozen=True)
class IngressTemplate:
    """The operator-wide template, with ``{cluster}`` and ``{namespace}`` placeholders."""

    enabled: bool = False
    host: str = ""
    path: str = "/"
    class_name: str | None = None
    tls_secret: str | None = None
    annotations: tuple[tuple[str, str], ...] = ()


def template_from_config() -> IngressTemplate:
    def text(key: str) -> str | None:
        value = api.get_config(f"dashboard.ingress.{key}")
        return None if value in (None, "") else str(value)

    annotations = api.get_config("dashboard.ingress.annotations") or {}
    return IngressTemplate(
        enabled=api.as_bool(api.get_config("dashboard.ingress.enabled", False)),
        host=text("host") or "",
        path=text("path") or "/",
        class_name=text("class-name"),
        tls_secret=text("tls-secret"),
        annotations=tuple(sorted((str(k), str(v)) for k, v in dict(annotations).items())),
    )


def _fill(pattern: str, cluster: dict[str, Any]) -> str:
    meta = cluster["metadata"]
    return pattern.replace("{cluster}", meta["name"]).replace("{namespace}", meta["namespace"])


def wants_exposure(cluster: dict[str, Any], template: IngressTemplate) -> bool:
    """Whether the cluster's dashboard should be exposed (its annotation, else the template)."""
    value = (cluster.get("metadata", {}).get("annotations") or {}).get(EXPOSE_ANNOTATION)
    return template.enabled if value is None else api.as_bool(value)


def exposure_problem(cluster: dict[str, Any], template: IngressTemplate) -> str | None:
    """Why an exposure the cluster asks for cannot be built, or None."""
    if not template.host:
        return ("the dashboard cannot be exposed: no host pattern is configured "
                "(kubernetes.controller.dashboard.ingress.host, chart value dashboardIngress.host)")
    if not template.path.startswith("/"):
        return f"the dashboard path pattern {template.path!r} must start with '/'"
    return None


def exposed(cluster: dict[str, Any], template: IngressTemplate) -> bool:
    return wants_exposure(cluster, template) and exposure_problem(cluster, template) is None


def dashboard_prefix(cluster: dict[str, Any], template: IngressTemplate) -> str:
    """The scheduler's dashboard prefix (``""`` when it serves at the root)."""
    if not exposed(cluster, template):
        return ""
    return "/" + _fill(template.path, cluster).strip("/") if template.path.strip("/") else ""


def external_url(cluster: dict[str, Any], template: IngressTemplate) -> str | None:
    if not exposed(cluster, template):
        return None
    scheme = "https" if template.tls_secret else "http"
    return f"{scheme}://{_fill(template.host, cluster)}{dashboard_prefix(cluster, template)}/status"


def internal_url(dashboard_address: str, prefix: str) -> str:
    return f"{dashboard_address.rstrip('/')}{prefix}/status"


def build_ingress(cluster: dict[str, Any], template: IngressTemplate) -> dict[str, Any]:
    """The Ingress routing ``template``'s host and path to the scheduler's dashboard (pure)."""
    meta = cluster["metadata"]
    host = _fill(template.host, cluster)
    spec: dict[str, Any] = {
        "rules": [
            {
                "host": host,
                "http": {
                    "paths": [
                        {
                            "path": dashboard_prefix(cluster, template) or "/",
                            "pathType": "Prefix",
                            "backend": {
                                "service": {"name": api.scheduler_name(meta["name"]), "port": {"name": api.DASHBOARD_PORT_NAME}}
                            },
                        }
                    ]
                },
            }
        ]
    }
    if template.class_name:
        spec["ingressClassName"] = template.class_name
    if template.tls_secret:
        spec["tls"] = [{"hosts": [host], "secretName": _fill(template.tls_secret, cluster)}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": f"{meta['name']}-dashboard",
            "namespace": meta["namespace"],
            "labels": {api.LABEL_COMPONENT: COMPONENT},
            "annotations": dict(template.annotations),
        },
        "spec": spec,
    }


def _is_scheduler_command(words: list[str]) -> bool:
    programs = [str(w).rsplit("/", 1)[-1] for w in words[:2]]
    return programs[:1] == ["dask-scheduler"] or programs == ["dask", "scheduler"]


def add_prefix_to_container(container: dict[str, Any], prefix: str) -> bool:
    """Serve the container's dashboard under ``prefix``: the flag on its ``dask scheduler``
    command, its HTTP probes moved. False when the container runs no recognisable command."""
    command, args = list(container.get("command") or []), list(container.get("args") or [])
    if not _is_scheduler_command(command or args):
        return False
    if PREFIX_FLAG not in command + args and not any(str(w).startswith(PREFIX_FLAG + "=") for w in command + args):
        container["args"] = args + [PREFIX_FLAG, prefix]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        get = (container.get(probe) or {}).get("httpGet")
        if get and get.get("port") in (api.DASHBOARD_PORT, api.DASHBOARD_PORT_NAME):
            path = str(get.get("path") or "/")
            if not path.startswith(prefix + "/") and path != prefix:
                get["path"] = prefix + "/" + path.lstrip("/")
    return True


def scheduler_containers_without_command(cluster: dict[str, Any]) -> list[str]:
    """Scheduler containers the prefix cannot be added to (a shell command, say)."""
    pod_spec = copy.deepcopy((cluster.get("spec", {}).get("scheduler") or {}).get("spec") or {})
    containers = api.containers(pod_spec)
    if any(add_prefix_to_container(c, "/x") for c in containers):
        return []
    return [str(c.get("name")) for c in containers]


@hookimpl
def dask_cluster_warnings(cluster: dict[str, Any]) -> list[str]:
    template = template_from_config()
    if not wants_exposure(cluster, template):
        return []
    problem = exposure_problem(cluster, template)
    if problem:
        return [problem]
    unprefixed = scheduler_containers_without_command(cluster) if dashboard_prefix(cluster, template) else []
    if unprefixed:
        return [f"the dashboard is exposed under {dashboard_prefix(cluster, template)!r} but no scheduler container "
                f"({', '.join(unprefixed)}) runs 'dask scheduler' or 'dask-scheduler' as its command or args: "
                f"add '{PREFIX_FLAG} {dashboard_prefix(cluster, template)}' to it yourself"]
    return []


@hookimpl(trylast=True)
def dask_cluster_resources(cluster: dict[str, Any], worker_pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    template = template_from_config()
    return [build_ingress(cluster, template)] if exposed(cluster, template) else []


@hookimpl
def dask_modify_manifest(cluster: dict[str, Any], component: str, manifest: dict[str, Any]) -> None:
    if component != api.COMPONENT_SCHEDULER:
        return
    prefix = dashboard_prefix(cluster, template_from_config())
    if not prefix:
        return
    if manifest.get("kind") == "Service":
        manifest.setdefault("metadata", {}).setdefault("annotations", {})[PREFIX_ANNOTATION] = prefix
    elif manifest.get("kind") == "Deployment":
        for container in api.containers(manifest["spec"]["template"]["spec"]):
            add_prefix_to_container(container, prefix)


@hookimpl
def dask_cluster_status(cluster: dict[str, Any], observed: dict[str, Any]) -> dict[str, Any]:
    template = template_from_config()
    address = (observed.get("status") or {}).get("dashboardAddress")
    status: dict[str, Any] = {}
    if address:
        status["dashboardURL"] = internal_url(str(address), dashboard_prefix(cluster, template))
    url = external_url(cluster, template)
    if url or (cluster.get("status") or {}).get("externalDashboardURL"):
        status["externalDashboardURL"] = url  # None removes it
    generation = int(cluster["metadata"].get("generation") or 0)
    if not wants_exposure(cluster, template):
        had_condition = any(c.get("type") == CONDITION for c in (cluster.get("status") or {}).get("conditions") or [])
        if had_condition:  # conditions are kept by type: say that it is over
            status["conditions"] = [_condition(False, "NotRequested", "the dashboard is not exposed", generation)]
        return status
    problem = exposure_problem(cluster, template)
    ingress = f"Ingress {cluster['metadata']['name']}-dashboard"
    if problem:
        condition = _condition(False, "NoIngressTemplate", problem, generation)
    elif dashboard_prefix(cluster, template) and scheduler_containers_without_command(cluster):
        condition = _condition(False, "DashboardPrefixNotSet", dask_cluster_warnings(cluster)[0], generation)
    else:
        condition = _condition(True, "IngressCreated", f"{ingress} routes {url} to the scheduler dashboard", generation)
    status["conditions"] = [condition]
    return status


def _condition(ok: bool, reason: str, message: str, generation: int) -> dict[str, Any]:
    return {"type": CONDITION, "status": "True" if ok else "False", "reason": reason, "message": message, "observedGeneration": generation}


@hookimpl
def dask_rbac_rules() -> list[dict[str, Any]]:
    # No get: the operator reads Ingresses from its watch-fed cache. delete: when exposure stops.
    return [{"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": ["list", "watch", "create", "patch", "delete"]}]
