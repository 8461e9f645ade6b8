"""The node agent: process kubelet + service proxy in one asyncio process."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from .config import ClusterConfig
from .kube import Client
from .kubelet import Kubelet
from .proxy import ServiceProxy


async def _main(state: Path) -> None:
    cfg = ClusterConfig.load(state)
    client = Client(cfg.state_path / "agent.kubeconfig")
    kubelet = Kubelet(cfg, client)
    proxy = ServiceProxy(cfg, client, kubelet.services_changed)
    try:
        await asyncio.gather(kubelet.run(), proxy.run())
    finally:
        await client.close()


def run(state: Path) -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_main(state))
