#!/usr/bin/env python3
"""Fetch the real CRDs of Istio and cert-manager from their Go modules; print the YAML paths.

    python plugins-examples/fetch_crds.py istio cert-manager

Each project publishes its CRDs in its Go module (``istio.io/api`` ships
``kubernetes/customresourcedefinitions.gen.yaml``; ``github.com/cert-manager/cert-manager``
ships ``deploy/crds/*.yaml``), so ``go mod download`` from the Go module proxy gets exactly the
definitions a real installation applies. Files are copied to
``~/.cache/dask-kubernetes-operator/plugin-crds/<project>-<version>/`` (override with
``$DASK_PLUGIN_CRDS_CACHE``); a second run makes no network call.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# project -> (Go module, version, files inside the module)
SOURCES: dict[str, tuple[str, str, list[str]]] = {
    "istio": ("istio.io/api", "v1.32.0", ["kubernetes/customresourcedefinitions.gen.yaml"]),
    "cert-manager": (
        "github.com/cert-manager/cert-manager",
        "v1.21.2",
        [
            "deploy/crds/cert-manager.io_certificates.yaml",
            "deploy/crds/cert-manager.io_certificaterequests.yaml",
            "deploy/crds/cert-manager.io_issuers.yaml",
            "deploy/crds/cert-manager.io_clusterissuers.yaml",
            "deploy/crds/acme.cert-manager.io_challenges.yaml",
            "deploy/crds/acme.cert-manager.io_orders.yaml",
        ],
    ),
}


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "dask-kubernetes-operator" / "plugin-crds"
    return Path(os.environ.get("DASK_PLUGIN_CRDS_CACHE", default))


def fetch(project: str) -> list[Path]:
    """The CRD files of ``project``, downloaded on first use."""
    module, version, files = SOURCES[project]
    target = cache_dir() / f"{project}-{version}"
    wanted = [target / Path(f).name for f in files]
    if all(p.exists() for p in wanted):
        return wanted
    go = shutil.which("go")
    if go is None:
        raise SystemExit("fetch_crds: the 'go' command is needed to download Go modules")
    with tempfile.TemporaryDirectory() as empty:  # outside any Go module: no go.mod is read
        proc = subprocess.run(
            [go, "mod", "download", "-json", f"{module}@{version}"],
            cwd=empty, capture_output=True, text=True, env={**os.environ, "GOFLAGS": "-mod=mod"},
        )
    info = json.loads(proc.stdout or "{}")
    if proc.returncode != 0 or info.get("Error") or not info.get("Dir"):
        raise SystemExit(f"fetch_crds: go mod download {module}@{version} failed: {info.get('Error') or proc.stderr}")
    target.mkdir(parents=True, exist_ok=True)
    for rel, dest in zip(files, wanted, strict=True):
        shutil.copyfile(Path(info["Dir"]) / rel, dest)
        dest.chmod(0o644)  # the module cache is read-only
    return wanted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("projects", nargs="+", choices=sorted(SOURCES))
    args = parser.parse_args(argv)
    for project in args.projects:
        for path in fetch(project):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
