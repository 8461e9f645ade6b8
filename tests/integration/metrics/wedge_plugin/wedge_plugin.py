"""Test plugin: a kopf handler that wedges the event stream of DaskClusters labelled
``test.dask.org/wedge=yes`` until the file named by $WEDGE_RELEASE exists.

kopf handles one object's events one after another, so every later change of such a cluster
stays undelivered: a stalled watch stream, as far as the operator can tell.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import kopf


@kopf.on.event("kubernetes.dask.org", "v1", "daskclusters", labels={"test.dask.org/wedge": "yes"})
async def wedge(**_: Any) -> None:
    release = os.environ["WEDGE_RELEASE"]
    while not os.path.exists(release):  # noqa: ASYNC110, ASYNC240 - a test polls a file (another process sets it)
        await asyncio.sleep(0.5)
