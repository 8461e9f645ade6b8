"""Liveness: detect watch streams that stopped delivering changes.

kopf's ``--liveness`` endpoint answers as long as the event loop runs, even when the watches
feeding the handlers have stalled (a half-open connection, a reconnect loop that never
succeeds): the operator then looks healthy while it ignores every change. The check here
compares what the watches delivered with what the API server holds:

* every watch event that reaches the operator's handlers records the object's
  ``resourceVersion`` (:meth:`WatchTracker.observe`);
* the probe lists the same kinds in the served namespaces, at most every half
  ``health.watch-stall-seconds`` (in between it answers with the last result: the kubelet probes
  every few seconds, and an idle operator must not cost LISTs every time) and notes each object whose listed
  version the watch has not delivered yet (:meth:`WatchTracker.compare`);
* an object that stays undelivered for ``health.watch-stall-seconds`` (default 180 s, more
  than kopf's 70 s reconnect of a silent watch and than a long handler of the same object)
  makes the probe fail, and Kubernetes restarts the operator.

An API server that cannot be reached does not fail the probe: a restart would not help.
The check runs only with ``--standalone`` (as the chart runs the operator): with kopf peering,
a standby operator's watches are paused on purpose and must not look stalled.
"""

from __future__ import annotations

import fnmatch
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import config, names
from .runtime import Runtime

logger = logging.getLogger("dask_operator")


@dataclass(frozen=True)
class Watched:
    """A kind whose watch stream the operator depends on, listed the way it is watched."""

    api_version: str
    kind: str
    label_selector: str | None = None


WATCHED = (
    Watched(names.API_VERSION, names.CLUSTER_KIND),
    Watched(names.API_VERSION, names.WORKER_GROUP_KIND),
    Watched(names.API_VERSION, "DaskJob"),
    Watched(names.API_VERSION, "DaskAutoscaler"),
    Watched("v1", "Pod", f"{names.LABEL_MANAGED_BY}={names.MANAGED_BY}"),
)


class WatchesStalled(Exception):
    """Objects changed in the API server and the watches have not delivered them."""


def _newer(listed: str, seen: str) -> bool:
    """Is ``listed`` a later version than ``seen``? etcd versions are integers; otherwise
    (an API server with opaque versions) any difference counts."""
    if listed.isdigit() and seen.isdigit():
        return int(listed) > int(seen)
    return listed != seen


@dataclass
class WatchTracker:
    """What the watches delivered, and since when listed objects are ahead of it."""

    stall_seconds: float = 180.0
    seen: dict[tuple[str, str], str] = field(default_factory=dict)
    lagging: dict[tuple[str, str], float] = field(default_factory=dict)
    namespaces: set[str] = field(default_factory=set)
    last_check: float = 0.0
    stalled: list[str] = field(default_factory=list)  # found by the last comparison
    unchecked: dict[str, str] = field(default_factory=dict)  # kind -> why the last comparison skipped it

    def observe(self, kind: str, body: dict[str, Any], event_type: str | None) -> None:
        meta = body.get("metadata") or {}
        uid, version = meta.get("uid"), meta.get("resourceVersion")
        if not uid:
            return
        if meta.get("namespace"):
            self.namespaces.add(meta["namespace"])
        if event_type == "DELETED":
            self.seen.pop((kind, uid), None)
            self.lagging.pop((kind, uid), None)
        elif version:
            previous = self.seen.get((kind, uid))
            if previous is None or _newer(version, previous):
                self.seen[(kind, uid)] = version

    def compare(self, kind: str, listed: Iterable[dict[str, Any]], at: float) -> list[str]:
        """Note the listed objects the watch is behind on; return those behind for too long."""
        stalled = []
        present = set()
        for obj in listed:
            meta = obj.get("metadata") or {}
            key = (kind, str(meta.get("uid")))
            present.add(key)
            seen = self.seen.get(key)
            if seen is not None and not _newer(str(meta.get("resourceVersion") or ""), seen):
                self.lagging.pop(key, None)
                continue
            since = self.lagging.setdefault(key, at)
            if at - since >= self.stall_seconds:
                stalled.append(f"{kind} {meta.get('namespace')}/{meta.get('name')} (version "
                               f"{meta.get('resourceVersion')} undelivered for {at - since:.0f} s)")
        for key in [k for k in self.lagging if k[0] == kind and k not in present]:
            del self.lagging[key]
        return stalled


TRACKER = WatchTracker()
_served: tuple[tuple[str, ...], bool] | None = None


def configure(namespaces: Iterable[str], clusterwide: bool, standalone: bool = True) -> None:
    """Tell the check which namespaces the operator serves (from the command line)."""
    global _served
    _served = (tuple(namespaces), bool(clusterwide))
    TRACKER.stall_seconds = float(config.get("health.watch-stall-seconds")) if standalone else 0.0
    if not standalone:
        logger.info("liveness: the watch-stall check is off (kopf peering may pause the watches on purpose)")


def serves_exact_namespaces() -> bool:
    """True when the operator serves named namespaces only (no globs, not cluster-wide)."""
    if _served is None:
        return False
    patterns, clusterwide = _served
    return not clusterwide and bool(patterns) and not any(ch in p for p in patterns for ch in "*?[")


def namespaces_to_list(tracker: WatchTracker) -> list[str]:
    """Namespaces to list ("" = all). Globs only match namespaces seen in watch events."""
    if _served is None:
        return sorted(tracker.namespaces)
    patterns, clusterwide = _served
    if clusterwide or not patterns:
        return [""]
    result = {p for p in patterns if not any(ch in p for ch in "*?[")}
    result.update(ns for ns in tracker.namespaces for p in patterns if fnmatch.fnmatchcase(ns, p))
    return sorted(result)


async def probe(rt: Runtime, tracker: WatchTracker = TRACKER) -> dict[str, Any]:
    """Compare the watches with the API (at most every half stall period); raise
    :class:`WatchesStalled` while they are behind. The report gives, per kind, the objects in
    the operator's cache and those the last comparison found undelivered."""
    if tracker.stall_seconds <= 0:
        return {"watches": "not checked (health.watch-stall-seconds is 0, or kopf peering is on)"}
    at = time.monotonic()
    if not tracker.last_check or at - tracker.last_check >= tracker.stall_seconds / 2:
        tracker.last_check = at
        tracker.stalled, tracker.unchecked = [], {}
        for watched in WATCHED:
            objects: list[dict[str, Any]] = []
            try:
                for namespace in namespaces_to_list(tracker):
                    objects += await rt.kube.list(watched.api_version, watched.kind, namespace, watched.label_selector)
            except Exception as exc:  # noqa: BLE001 - an unreachable API server is not our stall
                tracker.unchecked[watched.kind] = f"not checked: {type(exc).__name__}: {exc}"[:300]
                continue
            tracker.stalled += tracker.compare(watched.kind, objects, at)
    if tracker.stalled:
        stalled = tracker.stalled
        message = "watch streams stalled: " + "; ".join(stalled[:5]) + (f" and {len(stalled) - 5} more" if len(stalled) > 5 else "")
        logger.error("liveness: %s", message)
        raise WatchesStalled(message)
    report: dict[str, Any] = {}
    for watched in WATCHED:
        lagging = sum(1 for k in tracker.lagging if k[0] == watched.kind)
        report[watched.kind] = tracker.unchecked.get(watched.kind) or {"objects": len(rt.cache.keys(watched.kind)), "undelivered": lagging}
    return {"watches": report}
