"""KubeCluster with a kubeconfig whose token the real local API server rejects (expired or
revoked credentials): an error naming the server, the kubeconfig and context, and what to do;
no raw ApiException traceback. (Unreachable server and wrong context: tests/unit.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dask_kubernetes.operator import KubeCluster
from dask_kubernetes.operator.kubecluster import KubeClusterError, KubernetesCredentialsError

pytestmark = pytest.mark.e2e


def with_bad_token(k8s: Any, tmp_path: Path) -> tuple[Path, str]:
    """The test cluster's server and CA, a user with a token the API server never issued."""
    config = yaml.safe_load(Path(k8s.kubeconfig).read_text())
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c for c in config["clusters"] if c["name"] == context["context"]["cluster"])
    bad = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "expired", "user": {"token": "expired-or-revoked-token"}}],
        "contexts": [{"name": "expired-login", "context": {"cluster": cluster["name"], "user": "expired"}}],
        "current-context": "expired-login",
    }
    path = tmp_path / "expired.kubeconfig"
    path.write_text(yaml.safe_dump(bad))
    return path, str(cluster["cluster"]["server"])


async def test_rejected_token_says_which_server_and_how_to_refresh(k8s: Any, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path, server = with_bad_token(k8s, tmp_path)
    monkeypatch.setenv("KUBECONFIG", str(path))
    with pytest.raises(KubernetesCredentialsError) as caught:
        await KubeCluster(name="unauthorized", n_workers=1, asynchronous=True)
    message = str(caught.value)
    assert server in message and str(path) in message and "'expired-login'" in message
    assert "401 Unauthorized" in message and "expired" in message
    assert "kubectl --context expired-login get namespaces" in message
    assert isinstance(caught.value, KubeClusterError) and isinstance(caught.value, PermissionError)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no ApiException dump
