#!/usr/bin/env python3
"""Regenerate the generated parts of docs/plugins.md (the plugin author guide).

    python ci/gen_plugin_docs.py            # rewrite docs/plugins.md in place
    python ci/gen_plugin_docs.py --check    # exit 1 if docs/plugins.md is out of date

The guide's prose is written by hand; the blocks between ``<!-- BEGIN GENERATED: <name> -->`` and
``<!-- END GENERATED: <name> -->`` are produced here, so they cannot drift from the code:

* ``hooks``: every hook of ``controller/hookspecs.py`` grouped by its section, with its kind
  (pure, firstresult, notification), when it is called and what it returns, and which example
  plugin implements it;
* ``examples``: each project of ``plugins-examples/`` with its entry points and the hooks and
  kopf handlers of each entry point's module (read from the source with ``ast``, without
  importing the examples);
* ``minimal``: the source of the minimal example's plugin module and its entry points, the
  tutorial's first step;
* ``api``: every name of ``dask_operator.api`` (the plugin API), grouped by the section comments
  of ``controller/api.py``, with its value or signature and the ``#:`` comment above it.

Run it with the project's venv (it imports ``dask_operator.hookspecs`` and ``dask_operator.api``).
"""

from __future__ import annotations

import argparse
import ast
import difflib
import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "plugins.md"
EXAMPLES = REPO / "plugins-examples"
HOOKSPECS = REPO / "controller" / "hookspecs.py"
API = REPO / "controller" / "api.py"
ENTRY_POINT_GROUP = "dask_operator_plugin"

BEGIN = "<!-- BEGIN GENERATED: {name} (ci/gen_plugin_docs.py; do not edit) -->"
END = "<!-- END GENERATED: {name} -->"
_BLOCK = re.compile(r"<!-- BEGIN GENERATED: (?P<name>[\w-]+) .*?-->\n.*?<!-- END GENERATED: (?P=name) -->", re.S)


@dataclass
class Hook:
    name: str
    section: str
    signature: str
    kind: str
    when: str
    returns: str


def _markdown(text: str) -> str:
    """reST inline literals (``x``) to Markdown (`x`), lines joined."""
    return " ".join(text.replace("``", "`").split())


def _field(doc: str, label: str) -> str:
    """The text after ``label`` (e.g. ``When:``) up to the next field."""
    match = re.search(rf"{label}\s*(.*?)(?=\n\s*(?:When|Params|Returns):|\Z)", doc, re.S)
    return _markdown(match.group(1)) if match else ""


def _first_sentence(text: str) -> str:
    """Up to the first full stop followed by a capital letter or the end ("e.g." does not end it)."""
    match = re.match(r"(.+?\.)(?=\s+[A-Z`]|$)", text)
    return match.group(1) if match else text


def hooks() -> list[Hook]:
    """Every hookspec in source order, with the section comment it sits under."""
    from dask_operator import hookspecs  # the installed (editable) operator: controller/
    source = HOOKSPECS.read_text()
    sections = [(m.start(), m.group(1).strip()) for m in re.finditer(r"^# --- (.+?) -+$", source, re.M)]
    result = []
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef) or not node.name.startswith("dask_"):
            continue
        offset = len("".join(source.splitlines(keepends=True)[: node.lineno - 1]))
        section = next((title for start, title in reversed(sections) if start < offset), "Hooks")
        fn: Callable[..., object] = getattr(hookspecs, node.name)
        opts = getattr(fn, f"{hookspecs.PROJECT_NAME}_spec")
        doc = inspect.getdoc(fn) or ""
        if node.name in hookspecs.ASYNC_HOOKS:
            kind = "notification (may be async)"
        elif opts.get("firstresult"):
            kind = "pure, firstresult"
        else:
            kind = "pure"
        params = ", ".join(a.arg for a in node.args.args)
        result.append(
            Hook(
                name=node.name,
                section=section,
                signature=f"{node.name}({params})",
                kind=kind,
                when=_first_sentence(_field(doc, "When:")),
                returns=_first_sentence(_field(doc, "Returns:")),
            )
        )
    return result


@dataclass
class EntryPoint:
    name: str
    module: str
    hooks: list[str]
    kopf_handlers: list[str]


@dataclass
class Example:
    directory: str
    distribution: str
    description: str
    entry_points: list[EntryPoint]


def _module_path(project: Path, module: str) -> Path:
    return project.joinpath(*module.split(".")).with_suffix(".py")


def _implementations(path: Path) -> tuple[list[str], list[str]]:
    """(hook implementations, kopf handlers) defined at the top level of a module."""
    hook_names, handlers = [], []
    for node in ast.parse(path.read_text()).body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            text = ast.unparse(target)
            if text.split(".")[-1] == "hookimpl" and node.name.startswith("dask_"):
                hook_names.append(node.name)
            elif text.startswith("kopf."):
                handlers.append(f"{node.name} (@{text})")
    return sorted(set(hook_names)), handlers


def examples() -> list[Example]:
    result = []
    for pyproject in sorted(EXAMPLES.glob("*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        entry_points = []
        for name, module in sorted(project.get("entry-points", {}).get(ENTRY_POINT_GROUP, {}).items()):
            hook_names, handlers = _implementations(_module_path(pyproject.parent, module))
            entry_points.append(EntryPoint(name, module, hook_names, handlers))
        result.append(Example(pyproject.parent.name, project["name"], project.get("description", ""), entry_points))
    return result


@dataclass
class ApiName:
    name: str
    section: str
    usage: str  # ``NAME = value``, ``function(params)`` or the bare name
    doc: str


def _sections(source: str) -> list[tuple[int, str]]:
    """(line number, title) of every ``# --- title ---`` comment."""
    return [
        (source.count("\n", 0, m.start()) + 1, m.group(1).strip())
        for m in re.finditer(r"^# --- (.+?) -+$", source, re.M)
    ]


def _doc_comment(lines: list[str], lineno: int) -> str:
    """The ``#:`` comment lines directly above line ``lineno`` (1-based), joined."""
    found: list[str] = []
    index = lineno - 2
    while index >= 0 and lines[index].startswith("#:"):
        found.insert(0, lines[index][2:].strip())
        index -= 1
    return _markdown(" ".join(found))


def _usage(name: str, value: object) -> str:
    if inspect.isfunction(value) or inspect.isclass(value):
        params = inspect.signature(value).parameters.values()
        return f"{name}({', '.join(str(p.replace(annotation=inspect.Parameter.empty)) for p in params)})"
    if isinstance(value, str | int | float | bool):
        return f"{name} = {value!r}".replace("'", '"')
    return name


def api_names() -> list[ApiName]:
    """Every name assigned at the top level of controller/api.py, in source order."""
    from dask_operator import api  # the installed (editable) operator: controller/

    source = API.read_text()
    lines = source.splitlines()
    sections = _sections(source)
    result = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name = node.target.id
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
        else:
            continue
        if name.startswith("_"):
            continue
        section = next((title for line, title in reversed(sections) if line < node.lineno), "API")
        result.append(ApiName(name, section, _usage(name, getattr(api, name)), _doc_comment(lines, node.lineno)))
    return result


# --- blocks -------------------------------------------------------------------------------------


def hooks_block() -> str:
    used: dict[str, list[str]] = {}
    for example in examples():
        for ep in example.entry_points:
            for hook_name in ep.hooks:
                used.setdefault(hook_name, []).append(example.directory)
    lines: list[str] = []
    section = None
    for hook in hooks():
        if hook.section != section:
            section = hook.section
            lines += ["", f"#### {section}", "", "| hook | kind | called | returns | examples |", "|---|---|---|---|---|"]
        anchor = hook.name  # docs/hooks.md has a heading per hook
        examples_using = ", ".join(sorted(set(used.get(hook.name, [])))) or "-"
        lines.append(
            f"| [`{hook.signature}`](hooks.md#{anchor}) | {hook.kind} | {hook.when} | {hook.returns} | {examples_using} |"
        )
    return "\n".join(lines[1:])


def examples_block() -> str:
    lines = ["| project | distribution | entry point = module | hooks / kopf handlers |", "|---|---|---|---|"]
    for example in examples():
        for ep in example.entry_points:
            what = ", ".join([f"`{h}`" for h in ep.hooks] + [f"kopf `{h}`" for h in ep.kopf_handlers]) or "-"
            lines.append(
                f"| [`{example.directory}/`](../plugins-examples/{example.directory}/README.md) | `{example.distribution}` "
                f"| `{ep.name} = {ep.module}` | {what} |"
            )
    return "\n".join(lines)


def minimal_block() -> str:
    project = EXAMPLES / "minimal"
    source = (project / "dask_operator_minimal" / "plugin.py").read_text().rstrip()
    pyproject = (project / "pyproject.toml").read_text()
    section = re.search(r"^\[project\.entry-points\.dask_operator_plugin\]\n(?:.+\n)+", pyproject, re.M)
    assert section, "plugins-examples/minimal/pyproject.toml has no dask_operator_plugin entry points"
    return "\n".join(
        [
            "`dask_operator_minimal/plugin.py`:",
            "",
            "```python",
            source,
            "```",
            "",
            "`pyproject.toml` (the entry points):",
            "",
            "```toml",
            section.group(0).rstrip(),
            "```",
        ]
    )


def api_block() -> str:
    lines: list[str] = []
    section = None
    for entry in api_names():
        if entry.section != section:
            section = entry.section
            lines += ["", f"#### {section}", "", "| name | what |", "|---|---|"]
        lines.append(f"| `{entry.usage}` | {entry.doc} |")
    return "\n".join(lines[1:])


BLOCKS: dict[str, Callable[[], str]] = {
    "hooks": hooks_block,
    "examples": examples_block,
    "minimal": minimal_block,
    "api": api_block,
}


def render(text: str) -> str:
    """``text`` with every generated block replaced by its current content."""
    found = {m.group("name") for m in _BLOCK.finditer(text)}
    missing = set(BLOCKS) - found
    if missing:
        raise SystemExit(f"{DOC}: no generated block(s) {sorted(missing)}; add BEGIN/END markers")

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in BLOCKS:
            raise SystemExit(f"{DOC}: unknown generated block {name!r}")
        return f"{BEGIN.format(name=name)}\n\n{BLOCKS[name]()}\n\n{END.format(name=name)}"

    return _BLOCK.sub(replace, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the generated blocks of docs/plugins.md.")
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/plugins.md is out of date")
    parser.add_argument("--doc", type=Path, default=DOC, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    current = args.doc.read_text()
    wanted = render(current)
    if args.check:
        if wanted != current:
            diff = difflib.unified_diff(current.splitlines(), wanted.splitlines(), str(args.doc), "generated", lineterm="")
            print("\n".join(list(diff)[:80]))
            print(f"{args.doc} is out of date: run python ci/gen_plugin_docs.py", file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        args.doc.write_text(wanted)
        print(f"updated {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
