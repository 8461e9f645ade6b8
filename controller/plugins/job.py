"""Built-in plugin: the DaskCluster and the runner Pod of a DaskJob.

The cluster is named like the job and takes ``spec.cluster.spec`` as it is (``idleTimeout``
included). Metadata (user docs, "Labels and Annotations"): the job's labels and annotations
reach both the cluster and the runner Pod; ``spec.cluster.metadata`` is merged over them on the
cluster, ``spec.job.metadata`` on the runner. Tool-owned keys are never propagated.

The runner Pod ``{job}-runner`` takes ``spec.job.spec``, gets ``DASK_SCHEDULER_ADDRESS`` in
every container (a user value wins) and ``restartPolicy: OnFailure`` unless the spec sets one.
"""

from __future__ import annotations

import copy
from typing import Any

from dask_operator import api, hookimpl

DEFAULT_RESTART_POLICY = "OnFailure"


def runner_pod_name(job_name: str) -> str:
    return f"{job_name}-runner"


def _sub_metadata(section: dict[str, Any] | None) -> dict[str, Any]:
    meta = (section or {}).get("metadata") or {}
    return {"labels": dict(meta.get("labels") or {}), "annotations": dict(meta.get("annotations") or {})}


@hookimpl(trylast=True)
def dask_job_build_cluster(job: dict[str, Any]) -> dict[str, Any]:
    meta = job["metadata"]
    section = job.get("spec", {}).get("cluster") or {}
    merged = api.merge_metadata(meta, _sub_metadata(section))
    return {
        "apiVersion": api.API_VERSION,
        "kind": api.CLUSTER_KIND,
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": merged["labels"],
            "annotations": merged["annotations"],
        },
        "spec": copy.deepcopy(section.get("spec") or {}),
    }


@hookimpl(trylast=True)
def dask_job_build_runner_pod(job: dict[str, Any], scheduler_address: str) -> dict[str, Any]:
    meta = job["metadata"]
    section = job.get("spec", {}).get("job") or {}
    pod_spec = copy.deepcopy(section.get("spec") or {})
    pod_spec.setdefault("restartPolicy", DEFAULT_RESTART_POLICY)
    for container in api.containers(pod_spec):
        api.inject_env(container, [{"name": "DASK_SCHEDULER_ADDRESS", "value": scheduler_address}])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": runner_pod_name(meta["name"]),
            "namespace": meta["namespace"],
            # spec.job.metadata wins over the job's own metadata (the core adds the latter).
            **_sub_metadata(section),
        },
        "spec": pod_spec,
    }


@hookimpl
def dask_rbac_rules() -> list[dict[str, Any]]:
    return [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch", "create", "delete"]},
        {"apiGroups": [api.GROUP], "resources": [api.CLUSTER_PLURAL], "verbs": ["create", "delete"]},
        {"apiGroups": [api.GROUP], "resources": ["daskjobs"], "verbs": ["delete"]},
    ]
