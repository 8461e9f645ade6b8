"""Preparing the children of a cluster for apply: metadata, owner, plugin edits, spec hash.

Drift is defined by a hash of the desired manifest, stored in the child's
``kubernetes.dask.org/spec-hash`` annotation. Comparing hashes instead of live objects means
the operator never fights API-server defaulting. Labels and annotations are not in the hash:
they are synced in place (``missing_metadata``), so a new label on a DaskCluster reaches its
running pods without restarting them.
"""

from __future__ import annotations

import copy
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


def spec_hash(manifest: dict[str, Any], name: str | None = None) -> str:
    """Hash of what a child must look like, apart from labels and annotations.

    ``name``: replaced by a placeholder first, so pods that differ only by name hash the same.
    """
    body = copy.deepcopy(manifest)
    body.pop("status", None)
    _strip_metadata(body.get("metadata"))
    _strip_metadata(body.get("spec", {}).get("template", {}).get("metadata"))
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
    pm.hook.dask_modify_manifest(cluster=cluster, component=component, manifest=manifest)
    meta["ownerReferences"] = [owner_reference(owner)]
    meta["annotations"][names.ANNOTATION_SPEC_HASH] = spec_hash(manifest, hash_name)
    return manifest


def missing_metadata(desired: dict[str, Any], current: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Labels and annotations of ``desired`` that ``current`` lacks or has with another value."""
    result: dict[str, dict[str, str]] = {}
    for part in ("labels", "annotations"):
        want: dict[str, str] = desired.get("metadata", {}).get(part) or {}
        have: dict[str, str] = current.get("metadata", {}).get(part) or {}
        diff = {k: v for k, v in want.items() if have.get(k) != v}
        if diff:
            result[part] = diff
    return result


def flatten(lists: Iterable[Iterable[Any] | None]) -> list[Any]:
    return [item for items in lists if items for item in items]
