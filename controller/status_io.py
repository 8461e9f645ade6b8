"""Writing the status of Dask objects (merge patch of what changed only)."""

from __future__ import annotations

from typing import Any

from . import status as st
from .kube import now_rfc3339
from .runtime import Runtime


async def write_status(rt: Runtime, obj: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Merge ``new`` into ``obj``'s status (conditions by type), patch what changed, return it.

    ``obj["status"]`` is updated in place, so later steps of a pass see the new values. A
    value of ``None`` removes the field.
    """
    old = obj.get("status") or {}
    merged = dict(new)
    if "conditions" in new:
        merged["conditions"] = st.merge_conditions(old.get("conditions"), new["conditions"], now_rfc3339())
    changed = {k: v for k, v in merged.items() if old.get(k) != v}
    if changed:
        await rt.kube.patch_status(obj, changed)
    result = {k: v for k, v in {**old, **merged}.items() if v is not None}
    obj["status"] = result
    return result
