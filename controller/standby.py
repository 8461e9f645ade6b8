"""What a standby operator serves while it waits for the Lease: the liveness endpoint, healthy.

kopf's own liveness endpoint starts with kopf, which a standby does not run (it would watch and
write). This server answers on the same address until the operator becomes the leader, so the
kubelet's probe does not restart a healthy standby.
"""

from __future__ import annotations

import json
import urllib.parse

from aiohttp import web


async def serve_liveness(endpoint: str, identity: str) -> web.AppRunner:
    """Answer ``GET <path>`` with 200 and ``{"leader": false}`` at ``endpoint`` (a URL)."""
    url = urllib.parse.urlsplit(endpoint)
    body = json.dumps({"leader": False, "identity": identity, "watches": "none (standby)"})

    async def healthy(_: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json")

    app = web.Application()
    app.router.add_get(url.path or "/", healthy)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, url.hostname or "0.0.0.0", url.port or 80, reuse_address=True).start()
    return runner
