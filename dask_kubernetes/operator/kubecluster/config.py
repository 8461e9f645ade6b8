"""The ``kubernetes.*`` dask config defaults that KubeCluster reads."""

from __future__ import annotations

import importlib.resources
from typing import Any

import dask.config
import yaml

_DEFAULTS_FILE = "kubecluster.yaml"


def load_defaults() -> dict[str, Any]:
    """Return the packaged defaults (the content of ``kubecluster.yaml``)."""
    text = (
        importlib.resources.files(__package__ or "dask_kubernetes.operator.kubecluster")
        .joinpath(_DEFAULTS_FILE)
        .read_text()
    )
    defaults = yaml.safe_load(text)
    assert isinstance(defaults, dict)
    return defaults


def register_defaults() -> None:
    """Register the defaults with dask; user config and ``DASK_KUBERNETES__*`` still win."""
    dask.config.update_defaults(load_defaults())


def setting(key: str, override: Any = None) -> Any:
    """``kubernetes.<key>`` from dask config unless *override* is not None."""
    return dask.config.get(f"kubernetes.{key}", override_with=override)
