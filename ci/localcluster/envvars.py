"""A container's environment and `$(VAR)` expansion, as the kubelet computes them.

Pure functions: the caller fetches the ConfigMaps and Secrets a container refers to
(`referenced_objects`) and passes their data in.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

Obj = Mapping[str, Any]


class ContainerConfigError(Exception):
    """A missing non-optional reference: the container waits with CreateContainerConfigError."""


def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """Kubernetes' `$(VAR)` expansion: `$$` escapes, unknown or unterminated references stay."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    n = len(text)
    while cursor < n:
        if text[cursor] == "$" and cursor + 1 < n:
            out.append(text[checkpoint:cursor])
            rest = text[cursor + 1:]
            if rest[0] == "$":
                out.append("$")
                advance = 1
            elif rest[0] == "(":
                close = rest.find(")", 1)
                if close == -1:
                    out.append("$(")
                    advance = 1
                else:
                    name = rest[1:close]
                    value = lookup(name)
                    out.append(f"$({name})" if value is None else value)
                    advance = close + 1
            else:
                out.append("$" + rest[0])
                advance = 1
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


def chained(*maps: Mapping[str, str]) -> Callable[[str], str | None]:
    def lookup(name: str) -> str | None:
        for m in maps:
            if name in m:
                return m[name]
        return None
    return lookup


_ENV_NAME = re.compile(r"^[^=\x00-\x1f\x7f]+$")


def valid_env_name(name: str) -> bool:
    """Since Kubernetes 1.32 any printable ASCII except '=' is allowed (RelaxedEnvironmentVariableValidation)."""
    return bool(_ENV_NAME.match(name)) and name.isascii()


def referenced_objects(container: Obj) -> tuple[set[str], set[str]]:
    """Names of the ConfigMaps and Secrets the container's env and envFrom read."""
    configmaps: set[str] = set()
    secrets: set[str] = set()
    for src in container.get("envFrom") or []:
        if src.get("configMapRef"):
            configmaps.add(src["configMapRef"]["name"])
        if src.get("secretRef"):
            secrets.add(src["secretRef"]["name"])
    for var in container.get("env") or []:
        vf = var.get("valueFrom") or {}
        if vf.get("configMapKeyRef"):
            configmaps.add(vf["configMapKeyRef"]["name"])
        if vf.get("secretKeyRef"):
            secrets.add(vf["secretKeyRef"]["name"])
    return configmaps, secrets


def secret_data(secret: Obj) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.get("data") or {}).items()}
    data.update(secret.get("stringData") or {})
    return data


_LABEL_REF = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


def field_value(pod: Obj, path: str) -> str:
    meta = pod.get("metadata", {})
    spec = pod.get("spec", {})
    status = pod.get("status", {})
    m = _LABEL_REF.match(path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": status.get("hostIP", ""),
        "status.hostIPs": ",".join(i["ip"] for i in status.get("hostIPs") or []),
        "status.podIP": status.get("podIP", ""),
        "status.podIPs": ",".join(i["ip"] for i in status.get("podIPs") or []),
    }
    if path not in simple:
        raise ContainerConfigError(f"unsupported fieldRef {path!r}")
    return str(simple[path])


_SUFFIXES: dict[str, int | Decimal] = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|)$")


def parse_quantity(q: str | int | float) -> Decimal:
    m = _QUANTITY.match(str(q).strip())
    if not m:
        raise ValueError(f"invalid quantity {q!r}")
    return Decimal(m.group(1)) * Decimal(_SUFFIXES[m.group(2)])


def resource_value(container: Obj, ref: Obj, allocatable: Mapping[str, str]) -> str:
    """resourceFieldRef: a limit falls back to the node's allocatable, rounded up by divisor."""
    resource = ref["resource"]
    kind, _, name = resource.partition(".")
    resources = container.get("resources") or {}
    value = (resources.get(kind) or {}).get(name)
    if value is None and kind == "requests":
        value = (resources.get("limits") or {}).get(name)
    if value is None:
        value = allocatable.get(name, "0") if kind == "limits" else "0"
    divisor = parse_quantity(ref.get("divisor") or "1")
    return str(math.ceil(parse_quantity(value) / divisor))


def service_env(services: Sequence[Obj], enable_links: bool) -> dict[str, str]:
    """The docker-link style variables for Services (KUBERNETES_* always, others if enabled)."""
    env: dict[str, str] = {}
    for svc in services:
        meta, spec = svc["metadata"], svc.get("spec", {})
        ip = spec.get("clusterIP")
        if not ip or ip == "None":
            continue
        is_master = meta["name"] == "kubernetes" and meta.get("namespace") == "default"
        if not enable_links and not is_master:
            continue
        ports = spec.get("ports") or []
        if not ports:
            continue
        prefix = meta["name"].upper().replace("-", "_")
        env[f"{prefix}_SERVICE_HOST"] = ip
        env[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
        for port in ports:
            if port.get("name"):
                env[f"{prefix}_SERVICE_PORT_{port['name'].upper().replace('-', '_')}"] = str(port["port"])
        first = ports[0]
        proto = first.get("protocol", "TCP").lower()
        env[f"{prefix}_PORT"] = f"{proto}://{ip}:{first['port']}"
        for port in ports:
            proto = port.get("protocol", "TCP")
            base = f"{prefix}_PORT_{port['port']}_{proto.upper()}"
            env[base] = f"{proto.lower()}://{ip}:{port['port']}"
            env[base + "_PROTO"] = proto.lower()
            env[base + "_PORT"] = str(port["port"])
            env[base + "_ADDR"] = ip
    return env


def container_env(
    pod: Obj,
    container: Obj,
    services: Mapping[str, str],
    configmaps: Mapping[str, Mapping[str, str] | None],
    secrets: Mapping[str, Mapping[str, str] | None],
    allocatable: Mapping[str, str],
) -> dict[str, str]:
    """The container's environment in the kubelet's order: envFrom, env (expanded), services.

    configmaps/secrets map a name to its (decoded) data, or None when it does not exist.
    """
    env: dict[str, str] = {}

    def source(kind: str, table: Mapping[str, Mapping[str, str] | None], ref: Obj) -> Mapping[str, str] | None:
        data = table.get(ref["name"])
        if data is None and not ref.get("optional", False):
            raise ContainerConfigError(f'{kind} "{ref["name"]}" not found')
        return data

    for src in container.get("envFrom") or []:
        prefix = src.get("prefix", "")
        if src.get("configMapRef"):
            data = source("configmap", configmaps, src["configMapRef"])
        else:
            data = source("secret", secrets, src["secretRef"])
        for key, value in (data or {}).items():
            if valid_env_name(prefix + key):
                env[prefix + key] = value

    for var in container.get("env") or []:
        name = var["name"]
        vf = var.get("valueFrom")
        if var.get("value") or not vf:
            env[name] = expand(var.get("value", ""), chained(env, services))
            continue
        if vf.get("fieldRef"):
            env[name] = field_value(pod, vf["fieldRef"]["fieldPath"])
        elif vf.get("resourceFieldRef"):
            env[name] = resource_value(container, vf["resourceFieldRef"], allocatable)
        else:
            kind, table, ref = (
                ("configmap", configmaps, vf["configMapKeyRef"]) if vf.get("configMapKeyRef")
                else ("secret", secrets, vf["secretKeyRef"])
            )
            data = source(kind, table, ref)
            if data is None:
                continue
            if ref["key"] not in data:
                if ref.get("optional", False):
                    continue
                raise ContainerConfigError(
                    f"couldn't find key {ref['key']} in {kind.capitalize()} "
                    f"{pod['metadata'].get('namespace')}/{ref['name']}")
            env[name] = data[ref["key"]]

    for key, value in services.items():
        env.setdefault(key, value)
    return env


def expand_command(container: Obj, env: Mapping[str, str]) -> tuple[list[str], list[str]]:
    lookup = chained(env)
    command = [expand(c, lookup) for c in container.get("command") or []]
    args = [expand(a, lookup) for a in container.get("args") or []]
    return command, args
