"""Closing, at interpreter exit, the clusters that KubeCluster objects created and still own."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import threading
from typing import Any

from distributed.core import Status

from dask_kubernetes.operator.kubecluster.k8s import CLUSTERS, Kube

logger = logging.getLogger(__name__)


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs calls in the caller's thread: at exit, thread pools refuse new work, and aiohttp
    hands netrc and DNS lookups to the loop's default executor."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:
            future.set_exception(error)
        return future


def close_owned_clusters_at_exit() -> None:
    """Delete the DaskClusters still open that their KubeCluster objects own.

    Uses a fresh event loop in its own thread: at exit the clusters' own loops may be gone.
    """
    from dask_kubernetes.operator.kubecluster.kubecluster import KubeCluster  # it imports us

    owned = [
        (cluster.namespace, cluster.name, cluster._kube.configuration if cluster._kube else None)
        for cluster in list(KubeCluster._instances)
        if cluster.status != Status.closed and cluster.shutdown_on_close
    ]
    for cluster in list(KubeCluster._instances):
        cluster.status = Status.closed  # nothing else may use them now
    if not owned:
        return

    async def delete_all() -> None:
        for namespace, name, configuration in owned:
            kube = Kube(configuration) if configuration else await Kube.connect()
            try:
                await kube.delete(CLUSTERS, namespace, name)
            except Exception as error:
                logger.warning(
                    "Could not delete DaskCluster %s/%s at exit: %s", namespace, name, error
                )
            finally:
                await kube.close()

    def run() -> None:
        loop = asyncio.new_event_loop()
        loop.set_default_executor(_InlineExecutor())
        try:
            loop.run_until_complete(asyncio.wait_for(delete_all(), 30))
        except Exception as error:
            logger.warning("Could not delete owned Dask clusters at exit: %s", error)
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="KubeCluster-atexit", daemon=True)
    thread.start()
    thread.join(35)


_exit_handler_registered = False


def register_exit_handler() -> None:
    """Register the exit cleanup once, after the first kubeconfig load.

    kubernetes_asyncio registers the removal of its temporary certificate files at that load;
    handlers run last-registered-first, so ours must come later to still find the files.
    """
    global _exit_handler_registered
    if not _exit_handler_registered:
        atexit.register(close_owned_clusters_at_exit)
        _exit_handler_registered = True
