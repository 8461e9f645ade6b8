"""Every hookspec has a test that exercises it (a meta-test, in the spirit of datasette's).

The tests of this repository and of the example plugins are read with ``ast``. A hook counts as
exercised when some test code

* calls it through a plugin manager (``pm.hook.dask_x(...)``) or calls an implementation of it
  (``metrics.dask_x(...)``),
* passes its name to a call (``runtime.notify("dask_x", ...)``, ``@hookimpl(specname="dask_x")``)
  or registers an implementation under its name (``plugin_module("p", dask_x=...)``), or
* defines an implementation decorated with ``hookimpl`` in a test plugin.

Mentions in comments, docstrings or lists of names do not count. A new hook without such a test
fails here, naming the hook.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest
from dask_operator import hookspecs

REPO = Path(__file__).resolve().parents[3]


def hook_names() -> set[str]:
    return {
        name
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, f"{hookspecs.PROJECT_NAME}_spec")
    }


def test_sources() -> Iterator[Path]:
    """The operator's tests (with their fixture plugins) and the example plugins' tests."""
    yield from sorted((REPO / "tests").rglob("*.py"))
    yield from sorted((REPO / "plugins-examples").glob("*/tests/**/*.py"))


test_sources.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def exercised_hooks(source: str, hooks: set[str]) -> set[str]:
    """The hooks of ``hooks`` that the code in ``source`` calls, notifies or implements."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
            if called in hooks:
                found.add(called)
            for arg in node.args:
                if isinstance(arg, ast.Constant) and arg.value in hooks:
                    found.add(arg.value)
            for keyword in node.keywords:
                if keyword.arg in hooks:
                    found.add(keyword.arg)
                if isinstance(keyword.value, ast.Constant) and keyword.value.value in hooks:
                    found.add(keyword.value.value)  # @hookimpl(specname="dask_x")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in hooks:
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if ast.unparse(target).split(".")[-1] == "hookimpl":
                    found.add(node.name)
    return found


def test_every_hookspec_has_a_test_that_exercises_it():
    hooks = hook_names()
    assert len(hooks) > 25, hooks  # the scan sees the hookspecs
    exercised: set[str] = set()
    for path in test_sources():
        exercised |= exercised_hooks(path.read_text(), hooks)
    missing = sorted(hooks - exercised)
    assert not missing, f"hooks without a test that calls or implements them: {missing}"


# --- the scan counts code, not words ---------------------------------------------------------


HOOKS = {"dask_cluster_defaults", "dask_cleanup", "dask_child_labels"}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("pm.hook.dask_cluster_defaults(cluster={})\n", {"dask_cluster_defaults"}),
        ("await rt.notify('dask_cleanup', logger=None)\n", {"dask_cleanup"}),
        ("plugin_module('p', dask_child_labels=labels)\n", {"dask_child_labels"}),
        ("from x import hookimpl\n@hookimpl\ndef dask_cleanup(logger):\n    pass\n", {"dask_cleanup"}),
        ("@dask_operator.hookimpl(trylast=True)\nasync def dask_cleanup(logger):\n    pass\n", {"dask_cleanup"}),
        ("metrics.dask_child_labels({}, 'worker')\n", {"dask_child_labels"}),
        ("@hookimpl(specname='dask_cleanup')\ndef flush(logger):\n    pass\n", {"dask_cleanup"}),
    ],
)
def test_calls_notifications_and_implementations_count(source: str, expected: set[str]):
    assert exercised_hooks(source, HOOKS) == expected


@pytest.mark.parametrize(
    "source",
    [
        "# dask_cleanup runs on SIGTERM\n",
        '"""dask_cluster_defaults is pure."""\n',
        "HOOKS = ['dask_cleanup', 'dask_child_labels']\n",
        "def dask_cleanup(logger):\n    pass\n",  # not marked: pluggy would never call it
        "assert listed['dask_cluster_defaults'].kind == 'pure'\n",
    ],
)
def test_mentions_do_not_count(source: str):
    assert exercised_hooks(source, HOOKS) == set()
