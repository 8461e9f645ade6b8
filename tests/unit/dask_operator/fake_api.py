"""An in-memory stand-in for dask_operator.kube.Kube and SchedulerAPI, for pure unit tests of
the reconcile passes (the integration tests use the real control plane)."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from dask_operator import cache
from dask_operator.errors import SchedulerUnreachable

_uids = itertools.count(1)


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.events: list[tuple[str, str, str]] = []  # (object name, type, reason)
        self.deleted: list[tuple[str, str]] = []
        self.fail_next_delete_of: str | None = None

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{next(_uids)}")
        meta.setdefault("namespace", "ns1")
        meta.setdefault("generation", 1)
        meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        self.objects[(obj["kind"], meta["namespace"], meta["name"])] = obj
        return obj

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        obj = self.objects.get((kind, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    async def list(self, api_version: str, kind: str, namespace: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        return [copy.deepcopy(o) for (k, ns, _), o in self.objects.items() if k == kind and (not namespace or ns == namespace)]

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        key = (manifest["kind"], manifest["metadata"]["namespace"], manifest["metadata"]["name"])
        assert key not in self.objects, f"409: {key} exists"
        return self.put(manifest)

    async def patch(self, api_version: str, kind: str, namespace: str, name: str, patch: Any, **_: Any) -> dict[str, Any] | None:
        obj = self.objects.get((kind, namespace, name))
        if obj is None:
            return None
        _merge(obj, patch)
        return copy.deepcopy(obj)

    async def patch_status(self, obj: dict[str, Any], status: dict[str, Any]) -> dict[str, Any] | None:
        meta = obj["metadata"]
        return await self.patch(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"], {"status": status})

    async def delete(self, api_version: str, kind: str, namespace: str, name: str, *, uid: str | None = None) -> bool:
        if self.fail_next_delete_of == name:
            self.fail_next_delete_of = None
            raise RuntimeError(f"the operator died before deleting {name}")
        obj = self.objects.pop((kind, namespace, name), None)
        if obj is None:
            return False
        self.deleted.append((kind, name))
        return True

    async def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.events.append((obj["metadata"]["name"], type_, reason))

    async def close(self) -> None:
        pass


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


class FakeScheduler:
    def __init__(self) -> None:
        self.target: int | Exception = 1
        self.idle_since: float | None | Exception = None

    async def adaptive_target(self, endpoint: Any) -> int:
        if isinstance(self.target, Exception):
            raise self.target
        return self.target

    async def check_idle(self, endpoint: Any) -> float | None:
        if isinstance(self.idle_since, Exception):
            raise self.idle_since
        return self.idle_since

    async def close(self) -> None:
        pass


UNREACHABLE = SchedulerUnreachable("check: HTTP refused; RPC refused")


class _LiveIndex(Mapping[Any, list[dict[str, Any]]]):
    """A kopf-index lookalike computed from FakeKube's objects on every read."""

    def __init__(self, kube: FakeKube, cached: cache.CachedKind) -> None:
        self.kube, self.cached = kube, cached

    def _entries(self) -> dict[Any, list[dict[str, Any]]]:
        result: dict[Any, list[dict[str, Any]]] = {}
        for (kind, _, _), obj in self.kube.objects.items():
            if kind == self.cached.kind:
                for key, value in cache.index_entries(self.cached, obj).items():
                    result.setdefault(key, []).append(value)
        return result

    def __getitem__(self, key: Any) -> list[dict[str, Any]]:
        return self._entries()[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._entries())

    def __len__(self) -> int:
        return len(self._entries())


def fake_cache(kube: FakeKube) -> cache.Cache:
    """The operator's cache over FakeKube's objects (what the watches would deliver)."""
    return cache.Cache({k.index: _LiveIndex(kube, k) for k in cache.CACHED_KINDS})
