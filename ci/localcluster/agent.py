"""The node agent: process kubelet + service proxy in one asyncio process."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from .config import ClusterConfig
from .kube import Client
from .kubelet import Kubelet
from .proxy import ServiceProxy

log = logging.getLogger("localcluster.agent")


async def _report_loop_stalls(period: float = 0.5, threshold: float = 1.0) -> None:
    """Log when the event loop was blocked: every pod, probe and proxied connection waits then."""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(period)
        late = loop.time() - before - period
        if late > threshold:
            log.warning("event loop blocked for %.1f s (pods, probes and proxied connections waited)", late)


async def _main(state: Path) -> None:
    cfg = ClusterConfig.load(state)
    client = Client(cfg.state_path / "agent.kubeconfig")
    kubelet = Kubelet(cfg, client)
    proxy = ServiceProxy(cfg, client, kubelet.services_changed, kubelet.services_read)
    try:
        await asyncio.gather(kubelet.run(), proxy.run(), _report_loop_stalls())
    finally:
        await client.close()


def run(state: Path) -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_main(state))
