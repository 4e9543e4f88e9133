"""The lab's container runtime: containers are plain processes in their pod's network namespace.

How a container runs
--------------------
The image catalogue (`netpolicy.lab.images`) turns image + command + args into an argv. The
process is started as

    ip netns exec <pod netns> unshare --uts sh -c 'echo "$HOSTNAME" > /proc/sys/kernel/hostname;
                                                    exec "$@"' sh ARGV...

- `ip netns exec` enters the pod's network namespace and bind-mounts the pod's
  /etc/netns/<pod netns>/{resolv.conf,hosts,hostname} over /etc (topology.py writes them);
- `unshare --uts` gives it its own hostname, the pod's name, as in Kubernetes;
- every step `exec`s, so the pid we hold is the container's process and its exit status is the
  container's exit code (a signal N becomes 128+N, as container runtimes report it).

It runs in its own session (process group), with the pod's environment only (PATH, HOSTNAME,
HOME and the spec's env, nothing of the lab process's), `/` as working directory unless the
spec names one, stdin from a pipe when the spec says `stdin: true` (else /dev/null), and
stdout and stderr going straight to the log file — no copying through the lab process, so
output is never lost and fifty containers cost no event-loop work. A start that cannot work
(unknown image, missing program) raises at once: `UnknownImageError` (the kubelet's
`ErrImagePull`) or `ContainerStartError` (its `RunContainerError`).

Logs are `<log_dir>/<pod id>/<container>/<attempt>.log`, one file per start, so the previous
attempt stays readable (`kubectl logs --previous`). `logs(follow=True)` and `attach` read the
file as it grows and end when that attempt's process has exited and the file is read to the
end.

Exits
-----
One task per container waits for the process; the exit (code, signal, times) is recorded and
handed to the `on_exit` callback, from which the kubelet derives pod status and applies the
restart policy (it calls `start` again: a new attempt). `stop` sends SIGTERM to the
container's process group, SIGKILL after the grace period, and when the whole pod stops, SIGKILL
to whatever is still in its network namespace (exec sessions, daemons that left the group).

Streams (for the API server)
----------------------------
`exec` starts a process in the pod like a container (same namespace, environment, hostname and
program stand-ins) and returns the asyncio `Process` with pipes. `attach` gives the container's
output from its start plus its stdin writer. `open_port` connects to the pod's IP from its
node's namespace (`kubectl port-forward`: traffic from the node, DESIGN.md point 11).
`ApiPodRuntime` puts all this behind the API server's `PodRuntime` protocol (pods by namespace
and name, refusals as `BadRequest`).

Not done: TTYs (`tty: true`, `kubectl exec -t`): no pseudo-terminal is allocated; log
timestamps (`kubectl logs --timestamps`, `--since`): the log holds the raw bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from netpolicy.dataplane import netns
from netpolicy.errors import NetpolError
from netpolicy.lab import images
from netpolicy.lab.apiserver.streams import Attachment as StreamAttachment
from netpolicy.lab.images import UnknownImageError
from netpolicy.lab.store import BadRequest
from netpolicy.lab.topology import PodNet

__all__ = [
    "ApiPodRuntime",
    "Attachment",
    "ContainerExit",
    "ContainerPort",
    "ContainerSpec",
    "ContainerStartError",
    "ContainerStatus",
    "ProcessRuntime",
    "RuntimeLookupError",
    "UnknownImageError",
]

log = logging.getLogger(__name__)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_SET_HOSTNAME = 'echo "$HOSTNAME" > /proc/sys/kernel/hostname; exec "$@"'
_FOLLOW_POLL = 0.05  # seconds between looks at a growing log file

Protocol = Literal["TCP", "UDP", "SCTP"]


class ContainerStartError(NetpolError):
    """The container's program cannot be started (the message is like runc's)."""


class RuntimeLookupError(NetpolError, LookupError):
    """No such pod or container in the runtime."""


@dataclass(frozen=True)
class ContainerPort:
    container_port: int
    protocol: Protocol = "TCP"
    name: str | None = None


@dataclass(frozen=True)
class ContainerSpec:
    """What the runtime needs of a pod spec's container."""

    name: str
    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    ports: tuple[ContainerPort, ...] = ()
    stdin: bool = False
    stdin_once: bool = False
    working_dir: str | None = None


@dataclass(frozen=True)
class ContainerExit:
    pod_id: str
    container: str
    attempt: int
    exit_code: int
    signal: int | None
    started_at: float
    finished_at: float
    log_path: Path

    @property
    def reason(self) -> str:
        """The container state's `reason`, as Kubernetes reports it."""
        return "Completed" if self.exit_code == 0 else "Error"


@dataclass(frozen=True)
class ContainerStatus:
    pod_id: str
    container: str
    image: str
    attempt: int
    """0 for the first start, then one more for each restart."""
    pid: int
    started_at: float
    log_path: Path
    exit: ContainerExit | None

    @property
    def running(self) -> bool:
        return self.exit is None


@dataclass
class _Container:
    pod: PodNet
    spec: ContainerSpec
    attempt: int
    process: asyncio.subprocess.Process
    started_at: float
    log_path: Path
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    exit: ContainerExit | None = None
    waiter: asyncio.Task[None] | None = None

    def status(self) -> ContainerStatus:
        return ContainerStatus(
            pod_id=self.pod.pod_id,
            container=self.spec.name,
            image=self.spec.image,
            attempt=self.attempt,
            pid=self.process.pid,
            started_at=self.started_at,
            log_path=self.log_path,
            exit=self.exit,
        )


@dataclass
class Attachment:
    """A container's output from its start (read from its log as it grows) and its stdin."""

    output: AsyncIterator[bytes]
    stdin: asyncio.StreamWriter | None
    stdin_once: bool = False

    def close(self) -> None:
        """End the attach session; with `stdinOnce` this also closes the container's stdin."""
        if self.stdin is not None and self.stdin_once:
            self.stdin.close()


@dataclass
class _Pod:
    net: PodNet
    containers: dict[str, list[_Container]] = field(default_factory=dict)  # name → attempts
    execs: set[asyncio.subprocess.Process] = field(default_factory=set)


def _check_program(argv: Sequence[str], path: str) -> None:
    program = argv[0] if argv else ""
    if not program:
        raise ContainerStartError("no command specified")
    found = (
        os.access(program, os.X_OK) and not os.path.isdir(program)
        if "/" in program
        else shutil.which(program, path=path) is not None
    )
    if not found:
        raise ContainerStartError(f'exec: "{program}": executable file not found in $PATH')


class ProcessRuntime:
    """Runs containers as processes in pod network namespaces; see the module docstring."""

    def __init__(self, log_dir: Path, *, on_exit: Callable[[ContainerExit], object] | None = None) -> None:
        self.log_dir = log_dir
        self.on_exit = on_exit
        self._pods: dict[str, _Pod] = {}

    # ------------------------------------------------------------------ lookups

    def _pod(self, pod_id: str) -> _Pod:
        pod = self._pods.get(pod_id)
        if pod is None:
            raise RuntimeLookupError(f"no pod {pod_id} in the runtime")
        return pod

    def _container(self, pod_id: str, container: str | None, *, previous: bool = False) -> _Container:
        pod = self._pod(pod_id)
        if container is None:
            if not pod.containers:
                raise RuntimeLookupError(f"pod {pod_id} has no containers")
            container = next(iter(pod.containers))
        attempts = pod.containers.get(container)
        if not attempts:
            raise RuntimeLookupError(f"container {container} is not valid for pod {pod_id}")
        if previous:
            if len(attempts) < 2:
                raise RuntimeLookupError(
                    f'previous terminated container "{container}" in pod "{pod_id}" not found'
                )
            return attempts[-2]
        return attempts[-1]

    def status(self, pod_id: str, container: str) -> ContainerStatus:
        """The latest attempt of a container."""
        return self._container(pod_id, container).status()

    def containers(self, pod_id: str) -> list[ContainerStatus]:
        """The latest attempt of each container of the pod, in start order."""
        pod = self._pods.get(pod_id)
        if pod is None:
            return []
        return [attempts[-1].status() for attempts in pod.containers.values()]

    # ------------------------------------------------------------------ lifecycle

    def _environment(self, pod: PodNet, spec: ContainerSpec) -> dict[str, str]:
        env = {"PATH": DEFAULT_PATH, "HOSTNAME": pod.hostname[:63], "HOME": "/root"}
        env.update(spec.env)
        return env

    def _command(self, pod: PodNet, argv: Sequence[str]) -> list[str]:
        return [
            "ip", "netns", "exec", pod.netns,
            "unshare", "--uts", "/bin/sh", "-c", _SET_HOSTNAME, "sh",
            *argv,
        ]  # fmt: skip

    async def start(self, pod: PodNet, spec: ContainerSpec) -> ContainerStatus:
        """Start (or restart: a new attempt) a container of the pod."""
        image = images.resolve(spec.image)
        ports = [(p.protocol, p.container_port) for p in spec.ports]
        argv = images.command_line(image, spec.command, spec.args, ports)
        env = self._environment(pod, spec)
        _check_program(argv, env["PATH"])

        record = self._pods.setdefault(pod.pod_id, _Pod(pod))
        record.net = pod
        attempts = record.containers.setdefault(spec.name, [])
        if attempts and attempts[-1].exit is None:
            raise ContainerStartError(f"container {spec.name} of pod {pod.pod_id} is running")
        attempt = len(attempts)
        log_path = self.log_dir / pod.pod_id / spec.name / f"{attempt}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            process = await asyncio.create_subprocess_exec(
                *self._command(pod, argv),
                stdin=asyncio.subprocess.PIPE if spec.stdin else asyncio.subprocess.DEVNULL,
                stdout=fd,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                cwd=spec.working_dir or "/",
                start_new_session=True,
            )
        finally:
            os.close(fd)
        container = _Container(pod, spec, attempt, process, time.time(), log_path)
        attempts.append(container)
        container.waiter = asyncio.create_task(self._wait(container))
        return container.status()

    async def _wait(self, container: _Container) -> None:
        code = await container.process.wait()
        sig = -code if code < 0 else None
        container.exit = ContainerExit(
            pod_id=container.pod.pod_id,
            container=container.spec.name,
            attempt=container.attempt,
            exit_code=128 + sig if sig is not None else code,
            signal=sig,
            started_at=container.started_at,
            finished_at=time.time(),
            log_path=container.log_path,
        )
        if container.process.stdin is not None:
            container.process.stdin.close()
        container.exited.set()
        if self.on_exit is not None:
            try:
                self.on_exit(container.exit)
            except Exception:
                log.exception("on_exit callback failed for %s", container.exit)

    async def wait(self, pod_id: str, container: str) -> ContainerExit:
        """Wait until the latest attempt of the container has exited."""
        record = self._container(pod_id, container)
        await record.exited.wait()
        assert record.exit is not None
        return record.exit

    async def _terminate(self, record: _Container, grace: float) -> None:
        if record.exit is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(record.process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(record.exited.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(record.process.pid, signal.SIGKILL)
            await record.exited.wait()

    async def stop_container(self, pod_id: str, container: str, *, grace: float = 30.0) -> ContainerExit:
        """SIGTERM the container's process group, SIGKILL after `grace` seconds."""
        record = self._container(pod_id, container)
        await self._terminate(record, grace)
        assert record.exit is not None
        return record.exit

    async def stop(self, pod_id: str, *, grace: float = 30.0) -> None:
        """Stop every container of the pod (concurrently), then kill anything left in its
        network namespace. Stopping an unknown or stopped pod does nothing."""
        pod = self._pods.get(pod_id)
        if pod is None:
            return
        latest = [attempts[-1] for attempts in pod.containers.values()]
        await asyncio.gather(*(self._terminate(record, grace) for record in latest))
        for process in list(pod.execs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        await asyncio.to_thread(netns.kill_processes, pod.net.netns)

    def remove(self, pod_id: str) -> None:
        """Forget a stopped pod and delete its logs."""
        pod = self._pods.get(pod_id)
        if pod is None:
            return
        if any(a[-1].exit is None for a in pod.containers.values()):
            raise ContainerStartError(f"pod {pod_id} still has running containers")
        del self._pods[pod_id]
        shutil.rmtree(self.log_dir / pod_id, ignore_errors=True)

    async def close(self, *, grace: float = 5.0) -> None:
        """Stop every pod."""
        await asyncio.gather(*(self.stop(pod_id, grace=grace) for pod_id in list(self._pods)))

    # ------------------------------------------------------------------ streams

    async def exec(
        self,
        pod_id: str,
        command: Sequence[str],
        *,
        container: str | None = None,
        stdin: bool = False,
        merge_stderr: bool = False,
    ) -> asyncio.subprocess.Process:
        """Run a command in the pod as in the container (`kubectl exec`), with pipes for
        stdout and stderr (or stderr into stdout, as a terminal would show them), and for
        stdin if asked."""
        record = self._container(pod_id, container)
        if record.exit is not None:
            raise ContainerStartError(
                f"container {record.spec.name} is not running (exited {record.exit.exit_code})"
            )
        argv = images.rewrite(images.resolve(record.spec.image), command)
        env = self._environment(record.pod, record.spec)
        _check_program(argv, env["PATH"])
        process = await asyncio.create_subprocess_exec(
            *self._command(record.pod, argv),
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
            env=env,
            cwd=record.spec.working_dir or "/",
            start_new_session=True,
        )
        pod = self._pod(pod_id)
        pod.execs.add(process)
        asyncio.get_running_loop().create_task(process.wait()).add_done_callback(
            lambda _: pod.execs.discard(process)
        )
        return process

    async def attach(self, pod_id: str, container: str | None = None) -> Attachment:
        """The container's output from its start, following it, and its stdin writer
        (None unless the container was started with `stdin: true`)."""
        record = self._container(pod_id, container)
        writer = record.process.stdin if record.spec.stdin and record.exit is None else None
        return Attachment(
            output=_follow(record.log_path, 0, record.exited),
            stdin=writer,
            stdin_once=record.spec.stdin_once,
        )

    async def open_port(self, pod_id: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to the pod's port from its node (`kubectl port-forward`)."""
        pod = self._pod(pod_id).net
        return await netns.open_connection_in(pod.node_netns, pod.ip, port)

    def logs(
        self,
        pod_id: str,
        container: str | None = None,
        *,
        follow: bool = False,
        tail: int | None = None,
        previous: bool = False,
    ) -> AsyncIterator[bytes]:
        """A container's log: all of it, or its last `tail` lines; with `follow`, then what
        it writes until it exits."""
        record = self._container(pod_id, container, previous=previous)
        offset = _tail_offset(record.log_path, tail) if tail is not None else 0
        if follow:
            return _follow(record.log_path, offset, record.exited)
        return _read_from(record.log_path, offset)


class ApiPodRuntime:
    """The API server's `PodRuntime` (netpolicy.lab.apiserver.streams) over a
    `ProcessRuntime`: pods named by namespace and name, refusals as `ApiError`s.

    `pod_id(namespace, name)` maps an API pod to the runtime's pod id (None: the runtime has
    not started it). There is no TTY: with `tty` stderr is merged into stdout, as a terminal
    would show it, and `resize` is not offered."""

    def __init__(self, runtime: ProcessRuntime, pod_id: Callable[[str, str], str | None]) -> None:
        self.runtime = runtime
        self._pod_id = pod_id

    def _id(self, namespace: str, pod: str, container: str) -> str:
        found = self._pod_id(namespace, pod)
        if found is None:
            raise BadRequest(f'container "{container}" in pod "{pod}" is waiting to start: ContainerCreating')
        return found

    async def exec(
        self, namespace: str, pod: str, container: str, command: list[str], *, tty: bool, stdin: bool
    ) -> StreamAttachment:
        pod_id = self._id(namespace, pod, container)
        try:
            process = await self.runtime.exec(
                pod_id, command, container=container, stdin=stdin, merge_stderr=tty
            )
        except (RuntimeLookupError, ContainerStartError, UnknownImageError) as exc:
            raise BadRequest(f"unable to start container process: {exc}") from exc
        attachment = StreamAttachment.of_process(process)
        if tty:
            return StreamAttachment(attachment.stdout, None, attachment.stdin, attachment.exit_code)
        return attachment

    async def attach(self, namespace: str, pod: str, container: str, *, stdin: bool) -> StreamAttachment:
        pod_id = self._id(namespace, pod, container)
        try:
            attached = await self.runtime.attach(pod_id, container)
        except RuntimeLookupError as exc:
            raise BadRequest(str(exc)) from exc
        exited = asyncio.ensure_future(self.runtime.wait(pod_id, container))
        reader = asyncio.StreamReader()

        async def feed() -> int:
            async for chunk in attached.output:
                reader.feed_data(chunk)
            reader.feed_eof()
            return (await exited).exit_code

        return StreamAttachment(
            reader, None, attached.stdin if stdin else None, asyncio.ensure_future(feed())
        )

    async def open_port(
        self, namespace: str, pod: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        pod_id = self._id(namespace, pod, "")
        try:
            return await self.runtime.open_port(pod_id, port)
        except RuntimeLookupError as exc:
            raise BadRequest(str(exc)) from exc

    def logs(
        self, namespace: str, pod: str, container: str, *, follow: bool, tail: int | None
    ) -> AsyncIterator[bytes]:
        pod_id = self._id(namespace, pod, container)
        try:
            return self.runtime.logs(pod_id, container, follow=follow, tail=tail)
        except RuntimeLookupError as exc:
            raise BadRequest(str(exc)) from exc


async def _read_from(path: Path, offset: int) -> AsyncIterator[bytes]:
    with open(path, "rb") as fh:
        fh.seek(offset)
        while chunk := fh.read(65536):
            yield chunk


async def _follow(path: Path, offset: int, exited: asyncio.Event) -> AsyncIterator[bytes]:
    """Read `path` from `offset` as it grows, until the writer has exited and all is read."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        while True:
            chunk = fh.read(65536)
            if chunk:
                yield chunk
                continue
            if exited.is_set():
                rest = fh.read()
                if rest:
                    yield rest
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(exited.wait(), _FOLLOW_POLL)


def _tail_offset(path: Path, lines: int) -> int:
    """Where the last `lines` lines of the file begin (a last line without a newline counts,
    as in `tail`)."""
    with open(path, "rb") as fh:
        end = fh.seek(0, os.SEEK_END)
        if lines <= 0 or end == 0:
            return end
        fh.seek(end - 1)
        wanted = lines + 1 if fh.read(1) == b"\n" else lines
        position, data = end, b""
        while position > 0 and data.count(b"\n") < wanted:
            step = min(65536, position)
            position -= step
            fh.seek(position)
            data = fh.read(step) + data
        newlines = [i for i, b in enumerate(data) if b == 0x0A]
        if len(newlines) < wanted:
            return position
        return position + newlines[-wanted] + 1
