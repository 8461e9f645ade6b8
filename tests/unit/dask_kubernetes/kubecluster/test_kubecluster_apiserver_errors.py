"""KubeCluster errors before it reaches the API server: an unreachable server, a kubeconfig
whose current context names nothing. The message says what was tried and what to check, and no
aiohttp traceback is chained to it. (A rejected token: tests/e2e/test_kubecluster_client_errors.py.)"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from dask_kubernetes.operator import KubeCluster
from dask_kubernetes.operator.kubecluster import KubernetesConfigError, KubernetesUnreachableError


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kubeconfig(tmp_path: Path, server: str, current: str = "mine") -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "mine", "context": {"cluster": "c", "user": "u", "namespace": "ns"}},
                     {"name": "other", "context": {"cluster": "c", "user": "u"}}],
        "current-context": current,
    }))
    return path


async def test_unreachable_api_server_names_the_server_and_what_to_check(tmp_path, monkeypatch):
    port = closed_port()
    path = kubeconfig(tmp_path, f"https://127.0.0.1:{port}")
    monkeypatch.setenv("KUBECONFIG", str(path))
    with pytest.raises(KubernetesUnreachableError) as caught:
        await KubeCluster(name="nowhere", n_workers=1, asynchronous=True)
    message = str(caught.value)
    assert f"https://127.0.0.1:{port}" in message
    assert str(path) in message and "'mine'" in message
    assert "kubectl --context mine cluster-info" in message
    assert "reachable" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no aiohttp traceback
    assert isinstance(caught.value, ConnectionError)


async def test_kubeconfig_whose_context_names_nothing_lists_the_contexts(tmp_path, monkeypatch):
    path = kubeconfig(tmp_path, "https://127.0.0.1:1", current="gone")
    monkeypatch.setenv("KUBECONFIG", str(path))
    with pytest.raises(KubernetesConfigError) as caught:
        await KubeCluster(name="nowhere", n_workers=1, asynchronous=True)
    message = str(caught.value)
    assert "gone" in message and "'mine', 'other'" in message
    assert "kubectl config use-context" in message and str(path) in message
    assert caught.value.__cause__ is None
