"""Pod volumes as directories under the pod's state directory, bind-mounted by the shim.

Supported: emptyDir, configMap, secret, downwardAPI, projected (serviceAccountToken, configMap,
secret, downwardAPI) and hostPath. Other kinds become an empty directory plus a Warning event.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from . import envvars
from .kube import ApiError, Client

Obj = dict[str, Any]


class VolumeError(Exception):
    pass


def _write_files(root: Path, files: dict[str, tuple[bytes, int]]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for rel, (data, mode) in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.chmod(mode)
        os.replace(tmp, path)


def _items(data: dict[str, bytes], items: list[Obj] | None, default_mode: int) -> dict[str, tuple[bytes, int]]:
    if not items:
        return {k: (v, default_mode) for k, v in data.items()}
    out = {}
    for item in items:
        if item["key"] in data:
            out[item["path"]] = (data[item["key"]], item.get("mode", default_mode))
        elif not item.get("optional"):
            raise VolumeError(f"key {item['key']} not found")
    return out


async def _configmap(client: Client, ns: str, ref: Obj) -> dict[str, bytes] | None:
    try:
        cm = await client.get(f"/api/v1/namespaces/{ns}/configmaps/{ref['name']}")
    except ApiError as err:
        if err.status == 404:
            if ref.get("optional"):
                return None
            raise VolumeError(f'configmap "{ref["name"]}" not found') from err
        raise
    data = {k: v.encode() for k, v in (cm.get("data") or {}).items()}
    data.update({k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()})
    return data


async def _secret(client: Client, ns: str, name: str, optional: bool) -> dict[str, bytes] | None:
    try:
        secret = await client.get(f"/api/v1/namespaces/{ns}/secrets/{name}")
    except ApiError as err:
        if err.status == 404:
            if optional:
                return None
            raise VolumeError(f'secret "{name}" not found') from err
        raise
    return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}


def _downward(pod: Obj, items: list[Obj], default_mode: int) -> dict[str, tuple[bytes, int]]:
    out = {}
    for item in items:
        if item.get("fieldRef"):
            path = item["fieldRef"]["fieldPath"]
            if path in ("metadata.labels", "metadata.annotations"):
                values = pod["metadata"].get(path.split(".")[1]) or {}
                text = "\n".join(f"{k}={json.dumps(v)}" for k, v in sorted(values.items()))
            else:
                text = envvars.field_value(pod, path)
        else:
            text = "0"
        out[item["path"]] = (text.encode(), item.get("mode", default_mode))
    return out


async def token(client: Client, pod: Obj, audience: str | None, seconds: int) -> bytes:
    meta = pod["metadata"]
    sa = pod["spec"].get("serviceAccountName") or "default"
    spec: Obj = {
        "expirationSeconds": seconds,
        "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]},
    }
    if audience:
        spec["audiences"] = [audience]
    resp = await client.create(
        f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/{sa}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})
    return resp["status"]["token"].encode()


async def materialize(client: Client, pod: Obj, root: Path) -> tuple[dict[str, str], list[str]]:
    """Writes every volume; returns {volume name: host path} and warnings."""
    ns = pod["metadata"]["namespace"]
    paths: dict[str, str] = {}
    warnings: list[str] = []
    for vol in pod["spec"].get("volumes") or []:
        name = vol["name"]
        target = root / name
        if vol.get("hostPath"):
            paths[name] = vol["hostPath"]["path"]
            continue
        target.mkdir(parents=True, exist_ok=True)
        paths[name] = str(target)
        if "emptyDir" in vol:
            continue
        if vol.get("configMap"):
            src = vol["configMap"]
            data = await _configmap(client, ns, src)
            if data is not None:
                _write_files(target, _items(data, src.get("items"), src.get("defaultMode", 0o644)))
        elif vol.get("secret"):
            src = vol["secret"]
            data = await _secret(client, ns, src["secretName"], src.get("optional", False))
            if data is not None:
                _write_files(target, _items(data, src.get("items"), src.get("defaultMode", 0o644)))
        elif vol.get("downwardAPI"):
            src = vol["downwardAPI"]
            _write_files(target, _downward(pod, src.get("items") or [], src.get("defaultMode", 0o644)))
        elif vol.get("projected"):
            mode = vol["projected"].get("defaultMode", 0o644)
            files: dict[str, tuple[bytes, int]] = {}
            for source in vol["projected"].get("sources") or []:
                if source.get("serviceAccountToken"):
                    t = source["serviceAccountToken"]
                    files[t["path"]] = (await token(client, pod, t.get("audience"),
                                                    t.get("expirationSeconds", 3607)), mode)
                elif source.get("configMap"):
                    data = await _configmap(client, ns, source["configMap"])
                    if data is not None:
                        files.update(_items(data, source["configMap"].get("items"), mode))
                elif source.get("secret"):
                    s = source["secret"]
                    data = await _secret(client, ns, s["name"], s.get("optional", False))
                    if data is not None:
                        files.update(_items(data, s.get("items"), mode))
                elif source.get("downwardAPI"):
                    files.update(_downward(pod, source["downwardAPI"].get("items") or [], mode))
            _write_files(target, files)
        else:
            kind = next((k for k in vol if k != "name"), "unknown")
            warnings.append(f"volume {name!r}: {kind} is not supported by the local cluster; "
                            "using an empty directory")
    return paths, warnings
