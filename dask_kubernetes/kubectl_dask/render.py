"""What ``kubectl dask`` prints: pure functions from Kubernetes objects (dicts) to text."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

Obj = Mapping[str, Any]
ObjT = TypeVar("ObjT", bound=Obj)

LABEL_CLUSTER = "dask.org/cluster-name"
LABEL_COMPONENT = "dask.org/component"
LABEL_WORKER_GROUP = "dask.org/workergroup-name"
PREFIX_ANNOTATION = "kubernetes.dask.org/dashboard-prefix"


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def age(timestamp: str | None, now: datetime) -> str:
    """A short age as kubectl prints it: 45s, 7m, 5h, 3d (``<unknown>`` without a timestamp)."""
    then = parse_time(timestamp)
    if then is None:
        return "<unknown>"
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 120 * 60:
        return f"{seconds // 60}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Columns padded like kubectl's (three spaces between columns)."""
    lines = [list(header)] + [["<none>" if c in (None, "") else str(c) for c in row] for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _status(obj: Obj) -> Mapping[str, Any]:
    return obj.get("status") or {}


def groups_of(cluster: Obj, groups: Iterable[ObjT]) -> list[ObjT]:
    name, namespace = _meta(cluster).get("name"), _meta(cluster).get("namespace")
    return [g for g in groups if (g.get("spec") or {}).get("cluster") == name and _meta(g).get("namespace") == namespace]


def dashboard_url(cluster: Obj) -> str:
    status = _status(cluster)
    return str(status.get("externalDashboardURL") or status.get("dashboardURL") or "")


def cluster_rows(clusters: Sequence[Obj], groups: Sequence[Obj], now: datetime, *, all_namespaces: bool, wide: bool) -> str:
    header = (["NAMESPACE"] if all_namespaces else []) + ["NAME", "PHASE", "WORKERS", "READY", "AGE"]
    if wide:
        header += ["GROUPS", "SCHEDULER", "DASHBOARD"]
    rows = []
    for cluster in clusters:
        meta, status = _meta(cluster), _status(cluster)
        workers = status.get("workers") or {}
        row: list[Any] = [meta.get("namespace")] if all_namespaces else []
        row += [meta.get("name"), status.get("phase"), workers.get("desired", 0), workers.get("ready", 0),
                age(meta.get("creationTimestamp"), now)]
        if wide:
            names = sorted(str(_meta(g).get("name")) for g in groups_of(cluster, groups))
            row += [",".join(names), status.get("schedulerAddress"), dashboard_url(cluster)]
        rows.append(row)
    return table(header, rows)


def _condition_rows(obj: Obj) -> list[list[Any]]:
    return [[c.get("type"), c.get("status"), c.get("reason"), c.get("message")] for c in _status(obj).get("conditions") or []]


def _ready(pod: Obj) -> str:
    statuses = _status(pod).get("containerStatuses") or []
    return f"{sum(1 for s in statuses if s.get('ready'))}/{len((pod.get('spec') or {}).get('containers') or statuses)}"


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def describe(cluster: Obj, groups: Sequence[Obj], pods: Sequence[Obj], autoscalers: Sequence[Obj],
             events: Sequence[Obj], now: datetime) -> str:
    """A DaskCluster and what belongs to it, as ``kubectl describe`` tells a story."""
    meta, status = _meta(cluster), _status(cluster)
    workers = status.get("workers") or {}
    created = meta.get("creationTimestamp")
    fields = [
        ("Name", meta.get("name")),
        ("Namespace", meta.get("namespace")),
        ("Created", f"{created} ({age(created, now)} ago)" if created else None),
        ("Phase", status.get("phase")),
        ("Workers", f"{workers.get('desired', 0)} desired, {workers.get('ready', 0)} ready"),
        ("Scheduler", status.get("schedulerAddress")),
        ("Dashboard", status.get("dashboardURL") or status.get("dashboardAddress")),
        ("External dashboard", status.get("externalDashboardURL")),
    ]
    width = max(len(k) for k, _ in fields) + 2
    lines = [f"{k + ':':<{width}}{v}" for k, v in fields if v not in (None, "")]
    sections = [
        ("Conditions", ["TYPE", "STATUS", "REASON", "MESSAGE"], _condition_rows(cluster)),
        ("Worker groups", ["NAME", "REPLICAS", "READY", "AGE"], [
            [_meta(g).get("name"), ((g.get("spec") or {}).get("worker") or {}).get("replicas"),
             (_status(g).get("workers") or {}).get("ready", _status(g).get("readyReplicas")), age(_meta(g).get("creationTimestamp"), now)]
            for g in groups
        ]),
        ("Pods", ["NAME", "COMPONENT", "GROUP", "PHASE", "READY", "AGE"], [
            [_meta(p).get("name"), (_meta(p).get("labels") or {}).get(LABEL_COMPONENT),
             (_meta(p).get("labels") or {}).get(LABEL_WORKER_GROUP), _status(p).get("phase"), _ready(p),
             age(_meta(p).get("creationTimestamp"), now)]
            for p in sorted(pods, key=lambda p: ((_meta(p).get("labels") or {}).get(LABEL_COMPONENT) != "scheduler", str(_meta(p).get("name"))))
        ]),
        ("Autoscalers", ["NAME", "MINIMUM", "MAXIMUM"], [
            [_meta(a).get("name"), (a.get("spec") or {}).get("minimum"), (a.get("spec") or {}).get("maximum")] for a in autoscalers
        ]),
        ("Events", ["LAST SEEN", "TYPE", "REASON", "MESSAGE"], [
            [age(e.get("lastTimestamp") or e.get("eventTime") or _meta(e).get("creationTimestamp"), now), e.get("type"),
             e.get("reason"), e.get("message")]
            for e in sorted(events, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or _meta(e).get("creationTimestamp") or ""))
        ]),
    ]
    for title, header, rows in sections:
        lines.append(f"{title}:" + ("" if rows else "  <none>"))
        if rows:
            lines.append(_indent(table(header, rows)))
    return "\n".join(lines)


def dashboard_port(service: Obj) -> int:
    """The scheduler Service's dashboard port (named ``http-dashboard``, else 8787)."""
    for port in (service.get("spec") or {}).get("ports") or []:
        if port.get("name") == "http-dashboard":
            return int(port["port"])
    return 8787


def local_dashboard_url(service: Obj, host: str, port: int) -> str:
    prefix = "/" + str((_meta(service).get("annotations") or {}).get(PREFIX_ANNOTATION) or "").strip("/")
    return f"http://{host}:{port}{prefix.rstrip('/')}/status"
