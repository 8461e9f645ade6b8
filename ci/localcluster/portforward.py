"""The kubelet's /portForward endpoint (not implemented yet: see README)."""

from __future__ import annotations

from typing import Any

from aiohttp import web


def add_routes(app: web.Application, kubelet: Any) -> None:
    """Registers the port-forward endpoint; a placeholder until it is implemented."""
