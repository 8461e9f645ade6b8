"""Encrypt and authenticate Dask comms with a certificate from cert-manager.

Opt in per cluster with the annotation ``cert-manager.dask.org/issuer: <issuer name>``
(``cert-manager.dask.org/issuer-kind``: ``Issuer`` (default) or ``ClusterIssuer``;
``cert-manager.dask.org/issuer-group``: default ``cert-manager.io``). The plugin then

* asks for a cert-manager ``Certificate`` ``{cluster}-dask-tls`` (server and client auth, for
  the scheduler Service's DNS names) whose Secret has the same name;
* makes the operator wait for that Secret before it creates the scheduler and workers
  (``dask_cluster_prerequisites``: condition ``PrerequisitesReady=False`` and an Event);
* mounts the Secret at ``/etc/dask/tls`` in the scheduler, worker and job runner Pods and sets
  Dask's TLS configuration through the environment: ``tls://`` by default, encryption required,
  the Secret's ``ca.crt`` as the only trusted CA and its key pair for every role -- Dask asks
  its peers for a certificate, so a client without one cannot connect;
* switches the scheduler address (``status.schedulerAddress``, ``DASK_SCHEDULER_ADDRESS``) to
  ``tls://``.

Remove the annotation and the Certificate is deleted and the cluster rolls back to plain TCP.
Hooks are pure: the operator does every API call.
"""

from __future__ import annotations

from typing import Any

from dask_operator import api, hookimpl

PREFIX = "cert-manager.dask.org/"
ISSUER = PREFIX + "issuer"
ISSUER_KIND = PREFIX + "issuer-kind"
ISSUER_GROUP = PREFIX + "issuer-group"
ISSUER_KINDS = ("Issuer", "ClusterIssuer")

COMPONENT = "tls"
VOLUME = "dask-tls"
MOUNT_PATH = "/etc/dask/tls"
TLS_COMPONENTS = (api.COMPONENT_SCHEDULER, api.COMPONENT_WORKER, "job-runner")


def _annotations(cluster: dict[str, Any]) -> dict[str, str]:
    result: dict[str, str] = cluster["metadata"].get("annotations") or {}
    return result


def enabled(cluster: dict[str, Any]) -> bool:
    return bool(_annotations(cluster).get(ISSUER))


def secret_name(cluster: dict[str, Any]) -> str:
    return f"{cluster['metadata']['name']}-dask-tls"


def tls_env() -> list[dict[str, str]]:
    """Dask's TLS configuration (``distributed.comm.*``) for a Pod with the Secret mounted."""
    cert, key, ca = f"{MOUNT_PATH}/tls.crt", f"{MOUNT_PATH}/tls.key", f"{MOUNT_PATH}/ca.crt"
    env = {
        "DASK_DISTRIBUTED__COMM__DEFAULT_SCHEME": "tls",
        "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
        "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": ca,
    }
    for role in ("SCHEDULER", "WORKER", "CLIENT"):
        env[f"DASK_DISTRIBUTED__COMM__TLS__{role}__CERT"] = cert
        env[f"DASK_DISTRIBUTED__COMM__TLS__{role}__KEY"] = key
    return [{"name": k, "value": v} for k, v in env.items()]


def _scheduler_port(cluster: dict[str, Any]) -> int:
    ports = ((cluster.get("spec", {}).get("scheduler") or {}).get("service") or {}).get("ports") or []
    return next((int(p["port"]) for p in ports if p.get("name") == api.SCHEDULER_PORT_NAME and "port" in p), api.SCHEDULER_PORT)


def _dns_names(cluster: dict[str, Any]) -> list[str]:
    service = api.scheduler_name(cluster["metadata"]["name"])
    namespace = cluster["metadata"]["namespace"]
    return [service, f"{service}.{namespace}", f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.{api.get_config('cluster-domain')}"]


# --- hooks -----------------------------------------------------------------------------------------


@hookimpl
def dask_cluster_validate(cluster: dict[str, Any]) -> list[str]:
    if not enabled(cluster):
        return []
    kind = _annotations(cluster).get(ISSUER_KIND, "Issuer")
    if kind not in ISSUER_KINDS:
        return [f"annotation {ISSUER_KIND} must be one of {', '.join(ISSUER_KINDS)}, not {kind!r}"]
    return []


@hookimpl
def dask_scheduler_address(cluster: dict[str, Any]) -> str | None:
    """``tls://`` for clusters with a certificate; ``None`` lets the built-in answer."""
    if not enabled(cluster):
        return None
    meta = cluster["metadata"]
    address = api.scheduler_address(meta["name"], meta["namespace"], str(api.get_config("cluster-domain")), _scheduler_port(cluster))
    return "tls://" + address.split("://", 1)[1]


@hookimpl
def dask_cluster_resources(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    if not enabled(cluster):
        return []
    annotations = _annotations(cluster)
    name = secret_name(cluster)
    dns_names = _dns_names(cluster)
    return [
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": name, "labels": {api.LABEL_COMPONENT: COMPONENT}},
            "spec": {
                "secretName": name,
                "commonName": dns_names[0],
                "dnsNames": dns_names,
                "usages": ["digital signature", "key encipherment", "server auth", "client auth"],
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                "issuerRef": {
                    "name": annotations[ISSUER],
                    "kind": annotations.get(ISSUER_KIND, "Issuer"),
                    "group": annotations.get(ISSUER_GROUP, "cert-manager.io"),
                },
            },
        }
    ]


@hookimpl
def dask_cluster_prerequisites(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    if not enabled(cluster):
        return []
    name = secret_name(cluster)
    return [{"apiVersion": "v1", "kind": "Secret", "name": name, "reason": f"issued by cert-manager for Certificate {name}"}]


@hookimpl
def dask_modify_manifest(cluster: dict[str, Any], component: str, manifest: dict[str, Any]) -> None:
    if not enabled(cluster) or component not in TLS_COMPONENTS:
        return
    if manifest.get("kind") == "Deployment":
        pod_spec = manifest["spec"]["template"].setdefault("spec", {})
    elif manifest.get("kind") == "Pod":
        pod_spec = manifest.setdefault("spec", {})
    else:
        return
    volumes = pod_spec.setdefault("volumes", [])
    if not any(v.get("name") == VOLUME for v in volumes):
        volumes.append({"name": VOLUME, "secret": {"secretName": secret_name(cluster), "defaultMode": 0o440}})
    for container in pod_spec.get("containers") or []:
        mounts = container.setdefault("volumeMounts", [])
        if not any(m.get("name") == VOLUME for m in mounts):
            mounts.append({"name": VOLUME, "mountPath": MOUNT_PATH, "readOnly": True})
        env = container.setdefault("env", [])
        present = {e.get("name") for e in env}
        env.extend(e for e in tls_env() if e["name"] not in present)


@hookimpl
def dask_rbac_rules() -> list[dict[str, Any]]:
    return [
        {"apiGroups": ["cert-manager.io"], "resources": ["certificates"], "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"]},
        # The operator only checks that the issued Secret exists; it never reads it elsewhere.
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
    ]
