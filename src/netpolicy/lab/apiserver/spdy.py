"""`kubectl port-forward`: the port-forward protocol, over SPDY/3.1 tunnelled in a WebSocket.

kubectl 1.32 (PortForwardWebsockets, on by default) opens a WebSocket with the subprotocol
`SPDY/3.1+portforward.k8s.io` and speaks SPDY inside its binary messages, byte stream
semantics (a message boundary means nothing). Each forwarded connection is a pair of SPDY
streams opened by the client, with headers `streamtype` (`error` or `data`), `port` and
`requestid`; once both are there the server connects to the pod's port and copies bytes:
DATA frames of the data stream to the pod, the pod's bytes back as DATA frames. When the
pod closes its side the server ends the data stream and then the error stream (an error
is written on the error stream first, as text); kubectl waits for both.

SPDY/3 framing (the subset spdystream uses): control frames SYN_STREAM, SYN_REPLY,
RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE; data frames. Header blocks are
zlib-compressed, one stream per direction, with the SPDY/3 dictionary. No flow control:
spdystream sends no WINDOW_UPDATEs and ignores ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

PROTOCOL = "SPDY/3.1+portforward.k8s.io"

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS = 1, 2, 3, 4
PING, GOAWAY, HEADERS, WINDOW_UPDATE = 6, 7, 8, 9
FLAG_FIN = 0x01
MAX_DATA = 32 * 1024

_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
    "accept-encoding", "accept-language", "accept-ranges", "age", "allow", "authorization",
    "cache-control", "connection", "content-base", "content-encoding", "content-language",
    "content-length", "content-location", "content-md5", "content-range", "content-type",
    "date", "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since",
    "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
    "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
    "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent",
    "vary", "via", "warning", "www-authenticate", "method", "get", "status", "200 OK",
    "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin",
)
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504"
    "505203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, "
    "Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
# The header compression dictionary of the SPDY/3 draft (section 2.6.10.1).
DICTIONARY = b"".join(len(w).to_bytes(4, "big") + w.encode() for w in _WORDS) + _TAIL.encode()


def encode_headers(headers: dict[str, str]) -> bytes:
    block = struct.pack(">I", len(headers))
    for name, value in headers.items():
        n, v = name.lower().encode(), value.encode()
        block += struct.pack(">I", len(n)) + n + struct.pack(">I", len(v)) + v
    return block


def decode_headers(block: bytes) -> dict[str, str]:
    (count,), pos, out = struct.unpack_from(">I", block), 4, {}
    for _ in range(count):
        (n,) = struct.unpack_from(">I", block, pos)
        name = block[pos + 4:pos + 4 + n].decode()
        pos += 4 + n
        (v,) = struct.unpack_from(">I", block, pos)
        out[name] = block[pos + 4:pos + 4 + v].decode().split("\x00")[0]
        pos += 4 + v
    return out


def control_frame(kind: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | 3, kind, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, data: bytes, fin: bool = False) -> bytes:
    return struct.pack(">II", stream_id & 0x7FFFFFFF,
                       ((FLAG_FIN if fin else 0) << 24) | len(data)) + data


@dataclass
class Stream:
    id: int
    headers: dict[str, str]
    reader: asyncio.StreamReader = field(default_factory=asyncio.StreamReader)
    closed_local: bool = False


class Session:
    """One SPDY session (server side) over a WebSocket."""

    def __init__(self, ws: web.WebSocketResponse,
                 on_stream: Callable[[Session, Stream], Awaitable[None]]) -> None:
        self.ws = ws
        self._on_stream = on_stream
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(9, zdict=DICTIONARY)
        self._buffer = b""
        self._streams: dict[int, Stream] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()

    async def _send(self, frame: bytes) -> None:
        async with self._lock:
            if not self.ws.closed:
                await self.ws.send_bytes(frame)

    async def send_data(self, stream: Stream, data: bytes, fin: bool = False) -> None:
        if stream.closed_local:
            return
        for i in range(0, len(data), MAX_DATA):
            await self._send(data_frame(stream.id, data[i:i + MAX_DATA]))
        if fin:
            stream.closed_local = True
            await self._send(data_frame(stream.id, b"", True))

    async def run(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != WSMsgType.BINARY:
                    continue
                self._buffer += msg.data
                while (frame := self._next_frame()) is not None:
                    await self._handle(*frame)
        finally:
            for stream in self._streams.values():
                stream.reader.feed_eof()
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def _next_frame(self) -> tuple[bool, int, int, bytes] | None:
        if len(self._buffer) < 8:
            return None
        first, second = struct.unpack_from(">II", self._buffer)
        length = second & 0xFFFFFF
        if len(self._buffer) < 8 + length:
            return None
        payload = self._buffer[8:8 + length]
        self._buffer = self._buffer[8 + length:]
        if first & 0x80000000:
            return True, first & 0xFFFF, second >> 24, payload
        return False, first & 0x7FFFFFFF, second >> 24, payload

    async def _handle(self, control: bool, kind: int, flags: int, payload: bytes) -> None:
        if not control:
            stream = self._streams.get(kind)
            if stream is not None:
                if payload:
                    stream.reader.feed_data(payload)
                if flags & FLAG_FIN:
                    stream.reader.feed_eof()
            return
        if kind == SYN_STREAM:
            stream_id = struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF
            headers = decode_headers(self._inflate.decompress(payload[10:]))
            stream = self._streams[stream_id] = Stream(stream_id, headers)
            reply = self._deflate.compress(encode_headers({}))
            reply += self._deflate.flush(zlib.Z_SYNC_FLUSH)
            await self._send(control_frame(SYN_REPLY, 0, struct.pack(">I", stream_id) + reply))
            if flags & FLAG_FIN:
                stream.reader.feed_eof()
            task = asyncio.ensure_future(self._on_stream(self, stream))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif kind in (HEADERS, SYN_REPLY):
            self._inflate.decompress(payload[4:])  # keep the shared zlib stream in step
        elif kind == RST_STREAM:
            stream_id = struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF
            stream = self._streams.get(stream_id)
            if stream is not None:
                stream.closed_local = True
                stream.reader.feed_eof()
        elif kind == PING:
            await self._send(control_frame(PING, 0, payload[:4]))
        elif kind == GOAWAY:
            await self.ws.close()


@dataclass
class _Pair:
    error: Stream | None = None
    data: Stream | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)


Opener = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


async def port_forward(request: web.Request, open_port: Opener) -> web.WebSocketResponse:
    """Serve one port-forward WebSocket; `open_port(port)` connects to the pod."""
    ws = web.WebSocketResponse(protocols=(PROTOCOL,), max_msg_size=16 * 1024 * 1024)
    await ws.prepare(request)
    pairs: dict[str, _Pair] = {}

    async def on_stream(session: Session, stream: Stream) -> None:
        request_id = stream.headers.get("requestid") or str(
            stream.id if stream.headers.get("streamtype") == "error" else stream.id - 2)
        pair = pairs.setdefault(request_id, _Pair())
        if stream.headers.get("streamtype") == "error":
            pair.error = stream
        else:
            pair.data = stream
        if pair.error is None or pair.data is None:
            return
        pairs.pop(request_id, None)
        await _forward(session, pair.error, pair.data, open_port)

    await Session(ws, on_stream).run()
    await ws.close()
    return ws


async def _forward(session: Session, error: Stream, data: Stream, open_port: Opener) -> None:
    try:
        port = int(data.headers.get("port", ""))
        reader, writer = await open_port(port)
    except Exception as exc:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        await session.send_data(error, f"error forwarding port {data.headers.get('port')}: "
                                       f"{message}".encode(), fin=True)
        await session.send_data(data, b"", fin=True)
        return

    async def upstream() -> None:
        while chunk := await data.reader.read(MAX_DATA):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()

    pushing = asyncio.ensure_future(upstream())
    try:
        while chunk := await reader.read(MAX_DATA):
            await session.send_data(data, chunk)
    except ConnectionError:
        pass
    finally:
        await session.send_data(data, b"", fin=True)
        await session.send_data(error, b"", fin=True)
        pushing.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
            await pushing
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
