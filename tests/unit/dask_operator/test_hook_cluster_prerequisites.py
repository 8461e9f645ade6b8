"""dask_cluster_prerequisites: what a pass must wait for, from every plugin, for opted-in clusters.

Rendered through the testing kit (every hook of one pass, by the core's own code); the waiting
itself (phase Pending, PrerequisitesReady=False, the Event) is covered against a real control
plane by tests/integration/plugins/test_cert_manager.py.
"""

from __future__ import annotations

import types
from typing import Any

from dask_operator import hookimpl
from dask_operator.testing import make_cluster, make_plugin_manager, render_cluster

VAULT = "example.dask.org/vault-secret"


@hookimpl
def dask_cluster_defaults(cluster: dict[str, Any]) -> None:
    annotations = cluster["metadata"].setdefault("annotations", {})
    if VAULT in annotations and not annotations[VAULT]:
        annotations[VAULT] = f"{cluster['metadata']['name']}-vault"


@hookimpl
def dask_cluster_prerequisites(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    """The Secret a Vault agent writes for clusters that ask for one."""
    secret = (cluster["metadata"].get("annotations") or {}).get(VAULT)
    if secret is None:
        return []
    return [{"apiVersion": "v1", "kind": "Secret", "name": secret, "reason": "written by the Vault agent"}]


@hookimpl(specname="dask_cluster_prerequisites")
def config_map(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"apiVersion": "v1", "kind": "ConfigMap", "name": "site-dask-config", "reason": "site settings"}]


def plugin(name: str, **hooks: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, fn)
    return module


VAULT_PLUGIN = plugin("vault", dask_cluster_defaults=dask_cluster_defaults, dask_cluster_prerequisites=dask_cluster_prerequisites)


def test_only_clusters_that_opt_in_wait():
    pm = make_plugin_manager(VAULT_PLUGIN)
    assert render_cluster(pm, make_cluster("plain", "ns")).prerequisites == []
    rendered = render_cluster(pm, make_cluster("c", "ns", annotations={VAULT: "db-credentials"}))
    assert rendered.prerequisites == [{"apiVersion": "v1", "kind": "Secret", "name": "db-credentials",
                                       "reason": "written by the Vault agent"}]


def test_the_hook_sees_the_defaulted_cluster():
    rendered = render_cluster(make_plugin_manager(VAULT_PLUGIN), make_cluster("c", "ns", annotations={VAULT: ""}))
    assert [p["name"] for p in rendered.prerequisites] == ["c-vault"]


def test_every_plugins_list_is_concatenated():
    pm = make_plugin_manager(VAULT_PLUGIN, plugin("site", config_map=config_map))
    rendered = render_cluster(pm, make_cluster("c", "ns", annotations={VAULT: "db-credentials"}))
    assert sorted((p["kind"], p["name"]) for p in rendered.prerequisites) == [
        ("ConfigMap", "site-dask-config"), ("Secret", "db-credentials")]


def test_an_invalid_cluster_waits_for_nothing():
    cluster = make_cluster("c", "ns", annotations={VAULT: "db-credentials"})
    cluster["spec"]["worker"]["replicas"] = -1
    rendered = render_cluster(make_plugin_manager(VAULT_PLUGIN), cluster)
    assert rendered.errors and rendered.prerequisites == []
