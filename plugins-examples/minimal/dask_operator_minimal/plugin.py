"""Label every child of a DaskCluster with the cluster's cost center.

Cost reports group Pods by label, not by annotation. A user sets the annotation
``example.dask.org/cost-center`` on a DaskCluster; this plugin turns it into the label of the
same name on the scheduler, worker groups, workers and every other child. Clusters without the
annotation are left alone.
"""

from __future__ import annotations

from typing import Any

from dask_operator import hookimpl

COST_CENTER = "example.dask.org/cost-center"


@hookimpl
def dask_child_labels(cluster: dict[str, Any], component: str) -> dict[str, str]:
    value = (cluster["metadata"].get("annotations") or {}).get(COST_CENTER)
    return {COST_CENTER: value} if value else {}
