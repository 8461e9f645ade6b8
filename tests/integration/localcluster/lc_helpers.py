"""Small polling helpers for the local cluster's acceptance tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
IMAGE = "ghcr.io/dask/dask:latest"


def wait_for(check: Callable[[], T], what: str, timeout: float = 60, interval: float = 0.3) -> T:
    """Polls check() until it returns something truthy; fails naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


def get(kubectl: Callable[..., Any], *args: str) -> dict[str, Any]:
    proc = kubectl("get", *args, "-o", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else {}


def pod_phase(kubectl: Callable[..., Any], ns: str, name: str) -> str:
    return get(kubectl, "pod", name, "-n", ns).get("status", {}).get("phase", "")


def wait_phase(kubectl: Callable[..., Any], ns: str, name: str, phases: set[str],
               timeout: float = 60) -> str:
    return wait_for(lambda: (p := pod_phase(kubectl, ns, name)) in phases and p,
                    f"pod {ns}/{name} to reach {sorted(phases)}", timeout)


def events(kubectl: Callable[..., Any], ns: str, name: str) -> list[dict[str, Any]]:
    doc = get(kubectl, "events", "-n", ns, "--field-selector", f"involvedObject.name={name}")
    return doc.get("items", [])


def apply(kubectl: Callable[..., Any], ns: str, manifest: dict[str, Any] | list[dict[str, Any]]) -> None:
    docs = manifest if isinstance(manifest, list) else [manifest]
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                             "items": docs}))


REPO = Path(__file__).resolve().parents[3]


def process_command_lines() -> dict[str, str]:
    """Every running process's command line (pid -> arguments joined by spaces)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                found[proc.name] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
    return found


def side_instance() -> int:
    """The instance for a second, short-lived cluster next to the run's one (see
    ci/localcluster/README.md): $DASK_LOCALCLUSTER_SIDE_INSTANCE, else 1 (2 if the run uses 1)."""
    chosen = os.environ.get("DASK_LOCALCLUSTER_SIDE_INSTANCE")
    if chosen:
        return int(chosen)
    return 1 if os.environ.get("DASK_LOCALCLUSTER_INSTANCE", "0") != "1" else 2


class SideCluster:
    """A cluster of its own (instance side_instance(), state in `state`) for tests that need a
    fresh start or break the control plane; `down` removes it."""

    def __init__(self, state: Path, **env: str) -> None:
        self.state = state
        self.env = dict(os.environ, DASK_LOCALCLUSTER_INSTANCE=str(side_instance()),
                        DASK_LOCALCLUSTER_STATE=str(state), **env)
        self.env.pop("KUBECONFIG", None)
        self.kubeconfig = str(state / "admin.kubeconfig")
        self.bin_dir = subprocess.run(["bash", str(REPO / "ci" / "build-tools.sh")], check=True,
                                      stdout=subprocess.PIPE, text=True).stdout.split()[-1]

    def cluster(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`ci/cluster ARGS` for this cluster; fails the test if it fails."""
        proc = subprocess.run([str(REPO / "ci" / "cluster"), *args], env=self.env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"ci/cluster {' '.join(args)}: {proc.stderr}"
        return proc

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(Path(self.bin_dir) / "kubectl"), "--kubeconfig", self.kubeconfig, *args],
                              input=input, capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def pid(self, component: str) -> int:
        """The process id of a running component (from its pid file)."""
        return int((self.state / "run" / f"{component}.pid").read_text().split()[0])

    def down(self) -> None:
        subprocess.run([str(REPO / "ci" / "cluster"), "down"], env=self.env, capture_output=True,
                       timeout=300)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_answer(port: int) -> bytes | None:
    """The body at http://127.0.0.1:<port>/, or None while nothing answers there."""
    try:
        body: bytes = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
        return body
    except OSError:
        return None
