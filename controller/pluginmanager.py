"""Builds the plugin manager: hook specs, built-in plugins, entry-point plugins, blocking.

Built-in plugins are loaded by the same function as third-party ones (by module name, under a
plugin name that can be blocked). Third-party plugins come from the entry-point group
``dask_operator_plugin``; the module is imported (so kopf handlers it declares are registered,
as the user docs show) and registered with pluggy (its hook implementations, if any, join in).

Start-up fails loudly instead of running half-configured: a plugin that fails to import, an
``async def`` implementation of a pure hook, or an implementation of an unknown hook raises
:class:`~dask_operator.errors.PluginError` naming the plugin and the hook.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError, PluginLoadError

ENTRY_POINT_GROUP = "dask_operator_plugin"
DISABLE_ENV = "DASK_OPERATOR_DISABLE_PLUGINS"

# Built-in plugins: name -> module. Loaded first, but order never matters: built-in
# implementations of firstresult hooks are trylast.
BUILTIN_PLUGINS: dict[str, str] = {
    "scheduler": "dask_operator.plugins.scheduler",
    "scheduler_pdb": "dask_operator.plugins.scheduler_pdb",
    "dashboard": "dask_operator.plugins.dashboard",
    "network_policy": "dask_operator.plugins.network_policy",
    "worker": "dask_operator.plugins.worker",
    "legacy_cli": "dask_operator.plugins.legacy_cli",
    "job": "dask_operator.plugins.job",
    "autoscaler": "dask_operator.plugins.autoscaler",
    "idle": "dask_operator.plugins.idle",
    "metrics": "dask_operator.plugins.metrics",
}


@dataclass
class PluginInfo:
    """What ``dask-operator plugins`` shows about one plugin."""

    name: str
    module: str
    source: str  # "builtin" or "entry point <dist>"
    hooks: list[str] = field(default_factory=list)
    kopf_handlers: list[str] = field(default_factory=list)


class PluginManager(pluggy.PluginManager):
    """A pluggy manager with the operator's specs and a record of where plugins came from."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.sources: dict[str, str] = {}

    def info(self) -> list[PluginInfo]:
        result = []
        for name, plugin in self.list_name_plugin():
            if plugin is None:  # blocked
                continue
            hooks = sorted(h.name for h in self.get_hookcallers(plugin) or [])
            module = getattr(plugin, "__name__", type(plugin).__qualname__)
            result.append(
                PluginInfo(
                    name=name,
                    module=module,
                    source=self.sources.get(name, "registered"),
                    hooks=hooks,
                    kopf_handlers=_kopf_handlers_of(module),
                )
            )
        return result


def disabled_plugins(config_value: Iterable[str] | str | None = None) -> set[str]:
    """Names blocked by ``DASK_OPERATOR_DISABLE_PLUGINS`` (comma separated) and the config."""
    names: set[str] = set()
    raw = os.environ.get(DISABLE_ENV, "")
    names.update(n.strip() for n in raw.split(",") if n.strip())
    if isinstance(config_value, str):
        names.update(n.strip() for n in config_value.split(",") if n.strip())
    elif config_value:
        names.update(str(n).strip() for n in config_value)
    return names


def _import_plugin(name: str, module_name: str, origin: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except Exception as exc:  # ImportError and anything raised at import time
        raise PluginLoadError(
            f"dask-operator plugin {name!r} ({origin}, module {module_name!r}) failed to import: "
            f"{type(exc).__name__}: {exc}. Fix or uninstall the plugin, or block it with "
            f"{DISABLE_ENV}={name}."
        ) from exc


def _load_entry_point(ep: EntryPoint) -> Any:
    dist = getattr(getattr(ep, "dist", None), "name", None) or "unknown distribution"
    try:
        return ep.load()
    except Exception as exc:
        raise PluginLoadError(
            f"dask-operator plugin entry point {ep.name!r} = {ep.value!r} (group "
            f"{ENTRY_POINT_GROUP!r}, distribution {dist!r}) failed to import: "
            f"{type(exc).__name__}: {exc}. Fix or uninstall the plugin, or block it with "
            f"{DISABLE_ENV}={ep.name}."
        ) from exc


def check_implementations(pm: pluggy.PluginManager) -> None:
    """Reject async implementations of pure hooks and implementations of unknown hooks."""
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        for caller in pm.get_hookcallers(plugin) or []:
            if caller.name in hookspecs.ASYNC_HOOKS:
                continue
            for impl in caller.get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                fn = impl.function
                if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
                    raise PluginError(
                        f"dask-operator plugin {name!r}: hook {caller.name!r} is implemented by "
                        f"async function {fn.__qualname__!r}, but {caller.name} is a pure hook and "
                        f"must be a plain 'def' (pluggy does not await; only "
                        f"{', '.join(sorted(hookspecs.ASYNC_HOOKS))} may be async)."
                    )
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"dask-operator plugin {exc.plugin!r}: {exc}") from exc


def build_plugin_manager(
    *,
    builtins: dict[str, str] | None = None,
    load_entry_points: bool = True,
    disabled: Iterable[str] | None = None,
    extra: Iterable[tuple[str, Any]] = (),
) -> PluginManager:
    """Create the operator's plugin manager.

    ``builtins`` defaults to :data:`BUILTIN_PLUGINS`; ``disabled`` defaults to
    :func:`disabled_plugins` of the configuration; ``extra`` registers (name, plugin) pairs after
    the entry points (tests, embedding).
    """
    from . import config

    pm = PluginManager()
    blocked = disabled_plugins(config.get("disable-plugins")) if disabled is None else set(disabled)
    for name in blocked:
        pm.set_blocked(name)

    for name, module_name in (BUILTIN_PLUGINS if builtins is None else builtins).items():
        if pm.is_blocked(name):
            continue
        module = _import_plugin(name, module_name, "built-in")
        _register(pm, name, module, "builtin")

    if load_entry_points:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
                continue
            plugin = _load_entry_point(ep)
            dist = getattr(getattr(ep, "dist", None), "name", None) or "?"
            _register(pm, ep.name, plugin, f"entry point ({dist})")

    for name, plugin in extra:
        if not pm.is_blocked(name):
            _register(pm, name, plugin, "registered")

    check_implementations(pm)
    return pm


def _register(pm: PluginManager, name: str, plugin: Any, source: str) -> None:
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"dask-operator plugin {name!r} ({source}): {exc}") from exc
    except ValueError as exc:  # already registered under another name
        raise PluginError(f"dask-operator plugin {name!r} ({source}): {exc}") from exc
    pm.sources[name] = source


def _kopf_handlers_of(module: str) -> list[str]:
    """kopf handlers registered by functions of ``module`` (for ``dask-operator plugins``)."""
    try:
        import kopf
    except ImportError:  # pragma: no cover - kopf is a dependency
        return []
    registry = kopf.get_default_registry()
    found = []
    # kopf has no public listing of its registries; this is only used for display.
    for part in ("_activities", "_indexing", "_watching", "_spawning", "_changing", "_webhooks"):
        sub = getattr(registry, part, None)
        for handler in sub.get_all_handlers() if sub is not None else []:
            fn = getattr(handler, "fn", None)
            if getattr(fn, "__module__", None) == module:
                found.append(str(handler.id))
    return sorted(set(found))


# The manager of this process (set by the CLI before kopf starts; built on demand otherwise).
_current: PluginManager | None = None


def set_current(pm: PluginManager) -> None:
    global _current
    _current = pm


def current() -> PluginManager:
    global _current
    if _current is None:
        _current = build_plugin_manager()
    return _current
