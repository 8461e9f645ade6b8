"""Writing the status of Dask objects (merge patch of what changed only)."""

from __future__ import annotations

import time
from typing import Any

from . import config
from . import status as st
from .kube import now_rfc3339
from .runtime import Runtime
from .status_health import health_conditions


async def write_status(rt: Runtime, obj: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Merge ``new`` into ``obj``'s status (conditions by type), patch what changed, return it.

    Every write also carries the health contract (status_health): ``observedGeneration`` and
    the ``Ready``, ``Reconciling`` and ``Stalled`` conditions derived from the merged status.
    ``obj["status"]`` is updated in place, so later steps of a pass see the new values. A
    value of ``None`` removes the field.
    """
    old = obj.get("status") or {}
    now = now_rfc3339()
    merged = dict(new)
    conditions = st.merge_conditions(old.get("conditions"), new.get("conditions") or [], now)
    generation = int(obj.get("metadata", {}).get("generation") or 0)
    health = health_conditions(
        str(obj.get("kind")), {**old, **merged, "conditions": conditions}, generation, time.time(),
        float(config.get("health.missing-cluster-seconds")),
    )
    merged["conditions"] = st.merge_conditions(conditions, health, now)
    merged["observedGeneration"] = generation
    changed = {k: v for k, v in merged.items() if old.get(k) != v}
    if changed:
        await rt.kube.patch_status(obj, changed)
    result = {k: v for k, v in {**old, **merged}.items() if v is not None}
    obj["status"] = result
    return result
