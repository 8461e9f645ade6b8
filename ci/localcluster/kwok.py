"""Simulated nodes for scale benchmarks: kwok against the local control plane.

`ci/cluster up --fake-nodes N` (or ``DASK_LOCALCLUSTER_FAKE_NODES=N``) starts ``kwok`` (built by
``ci/build-kwok.sh``) as one more daemon of the cluster and creates N Nodes named
``kwok-node-<i>``, labelled ``type=kwok`` and annotated and tainted
``kwok.x-k8s.io/node=fake:NoSchedule`` as the KWOK documentation does. kwok manages only the
nodes with that annotation: it keeps their Leases, and plays the "fast" stages on their pods
(Running and Ready at once, with an address from :data:`POD_CIDR`; a deleted pod is removed at
once). Nothing runs in those pods, so only put pods there whose processes nobody needs; they
land there only with :func:`placement` (the toleration and a nodeSelector). The process node
stays as it is. `down` stops kwok; the nodes go with etcd.
"""

from __future__ import annotations

import os
from typing import Any

from .config import INSTANCE

ENV = "DASK_LOCALCLUSTER_FAKE_NODES"
NAME_PREFIX = "kwok-node-"
LABEL = ("type", "kwok")
ANNOTATION = ("kwok.x-k8s.io/node", "fake")
TAINT = {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}
# Addresses kwok gives pods on fake nodes: outside the process node's pods (10.(244+N)/16),
# the Services (10.0.N/24), the load balancers (10.1.N/24) and the benchmark stub node (10.254).
def pod_cidr(instance: int) -> str:
    return f"10.{224 + instance}.0.0/16"


POD_CIDR = pod_cidr(INSTANCE)
MAX_NODES = 1000
CAPACITY = {"cpu": "1000", "memory": "4Ti", "pods": "2000"}

Manifest = dict[str, Any]


def requested_nodes(flag: int | None, environ: dict[str, str] | None = None) -> int:
    """How many fake nodes `up` should provide: the flag, else the environment, else 0."""
    env = os.environ if environ is None else environ
    raw: Any = flag if flag is not None else env.get(ENV, "0").strip() or "0"
    try:
        count = int(raw)
    except ValueError:
        raise ValueError(f"{ENV} must be a number of nodes, not {raw!r}") from None
    if not 0 <= count <= MAX_NODES:
        raise ValueError(f"the number of fake nodes must be between 0 and {MAX_NODES}, not {count}")
    return count


def node_name(index: int) -> str:
    return f"{NAME_PREFIX}{index}"


def node_manifest(index: int) -> Manifest:
    """A fake Node as the KWOK documentation writes them; kwok fills in its status."""
    name = node_name(index)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {ANNOTATION[0]: ANNOTATION[1], "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                LABEL[0]: LABEL[1],
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/role": "agent",
                "node-role.kubernetes.io/agent": "",
            },
        },
        "spec": {"taints": [dict(TAINT)]},
        "status": {"capacity": dict(CAPACITY), "allocatable": dict(CAPACITY)},
    }


def placement() -> Manifest:
    """The pod-spec fields that put a pod on a fake node (merge them into a pod spec)."""
    return {
        "nodeSelector": {LABEL[0]: LABEL[1]},
        "tolerations": [{"key": TAINT["key"], "operator": "Exists", "effect": TAINT["effect"]}],
    }


def place_on_fake_nodes(pod_spec: Manifest) -> Manifest:
    """``pod_spec`` with :func:`placement` merged in (a new dict; the input is unchanged)."""
    wanted = placement()
    spec = dict(pod_spec)
    spec["nodeSelector"] = {**(pod_spec.get("nodeSelector") or {}), **wanted["nodeSelector"]}
    spec["tolerations"] = [*(pod_spec.get("tolerations") or []), *wanted["tolerations"]]
    return spec


def argv(binary: str, kubeconfig: str, stages: str) -> list[str]:
    """The kwok command line: only annotated nodes, no HTTP server, the given stages."""
    return [
        binary,
        f"--kubeconfig={kubeconfig}",
        f"--config={stages}",
        f"--manage-nodes-with-annotation-selector={ANNOTATION[0]}={ANNOTATION[1]}",
        f"--cidr={POD_CIDR}",
        "--node-ip=127.0.0.1",
        "--node-port=0",
        "--server-address=",
        "--node-lease-duration-seconds=40",
    ]
