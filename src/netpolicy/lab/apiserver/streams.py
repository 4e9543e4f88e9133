"""Streaming subresources of pods: `exec`, `attach` and `log`, and the runtime behind them.

The API server does not run containers: it asks a `PodRuntime` (the lab's pod runtime, or
`FakePodRuntime` in tests) for an `Attachment` — the container's stdout/stderr readers, a
stdin writer and its exit code — and relays it to the client.

kubectl 1.32 speaks the remote-command protocol over WebSockets (`v5.channel.k8s.io`;
`v4.channel.k8s.io` is accepted too). Every binary message starts with a channel byte:
0 stdin (client to server), 1 stdout, 2 stderr, 3 error (a `Status`: Success, or
`NonZeroExitCode` with the exit code as the `ExitCode` cause, from which kubectl takes its
own exit status), 4 resize (`{"Width":..,"Height":..}`), and in v5 255 "close" (the next
byte names the stream the client will not write to again: stdin EOF). As the kubelet, the
server first sends an empty message on the lowest output channel, and closes the socket
(normal closure) after the error channel: kubectl reads every stream to EOF.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from aiohttp import WSMsgType, web

from netpolicy.lab.store import JSON

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")


@dataclass(frozen=True, slots=True)
class Attachment:
    """The streams of a process in a pod. `stderr` is None with a TTY (merged into stdout),
    `stdin` None when it was not asked for; awaiting `exit_code` waits for the process."""

    stdout: asyncio.StreamReader
    stderr: asyncio.StreamReader | None
    stdin: asyncio.StreamWriter | None
    exit_code: Awaitable[int]
    resize: Callable[[int, int], None] | None = None

    @classmethod
    def of_process(cls, process: asyncio.subprocess.Process) -> Attachment:
        assert process.stdout is not None
        return cls(process.stdout, process.stderr, process.stdin,
                   asyncio.ensure_future(process.wait()))


class PodRuntime(Protocol):
    """What the API server needs from whatever runs the pods. Refuse with an `ApiError`
    of `netpolicy.lab.store` (NotFound, BadRequest...): the client gets its Status."""

    async def exec(self, namespace: str, pod: str, container: str, command: list[str], *,
                   tty: bool, stdin: bool) -> Attachment:
        """Run `command` in the container."""
        ...

    async def attach(self, namespace: str, pod: str, container: str, *,
                     stdin: bool) -> Attachment:
        """The container's main process: its output from the start, its stdin."""
        ...

    async def open_port(self, namespace: str, pod: str,
                        port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to the pod's port, opened from the pod's node."""
        ...

    def logs(self, namespace: str, pod: str, container: str, *, follow: bool,
             tail: int | None) -> AsyncIterator[bytes]:
        """The container's output (all of it, or the last `tail` lines), and with `follow`
        what it writes next until it exits."""
        ...


def exit_status(code: int, command: list[str] | None = None) -> JSON:
    """The error-channel Status for an exit code, as the kubelet writes it."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    what = f"error executing command {command}, exit code {code}" if command else \
        f"exit code {code}"
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: {what}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def failure_status(message: str) -> JSON:
    return {"metadata": {}, "status": "Failure", "message": message,
            "reason": "InternalError", "code": 500}


async def relay(request: web.Request, open_attachment: Callable[[], Awaitable[Attachment]],
                *, stdin: bool, stdout: bool, stderr: bool,
                command: list[str] | None = None) -> web.WebSocketResponse:
    """Upgrade to a remote-command WebSocket and relay an attachment over it."""
    ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=16 * 1024 * 1024)
    await ws.prepare(request)
    v5 = ws.ws_protocol == PROTOCOLS[0]
    lock = asyncio.Lock()

    async def send(channel: int, data: bytes) -> None:
        async with lock:
            if not ws.closed:
                await ws.send_bytes(bytes([channel]) + data)

    try:
        attachment = await open_attachment()
    except Exception as exc:  # the runtime refused: say why on the error channel
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        await send(ERROR, json.dumps(failure_status(message)).encode())
        await ws.close()
        return ws
    first = STDOUT if stdout else STDERR if stderr and attachment.stderr else ERROR
    await send(first, b"")

    async def pump(reader: asyncio.StreamReader | None, channel: int, wanted: bool) -> None:
        if reader is None:
            return
        while chunk := await reader.read(32768):
            if wanted:
                await send(channel, chunk)

    async def receive() -> None:
        async for msg in ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            channel, data = msg.data[0], msg.data[1:]
            if channel == STDIN and attachment.stdin is not None and stdin:
                attachment.stdin.write(data)
                with contextlib.suppress(ConnectionError):
                    await attachment.stdin.drain()
            elif channel == RESIZE and attachment.resize is not None:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    size = json.loads(data)
                    attachment.resize(int(size["Width"]), int(size["Height"]))
            elif channel == CLOSE and v5 and data[:1] == bytes([STDIN]):
                _close_stdin(attachment)
        _close_stdin(attachment)

    receiver = asyncio.ensure_future(receive())
    try:
        await asyncio.gather(pump(attachment.stdout, STDOUT, stdout),
                             pump(attachment.stderr, STDERR, stderr))
        code = await attachment.exit_code
        # Attach (no command) ends with Success whatever the container's exit code, as the
        # kubelet's attach does: kubectl run --rm -i then reports the pod's final state
        # ("pod default/x terminated (Error)") instead of failing over to logs.
        status = exit_status(code, command) if command is not None else exit_status(0)
        await send(ERROR, json.dumps(status).encode())
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await receiver
        _close_stdin(attachment)
        await ws.close()
    return ws


def _close_stdin(attachment: Attachment) -> None:
    if attachment.stdin is not None and not attachment.stdin.is_closing():
        with contextlib.suppress(OSError, RuntimeError):
            if attachment.stdin.can_write_eof():
                attachment.stdin.write_eof()
            else:
                attachment.stdin.close()


async def stream_logs(request: web.Request, chunks: AsyncIterator[bytes],
                      limit_bytes: int | None) -> web.StreamResponse:
    """`GET pods/<name>/log`: the runtime's output as text, chunked while following."""
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await response.prepare(request)
    sent = 0
    try:
        async for chunk in chunks:
            if limit_bytes is not None:
                chunk = chunk[:max(0, limit_bytes - sent)]
            if chunk:
                await response.write(chunk)
                sent += len(chunk)
            if limit_bytes is not None and sent >= limit_bytes:
                break
    except ConnectionError:
        return response
    finally:
        closer = getattr(chunks, "aclose", None)
        if closer is not None:
            await closer()
    await response.write_eof()
    return response
