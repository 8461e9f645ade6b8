"""Run a DaskCluster inside an Istio service mesh.

Opt in per cluster with the annotation ``istio.dask.org/enabled: "true"``. The plugin then

* turns sidecar injection on for the scheduler and worker Pods (and holds Dask until the proxy
  is up, so its first connections do not fail);
* gives every worker a headless Service named after its Pod, with an EndpointSlice pointing at
  the Pod, and makes the worker listen on a fixed port and advertise
  ``tcp://{pod}.{namespace}.svc.{domain}:8790`` -- peers then reach workers through the mesh by
  a stable name instead of a bare Pod IP that Istio would treat as unknown traffic;
* asks for mutual TLS between the cluster's Pods (``PeerAuthentication``, mode from the
  annotation ``istio.dask.org/mtls``, default ``STRICT``) and towards the scheduler
  (``DestinationRule`` with ``ISTIO_MUTUAL``);
* routes the dashboard through an Istio Gateway (``VirtualService``) when a gateway is given by
  the annotation ``istio.dask.org/gateway`` or the operator config
  ``kubernetes.controller.istio.gateway``; the host comes from ``istio.dask.org/dashboard-host``
  or ``{cluster}-{namespace}.{istio.dashboard-domain}``.

Every object is returned by ``dask_cluster_resources``: the operator owns, applies and prunes
them (remove the annotation, or a worker, and its objects go). Hooks are pure: no API calls.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from dask_operator import api, hookimpl

PREFIX = "istio.dask.org/"
ENABLED = PREFIX + "enabled"
GATEWAY = PREFIX + "gateway"
DASHBOARD_HOST = PREFIX + "dashboard-host"
MTLS = PREFIX + "mtls"
MTLS_MODES = ("STRICT", "PERMISSIVE")

COMPONENT = "istio"  # dask.org/component of the objects this plugin asks for
WORKER_PORT = 8790
WORKER_PORT_NAME = "tcp-worker"  # Istio picks the protocol from the port name prefix
SERVICE_ENV = "DASK_ISTIO_WORKER_SERVICE"  # the worker's Pod name = its Service name
WORKER_FLAGS = ("--listen-address", "--contact-address", "--host", "--worker-port")
INJECT_LABEL = "sidecar.istio.io/inject"
PROXY_CONFIG = "proxy.istio.io/config"
ENDPOINTS_MANAGER = "istio.dask.org"

# Operator-wide defaults from the config subtree kubernetes.controller.istio (dask_configure).
SETTINGS: dict[str, Any] = {"gateway": None, "dashboard-domain": None}


def enabled(cluster: dict[str, Any]) -> bool:
    return str(_annotations(cluster).get(ENABLED, "")).lower() == "true"


def _annotations(cluster: dict[str, Any]) -> dict[str, str]:
    result: dict[str, str] = cluster["metadata"].get("annotations") or {}
    return result


def _domain() -> str:
    return str(api.get_config("cluster-domain"))


def _gateway(cluster: dict[str, Any]) -> str | None:
    value = _annotations(cluster).get(GATEWAY, SETTINGS.get("gateway"))
    return str(value) if value else None


def _dashboard_host(cluster: dict[str, Any]) -> str | None:
    meta = cluster["metadata"]
    host = _annotations(cluster).get(DASHBOARD_HOST)
    if host:
        return host
    domain = SETTINGS.get("dashboard-domain")
    return f"{meta['name']}-{meta['namespace']}.{domain}" if domain else None


def _words(container: dict[str, Any]) -> list[str]:
    return [str(w) for w in (container.get("command") or []) + (container.get("args") or [])]


def runs_dask_worker(container: dict[str, Any]) -> bool:
    programs = [w.rsplit("/", 1)[-1] for w in _words(container)[:2]]
    return bool(programs) and (programs[0] == "dask-worker" or programs == ["dask", "worker"])


def _sets_own_address(container: dict[str, Any]) -> bool:
    return any(w.split("=", 1)[0] in WORKER_FLAGS for w in _words(container))


def _scheme(container: dict[str, Any]) -> str:
    for entry in container.get("env") or []:
        if entry.get("name") == "DASK_SCHEDULER_ADDRESS" and "://" in str(entry.get("value", "")):
            return str(entry["value"]).split("://", 1)[0]
    return "tcp"


def _fits(pod_name: str) -> bool:
    """A worker's Service is named after its Pod: it must be a DNS label."""
    return len(pod_name) <= api.MAX_LABEL_VALUE


# --- hooks -----------------------------------------------------------------------------------------


@hookimpl
def dask_configure(config: dict[str, Any]) -> None:
    SETTINGS.update({k: v for k, v in (config.get("istio") or {}).items() if k in SETTINGS})


@hookimpl
def dask_cluster_validate(cluster: dict[str, Any]) -> list[str]:
    if not enabled(cluster):
        return []
    errors = []
    mode = _annotations(cluster).get(MTLS, "STRICT")
    if mode not in MTLS_MODES:
        errors.append(f"annotation {MTLS} must be one of {', '.join(MTLS_MODES)}, not {mode!r}")
    if _gateway(cluster) and not _dashboard_host(cluster):
        errors.append(
            f"the dashboard is routed through gateway {_gateway(cluster)!r} but has no host: set the "
            f"annotation {DASHBOARD_HOST} (or the operator config istio.dashboard-domain)"
        )
    return errors


@hookimpl
def dask_cluster_warnings(cluster: dict[str, Any]) -> list[str]:
    if not enabled(cluster):
        return []
    messages = []
    name = cluster["metadata"]["name"]
    if not _fits(api.worker_pod_name(api.default_worker_group_name(name), "0" * 10)):
        messages.append(
            f"worker Pod names of cluster {name!r} are longer than {api.MAX_LABEL_VALUE} characters, so "
            "workers get no Service of their own and advertise their Pod IP; use a shorter cluster name"
        )
    for container in (cluster.get("spec", {}).get("worker") or {}).get("spec", {}).get("containers") or []:
        if runs_dask_worker(container) and _sets_own_address(container):
            messages.append(
                f"worker container {container.get('name')!r} sets its own listen/contact address; the istio "
                "plugin leaves it alone, so peers may not reach that worker through its Service"
            )
    return messages


def _pod_spec(component: str, manifest: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(metadata to label, PodSpec) of the scheduler Deployment's template or a worker Pod."""
    if component == api.COMPONENT_SCHEDULER and manifest.get("kind") == "Deployment":
        template = manifest["spec"]["template"]
        return template.setdefault("metadata", {}), template.setdefault("spec", {})
    if component == api.COMPONENT_WORKER and manifest.get("kind") == "Pod":
        return manifest["metadata"], manifest.setdefault("spec", {})
    return None


@hookimpl
def dask_modify_manifest(cluster: dict[str, Any], component: str, manifest: dict[str, Any]) -> None:
    if not enabled(cluster):
        return
    found = _pod_spec(component, manifest)
    if found is None:
        return
    meta, pod_spec = found
    meta.setdefault("labels", {})[INJECT_LABEL] = "true"
    meta.setdefault("annotations", {})[PROXY_CONFIG] = json.dumps({"holdApplicationUntilProxyStarts": True})
    if component != api.COMPONENT_WORKER or not _fits(manifest["metadata"]["name"]):
        return
    namespace = cluster["metadata"]["namespace"]
    for container in pod_spec.get("containers") or []:
        if not runs_dask_worker(container) or _sets_own_address(container):
            continue
        env = container.setdefault("env", [])
        if not any(e.get("name") == SERVICE_ENV for e in env):
            env.append({"name": SERVICE_ENV, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
        scheme = _scheme(container)
        container.setdefault("args", []).extend(
            [
                "--listen-address", f"{scheme}://0.0.0.0:{WORKER_PORT}",
                "--contact-address", f"{scheme}://$({SERVICE_ENV}).{namespace}.svc.{_domain()}:{WORKER_PORT}",
            ]
        )
        ports = container.setdefault("ports", [])
        if not any(p.get("containerPort") == WORKER_PORT for p in ports):
            ports.append({"name": WORKER_PORT_NAME, "containerPort": WORKER_PORT, "protocol": "TCP"})


def _labelled(manifest: dict[str, Any]) -> dict[str, Any]:
    manifest["metadata"].setdefault("labels", {})[api.LABEL_COMPONENT] = COMPONENT
    return manifest


def worker_objects(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """The headless Service of one worker Pod and, once the Pod has an IP, its EndpointSlice."""
    meta = pod["metadata"]
    name = meta["name"]
    ports = [
        {"name": WORKER_PORT_NAME, "port": WORKER_PORT, "protocol": "TCP"},
        {"name": api.DASHBOARD_PORT_NAME, "port": api.WORKER_DASHBOARD_PORT, "protocol": "TCP"},
    ]
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "clusterIP": "None",
            # No selector: the EndpointSlice below names exactly this Pod.
            "publishNotReadyAddresses": True,
            "ports": [dict(p, targetPort=p["port"]) for p in ports],
        },
    }
    result = [_labelled(service)]
    ip = (pod.get("status") or {}).get("podIP")
    if ip:
        endpoint_slice = {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": name,
                "labels": {
                    "kubernetes.io/service-name": name,
                    "endpointslice.kubernetes.io/managed-by": ENDPOINTS_MANAGER,
                },
            },
            "addressType": "IPv6" if ":" in ip else "IPv4",
            "endpoints": [
                {
                    "addresses": [ip],
                    "conditions": {"ready": True},
                    "targetRef": {"kind": "Pod", "name": name, "namespace": meta.get("namespace"), "uid": meta.get("uid")},
                }
            ],
            "ports": copy.deepcopy(ports),
        }
        result.append(_labelled(endpoint_slice))
    return result


@hookimpl
def dask_cluster_resources(cluster: dict[str, Any], worker_pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not enabled(cluster):
        return []
    meta = cluster["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    scheduler_host = f"{api.scheduler_name(name)}.{namespace}.svc.{_domain()}"
    resources: list[dict[str, Any]] = [
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "PeerAuthentication",
            "metadata": {"name": f"{name}-dask"},
            "spec": {
                "selector": {"matchLabels": {api.LABEL_CLUSTER: name}},
                "mtls": {"mode": _annotations(cluster).get(MTLS, "STRICT")},
            },
        },
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": api.scheduler_name(name)},
            "spec": {"host": scheduler_host, "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}},
        },
    ]
    gateway, host = _gateway(cluster), _dashboard_host(cluster)
    if gateway and host:
        resources.append(
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "VirtualService",
                "metadata": {"name": f"{name}-dashboard"},
                "spec": {
                    "hosts": [host],
                    "gateways": [gateway],
                    "http": [
                        {
                            "match": [{"uri": {"prefix": "/"}}],
                            "route": [{"destination": {"host": scheduler_host, "port": {"number": api.DASHBOARD_PORT}}}],
                        }
                    ],
                },
            }
        )
    for pod in sorted(worker_pods, key=lambda p: p["metadata"]["name"]):
        if _fits(pod["metadata"]["name"]):
            resources += worker_objects(pod)
    return [_labelled(r) for r in resources]


@hookimpl
def dask_rbac_rules() -> list[dict[str, Any]]:
    verbs = ["get", "list", "watch", "create", "patch", "update", "delete"]
    return [
        {"apiGroups": ["networking.istio.io"], "resources": ["virtualservices", "destinationrules"], "verbs": verbs},
        {"apiGroups": ["security.istio.io"], "resources": ["peerauthentications"], "verbs": verbs},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": verbs},
        {"apiGroups": [""], "resources": ["services"], "verbs": verbs},
    ]
