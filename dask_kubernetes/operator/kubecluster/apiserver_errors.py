"""Errors talking to the Kubernetes API server, said in words a user can act on.

Which server was tried, with which credentials (kubeconfig file and context, or the pod's
service account), and what to check: instead of a raw aiohttp or kubernetes_asyncio traceback.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp
import yaml
from kubernetes_asyncio import config

from dask_kubernetes.operator.kubecluster.errors import (
    KubeClusterError,
    KubernetesConfigError,
    KubernetesCredentialsError,
    KubernetesUnreachableError,
)

# What a failed connection to the API server looks like from kubernetes_asyncio.
CONNECTION_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError)


@dataclass(frozen=True)
class Source:
    """Where the client's server and credentials come from."""

    server: str
    kubeconfig: str | None = None  # None: the pod's service account
    context: str | None = None

    def describe(self) -> str:
        if self.kubeconfig is None:
            return f"{self.server} (the pod's service account)"
        context = f"context {self.context!r}" if self.context else "its current context"
        return f"{self.server} (kubeconfig {self.kubeconfig}, {context})"

    def kubectl(self, *args: str) -> str:
        """The kubectl command that makes the same request, to try by hand."""
        context = f" --context {self.context}" if self.context else ""
        kubeconfig = f"KUBECONFIG={self.kubeconfig} " if self.kubeconfig else ""
        return f"{kubeconfig}kubectl{context} {' '.join(args)}"


def kubeconfig_source(server: str, kubeconfig: str) -> Source:
    try:
        _, active = config.list_kube_config_contexts(config_file=kubeconfig)
    except (config.ConfigException, OSError):
        active = None
    return Source(server, kubeconfig, str((active or {}).get("name") or "") or None)


def unreachable(source: Source, error: BaseException) -> KubernetesUnreachableError:
    detail = str(error) or type(error).__name__
    tls = isinstance(error, aiohttp.ClientSSLError)
    checks = (
        "the server's certificate is not trusted: check certificate-authority-data of the cluster in "
        "your kubeconfig" if tls else
        "that the cluster is running and reachable from this machine (VPN, proxy, firewall, a local "
        "cluster that was stopped)"
    )
    where = (
        "that KUBECONFIG and its current context point at the cluster you mean "
        f"(`kubectl config get-contexts`; `{source.kubectl('cluster-info')}` tries the same server)"
        if source.kubeconfig else "that the pod can reach the API server (NetworkPolicies, the kubernetes Service)"
    )
    return KubernetesUnreachableError(
        f"Cannot reach the Kubernetes API server at {source.describe()}: {detail}. Check {checks}, and {where}."
    )


def unauthorized(source: Source, message: str) -> KubernetesCredentialsError:
    how = (
        f"Log in again or refresh the token (e.g. your cloud CLI's get-credentials command); "
        f"`{source.kubectl('get', 'namespaces')}` fails the same way until it is fixed"
        if source.kubeconfig else "The pod's service account token is invalid; restart the pod"
    )
    return KubernetesCredentialsError(
        f"The Kubernetes API server at {source.describe()} rejected the credentials (401 Unauthorized: "
        f"{message}): the token or client certificate is expired, revoked or invalid. {how}."
    )


def bad_kubeconfig(kubeconfig: str, error: BaseException) -> KubeClusterError:
    detail = str(error)
    if "contexts list" in detail or "current-context" in detail or "context" in detail.lower():
        try:
            with open(kubeconfig) as file:
                document = yaml.safe_load(file) or {}
            names = ", ".join(repr(c.get("name")) for c in document.get("contexts") or []) or "none"
            current = f" (current-context: {document.get('current-context')!r})"
        except (OSError, yaml.YAMLError, AttributeError):
            names, current = "none readable", ""
        return KubernetesConfigError(
            f"The kubeconfig {kubeconfig} does not name a usable context{current}: {detail}. Its contexts: {names}. "
            f"Pick one with `KUBECONFIG={kubeconfig} kubectl config use-context NAME`, or point KUBECONFIG "
            "at another kubeconfig."
        )
    return KubernetesConfigError(
        f"No usable Kubernetes credentials in {kubeconfig}: {detail}. Point KUBECONFIG at a kubeconfig, "
        "or run inside a pod with a service account."
    )
