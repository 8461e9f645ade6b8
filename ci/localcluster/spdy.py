"""Just enough SPDY/3.1 (server side) for Kubernetes port-forwarding.

Frames, header blocks compressed with zlib and the protocol's fixed dictionary, SYN_REPLY for
every stream the client opens, data with FIN, RST_STREAM, PING and GOAWAY. No flow control: the
Go client (moby/spdystream) does not use it either.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from dataclasses import dataclass, field

# The header compression dictionary of SPDY/3 (draft-mbelshe-httpbis-spdy-00, 2.6.10.1):
# length-prefixed header names and values, then a raw tail.
_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language "
    "accept-ranges age allow authorization cache-control connection content-base "
    "content-encoding content-language content-length content-location content-md5 "
    "content-range content-type date etag expect expires from host if-match if-modified-since "
    "if-none-match if-range if-unmodified-since last-modified location max-forwards pragma "
    "proxy-authenticate proxy-authorization range referer retry-after server te trailer "
    "transfer-encoding upgrade user-agent vary via warning www-authenticate method get status"
).split() + ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
RST_CANCEL = 5


@dataclass
class Stream:
    id: int
    headers: dict[str, str]
    data: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)  # None = FIN
    closed_local: bool = False


class Session:
    """One SPDY connection; `streams` delivers every stream the client opens."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, zdict=DICTIONARY)
        self.streams: asyncio.Queue[Stream | None] = asyncio.Queue()
        self._open: dict[int, Stream] = {}
        self._lock = asyncio.Lock()

    # ---- encoding ----------------------------------------------------------------------------

    def _header_block(self, headers: dict[str, str]) -> bytes:
        raw = struct.pack(">I", len(headers))
        for k, v in headers.items():
            raw += struct.pack(">I", len(k)) + k.lower().encode()
            raw += struct.pack(">I", len(v)) + v.encode()
        return self._deflate.compress(raw) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def _parse_headers(self, block: bytes) -> dict[str, str]:
        raw = self._inflate.decompress(block)
        (n,), pos = struct.unpack_from(">I", raw), 4
        headers = {}
        for _ in range(n):
            (klen,) = struct.unpack_from(">I", raw, pos)
            key = raw[pos + 4:pos + 4 + klen].decode()
            pos += 4 + klen
            (vlen,) = struct.unpack_from(">I", raw, pos)
            headers[key] = raw[pos + 4:pos + 4 + vlen].decode()
            pos += 4 + vlen
        return headers

    async def _send_control(self, type_: int, flags: int, payload: bytes) -> None:
        async with self._lock:
            self.writer.write(struct.pack(">HHI", 0x8000 | VERSION, type_, (flags << 24) | len(payload))
                              + payload)
            await self.writer.drain()

    async def send_data(self, stream: Stream, data: bytes, fin: bool = False) -> None:
        if stream.closed_local:
            return
        async with self._lock:
            for off in range(0, max(len(data), 1), 0xFFFFFF):
                chunk = data[off:off + 0xFFFFFF]
                last = off + 0xFFFFFF >= len(data)
                flags = FLAG_FIN if (fin and last) else 0
                self.writer.write(struct.pack(">II", stream.id & 0x7FFFFFFF, (flags << 24) | len(chunk)) + chunk)
            await self.writer.drain()
        if fin:
            stream.closed_local = True

    async def close_stream(self, stream: Stream) -> None:
        await self.send_data(stream, b"", fin=True)

    async def reset(self, stream: Stream) -> None:
        stream.closed_local = True
        await self._send_control(RST_STREAM, 0, struct.pack(">II", stream.id, RST_CANCEL))

    # ---- reading -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Reads frames until the connection ends; opens, feeds and ends streams."""
        try:
            while True:
                head = await self.reader.readexactly(8)
                first, second = struct.unpack(">II", head)
                flags, length = second >> 24, second & 0xFFFFFF
                payload = await self.reader.readexactly(length)
                if first & 0x80000000:
                    await self._control(first & 0xFFFF, flags, payload)
                else:
                    stream = self._open.get(first & 0x7FFFFFFF)
                    if stream is None:
                        continue
                    if payload:
                        stream.data.put_nowait(payload)
                    if flags & FLAG_FIN:
                        stream.data.put_nowait(None)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            for stream in self._open.values():
                stream.data.put_nowait(None)
            self.streams.put_nowait(None)

    async def _control(self, type_: int, flags: int, payload: bytes) -> None:
        if type_ == SYN_STREAM:
            (sid,) = struct.unpack_from(">I", payload)
            stream = Stream(sid & 0x7FFFFFFF, self._parse_headers(payload[10:]))
            self._open[stream.id] = stream
            await self._send_control(SYN_REPLY, 0, struct.pack(">I", stream.id) + self._header_block({}))
            if flags & FLAG_FIN:
                stream.data.put_nowait(None)
            self.streams.put_nowait(stream)
        elif type_ == RST_STREAM:
            (sid,) = struct.unpack_from(">I", payload)
            gone = self._open.pop(sid & 0x7FFFFFFF, None)
            if gone is not None:
                gone.closed_local = True
                gone.data.put_nowait(None)
        elif type_ == PING:
            await self._send_control(PING, 0, payload)
        elif type_ == GOAWAY:
            raise ConnectionError("GOAWAY")
        elif type_ == HEADERS:
            (sid,) = struct.unpack_from(">I", payload)
            self._parse_headers(payload[4:])  # keep the decompressor in step
        # SETTINGS, WINDOW_UPDATE: nothing to do.
