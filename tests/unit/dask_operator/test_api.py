"""Plugins use only the documented plugin API (docs/plugins.md, "The plugin API").

The built-in plugins (controller/plugins/) and the example plugins (plugins-examples/, their
tests included) are scanned with ``ast``: every ``dask_operator`` name they import, or reach
through an imported module (``api.X``), must be public in its module and named in
docs/plugins.md. A plugin that reaches into the core (``dask_operator.names``, a relative import
of a private helper, ...) fails here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dask_operator
import pytest
from dask_operator import api, testing

REPO = Path(__file__).resolve().parents[3]
PLUGINS_DOC = REPO / "docs" / "plugins.md"
ROOT = "dask_operator"
# The modules plugins may import from, and what each one offers.
PUBLIC: dict[str, set[str]] = {
    ROOT: set(dask_operator.__all__) | {"api", "testing"},
    f"{ROOT}.api": set(api.__all__),
    f"{ROOT}.testing": set(testing.__all__),
}


def _documented_spans() -> set[str]:
    """Every inline-code span of docs/plugins.md, without a leading ``@`` and call parentheses."""
    spans = set()
    for span in re.findall(r"`([^`\n]+)`", PLUGINS_DOC.read_text()):
        span = span.lstrip("@")
        spans.add(span.split("(", 1)[0].split(" = ", 1)[0].strip())
    return spans


DOCUMENTED_SPANS = _documented_spans()


def documented(module: str, name: str) -> bool:
    """``module.name`` is public and docs/plugins.md names it (``name`` or ``module.name``)."""
    if name not in PUBLIC.get(module, set()):
        return False
    return name in DOCUMENTED_SPANS or f"{module}.{name}" in DOCUMENTED_SPANS


def is_module(dotted: str) -> bool:
    return dotted in PUBLIC


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    name: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.name} is not documented plugin API"


def _absolute(node: ast.ImportFrom, package: str | None) -> str:
    """The module an ``from ... import`` statement imports from (relative ones resolved)."""
    if not node.level:
        return node.module or ""
    if package is None:
        return "." * node.level + (node.module or "")  # a relative import outside dask_operator
    parts = package.split(".")
    base = parts[: len(parts) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def undocumented_imports(source: str, path: str, package: str | None = None) -> list[Violation]:
    """What ``source`` imports from ``dask_operator`` beyond the documented plugin API.

    ``package`` is the dotted package the module lives in (for relative imports), e.g.
    ``dask_operator.plugins`` for a built-in plugin.
    """
    tree = ast.parse(source)
    found: list[Violation] = []
    aliases: dict[str, str] = {}  # local name -> documented module it is bound to

    def check(module: str, name: str, line: int) -> None:
        if not documented(module, name):
            found.append(Violation(path, line, f"{module}.{name}"))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name != ROOT and not alias.name.startswith(ROOT + "."):
                    continue
                if not is_module(alias.name):
                    found.append(Violation(path, node.lineno, alias.name))
                    continue
                aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else ROOT
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, package)
            if module != ROOT and not module.startswith(ROOT + "."):
                continue
            if not is_module(module):
                found.append(Violation(path, node.lineno, module))
                continue
            for alias in node.names:
                check(module, alias.name, node.lineno)
                if is_module(f"{module}.{alias.name}"):
                    aliases[alias.asname or alias.name] = f"{module}.{alias.name}"

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain = _attribute_chain(node)
            if chain and chain[0] in aliases:
                module = aliases[chain[0]]
                for name in chain[1:]:
                    if is_module(f"{module}.{name}"):
                        module = f"{module}.{name}"
                        continue
                    check(module, name, node.lineno)
                    break
    return sorted(set(found), key=lambda v: (v.line, v.name))


def _attribute_chain(node: ast.Attribute) -> list[str] | None:
    """``a.b.c`` as ``["a", "b", "c"]`` when the outermost attribute is read on a plain name.

    Only the outermost node of a chain is reported (inner ones are its prefixes)."""
    parts = [node.attr]
    value = node.value
    while isinstance(value, ast.Attribute):
        parts.insert(0, value.attr)
        value = value.value
    if not isinstance(value, ast.Name):
        return None
    return [value.id, *parts]


def plugin_sources() -> Iterator[tuple[Path, str | None]]:
    """(file, package for relative imports) of every built-in and example plugin module."""
    for path in sorted((REPO / "controller" / "plugins").glob("*.py")):
        yield path, f"{ROOT}.plugins"
    for path in sorted((REPO / "plugins-examples").rglob("*.py")):
        if not {"build", ".eggs"} & set(path.relative_to(REPO).parts) and ".egg-info" not in str(path):
            yield path, None


# --- the scan itself ----------------------------------------------------------------------------


def test_plugins_import_only_the_documented_plugin_api():
    scanned = list(plugin_sources())
    assert len(scanned) > 10, scanned  # the built-ins and the three examples with their tests
    violations = [
        v for path, package in scanned
        for v in undocumented_imports(path.read_text(), str(path.relative_to(REPO)), package)
    ]
    assert not violations, "\n".join(map(str, violations))


def test_every_public_name_of_the_api_and_the_kit_is_documented():
    for module in (f"{ROOT}.api", f"{ROOT}.testing"):
        missing = sorted(n for n in PUBLIC[module] if not documented(module, n))
        assert not missing, f"{module}: {missing} not named in docs/plugins.md"
    assert documented(ROOT, "hookimpl")


def test_api_exports_exactly_what_it_documents():
    source = (REPO / "controller" / "api.py").read_text()
    lines = source.splitlines()
    assigned = {}
    for node in ast.parse(source).body:
        target = node.target if isinstance(node, ast.AnnAssign) else (node.targets[0] if isinstance(node, ast.Assign) else None)
        if isinstance(target, ast.Name) and not target.id.startswith("_"):
            assigned[target.id] = lines[node.lineno - 2].startswith("#:")
    assert set(assigned) == set(api.__all__)
    assert all(assigned.values()), [n for n, has_comment in assigned.items() if not has_comment]


def test_api_names_are_the_cores_own_objects():
    """Re-exports, not copies: a plugin and the core always agree on a name or a port."""
    from dask_operator import config, errors, hookspecs, labels, names

    assert api.hookimpl is hookspecs.hookimpl is dask_operator.hookimpl
    assert api.scheduler_name is names.scheduler_name and api.LABEL_CLUSTER == names.LABEL_CLUSTER
    assert api.get_config is config.get and api.merge_metadata is labels.merge_metadata
    assert api.RetryLater is errors.RetryLater


# --- the scanner catches what it must --------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "package", "expected"),
    [
        ("from dask_operator import names\n", None, ["dask_operator.names"]),
        ("from dask_operator.labels import merge_metadata\n", None, ["dask_operator.labels"]),
        ("import dask_operator.kube\n", None, ["dask_operator.kube"]),
        ("from dask_operator import hookspec\n", None, ["dask_operator.hookspec"]),  # public, undocumented
        ("from ._podspec import containers\n", "dask_operator.plugins", ["dask_operator.plugins._podspec"]),
        ("from .. import reconcile\n", "dask_operator.plugins", ["dask_operator.reconcile"]),
        ("from dask_operator import api\napi.names\n", None, ["dask_operator.api.names"]),
        ("import dask_operator\ndask_operator.api.scheduler_nam('x')\n", None, ["dask_operator.api.scheduler_nam"]),
        ("import dask_operator.api as a\na.kube\n", None, ["dask_operator.api.kube"]),
        ("from dask_operator.testing import installed_plugins\n", None, ["dask_operator.testing.installed_plugins"]),
    ],
)
def test_the_scan_reports_undocumented_names(source: str, package: str | None, expected: list[str]):
    assert [v.name for v in undocumented_imports(source, "plugin.py", package)] == expected


def test_the_scan_accepts_the_documented_forms():
    source = (
        "import dask_operator\n"
        "import dask_operator.api as dapi\n"
        "from dask_operator import api, hookimpl\n"
        "from dask_operator.api import scheduler_name, LABEL_CLUSTER\n"
        "from dask_operator.testing import make_cluster, render_cluster\n"
        "from dask_kubernetes.operator import KubeCluster\n"
        "from . import sibling\n"
        "api.scheduler_name('x'); dapi.GROUP; dask_operator.api.COMPONENT_WORKER; dask_operator.hookimpl\n"
        "api.get_config('cluster-domain').strip()\n"
    )
    assert undocumented_imports(source, "plugin.py", None) == []
