"""Watch-fed caches: what the passes read instead of GET and LIST.

kopf already keeps one watch stream per kind it serves: it lists once, then watches from the
list's resourceVersion with bookmarks and resumes from the last version it saw when a watch
ends (a new LIST only after ``410 Gone``). Its *indices* store what an index function returns
for every object of such a stream, and come with the promise the passes need: no handler runs
before every indexed kind has been listed once. So the cache is made of kopf indices (declared
in ``handlers.py``) rather than of a second client with watches of its own, which would double
the streams and the memory.

Index values are trimmed copies of the objects (no ``managedFields``), under two kinds of keys:
``("name", namespace, name)`` for every object and ``("cluster", namespace, cluster)`` for the
kinds a cluster has many of (worker groups, pods), so a pass reads what belongs to its cluster
without scanning the whole index.

A watch delivers the operator's own writes a few milliseconds after the write returns. In
between, a pass started by another event must not act on the older view (create a pod twice,
say), so every write the operator makes goes into a small *overlay* here: the object the API
server returned, or a tombstone for a deletion. An overlay entry lives until the watch has
delivered that version of the object (or a newer one), or its deletion, and at most
:data:`OVERLAY_TTL` seconds.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from . import names

Manifest = dict[str, Any]
IndexKey = tuple[str, str, str]

OVERLAY_TTL = 30.0


def _cluster_label(obj: Mapping[str, Any]) -> str | None:
    value = (obj.get("metadata", {}).get("labels") or {}).get(names.LABEL_CLUSTER)
    return value if isinstance(value, str) else None


def _cluster_field(obj: Mapping[str, Any]) -> str | None:
    value = (obj.get("spec") or {}).get("cluster")
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class CachedKind:
    """A kind the passes read from a watch-fed index."""

    api_version: str
    kind: str
    index: str  # the name of the kopf index (the index function in handlers.py)
    cluster_of: Callable[[Mapping[str, Any]], str | None] | None = None  # also indexed per cluster


CACHED_KINDS: tuple[CachedKind, ...] = (
    CachedKind(names.API_VERSION, names.CLUSTER_KIND, "dask_clusters"),
    CachedKind(names.API_VERSION, names.WORKER_GROUP_KIND, "dask_worker_groups", _cluster_field),
    CachedKind(names.API_VERSION, names.JOB_KIND, "dask_jobs"),
    CachedKind(names.API_VERSION, names.AUTOSCALER_KIND, "dask_autoscalers"),
    CachedKind("v1", "Pod", "dask_pods", _cluster_label),
    CachedKind("v1", "Service", "dask_services"),
    CachedKind("apps/v1", "Deployment", "dask_deployments"),
    # Children of built-in plugins (dask_cluster_resources), compared by every cluster pass.
    CachedKind("policy/v1", "PodDisruptionBudget", "dask_disruption_budgets"),
    CachedKind("networking.k8s.io/v1", "Ingress", "dask_ingresses"),
    CachedKind("networking.k8s.io/v1", "NetworkPolicy", "dask_network_policies"),
)
_BY_KIND = {(k.api_version, k.kind): k for k in CACHED_KINDS}


def cached_kind(api_version: str, kind: str) -> CachedKind | None:
    return _BY_KIND.get((api_version, kind))


def trimmed(body: Mapping[str, Any], api_version: str, kind: str, *, private: bool = True) -> Manifest:
    """``body`` without ``managedFields`` (most of an object's size); a deep copy if ``private``.

    The index functions pass ``private=False``: the body of a watch event is parsed afresh for
    that event and nothing else keeps or changes it, so the cache may share its nested parts.
    """
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k != "managedFields"}
    obj = {k: v for k, v in body.items() if k != "metadata"}
    obj["metadata"] = meta
    obj.setdefault("apiVersion", api_version)
    obj.setdefault("kind", kind)
    return copy.deepcopy(obj) if private else obj


def index_keys(cached: CachedKind, obj: Mapping[str, Any]) -> tuple[IndexKey, ...]:
    """The keys ``obj`` is found under: its name, and its cluster for the kinds read per cluster."""
    meta = obj.get("metadata") or {}
    namespace = str(meta.get("namespace") or "")
    cluster = cached.cluster_of(obj) if cached.cluster_of else None
    by_name: IndexKey = ("name", namespace, str(meta.get("name")))
    return (by_name, ("cluster", namespace, cluster)) if cluster else (by_name,)


def index_entries(cached: CachedKind, body: Mapping[str, Any]) -> dict[IndexKey, Manifest]:
    """What the kopf index function of ``cached`` returns for one object."""
    obj = trimmed(body, cached.api_version, cached.kind, private=False)
    return dict.fromkeys(index_keys(cached, obj), obj)


def version(obj: Mapping[str, Any]) -> int:
    """An object's resourceVersion as a number (etcd's are); 0 if it is not one."""
    value = str(obj.get("metadata", {}).get("resourceVersion") or "")
    return int(value) if value.isdigit() else 0


def _uid(obj: Mapping[str, Any]) -> str:
    return str(obj.get("metadata", {}).get("uid") or "")


@dataclass
class _Written:
    obj: Manifest
    deleted: bool
    expires: float
    keys: tuple[IndexKey, ...]  # the index keys it is found under


Index = Mapping[IndexKey, Iterable[Manifest]]


class Cache:
    """Reads of the cached kinds, from kopf indices plus the overlay of the operator's writes.

    Objects read per cluster are the cache's own, shared with every reader: read them, never
    change them (copy first). Copying every pod of a cluster on every pass would cost more than
    the pass itself when a cluster has thousands of workers.
    """

    def __init__(self, indices: Mapping[str, Index], clock: Callable[[], float] = time.monotonic) -> None:
        missing = [k.index for k in CACHED_KINDS if k.index not in indices]
        if missing:
            raise RuntimeError(f"kopf did not provide the indices {missing}: are the index handlers registered?")
        self._indices = {k.kind: indices[k.index] for k in CACHED_KINDS}
        self._written: dict[str, dict[str, _Written]] = {k.kind: {} for k in CACHED_KINDS}  # kind -> uid -> entry
        # kind -> index key -> uids: a read looks only at the overlay entries under its own key.
        self._written_under: dict[str, dict[IndexKey, set[str]]] = {k.kind: {} for k in CACHED_KINDS}
        self._clock = clock
        self._swept = clock()
        self._lost: dict[tuple[str, str], float] = {}  # (namespace, cluster) -> when a child's deletion arrived

    @staticmethod
    def serves(api_version: str, kind: str) -> bool:
        return cached_kind(api_version, kind) is not None

    # --- reads ----------------------------------------------------------------------------------

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Manifest | None:
        """The object, or None; a private copy the caller may change."""
        found = [o for o in self._merged(kind, ("name", namespace, name)) if o["metadata"].get("name") == name]
        if not found:
            return None
        # Two objects of one name: a deleted one whose DELETED event has not arrived yet, and its
        # successor. The newer is the one that exists.
        return copy.deepcopy(max(found, key=version))

    def of_cluster(self, api_version: str, kind: str, namespace: str, cluster: str) -> list[Manifest]:
        """The objects of ``kind`` that belong to the DaskCluster ``cluster`` (pods by label,
        worker groups by ``spec.cluster``): the cache's own objects, read-only."""
        cached = cached_kind(api_version, kind)
        if cached is None or cached.cluster_of is None:
            raise KeyError(f"{kind} is not cached per cluster")
        return [o for o in self._merged(kind, ("cluster", namespace, cluster)) if cached.cluster_of(o) == cluster]

    def watched(self, objects: Iterable[Mapping[str, Any]]) -> bool:
        """Whether the watch has delivered each of ``objects`` (written by the operator) in that
        version or a newer one, or its deletion."""
        for obj in objects:
            cached = cached_kind(str(obj.get("apiVersion") or ""), str(obj.get("kind") or ""))
            if cached is None:
                continue
            meta = obj.get("metadata") or {}
            key: IndexKey = ("name", str(meta.get("namespace") or ""), str(meta.get("name")))
            index = self._indices[cached.kind]
            seen = [o for o in (index[key] if key in index else ()) if _uid(o) == _uid(obj)]
            if seen and version(seen[0]) < version(obj):
                return False
            if not seen and _uid(obj) in self._written[cached.kind] and not self._written[cached.kind][_uid(obj)].deleted:
                return False  # not delivered yet (a deletion the watch delivered forgets the entry)
        return True

    def keys(self, kind: str) -> list[tuple[str, str]]:
        """(namespace, name) of every cached object of ``kind`` (for the periodic resync)."""
        return sorted({(k[1], k[2]) for k in self._indices[kind] if k[0] == "name"})

    def __len__(self) -> int:
        return sum(1 for index in self._indices.values() for k in index if k[0] == "name")

    def _merged(self, kind: str, key: IndexKey) -> Iterator[Manifest]:
        index = self._indices[kind]
        watched: dict[str, Manifest] = {}
        if key in index:
            for obj in index[key]:
                watched[_uid(obj)] = obj
        written = self._written[kind]
        now = self._clock()
        for uid in list(self._written_under[kind].get(key, ())):
            entry = written[uid]
            seen = watched.get(uid)
            if entry.expires < now or (seen is not None and version(seen) >= version(entry.obj)):
                self._forget(kind, uid)  # the watch caught up (or the entry is too old to trust)
            elif entry.deleted:
                watched.pop(uid, None)
            else:
                watched[uid] = entry.obj
        yield from watched.values()

    # --- the operator's own writes ------------------------------------------------------------

    def wrote(self, obj: Mapping[str, Any]) -> None:
        """Record an object the API server returned from a write."""
        kind = str(obj.get("kind") or "")
        cached = cached_kind(str(obj.get("apiVersion") or ""), kind)
        if cached is None or not _uid(obj):
            return
        self._remember(cached, trimmed(obj, cached.api_version, kind), deleted=False)

    def deleted(self, obj: Mapping[str, Any]) -> None:
        """Record that the operator deleted ``obj`` (identified by kind, namespace, name, uid)."""
        kind = str(obj.get("kind") or "")
        cached = cached_kind(str(obj.get("apiVersion") or ""), kind)
        if cached is None or not _uid(obj):
            return
        tombstone = trimmed(obj, cached.api_version, kind)
        # Newer than any version the watch may still deliver before the deletion itself.
        tombstone["metadata"]["resourceVersion"] = str(2**63)
        self._remember(cached, tombstone, deleted=True)

    def watched_deletion(self, kind: str, uid: str | None) -> None:
        """The watch delivered the deletion of ``uid``: its overlay entry is no longer needed."""
        if uid and kind in self._written:
            self._forget(kind, uid)

    def child_deleted(self, namespace: str, cluster: str) -> None:
        """The watch delivered the deletion of an object of DaskCluster ``cluster``."""
        self._lost[(namespace, cluster)] = self._clock() + OVERLAY_TTL
        if len(self._lost) > 1000:  # after a bulk delete: keep what is recent
            now = self._clock()
            self._lost = {k: t for k, t in self._lost.items() if t >= now}

    def lost_children(self, namespace: str, cluster: str) -> bool:
        """Whether an object of ``cluster`` was deleted in the last :data:`OVERLAY_TTL` seconds:
        then the cluster itself may be gone although its deletion has not arrived yet."""
        until = self._lost.get((namespace, cluster))
        if until is not None and until < self._clock():
            del self._lost[(namespace, cluster)]
            return False
        return until is not None

    def _remember(self, cached: CachedKind, obj: Manifest, deleted: bool) -> None:
        now = self._clock()
        if now - self._swept > OVERLAY_TTL:  # entries under keys nobody reads again
            self._swept = now
            for kind, written in self._written.items():
                for uid in [u for u, e in written.items() if e.expires < now]:
                    self._forget(kind, uid)
        uid = _uid(obj)
        self._forget(cached.kind, uid)  # a newer write may sit under other keys (labels changed)
        keys = index_keys(cached, obj)
        self._written[cached.kind][uid] = _Written(obj, deleted, now + OVERLAY_TTL, keys)
        for key in keys:
            self._written_under[cached.kind].setdefault(key, set()).add(uid)

    def _forget(self, kind: str, uid: str) -> None:
        entry = self._written[kind].pop(uid, None)
        if entry is None:
            return
        under = self._written_under[kind]
        for key in entry.keys:
            uids = under.get(key)
            if uids is not None:
                uids.discard(uid)
                if not uids:
                    del under[key]

    def overlay_size(self) -> int:
        return sum(len(w) for w in self._written.values())

