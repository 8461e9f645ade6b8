"""Turn Kubernetes' official OpenAPI v3 definitions into structural CRD schemas.

The CRDs embed core types (PodSpec, ServiceSpec) so the apiserver keeps and validates every
field a current Kubernetes knows. This module loads the definitions and resolves one type into a
self-contained schema that the apiextensions structural-schema rules accept:

- ``$ref`` (bare or wrapped in a single-element ``allOf``) is inlined;
- int-or-string types (``IntOrString``, ``Quantity``) become ``x-kubernetes-int-or-string``;
- list/map markers (``x-kubernetes-list-type``, ``-list-map-keys``, ``-map-type``) are kept;
- defaults are dropped (the apiserver defaults the real Pod/Service the operator creates, and a
  defaulted CR would differ from what GitOps tools applied) except on list-map keys, where a
  structural schema requires "required or defaulted";
- strategic-merge-patch and union markers, which CRD schemas do not accept, are dropped.

Anything else is rejected, so a future Kubernetes that adds a schema keyword fails the generator
loudly instead of silently changing the CRDs.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

Schema = dict[str, Any]
Describe = Callable[[tuple[str, ...], str], "str | None"]

CORE_V1_OPENAPI = "api/openapi-spec/v3/api__v1_openapi.json"
"""Path of the core/v1 OpenAPI v3 document inside the k8s.io/kubernetes Go module."""

# Kubernetes' Quantity grammar, as controller-gen writes it for CRDs: a typo such as "2GB"
# fails at apply time instead of when the operator creates the Pod.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?"
    r"(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
INT_OR_STRING_TYPES = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": None,
    "io.k8s.apimachinery.pkg.api.resource.Quantity": QUANTITY_PATTERN,
}

# Schema keywords copied as they are.
KEPT = (
    "type",
    "format",
    "enum",
    "required",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "pattern",
    "nullable",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
)
# Keywords handled by the resolver itself.
STRUCTURE = (
    "$ref",
    "allOf",
    "properties",
    "additionalProperties",
    "items",
    "description",
    "default",
)
# Keywords CRD schemas do not accept and that carry nothing the apiserver needs for a CR.
DROPPED = (
    "x-kubernetes-patch-strategy",
    "x-kubernetes-patch-merge-key",
    "x-kubernetes-unions",
    "x-kubernetes-group-version-kind",
)


class OpenAPIError(RuntimeError):
    """The Kubernetes OpenAPI document could not be obtained or has an unexpected shape."""


def go_module_openapi(kubernetes_version: str) -> Path:
    """Return the core/v1 OpenAPI v3 file of the k8s.io/kubernetes Go module at a version.

    ``go mod download`` fetches the module through the Go module proxy, or answers from the
    local module cache at no cost when it is already there.
    """
    go = shutil.which("go") or next(
        (p for p in ("/usr/local/go/bin/go", "/usr/lib/go/bin/go") if os.access(p, os.X_OK)), None
    )
    if go is None:
        raise OpenAPIError("`go` is not installed: it fetches the k8s.io/kubernetes module")
    module = f"k8s.io/kubernetes@v{kubernetes_version}"
    proc = subprocess.run(
        [go, "mod", "download", "-json", module],
        capture_output=True,
        text=True,
        env={**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"},
        cwd="/",  # outside any module: download needs no go.mod
        check=False,
    )
    try:
        info = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise OpenAPIError(f"go mod download {module} failed: {proc.stderr.strip()}") from exc
    if info.get("Error") or not info.get("Dir"):
        raise OpenAPIError(f"go mod download {module} failed: {info.get('Error') or proc.stderr}")
    path = Path(info["Dir"]) / CORE_V1_OPENAPI
    if not path.is_file():
        raise OpenAPIError(f"{module} has no {CORE_V1_OPENAPI}")
    return path


def apiserver_openapi(kubectl: str = "kubectl") -> dict[str, Any]:
    """Fetch the core/v1 OpenAPI v3 document from the apiserver kubectl is configured for."""
    proc = subprocess.run(
        [kubectl, "get", "--raw", "/openapi/v3/api/v1"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise OpenAPIError(f"kubectl get --raw /openapi/v3/api/v1 failed: {proc.stderr.strip()}")
    document: dict[str, Any] = json.loads(proc.stdout)
    return document


def load_definitions(document: Mapping[str, Any]) -> dict[str, Schema]:
    """Return the named schemas (``components.schemas``) of an OpenAPI v3 document."""
    try:
        schemas: dict[str, Schema] = dict(document["components"]["schemas"])
    except (KeyError, TypeError) as exc:
        raise OpenAPIError("not an OpenAPI v3 document: no components.schemas") from exc
    return schemas


class Resolver:
    """Inline one definition and everything it references into a structural schema.

    ``describe(path, text)`` returns the description to keep at a schema location (a tuple of
    property names, with ``[]`` for array items and ``{}`` for map values), or None to drop it:
    the full descriptions of a PodSpec alone weigh over a hundred kilobytes. By default every
    description is dropped.
    """

    def __init__(self, definitions: Mapping[str, Schema], describe: Describe | None = None) -> None:
        self.definitions = definitions
        self.describe = describe or (lambda path, text: None)

    def resolve(self, name: str) -> Schema:
        """Return the structural schema of the definition ``name`` (e.g. a PodSpec)."""
        return self._named(name, (), ())

    def _named(self, name: str, path: tuple[str, ...], stack: tuple[str, ...]) -> Schema:
        if name in INT_OR_STRING_TYPES:
            schema: Schema = {
                "anyOf": [{"type": "integer"}, {"type": "string"}],
                "x-kubernetes-int-or-string": True,
            }
            pattern = INT_OR_STRING_TYPES[name]
            if pattern:
                schema["pattern"] = pattern
            return schema
        if name in stack:
            # A recursive type (none occurs in PodSpec or ServiceSpec today) cannot be inlined:
            # keep whatever the user writes there rather than recursing forever.
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        if name not in self.definitions:
            raise OpenAPIError(f"unknown definition {name!r}")
        return self._node(self.definitions[name], path, (*stack, name), name)

    def _node(
        self, node: Schema, path: tuple[str, ...], stack: tuple[str, ...], where: str
    ) -> Schema:
        unknown = set(node) - set(KEPT) - set(STRUCTURE) - set(DROPPED)
        if node.get("format") == "int-or-string":
            unknown.discard("oneOf")
        if unknown:
            raise OpenAPIError(f"{where}: unsupported schema keywords {sorted(unknown)}")

        ref = node.get("$ref")
        all_of = node.get("allOf")
        if all_of is not None:
            if len(all_of) != 1 or set(all_of[0]) != {"$ref"}:
                raise OpenAPIError(f"{where}: allOf is only supported around a single $ref")
            ref = all_of[0]["$ref"]
        if ref is not None:
            # The referenced type, with this node's own keywords (e.g. description) on top.
            out = self._named(ref.rsplit("/", 1)[-1], path, stack)
        elif node.get("format") == "int-or-string":
            out = {
                "anyOf": [{"type": "integer"}, {"type": "string"}],
                "x-kubernetes-int-or-string": True,
            }
        else:
            out = {}

        for key in KEPT:
            if key in node and not (key == "format" and node[key] == "int-or-string"):
                out[key] = copy.deepcopy(node[key])
        if "properties" in node:
            out["properties"] = {
                prop: self._node(sub, (*path, prop), stack, f"{where}.{prop}")
                for prop, sub in sorted(node["properties"].items())
            }
        if "additionalProperties" in node:
            extra = node["additionalProperties"]
            if extra is True:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif extra is not False:
                out["additionalProperties"] = self._node(
                    extra, (*path, "{}"), stack, f"{where}{{}}"
                )
        if "items" in node:
            out["items"] = self._node(node["items"], (*path, "[]"), stack, f"{where}[]")
            self._keep_list_map_key_defaults(node, out)
        text = node.get("description") or out.get("description")
        out.pop("description", None)
        kept = self.describe(path, text) if text else None
        if kept:
            out["description"] = kept
        return out

    def _keep_list_map_key_defaults(self, node: Schema, out: Schema) -> None:
        """Re-attach the defaults of list-map keys: a structural schema needs every key to be
        required or defaulted (e.g. a container port's ``protocol`` defaults to TCP)."""
        items = self._deref(node["items"])
        required = set(items.get("required", ()))
        for key in node.get("x-kubernetes-list-map-keys", ()):
            source = items.get("properties", {}).get(key, {})
            if key not in required and "default" in source:
                out["items"]["properties"][key]["default"] = source["default"]

    def _deref(self, node: Schema) -> Schema:
        ref = node.get("$ref") or (node.get("allOf") or [{}])[0].get("$ref")
        return self.definitions[ref.rsplit("/", 1)[-1]] if ref else node
