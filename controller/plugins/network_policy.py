"""Built-in plugin (opt-in): a NetworkPolicy per DaskCluster so only who should reaches its pods.

The NetworkPolicy ``{cluster}-dask`` selects every pod of the cluster (scheduler, workers, a
DaskJob's runner: the pods labelled ``dask.org/cluster-name={cluster}``) and admits traffic only
from

* the cluster's own pods,
* the operator (the peer ``kubernetes.controller.network-policy.operator``, which the chart sets
  to its own pods), and
* the clients allowed by the operator setting ``network-policy.clients`` (for every cluster) and
  by the DaskCluster's annotation ``kubernetes.dask.org/network-policy-clients`` (a JSON list of
  NetworkPolicyPeer objects: ``namespaceSelector``, ``podSelector``, ``ipBlock``).

Egress stays open unless ``network-policy.egress`` lists rules: then egress is restricted to the
cluster's own pods, DNS, and those rules.

On for every cluster with ``network-policy.enabled`` (chart: ``networkPolicy.enabled``); the
annotation ``kubernetes.dask.org/network-policy: "true"`` or ``"false"`` decides for one cluster.
"""

from __future__ import annotations

import json
from typing import Any

from dask_operator import api, hookimpl

#: Annotation on a DaskCluster: ``"true"``/``"false"`` turns its NetworkPolicy on or off.
ENABLE_ANNOTATION = f"{api.GROUP}/network-policy"
#: Annotation on a DaskCluster: a JSON list of NetworkPolicyPeers allowed to reach its pods.
CLIENTS_ANNOTATION = f"{api.GROUP}/network-policy-clients"
COMPONENT = "network-policy"
PEER_KEYS = frozenset({"namespaceSelector", "podSelector", "ipBlock"})
DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


def _annotations(cluster: dict[str, Any]) -> dict[str, str]:
    return cluster.get("metadata", {}).get("annotations") or {}


def enabled_for(cluster: dict[str, Any]) -> bool:
    value = _annotations(cluster).get(ENABLE_ANNOTATION)
    if value is None:
        return api.as_bool(api.get_config("network-policy.enabled", False))
    return api.as_bool(value)


def _peer_problems(peers: Any, where: str) -> list[str]:
    if not isinstance(peers, list):
        return [f"{where} must be a list of NetworkPolicy peers, not {type(peers).__name__}"]
    problems = []
    for i, peer in enumerate(peers):
        if not isinstance(peer, dict) or not peer or not set(peer) <= PEER_KEYS:
            problems.append(f"{where}[{i}] must be an object with namespaceSelector, podSelector and/or ipBlock, not {peer!r}")
    return problems


def annotation_clients(cluster: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """The peers the cluster's annotation allows, and what is wrong with it."""
    raw = _annotations(cluster).get(CLIENTS_ANNOTATION)
    if raw is None:
        return [], []
    try:
        peers = json.loads(raw)
    except ValueError as exc:
        return [], [f"annotation {CLIENTS_ANNOTATION} is not JSON: {exc}"]
    problems = _peer_problems(peers, f"annotation {CLIENTS_ANNOTATION}")
    return ([] if problems else peers), problems


def setting(key: str) -> Any:
    """``network-policy.<key>``; JSON from the environment that dask could not parse is decoded."""
    value = api.get_config(f"network-policy.{key}")
    if isinstance(value, str) and value.strip():
        return json.loads(value)
    return None if value == "" else value


def configured_peers(key: str) -> list[dict[str, Any]]:
    value = setting(key)
    if value in (None, []):
        return []
    peers = value if isinstance(value, list) else [value]
    return [dict(p) for p in peers if isinstance(p, dict) and p]


def build_policy(cluster: dict[str, Any], clients: list[dict[str, Any]], operator: list[dict[str, Any]],
                 egress: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The NetworkPolicy of ``cluster`` (pure). ``egress``: None leaves egress open."""
    meta = cluster["metadata"]
    own_pods = {"podSelector": {"matchLabels": {api.LABEL_CLUSTER: meta["name"]}}}
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": {api.LABEL_CLUSTER: meta["name"]}},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [own_pods, *operator, *clients]}],
    }
    if egress is not None:
        spec["policyTypes"].append("Egress")
        spec["egress"] = [
            {"to": [own_pods]},
            {"to": [{"namespaceSelector": {}}], "ports": DNS_PORTS},
            *egress,
        ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"{meta['name']}-dask", "namespace": meta["namespace"], "labels": {api.LABEL_COMPONENT: COMPONENT}},
        "spec": spec,
    }


@hookimpl
def dask_cluster_validate(cluster: dict[str, Any]) -> list[str]:
    if not enabled_for(cluster):
        return []
    return annotation_clients(cluster)[1]


@hookimpl(trylast=True)
def dask_cluster_resources(cluster: dict[str, Any], worker_pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not enabled_for(cluster):
        return []
    clients, _ = annotation_clients(cluster)
    egress = setting("egress")
    return [build_policy(
        cluster,
        configured_peers("clients") + clients,
        configured_peers("operator"),
        None if egress is None else [dict(rule) for rule in egress],
    )]


@hookimpl
def dask_rbac_rules() -> list[dict[str, Any]]:
    # No get: read from the watch-fed cache. delete: when a cluster's policy is turned off.
    return [{"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["list", "watch", "create", "patch", "delete"]}]
