"""Containers as processes: the image catalogue (pure), then real pods — nginx, shells,
agnhost, echo — their exits, logs, exec, attach and port access."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from netpolicy.lab import images
from netpolicy.lab.apiserver.streams import PodRuntime
from netpolicy.lab.runtime import (
    ApiPodRuntime,
    ContainerExit,
    ContainerPort,
    ContainerSpec,
    ContainerStartError,
    ProcessRuntime,
    RuntimeLookupError,
    UnknownImageError,
    _tail_offset,
)
from netpolicy.lab.store import BadRequest
from netpolicy.lab.topology import PodNet, Topology
from tests.dataplane.support import lab, root_test

__all__ = ["lab"]

WELCOME = "Welcome to nginx!"


# -------------------------------------------------------------------------- the catalogue


@pytest.mark.parametrize(
    ("reference", "key"),
    [
        ("nginx", "nginx"),
        ("nginx:1.25", "nginx"),
        ("docker.io/library/nginx:1.25", "nginx"),
        ("library/nginx@sha256:0123", "nginx"),
        ("registry.k8s.io/e2e-test-images/agnhost:2.47", "e2e-test-images/agnhost"),
        ("localhost:5000/busybox:1.36", "busybox"),
        ("nicolaka/netshoot", "nicolaka/netshoot"),
        ("registry.k8s.io/pause:3.9", "pause"),
    ],
)
def test_registries_tags_and_digests_resolve_to_the_same_entry(reference: str, key: str) -> None:
    assert images.resolve(reference).name == key


def test_an_unknown_image_names_the_catalogue() -> None:
    with pytest.raises(UnknownImageError, match="image catalogue") as error:
        images.resolve("quay.io/nobody/nothing:1")
    assert "nginx" in str(error.value)


def test_command_and_args_combine_as_in_kubernetes() -> None:
    agnhost = images.resolve("agnhost")
    stand_in = list(agnhost.programs["/agnhost"])
    assert images.command_line(agnhost) == [*stand_in, "pause"]
    assert images.command_line(agnhost, args=["netexec"]) == [*stand_in, "netexec"]
    assert images.command_line(agnhost, command=["sh", "-c", "true"]) == ["sh", "-c", "true"]
    busybox = images.resolve("busybox")
    assert images.command_line(busybox) == ["sh"]
    assert images.command_line(busybox, args=["echo", "hi"]) == ["echo", "hi"]


def test_the_echo_image_serves_each_declared_port_and_protocol_once() -> None:
    echo = images.resolve("netpol/echo")
    argv = images.command_line(echo, ports=[("TCP", 80), ("UDP", 80), ("TCP", 80), ("UDP", 53)])
    assert argv[-3:] == ["tcp:80", "udp:53", "udp:80"]


@pytest.mark.parametrize(
    ("content", "lines", "expected"),
    [
        (b"a\nb\nc\n", 1, b"c\n"),
        (b"a\nb\nc\n", 2, b"b\nc\n"),
        (b"a\nb\nc", 1, b"c"),
        (b"a\nb\nc\n", 10, b"a\nb\nc\n"),
        (b"a\nb\nc\n", 0, b""),
        (b"", 3, b""),
    ],
)
def test_tail_starts_at_the_last_n_lines(tmp_path: Path, content: bytes, lines: int, expected: bytes) -> None:
    path = tmp_path / "log"
    path.write_bytes(content)
    assert content[_tail_offset(path, lines) :] == expected


# ------------------------------------------------------------------------------ real pods


@contextlib.asynccontextmanager
async def running(log_dir: Path, exits: list[ContainerExit] | None = None) -> AsyncIterator[ProcessRuntime]:
    runtime = ProcessRuntime(log_dir, on_exit=exits.append if exits is not None else None)
    try:
        yield runtime
    finally:
        await runtime.close(grace=1)


async def eventually(
    probe: Callable[[], Awaitable[object]], *, timeout: float = 10.0, what: str = "it"
) -> object:
    """Await `probe` until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


async def curl(url: str, *extra: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        "curl", "-s", "-m", "3", *extra, url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    return process.returncode or 0, (out + err).decode()


async def serving(url: str) -> str:
    """The body at `url` once the server answers."""

    async def probe() -> str:
        code, body = await curl(url)
        return body if code == 0 else ""

    return str(await eventually(probe, what=url))


async def read_all(stream: AsyncIterator[bytes]) -> str:
    return b"".join([chunk async for chunk in stream]).decode()


def _two_pods(lab: Topology) -> tuple[PodNet, PodNet]:
    lab.add_node("a")
    lab.add_node("b")
    server = lab.add_pod("a", "web", namespace="default", hostname="web")
    client = lab.add_pod("b", "client", namespace="default", hostname="client")
    return server, client


@root_test("curl")
def test_nginx_answers_the_welcome_page_to_another_pod_and_to_the_host(lab: Topology, tmp_path: Path) -> None:
    web, client = _two_pods(lab)

    async def scenario() -> None:
        exits: list[ContainerExit] = []
        async with running(tmp_path, exits) as runtime:
            await runtime.start(web, ContainerSpec("nginx", "docker.io/library/nginx:1.25"))
            from_host = await serving(f"http://{web.ip}/")
            assert f"<title>{WELCOME}</title>" in from_host
            _, headers = await curl(f"http://{web.ip}/", "-I")
            assert "Server: nginx" in headers

            shell = ContainerSpec("sh", "centos", command=("sh", "-c", f"curl -s -m3 {web.ip}"))
            await runtime.start(client, shell)
            done = await runtime.wait(client.pod_id, "sh")
            assert (done.exit_code, done.reason) == (0, "Completed")
            assert WELCOME in await read_all(runtime.logs(client.pod_id, "sh"))
            assert exits == [done]
            access = await read_all(runtime.logs(web.pod_id, "nginx"))
            assert f"{client.ip} - - [" in access and '"GET / HTTP/1.1" 200 615' in access

    asyncio.run(scenario())


@root_test()
def test_exit_codes_and_signals_are_recorded(lab: Topology, tmp_path: Path) -> None:
    lab.add_node("a")
    pod = lab.add_pod("a", "p", namespace="default", hostname="p")

    async def scenario() -> None:
        async with running(tmp_path) as runtime:
            await runtime.start(pod, ContainerSpec("fail", "busybox", args=("sh", "-c", "exit 3")))
            failed = await runtime.wait(pod.pod_id, "fail")
            assert (failed.exit_code, failed.signal, failed.reason) == (3, None, "Error")

            await runtime.start(pod, ContainerSpec("sleep", "busybox", command=("sleep", "300")))
            stopped = await runtime.stop_container(pod.pod_id, "sleep", grace=5)
            assert (stopped.exit_code, stopped.signal) == (143, 15)

            await runtime.start(pod, ContainerSpec("stubborn", "busybox", command=(
                "sh", "-c", "trap '' TERM; echo started; while :; do sleep 1; done",
            )))  # fmt: skip
            await eventually(lambda: read_all(runtime.logs(pod.pod_id, "stubborn")))
            killed = await runtime.stop_container(pod.pod_id, "stubborn", grace=0.2)
            assert killed.signal == 9

            default = await runtime.start(pod, ContainerSpec("shell", "alpine"))
            assert (await runtime.wait(pod.pod_id, "shell")).exit_code == 0  # sh, no stdin
            assert default.attempt == 0

    asyncio.run(scenario())


@root_test()
def test_exec_runs_in_the_pod_with_its_hostname_environment_and_stdin(lab: Topology, tmp_path: Path) -> None:
    lab.add_node("a")
    pod = lab.add_pod("a", "web-7", namespace="default", hostname="web-7")

    async def scenario() -> None:
        async with running(tmp_path) as runtime:
            spec = ContainerSpec("main", "ubuntu", command=("sleep", "300"), env=(("COLOR", "blue"),))
            await runtime.start(pod, spec)
            process = await runtime.exec(
                pod.pod_id, ["sh", "-c", "hostname; echo $COLOR; ip -4 -o addr show eth0"]
            )
            out, _ = await process.communicate()
            hostname, color, address = out.decode().splitlines()
            assert (hostname, color) == ("web-7", "blue")
            assert f"{pod.ip}/32" in address

            cat = await runtime.exec(pod.pod_id, ["cat"], stdin=True)
            out, _ = await cat.communicate(b"through stdin\n")
            assert out == b"through stdin\n"

            failing = await runtime.exec(pod.pod_id, ["sh", "-c", "exit 4"])
            assert await failing.wait() == 4
            with pytest.raises(ContainerStartError, match="not found"):
                await runtime.exec(pod.pod_id, ["no-such-program"])

    asyncio.run(scenario())


@root_test()
def test_logs_tail_previous_and_follow(lab: Topology, tmp_path: Path) -> None:
    lab.add_node("a")
    pod = lab.add_pod("a", "p", namespace="default", hostname="p")
    three_lines = ContainerSpec("c", "busybox", command=("sh", "-c", "echo one; echo two; echo three"))

    async def scenario() -> None:
        async with running(tmp_path) as runtime:
            await runtime.start(pod, three_lines)
            await runtime.wait(pod.pod_id, "c")
            assert await read_all(runtime.logs(pod.pod_id, "c", tail=2)) == "two\nthree\n"
            with pytest.raises(RuntimeLookupError, match="previous"):
                runtime.logs(pod.pod_id, "c", previous=True)
            restarted = await runtime.start(pod, three_lines)  # the kubelet's restart
            assert restarted.attempt == 1
            await runtime.wait(pod.pod_id, "c")
            assert await read_all(runtime.logs(pod.pod_id, "c", previous=True)) == "one\ntwo\nthree\n"

            chatty = ContainerSpec(
                "chat", "busybox", command=("sh", "-c", "echo ready; read x; echo got $x"), stdin=True
            )
            await runtime.start(pod, chatty)
            follow = runtime.logs(pod.pod_id, "chat", follow=True)
            assert await anext(follow) == b"ready\n"
            attached = await runtime.attach(pod.pod_id, "chat")
            assert attached.stdin is not None
            attached.stdin.write(b"hello\n")
            await attached.stdin.drain()
            rest = await asyncio.wait_for(read_all(follow), 5)  # ends when the container exits
            assert rest == "got hello\n"
            assert await asyncio.wait_for(read_all(attached.output), 5) == "ready\ngot hello\n"

    asyncio.run(scenario())


@root_test()
def test_images_and_programs_that_cannot_run_fail_before_anything_starts(
    lab: Topology, tmp_path: Path
) -> None:
    lab.add_node("a")
    pod = lab.add_pod("a", "p", namespace="default", hostname="p")

    async def scenario() -> None:
        async with running(tmp_path) as runtime:
            with pytest.raises(UnknownImageError, match="image catalogue"):
                await runtime.start(pod, ContainerSpec("x", "example.com/private/app:1"))
            with pytest.raises(ContainerStartError, match='exec: "nope"'):
                await runtime.start(pod, ContainerSpec("x", "busybox", command=("nope",)))
            assert runtime.containers(pod.pod_id) == []

    asyncio.run(scenario())


@root_test("curl")
def test_port_access_comes_from_the_pods_node(lab: Topology, tmp_path: Path) -> None:
    node = lab.add_node("a")
    pod = lab.add_pod("a", "web", namespace="default", hostname="web")

    async def scenario() -> None:
        async with running(tmp_path) as runtime:
            await runtime.start(pod, ContainerSpec("nginx", "nginx"))
            await serving(f"http://{pod.ip}/")
            reader, writer = await runtime.open_port(pod.pod_id, 80)
            writer.write(b"GET / HTTP/1.0\r\n\r\n")
            assert WELCOME in (await reader.read()).decode()
            writer.close()
            access = await read_all(runtime.logs(pod.pod_id, "nginx", tail=1))
            assert access.startswith(f"{node.ip} - - [")

    asyncio.run(scenario())


def _udp(ip: str, port: int, payload: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(payload, (ip, port))
        return sock.recv(65536)


@root_test("curl")
def test_agnhost_and_echo_answer_as_their_upstream_images(lab: Topology, tmp_path: Path) -> None:
    server, client = _two_pods(lab)
    agnhost = "registry.k8s.io/e2e-test-images/agnhost:2.47"

    async def scenario() -> None:
        async with running(tmp_path) as runtime:
            args = ("netexec", "--http-port=8080", "--udp-port", "8081")
            await runtime.start(server, ContainerSpec("netexec", agnhost, args=args))
            await runtime.start(
                server,
                ContainerSpec(
                    "echo", "netpol/echo",
                    ports=(ContainerPort(7000), ContainerPort(7000, "UDP"), ContainerPort(7001)),
                ),
            )  # fmt: skip
            base = f"http://{server.ip}:8080"
            assert await serving(f"{base}/hostname") == "web"
            assert (await curl(f"{base}/echo?msg=hi%20there"))[1] == "hi there"
            assert (await curl(f"{base}/clientip"))[1].startswith(lab.config.host_ip + ":")
            got = await asyncio.to_thread(_udp, server.ip, 8081, b"echo over udp")
            assert got == b"over udp"

            async def tcp_echo() -> bytes:
                try:
                    reader, writer = await asyncio.open_connection(server.ip, 7001)
                except OSError:
                    return b""
                writer.write(b"ping")
                writer.write_eof()
                data = await reader.read()
                writer.close()
                return data

            assert await eventually(tcp_echo, what="the echo server") == b"ping"
            assert await asyncio.to_thread(_udp, server.ip, 7000, b"pong") == b"pong"

            await runtime.start(client, ContainerSpec("probe", agnhost, command=("sleep", "300")))
            for target, code, message in [
                (f"{server.ip}:8080", 0, ""),
                (f"{server.ip}:9", 1, "REFUSED"),
            ]:
                connect = await runtime.exec(client.pod_id, ["/agnhost", "connect", target, "--timeout=3s"])
                _, err = await connect.communicate()
                assert (connect.returncode, message in err.decode()) == (code, True)
            udp = await runtime.exec(
                client.pod_id, ["/agnhost", "connect", f"{server.ip}:8081", "--protocol=udp", "--timeout=3s"]
            )
            assert await udp.wait() == 0

    asyncio.run(scenario())


@root_test("curl")
@pytest.mark.slow
def test_fifty_nginx_pods_start_quickly(lab: Topology, tmp_path: Path) -> None:
    """Timing printed, not asserted (bench/bench_lab_runtime.py has the table)."""
    lab.add_node("a")
    lab.add_node("b")

    async def scenario() -> None:
        async with running(tmp_path) as runtime:
            started = time.perf_counter()
            pods = await asyncio.gather(
                *(
                    asyncio.to_thread(
                        lab.add_pod, "ab"[i % 2], f"web-{i}", namespace="default", hostname=f"web-{i}"
                    )
                    for i in range(50)
                )
            )
            networked = time.perf_counter()
            for pod in pods:
                await runtime.start(pod, ContainerSpec("nginx", "nginx"))
            spawned = time.perf_counter()
            bodies = await asyncio.gather(*(serving(f"http://{p.ip}/") for p in pods))
            ready = time.perf_counter()
            assert all(WELCOME in body for body in bodies)
            print(
                f"\n50 nginx pods: network {networked - started:.2f}s, "
                f"spawn {spawned - networked:.2f}s, all serving {ready - started:.2f}s"
            )

    asyncio.run(scenario())


@root_test()
def test_the_api_server_reaches_pods_by_namespace_and_name(lab: Topology, tmp_path: Path) -> None:
    lab.add_node("a")
    pod = lab.add_pod("a", "default.web", namespace="default", hostname="web")
    script = "echo hello; echo oops >&2; read line; echo got $line"

    async def scenario() -> None:
        async with running(tmp_path) as runtime:
            api: PodRuntime = ApiPodRuntime(
                runtime, lambda ns, name: pod.pod_id if (ns, name) == ("default", "web") else None
            )
            spec = ContainerSpec("main", "busybox", command=("sh", "-c", script), stdin=True)
            await runtime.start(pod, spec)

            split = await api.exec(
                "default", "web", "main", ["sh", "-c", "echo out; echo err >&2; exit 3"],
                tty=False, stdin=False,
            )  # fmt: skip
            assert split.stderr is not None
            assert (await split.stdout.read(), await split.stderr.read()) == (b"out\n", b"err\n")
            assert await split.exit_code == 3
            merged = await api.exec(
                "default", "web", "main", ["sh", "-c", "echo err >&2"], tty=True, stdin=False
            )
            assert (merged.stderr, await merged.stdout.read()) == (None, b"err\n")
            with pytest.raises(BadRequest, match="executable file not found"):
                await api.exec("default", "web", "main", ["nope"], tty=False, stdin=False)

            attached = await api.attach("default", "web", "main", stdin=True)
            assert attached.stdin is not None
            assert await attached.stdout.readline() == b"hello\n"
            attached.stdin.write(b"there\n")
            await attached.stdin.drain()
            assert await asyncio.wait_for(attached.stdout.read(), 5) == b"oops\ngot there\n"
            assert await attached.exit_code == 0

            logs = api.logs("default", "web", "main", follow=False, tail=1)
            assert await read_all(logs) == "got there\n"
            with pytest.raises(BadRequest, match="ContainerCreating"):
                api.logs("default", "other", "main", follow=True, tail=None)
            with pytest.raises(BadRequest, match="not valid"):
                api.logs("default", "web", "sidecar", follow=False, tail=None)

    asyncio.run(scenario())
