"""Metadata propagation from parents to children (ARCHITECTURE §4, user docs "Labels and Annotations").

Precedence: parent (top-level) < sub-resource metadata (``spec.worker.metadata``,
``spec.scheduler.metadata``) < reserved base labels. Tool-owned keys are never propagated: a
GitOps tracking label copied onto our pods would make Argo CD or Flux prune them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from . import names

# Keys by prefix (the part before "/" or the whole key).
NEVER_PROPAGATED_PREFIXES = (
    "kopf.zalando.org/",
    "kubectl.kubernetes.io/",
    "argocd.argoproj.io/",
    "meta.helm.sh/",
    f"{names.GROUP}/",  # the operator's own bookkeeping on children (spec hash, ...)
)
# Any key whose prefix domain ends with one of these (``kustomize.toolkit.fluxcd.io/name``).
NEVER_PROPAGATED_DOMAINS = ("fluxcd.io",)
NEVER_PROPAGATED_KEYS = frozenset({names.LABEL_MANAGED_BY})

RESERVED_PREFIXES = ("dask.org/", "app.kubernetes.io/")


def is_propagated(key: str) -> bool:
    """True if a parent's label or annotation ``key`` may be copied to children."""
    if key in NEVER_PROPAGATED_KEYS or key.startswith(NEVER_PROPAGATED_PREFIXES):
        return False
    domain, slash, _ = key.partition("/")
    if slash and any(domain == d or domain.endswith("." + d) for d in NEVER_PROPAGATED_DOMAINS):
        return False
    return True


def is_reserved(key: str) -> bool:
    return key.startswith(RESERVED_PREFIXES)


def _filtered(values: Mapping[str, Any] | None) -> dict[str, str]:
    return {k: str(v) for k, v in (values or {}).items() if is_propagated(k)}


def merge_metadata(*sources: Mapping[str, Any] | None) -> dict[str, dict[str, str]]:
    """Merge ``metadata``-like dicts (lowest precedence first), dropping tool-owned keys.

    Each source may hold ``labels`` and ``annotations``; ``None`` sources are skipped.
    """
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    for source in sources:
        if not source:
            continue
        labels.update(_filtered(source.get("labels")))
        annotations.update(_filtered(source.get("annotations")))
    return {"labels": labels, "annotations": annotations}


def base_labels(cluster: str, component: str, worker_group: str | None = None) -> dict[str, str]:
    """The reserved labels every child carries; they always win."""
    labels = {
        names.LABEL_CLUSTER: cluster,
        names.LABEL_COMPONENT: component,
        names.LABEL_APP_NAME: "dask",
        names.LABEL_APP_INSTANCE: cluster,
        names.LABEL_APP_COMPONENT: component,
        names.LABEL_MANAGED_BY: names.MANAGED_BY,
    }
    if worker_group is not None:
        labels[names.LABEL_WORKER_GROUP] = worker_group
    return labels


def without_reserved(labels: Mapping[str, str]) -> dict[str, str]:
    """Labels from plugins (``dask_child_labels``) cannot override reserved keys."""
    return {k: v for k, v in labels.items() if not is_reserved(k)}


def apply_metadata(
    manifest: dict[str, Any],
    inherited: Mapping[str, Mapping[str, str]],
    extra_labels: Iterable[Mapping[str, str]] = (),
    base: Mapping[str, str] | None = None,
) -> None:
    """Set a child's labels and annotations in place.

    Order (later wins): ``inherited`` (from :func:`merge_metadata`) < what the builder put on
    the manifest < plugin labels (``extra_labels``, reserved keys dropped) < ``base``.
    """
    meta = manifest.setdefault("metadata", {})
    labels = dict(inherited.get("labels", {}))
    labels.update(meta.get("labels") or {})
    for extra in extra_labels:
        labels.update(without_reserved(extra))
    labels.update(base or {})
    annotations = dict(inherited.get("annotations", {}))
    annotations.update(meta.get("annotations") or {})
    meta["labels"] = labels
    meta["annotations"] = annotations


def selector(labels: Mapping[str, str]) -> str:
    """A label selector string (``a=b,c=d``) for the scale subresource and list calls."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
