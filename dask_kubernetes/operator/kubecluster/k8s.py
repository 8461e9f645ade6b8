"""The Kubernetes calls KubeCluster makes, on kubernetes_asyncio (never kopf)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.stream import WsApiClient

from dask_kubernetes.operator.kubecluster.apiserver_errors import Source, kubeconfig_source
from dask_kubernetes.operator.kubecluster.errors import CRDsNotInstalledError

GROUP = "kubernetes.dask.org"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
CLUSTERS = "daskclusters"
WORKER_GROUPS = "daskworkergroups"
AUTOSCALERS = "daskautoscalers"
JOBS = "daskjobs"

CLUSTER_LABEL = "dask.org/cluster-name"
COMPONENT_LABEL = "dask.org/component"

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")

INSTALL_HINT = (
    "Install the Dask Operator (its CRDs come with the chart), for example:\n"
    "  helm install --repo https://helm.dask.org --create-namespace -n dask-operator "
    "--generate-name dask-kubernetes-operator\n"
    "or, from a checkout of this repository: "
    "helm install --create-namespace -n dask-operator --generate-name chart/"
)


def running_in_pod() -> bool:
    """True inside a Kubernetes pod (the kubelet injects the apiserver Service address)."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def _has_service_account() -> bool:
    return running_in_pod() and (SERVICE_ACCOUNT_DIR / "token").exists()


def kubeconfig_path() -> str:
    """$KUBECONFIG as it is now (kubernetes_asyncio reads it only once, at import)."""
    return os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


def current_namespace() -> str:
    """The pod's namespace in-cluster, else the kubeconfig context's namespace, else default."""
    if _has_service_account():
        try:
            namespace = (SERVICE_ACCOUNT_DIR / "namespace").read_text().strip()
        except OSError:
            namespace = ""
        if namespace:
            return namespace
    try:
        _, active = config.list_kube_config_contexts(config_file=kubeconfig_path())
    except (config.ConfigException, OSError):
        return "default"
    context_namespace = ((active or {}).get("context") or {}).get("namespace")
    return str(context_namespace or "default")


async def load_configuration() -> tuple[client.Configuration, Source]:
    """Credentials from the service account in-cluster, else from the kubeconfig, and where
    they came from (for error messages)."""
    configuration = client.Configuration()
    if _has_service_account() and not os.environ.get("KUBECONFIG"):
        config.load_incluster_config(client_configuration=configuration)
        return configuration, Source(str(configuration.host))
    path = kubeconfig_path()
    await config.load_kube_config(config_file=path, client_configuration=configuration, persist_config=False)
    return configuration, kubeconfig_source(str(configuration.host), path)


def _not_found(error: ApiException) -> bool:
    return error.status == 404


class Kube:
    """The few API operations KubeCluster needs, with dicts in and out."""

    def __init__(self, configuration: client.Configuration, source: Source | None = None) -> None:
        self.configuration = configuration
        self.source = source or Source(str(configuration.host))
        self.api = client.ApiClient(configuration)
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)

    @classmethod
    async def connect(cls) -> Kube:
        return cls(*await load_configuration())

    async def close(self) -> None:
        await self.api.close()

    def to_dict(self, model: Any) -> dict[str, Any]:
        result = self.api.sanitize_for_serialization(model)
        assert isinstance(result, dict)
        return result

    def new_websocket_client(self) -> WsApiClient:
        return WsApiClient(configuration=self.configuration)

    # -- the Dask custom resources --------------------------------------------------------

    async def check_crds(self) -> None:
        """Raise CRDsNotInstalledError unless the apiserver serves the Dask resources."""
        try:
            resources = await self.custom.get_api_resources(GROUP, VERSION)
        except ApiException as error:
            if _not_found(error):
                resources = None
            else:
                raise
        served = {r.name for r in (resources.resources if resources else [])}
        missing = sorted({CLUSTERS, WORKER_GROUPS, AUTOSCALERS} - served)
        if missing:
            raise CRDsNotInstalledError(
                f"The Dask custom resources ({API_VERSION} {', '.join(missing)}) are not "
                f"installed in the Kubernetes cluster at {self.configuration.host}.\n"
                f"{INSTALL_HINT}"
            )

    async def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            result = await self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name
            )
        except ApiException as error:
            if _not_found(error):
                return None
            raise
        return dict(result)

    async def create(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        result = await self.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, body
        )
        return dict(result)

    async def patch(
        self, plural: str, namespace: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        # Custom resources take no strategic merge patch; the typed stubs omit _content_type.
        patch: Any = self.custom.patch_namespaced_custom_object
        result = await patch(
            GROUP, VERSION, namespace, plural, name, body,
            _content_type="application/merge-patch+json",
        )  # fmt: skip
        return dict(result)

    async def delete(
        self, plural: str, namespace: str, name: str, propagation: str = "Foreground"
    ) -> bool:
        """Delete an object; False if it was not there.

        Foreground (the default) keeps the object until the garbage collector removed its
        children, so "gone" means everything is gone; Background removes it at once.
        """
        try:
            await self.custom.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name, propagation_policy=propagation
            )
        except ApiException as error:
            if _not_found(error):
                return False
            raise
        return True

    async def wait_deleted(self, plural: str, namespace: str, name: str, timeout: float) -> bool:
        """Wait until the object is gone; False if it is still there after *timeout* seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while await self.get(plural, namespace, name) is not None:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.5)
        return True

    # -- core objects --------------------------------------------------------------------

    async def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        pods = await self.core.list_namespaced_pod(namespace, label_selector=label_selector)
        return [self.to_dict(pod) for pod in pods.items]

    async def get_service(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            service = await self.core.read_namespaced_service(name, namespace)
        except ApiException as error:
            if _not_found(error):
                return None
            raise
        return self.to_dict(service)

    async def list_nodes(self) -> list[dict[str, Any]]:
        """Nodes (for NodePort addresses); empty when we may not list them."""
        try:
            nodes = await self.core.list_node()
        except ApiException as error:
            if error.status in (401, 403):
                return []
            raise
        return [self.to_dict(node) for node in nodes.items]

    async def pod_logs(
        self, namespace: str, pod: str, container: str | None = None, previous: bool = False
    ) -> str:
        try:
            options: dict[str, Any] = {"previous": previous}
            if container:
                options["container"] = container
            text = await self.core.read_namespaced_pod_log(pod, namespace, **options)
        except ApiException as error:
            if error.status in (400, 404):  # no (previous) container yet, or pod gone
                return ""
            raise
        return str(text or "")
