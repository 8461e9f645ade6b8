"""``dask-operator``: run the operator, list plugins, print RBAC rules."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import click
import yaml

from . import __version__, config, names
from .errors import PluginError
from .pluginmanager import PluginManager, build_plugin_manager, set_current

# What the core itself calls (kopf included), verb by verb; built-in and third-party plugins add
# theirs (dask_rbac_rules). The union is the chart's default ClusterRole, which a test checks.
# With namespace patterns in kopf's options (`--namespace=team-*`), kopf also lists and watches
# namespaces.
_ALL_KINDS = (names.CLUSTER_PLURAL, names.WORKER_GROUP_PLURAL, "daskjobs", "daskautoscalers")
CORE_RBAC_RULES: list[dict[str, Any]] = [
    # get: only to check that a cluster which just lost children still exists before re-creating
    # them (the passes read from watch-fed caches). patch: owner references of adopted groups.
    {"apiGroups": [names.GROUP], "resources": [names.CLUSTER_PLURAL], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [names.GROUP], "resources": [names.WORKER_GROUP_PLURAL], "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": [names.GROUP], "resources": ["daskjobs", "daskautoscalers"], "verbs": ["list", "watch"]},
    {"apiGroups": [names.GROUP], "resources": [f"{p}/status" for p in _ALL_KINDS], "verbs": ["patch"]},
    # Owner references with blockOwnerDeletion need update on the owner's finalizers.
    {
        "apiGroups": [names.GROUP],
        "resources": [f"{p}/finalizers" for p in (names.CLUSTER_PLURAL, names.WORKER_GROUP_PLURAL, "daskjobs")],
        "verbs": ["update"],
    },
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["list", "watch"]},
    # leader election (leader.py): read and watch the Lease, create it once, renew and release it
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "watch", "create", "update"]},
]


def _load_plugins() -> PluginManager:
    try:
        pm = build_plugin_manager()
        settings = config.snapshot()
        pm.hook.dask_configure(config=settings)
    except PluginError as exc:
        click.echo(f"dask-operator: cannot start: {exc}", err=True)
        sys.exit(1)
    return pm


@click.group(name="dask-operator")
@click.version_option(__version__, prog_name="dask-operator")
def main() -> None:
    """The Dask Kubernetes operator."""


CHATTY_LOGGERS = (
    "kopf.objects",  # every handler success at INFO
    "kopf.activities",  # startup/cleanup/probe activities at INFO
    "aiohttp.access",  # one line per liveness probe, every 10 s
)


def quiet_chatty_loggers() -> None:
    """Keep the default log to what matters: these log routine successes at INFO."""
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


@main.command(context_settings={"show_default": True})
@click.option("-n", "--namespace", "namespaces", multiple=True, help="Namespace to serve (repeatable; globs allowed).")
@click.option("-A", "--all-namespaces", "clusterwide", is_flag=True, help="Serve every namespace.")
@click.option("--standalone", is_flag=True, default=None, help="No peering with other operator instances.")
@click.option("-P", "--peering", "peering_name", type=str, envvar="KOPF_RUN_PEERING", help="kopf peering object name.")
@click.option("-p", "--priority", type=int, help="kopf peering priority.")
@click.option("-L", "--liveness", "liveness_endpoint", type=str, help="e.g. http://0.0.0.0:8080/healthz")
@click.option(
    "--leader-election/--no-leader-election", default=None,
    help="Reconcile only while holding a coordination.k8s.io Lease [default: leader-election.enabled, false].",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every handler and API step.")
@click.option("-d", "--debug", is_flag=True)
@click.option("-q", "--quiet", is_flag=True)
@click.option("--log-format", type=click.Choice(["plain", "full", "json"]), default="full")
def run(
    namespaces: tuple[str, ...],
    clusterwide: bool,
    standalone: bool | None,
    peering_name: str | None,
    priority: int | None,
    liveness_endpoint: str | None,
    leader_election: bool | None,
    verbose: bool,
    debug: bool,
    quiet: bool,
    log_format: str,
) -> None:
    """Run the operator (kopf) with the built-in and installed plugins."""
    import kopf
    from kopf._core.actions import loggers

    if namespaces and clusterwide:
        raise click.UsageError("use either --namespace or --all-namespaces, not both")
    pm = _load_plugins()
    set_current(pm)
    from . import handlers, health  # noqa: F401  (handlers registers the kopf handlers)

    health.configure(namespaces, clusterwide or not namespaces, standalone=bool(standalone))  # liveness check

    loggers.configure(debug=debug, verbose=verbose, quiet=quiet, log_format=loggers.LogFormat[log_format.upper()])
    if not (verbose or debug):
        quiet_chatty_loggers()
    for info in pm.info():
        logging.getLogger("dask_operator").info("plugin %s (%s): %s", info.name, info.source, ", ".join(info.hooks) or "kopf handlers only")

    async def operator() -> None:
        await kopf.operator(
            standalone=standalone,
            namespaces=namespaces,
            clusterwide=clusterwide or not namespaces,
            peering_name=peering_name,
            priority=priority,
            liveness_endpoint=liveness_endpoint,
        )

    if leader_election is None:
        leader_election = bool(config.get("leader-election.enabled"))
    if not leader_election:
        asyncio.run(operator())
        return
    from . import leader

    try:
        lease = leader.LeaseSettings.from_config(namespaces)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc

    def leadership_changed(is_leader: bool, identity: str) -> None:
        pm.hook.dask_leadership_changed(leader=is_leader, identity=identity)

    sys.exit(asyncio.run(leader.run_as_leader(lease, operator, leadership_changed, liveness_endpoint)))


@main.command()
def plugins() -> None:
    """List the loaded plugins with the hooks (and kopf handlers) each implements."""
    pm = _load_plugins()
    for info in pm.info():
        click.echo(f"{info.name}  [{info.source}]  {info.module}")
        for hook in info.hooks:
            click.echo(f"    hook  {hook}")
        for handler in info.kopf_handlers:
            click.echo(f"    kopf  {handler}")
    blocked = [name for name, plugin in pm.list_name_plugin() if plugin is None]
    for name in blocked:
        click.echo(f"{name}  [blocked]")


@main.command()
@click.option("--name", default="dask-kubernetes-operator", help="metadata.name of the ClusterRole.")
@click.option("--rules-only", is_flag=True, help="Print only the list of rules.")
def rbac(name: str, rules_only: bool) -> None:
    """Print the ClusterRole the operator and its plugins need."""
    pm = _load_plugins()
    rules = CORE_RBAC_RULES + [rule for rules in pm.hook.dask_rbac_rules() for rule in rules or []]
    if rules_only:
        click.echo(yaml.safe_dump(rules, sort_keys=False), nl=False)
        return
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules}
    click.echo(yaml.safe_dump(role, sort_keys=False), nl=False)


@main.command()
def hooks() -> None:
    """Print the hook reference in Markdown (docs/hooks.md is generated with this)."""
    from .hookdoc import render

    click.echo(render(), nl=False)


if __name__ == "__main__":  # pragma: no cover
    main()
