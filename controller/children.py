"""Preparing the children of a cluster for apply: metadata, owner, plugin edits, spec hash.

Drift is defined by a hash of the desired manifest, stored in the child's
``kubernetes.dask.org/spec-hash`` annotation. Comparing hashes instead of live objects means
the operator never fights API-server defaulting. Labels and annotations are not in the hash:
they are synced in place (``metadata_changes``), so a new label on a DaskCluster reaches its
running pods without restarting them, and a label removed from it is removed from them. The
exception: pod labels and annotations that ``dask_modify_manifest`` sets are hashed, because
plugins use them for what only takes effect when a pod is created (sidecar injection).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from . import labels, names
from .kube import owner_reference


def _strip_metadata(meta: dict[str, Any] | None) -> None:
    if meta is not None:
        meta.pop("labels", None)
        meta.pop("annotations", None)


def spec_hash(manifest: dict[str, Any], name: str | None = None, pod_metadata: Mapping[str, Any] | None = None) -> str:
    """Hash of what a child must look like, apart from labels and annotations.

    ``name``: replaced by a placeholder first, so pods that differ only by name hash the same.
    ``pod_metadata``: pod labels and annotations that are hashed nevertheless (see
    :func:`plugin_pod_metadata`); nothing, or nothing in it, leaves the hash as without it.
    """
    body = copy.deepcopy(manifest)
    body.pop("status", None)
    _strip_metadata(body.get("metadata"))
    _strip_metadata(body.get("spec", {}).get("template", {}).get("metadata"))
    if pod_metadata and any(pod_metadata.values()):
        body["podMetadataFromPlugins"] = pod_metadata
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    if name:
        text = text.replace(name, "{name}")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def finalize(
    manifest: dict[str, Any],
    *,
    pm: Any,
    cluster: dict[str, Any],
    component: str,
    inherited: Mapping[str, Mapping[str, str]],
    owner: dict[str, Any],
    worker_group: str | None = None,
    hash_name: str | None = None,
) -> dict[str, Any]:
    """Give a built manifest its labels, owner and spec hash; run ``dask_modify_manifest``."""
    meta = manifest.setdefault("metadata", {})
    meta.setdefault("namespace", cluster["metadata"]["namespace"])
    plugin_labels: list[dict[str, str]] = pm.hook.dask_child_labels(cluster=cluster, component=component)
    base = labels.base_labels(cluster["metadata"]["name"], component, worker_group)
    labels.apply_metadata(manifest, inherited, plugin_labels, base)
    template = manifest.get("spec", {}).get("template")
    if isinstance(template, dict):
        labels.apply_metadata(template, inherited, plugin_labels, base)
    pod_meta = _pod_metadata(manifest)
    before = copy.deepcopy(pod_meta) if pod_meta is not None else None
    pm.hook.dask_modify_manifest(cluster=cluster, component=component, manifest=manifest)
    from_plugins = plugin_pod_metadata(before, _pod_metadata(manifest))
    record_managed_metadata(manifest)
    if isinstance(template, dict):
        record_managed_metadata(template)
    meta["ownerReferences"] = [owner_reference(owner)]
    meta["annotations"][names.ANNOTATION_SPEC_HASH] = spec_hash(manifest, hash_name, from_plugins)
    return manifest


def _pod_metadata(manifest: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The metadata a pod is created with: a Pod's own, or its controller's pod template's."""
    if manifest.get("kind") == "Pod":
        return manifest.get("metadata") or {}
    template = (manifest.get("spec") or {}).get("template")
    return (template.get("metadata") or {}) if isinstance(template, dict) else None


def plugin_pod_metadata(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, dict[str, str | None]]:
    """Pod labels and annotations that ``dask_modify_manifest`` added, changed (value) or
    removed (``None``) -- the ones hashed, so that toggling them re-creates the pods."""
    result: dict[str, dict[str, str | None]] = {}
    if before is None or after is None:
        return result
    for part in ("labels", "annotations"):
        old: Mapping[str, str] = before.get(part) or {}
        new: Mapping[str, str] = after.get(part) or {}
        changed: dict[str, str | None] = {k: v for k, v in new.items() if old.get(k) != v}
        changed.update({k: None for k in old if k not in new})
        result[part] = changed
    return result


# Bookkeeping annotations: never listed as managed, never removed by a metadata sync.
_BOOKKEEPING = frozenset({names.ANNOTATION_MANAGED_METADATA, names.ANNOTATION_SPEC_HASH})


def record_managed_metadata(manifest: dict[str, Any]) -> None:
    """Note on ``manifest`` which label and annotation keys the operator sets on it."""
    meta = manifest.setdefault("metadata", {})
    annotations = meta.setdefault("annotations", {})
    managed = {
        "labels": sorted(meta.get("labels") or {}),
        "annotations": sorted(k for k in annotations if k not in _BOOKKEEPING),
    }
    annotations[names.ANNOTATION_MANAGED_METADATA] = json.dumps(managed, separators=(",", ":"))


def managed_keys(current: Mapping[str, Any], part: str) -> frozenset[str]:
    """The ``part`` ("labels" or "annotations") keys the operator last set on ``current``."""
    record = (current.get("metadata", {}).get("annotations") or {}).get(names.ANNOTATION_MANAGED_METADATA)
    return _parsed_record(record, part) if isinstance(record, str) else frozenset()


@functools.lru_cache(maxsize=256)
def _parsed_record(record: str, part: str) -> frozenset[str]:
    # Every worker of a group carries the same record, and every pass reads every worker's.
    try:
        keys = json.loads(record)[part]
    except (ValueError, KeyError, TypeError):
        return frozenset()  # a hand-edited record: remove nothing rather than guess
    return frozenset(k for k in keys if isinstance(k, str)) if isinstance(keys, list) else frozenset()


def metadata_changes(desired: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, dict[str, str | None]]:
    """A merge patch of ``metadata`` turning ``current``'s operator-set labels and annotations into
    ``desired``'s: keys missing or different are set; keys the operator set before (per the
    managed-metadata record) and no longer wants are removed (``None``). Keys added by others
    stay. Empty when nothing changes."""
    result: dict[str, dict[str, str | None]] = {}
    for part in ("labels", "annotations"):
        want: dict[str, str] = desired.get("metadata", {}).get(part) or {}
        have: dict[str, str] = current.get("metadata", {}).get(part) or {}
        diff: dict[str, str | None] = {k: v for k, v in want.items() if have.get(k) != v}
        for key in managed_keys(current, part) - set(want) - _BOOKKEEPING:
            if key in have:
                diff[key] = None
        if diff:
            result[part] = diff
    return result


def flatten(lists: Iterable[Iterable[Any] | None]) -> list[Any]:
    return [item for items in lists if items for item in items]
