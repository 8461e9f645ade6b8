"""SPDY framing for port-forward/exec, and how the kubelet derives a pod's phase."""

import asyncio
import hashlib
import struct
import zlib
from types import SimpleNamespace

import pytest
from localcluster import spdy
from localcluster.pods import Container, PodWorker


def test_dictionary_is_the_spdy3_one():
    assert len(spdy.DICTIONARY) == 1423
    assert hashlib.sha256(spdy.DICTIONARY).hexdigest() == (
        "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02")


def _client_headers(deflate, headers):
    raw = struct.pack(">I", len(headers))
    for k, v in headers.items():
        raw += struct.pack(">I", len(k)) + k.encode() + struct.pack(">I", len(v)) + v.encode()
    return deflate.compress(raw) + deflate.flush(zlib.Z_SYNC_FLUSH)


def _control(type_, flags, payload):
    return struct.pack(">HHI", 0x8003, type_, (flags << 24) | len(payload)) + payload


def test_session_replies_to_streams_and_relays_data():
    async def scenario():
        reader = asyncio.StreamReader()
        written = bytearray()

        class Writer:
            def write(self, data):
                written.extend(data)

            async def drain(self):
                pass

        session = spdy.Session(reader, Writer())
        runner = asyncio.create_task(session.run())
        deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, zdict=spdy.DICTIONARY)
        block = _client_headers(deflate, {"streamtype": "data", "port": "8080", "requestid": "0"})
        reader.feed_data(_control(spdy.SYN_STREAM, 0, struct.pack(">IIH", 1, 0, 0) + block))
        reader.feed_data(struct.pack(">II", 1, (spdy.FLAG_FIN << 24) | 5) + b"hello")
        reader.feed_data(_control(spdy.PING, 0, struct.pack(">I", 7)))
        stream = await session.streams.get()
        assert stream.headers == {"streamtype": "data", "port": "8080", "requestid": "0"}
        assert await stream.data.get() == b"hello"
        assert await stream.data.get() is None
        await session.send_data(stream, b"world", fin=True)
        await asyncio.sleep(0.01)
        reader.feed_eof()
        await runner
        return bytes(written)

    out = asyncio.run(scenario())
    frames = []
    while out:
        first, second = struct.unpack(">II", out[:8])
        length = second & 0xFFFFFF
        frames.append((first, second >> 24, out[8:8 + length]))
        out = out[8 + length:]
    syn_reply, ping, data = frames
    assert syn_reply[0] == 0x80030000 | spdy.SYN_REPLY
    inflate = zlib.decompressobj(zdict=spdy.DICTIONARY)
    assert inflate.decompress(syn_reply[2][4:]) == struct.pack(">I", 0)  # no headers
    assert ping == (0x80030000 | spdy.PING, 0, struct.pack(">I", 7))
    assert data == (1, spdy.FLAG_FIN, b"world")


def _worker(policy, *states):
    kubelet = SimpleNamespace(cfg=SimpleNamespace(state_path=__import__("pathlib").Path("/nonexistent")))
    pod = {"metadata": {"uid": "u", "namespace": "n", "name": "p"},
           "spec": {"restartPolicy": policy, "containers": [{"name": f"c{i}"} for i in range(len(states))]}}
    w = PodWorker(kubelet, pod)  # type: ignore[arg-type]
    for c, (state, last) in zip(w.containers, states, strict=True):
        c.state, c.last_state = state, last
    return w


RUNNING = {"running": {}}
WAITING = {"waiting": {"reason": "ContainerCreating"}}
OK = {"terminated": {"exitCode": 0}}
BAD = {"terminated": {"exitCode": 2}}
BACKOFF = {"waiting": {"reason": "CrashLoopBackOff"}}


@pytest.mark.parametrize("policy, states, phase", [
    ("Always", [(RUNNING, {})], "Running"),
    ("Always", [(WAITING, {})], "Pending"),
    ("Always", [(BACKOFF, BAD)], "Running"),          # crash looping pods stay Running
    ("Never", [(OK, {}), (OK, {})], "Succeeded"),
    ("Never", [(OK, {}), (BAD, {})], "Failed"),
    ("Never", [(RUNNING, {}), (BAD, {})], "Running"),
    ("OnFailure", [(OK, {})], "Succeeded"),
    ("OnFailure", [(BACKOFF, BAD)], "Running"),
])
def test_phase(policy, states, phase):
    w = _worker(policy, *states)
    w._compute_phase()
    assert w.phase == phase


def test_terminal_phase_never_goes_back():
    w = _worker("Never", (BAD, {}))
    w._compute_phase()
    w.containers[0].state = RUNNING
    w._compute_phase()
    assert w.phase == "Failed"


def test_container_status_reports_resources():
    c = Container({"name": "x", "image": "ghcr.io/dask/dask:latest",
                   "resources": {"requests": {"memory": "32Gi"}, "limits": {}}})
    status = c.status()
    assert status["resources"] == {"requests": {"memory": "32Gi"}}
    assert status["image"] == "ghcr.io/dask/dask:latest" and status["restartCount"] == 0
