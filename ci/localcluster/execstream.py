"""The kubelet's /exec/<ns>/<pod>/<container> endpoint (`kubectl exec`), over SPDY/3.1.

The apiserver proxies `pods/exec` here (translating kubectl's WebSocket v5 protocol to SPDY).
The client opens an `error` stream and, as requested, `stdin`/`stdout`/`stderr` streams; the
command runs in the pod's namespaces with the container's environment and mounts. With
v4.channel.k8s.io the outcome is a metav1.Status on the error stream. No TTY: `-t` runs without
one and ignores resizes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING

from . import spdy

if TYPE_CHECKING:
    from .pods import Container, PodWorker

PROTOCOLS = ["v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"]


def status_for(argv: list[str], code: int | None, error: str = "") -> dict[str, object]:
    if error:
        return {"metadata": {}, "status": "Failure", "message": error, "reason": "InternalError"}
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command {argv}, exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


async def serve(worker: PodWorker, c: Container, argv: list[str], want: set[str], protocol: str,
                reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    session = spdy.Session(reader, writer)
    runner = asyncio.create_task(session.run())
    streams: dict[str, spdy.Stream] = {}
    async def collect() -> bool:
        while not want <= set(streams):
            stream = await session.streams.get()
            if stream is None:
                return False
            streams[stream.headers.get("streamtype", "")] = stream
        return True

    try:
        if not await asyncio.wait_for(collect(), 30):
            return
        code: int | None = None
        error = ""
        try:
            proc = await worker.launch(
                c, argv,
                asyncio.subprocess.PIPE if "stdin" in streams else asyncio.subprocess.DEVNULL,
                asyncio.subprocess.PIPE)
        except Exception as err:  # noqa: BLE001 - reported to the client like the kubelet does
            error = f"failed to exec in container: {err}"
        else:
            async def feed() -> None:
                assert proc.stdin is not None
                with contextlib.suppress(ConnectionError, OSError):
                    while (chunk := await streams["stdin"].data.get()) is not None:
                        proc.stdin.write(chunk)
                        await proc.stdin.drain()
                with contextlib.suppress(OSError):
                    proc.stdin.close()

            async def drain(source: asyncio.StreamReader | None, name: str) -> None:
                assert source is not None
                while chunk := await source.read(65536):
                    if name in streams:
                        await session.send_data(streams[name], chunk)

            feeder = asyncio.create_task(feed()) if "stdin" in streams else None
            await asyncio.gather(drain(proc.stdout, "stdout"), drain(proc.stderr, "stderr"))
            code = await proc.wait()
            code = 128 - code if code < 0 else code
            if feeder is not None:
                feeder.cancel()
        if protocol == "v4.channel.k8s.io":
            await session.send_data(streams["error"], json.dumps(status_for(argv, code, error)).encode())
        elif error or code:
            await session.send_data(streams["error"], (error or f"command exited with {code}").encode())
        for stream in streams.values():
            with contextlib.suppress(Exception):
                await session.close_stream(stream)
    except asyncio.TimeoutError:
        pass
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
