"""`FakePodRuntime`: pods as local processes, for tests that drive the real kubectl.

A container's main process is started with `start()` (the test's stand-in for a kubelet
does it); its output is kept, so `attach` replays it from the start and `logs` serves it
(with `follow` until the process exits). `exec` runs the command as a local subprocess.
`open_port` connects to 127.0.0.1 — to the same port number, or to the local port that
`map_port` maps a pod's port to. Nothing is isolated: this is a fake of the interface, not
a runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from netpolicy.lab.apiserver.streams import Attachment
from netpolicy.lab.store import BadRequest

Key = tuple[str, str, str]


@dataclass
class _Container:
    process: asyncio.subprocess.Process
    output: bytearray = field(default_factory=bytearray)  # stdout and stderr, as logs
    history: dict[int, bytearray] = field(default_factory=lambda: {1: bytearray(),
                                                                   2: bytearray()})
    ended: set[int] = field(default_factory=set)
    readers: list[tuple[int, asyncio.StreamReader]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    exit_code: asyncio.Future[int] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())

    def feed(self, stream: int, data: bytes) -> None:
        self.output += data
        self.history[stream] += data
        for s, reader in self.readers:
            if s == stream:
                reader.feed_data(data)
        self._wake()

    def end(self, stream: int) -> None:
        self.ended.add(stream)
        for s, reader in self.readers:
            if s == stream:
                reader.feed_eof()
        self._wake()

    def _wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    def reader(self, stream: int) -> asyncio.StreamReader:
        reader = asyncio.StreamReader()
        reader.feed_data(bytes(self.history[stream]))
        if stream in self.ended:
            reader.feed_eof()
        else:
            self.readers.append((stream, reader))
        return reader


class FakePodRuntime:
    """A `PodRuntime` of local processes (see the module docstring)."""

    def __init__(self) -> None:
        self._containers: dict[Key, _Container] = {}
        self._ports: dict[tuple[str, str, int], tuple[str, int]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._execs: set[asyncio.subprocess.Process] = set()

    def map_port(self, namespace: str, pod: str, port: int, local_port: int,
                 host: str = "127.0.0.1") -> None:
        """Connections to the pod's `port` go to host:local_port."""
        self._ports[(namespace, pod, port)] = (host, local_port)

    async def start(self, namespace: str, pod: str, container: str,
                    command: list[str]) -> asyncio.Future[int]:
        """Start a container's main process; the future is its exit code."""
        process = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        state = self._containers[(namespace, pod, container)] = _Container(process)

        async def pump(reader: asyncio.StreamReader | None, stream: int) -> None:
            if reader is not None:
                while chunk := await reader.read(65536):
                    state.feed(stream, chunk)
            state.end(stream)

        async def run() -> None:
            await asyncio.gather(pump(process.stdout, 1), pump(process.stderr, 2))
            code = await process.wait()
            state.exit_code.set_result(code)
            state._wake()

        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return state.exit_code

    def _container(self, namespace: str, pod: str, container: str) -> _Container:
        state = self._containers.get((namespace, pod, container))
        if state is None:
            raise BadRequest(f'container "{container}" in pod "{pod}" is waiting to start: '
                             "ContainerCreating")
        return state

    async def exec(self, namespace: str, pod: str, container: str, command: list[str], *,
                   tty: bool, stdin: bool) -> Attachment:
        try:
            process = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT if tty else asyncio.subprocess.PIPE)
        except OSError as exc:
            raise BadRequest(f"exec failed: unable to start container process: exec: "
                             f'"{command[0]}": {exc.strerror}') from exc
        self._execs.add(process)
        attachment = Attachment.of_process(process)
        if tty:
            return Attachment(attachment.stdout, None, attachment.stdin, attachment.exit_code)
        return attachment

    async def attach(self, namespace: str, pod: str, container: str, *,
                     stdin: bool) -> Attachment:
        state = self._container(namespace, pod, container)
        return Attachment(state.reader(1), state.reader(2),
                          state.process.stdin if stdin else None,
                          asyncio.shield(state.exit_code))

    async def open_port(self, namespace: str, pod: str,
                        port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        host, local = self._ports.get((namespace, pod, port), ("127.0.0.1", port))
        return await asyncio.open_connection(host, local)

    async def logs(self, namespace: str, pod: str, container: str, *, follow: bool,
                   tail: int | None) -> AsyncIterator[bytes]:
        state = self._container(namespace, pod, container)
        data = bytes(state.output)
        if tail is not None:
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[-tail:]) if tail > 0 else b""
        sent = len(state.output)
        if data:
            yield data
        while follow:
            changed = state.changed
            if len(state.output) > sent:
                yield bytes(state.output[sent:])
                sent = len(state.output)
                continue
            if state.exit_code.done() and {1, 2} <= state.ended:
                return
            await changed.wait()

    async def stop(self, namespace: str, pod: str) -> None:
        """Kill the main processes of a pod's containers."""
        for key in [k for k in self._containers if k[:2] == (namespace, pod)]:
            process = self._containers.pop(key).process
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()

    async def close(self) -> None:
        """Kill every process this runtime started."""
        for process in [c.process for c in self._containers.values()] + list(self._execs):
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
