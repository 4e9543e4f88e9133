"""The coins demo images (netpol/demo-*, examples/microservices): their catalogue entries, the
pure parts (the tiny Redis's protocol and commands, rng's and hasher's answers), the Redis
server and its redis-cli on 127.0.0.1, then the whole app in a lab: five pods, the worker
finding the others by their Service names through the cluster DNS, the web UI showing the
count, and the worker riding out a dependency that goes away."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import re
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from netpolicy.dataplane.nft import Nft
from netpolicy.dataplane.proxy import Endpoint, ProxyTarget, ServicePort, ServiceProxy
from netpolicy.lab import images
from netpolicy.lab.dns import ClusterZone, DnsServer, ServicePortRecord, ServiceRecord
from netpolicy.lab.images import demo_hasher, demo_rng, demo_worker
from netpolicy.lab.images.demo_redis import NOT_AN_INTEGER, ProtocolError, Store, command, parse
from netpolicy.lab.runtime import ContainerPort, ContainerSpec, ProcessRuntime
from netpolicy.lab.topology import Topology
from tests.dataplane.support import lab, root_test, wait_until
from tests.lab.test_runtime import curl, eventually, read_all, running

__all__ = ["lab"]

REDIS = images.resolve("netpol/demo-redis")
APP = Path(__file__).resolve().parents[2] / "examples" / "microservices" / "app.yaml"

NAMESPACE = "coins"
# The Services of examples/microservices/app.yaml: name → (port name, port).
SERVICES = {"rng": ("http", 80), "hasher": ("http", 80), "redis": ("redis", 6379), "webui": ("http", 80)}


# -------------------------------------------------------------------------- the catalogue


@pytest.mark.parametrize(
    ("reference", "script"),
    [
        ("netpol/demo-rng", "demo_rng.py"),
        ("netpol/demo-hasher:v1", "demo_hasher.py"),
        ("docker.io/netpol/demo-redis", "demo_redis.py"),
        ("netpol/demo-worker", "demo_worker.py"),
        ("netpol/demo-webui@sha256:0123", "demo_webui.py"),
    ],
)
def test_each_demo_image_runs_its_script(reference: str, script: str) -> None:
    image = images.resolve(reference)
    argv = images.command_line(image)
    assert argv[1:3] == ["-I", "-S"] and Path(argv[3]).name == script and Path(argv[3]).is_file()
    assert image.description.startswith("coins demo:")


def test_the_redis_image_runs_redis_server_and_has_redis_cli() -> None:
    assert images.command_line(REDIS)[4:] == ["redis-server"]
    assert images.command_line(REDIS, args=["redis-server", "--port", "7000"])[4:] == [
        "redis-server", "--port", "7000",
    ]  # fmt: skip
    assert images.rewrite(REDIS, ["redis-cli", "get", "hashes"])[4:] == ["redis-cli", "get", "hashes"]
    assert images.rewrite(REDIS, ["/usr/local/bin/redis-cli", "ping"])[4:] == ["redis-cli", "ping"]


def test_the_example_app_runs_on_these_images_and_its_services_reach_their_ports() -> None:
    """examples/microservices/app.yaml: every image is in the catalogue, and each Service
    selects one Deployment's pods and names a port they declare (the table the lab test uses)."""
    documents = [d for d in yaml.safe_load_all(APP.read_text()) if d]
    templates = {d["metadata"]["name"]: d["spec"]["template"] for d in documents if d["kind"] == "Deployment"}
    for document in documents:
        pod_spec = (
            document["spec"]["template"]["spec"] if document["kind"] == "Deployment" else document["spec"]
        )
        for container in pod_spec.get("containers", []):
            images.resolve(container["image"])
    services = {}
    for service in (d for d in documents if d["kind"] == "Service"):
        selector = service["spec"]["selector"]
        (selected,) = [t for t in templates.values() if selector.items() <= t["metadata"]["labels"].items()]
        declared = {p["name"]: p["containerPort"] for c in selected["spec"]["containers"] for p in c["ports"]}
        for port in service["spec"]["ports"]:
            services[service["metadata"]["name"]] = (port["name"], port["port"])
            assert declared[port["targetPort"]] == port["port"]
    assert services == SERVICES


# ------------------------------------------------------------------ the Redis protocol (pure)

GET = b"*2\r\n$3\r\nGET\r\n$6\r\nhashes\r\n"


@pytest.mark.parametrize(
    ("data", "args", "used"),
    [
        (GET, [b"GET", b"hashes"], len(GET)),
        (GET + b"*1\r\n$4\r\nPING\r\n", [b"GET", b"hashes"], len(GET)),  # pipelined: one at a time
        (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n", [b"SET", b"k", b"a\r\nb"], 30),  # binary-safe
        (b"*1\r\n$0\r\n\r\n", [b""], 10),
        (b"PING\r\n", [b"PING"], 6),  # inline, as nc and telnet send
        (b"set  k   v\nGET k\n", [b"set", b"k", b"v"], 11),
        (b"\r\n", [], 2),  # a blank line: nothing to do
        (b"*0\r\n", [], 4),
    ],
)
def test_requests_are_arrays_of_bulk_strings_or_inline_lines(
    data: bytes, args: list[bytes], used: int
) -> None:
    assert parse(data) == (args, used)


def test_an_incomplete_request_waits_for_more_bytes() -> None:
    for cut in range(len(GET)):
        assert parse(GET[:cut]) == (None, 0), cut
    assert parse(b"PIN") == (None, 0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"*x\r\n", "invalid multibulk length"),
        (b"*1\r\n:1\r\n", "expected '$', got ':'"),
        (b"*1\r\n$-5\r\n", "invalid bulk length"),
        (b"*1\r\n$2\r\nabc\r\n", "bulk string not followed by CRLF"),
        (b"A" * (64 * 1024 + 1), "too big inline request"),
    ],
)
def test_malformed_requests_are_protocol_errors(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=re.escape(message)):
        parse(data)


@pytest.mark.parametrize(
    ("commands", "reply"),
    [
        (["PING"], b"+PONG\r\n"),
        (["ping hi"], b"$2\r\nhi\r\n"),
        (["GET nope"], b"$-1\r\n"),
        (["SET k v", "GET k"], b"$1\r\nv\r\n"),
        (["INCR hashes"], b":1\r\n"),
        (["SET n 41", "incr n"], b":42\r\n"),
        (["INCRBY n -5", "DECRBY n 2", "DECR n"], b":-8\r\n"),
        (["SET n x", "INCR n"], NOT_AN_INTEGER),
        (["INCRBY n 1.5"], NOT_AN_INTEGER),
        ([f"SET n {2**63 - 1}", "INCR n"], b"-ERR increment or decrement would overflow\r\n"),
        (["SET a 1", "SET b 2", "DEL a b c a"], b":2\r\n"),
        (["SET a 1", "EXISTS a b a"], b":2\r\n"),
        (["SET b 1", "SET a 1", "SET hashes 1", "KEYS *"], b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$6\r\nhashes\r\n"),
        (["SET ab 1", "SET b 1", "KEYS a*"], b"*1\r\n$2\r\nab\r\n"),
        (["SET a 1", "DBSIZE"], b":1\r\n"),
        (["SET a 1", "FLUSHALL", "DBSIZE"], b":0\r\n"),
        (["SELECT 1"], b"-ERR DB index is out of range\r\n"),
        (["GET"], b"-ERR wrong number of arguments for 'get' command\r\n"),
        (["SET k v EX 10"], b"-ERR syntax error\r\n"),
        (["FLY me to"], b"-ERR unknown command 'FLY', with args beginning with: 'me' 'to'\r\n"),
    ],
)
def test_commands_answer_as_redis_does(commands: list[str], reply: bytes) -> None:
    store = Store()
    replies = [store.execute([word.encode() for word in line.split()]) for line in commands]
    assert replies[-1] == reply


def test_incr_from_many_threads_loses_no_count() -> None:
    store = Store()

    def count() -> None:
        for _ in range(500):
            store.execute([b"INCR", b"hashes"])

    threads = [threading.Thread(target=count) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.execute([b"GET", b"hashes"]) == b"$4\r\n4000\r\n"


# ------------------------------------------------------------ rng, hasher, worker (pure parts)


def test_rng_answers_n_random_bytes_up_to_1024() -> None:
    status, kind, body = demo_rng.handle("GET", "/32", b"")
    assert (status, kind, len(body)) == (200, "application/octet-stream", 32)
    assert demo_rng.handle("GET", "/32", b"")[2] != body
    assert len(demo_rng.handle("GET", "/1024", b"")[2]) == 1024
    assert [demo_rng.handle(m, p, b"")[0] for m, p in [("GET", "/1025"), ("GET", "/x"), ("POST", "/32")]] == [
        400, 404, 405,
    ]  # fmt: skip
    assert demo_rng.handle("GET", "/", b"")[2].startswith(b"RNG running on ")


def test_hasher_answers_the_sha256_of_the_body_in_hex() -> None:
    digest = hashlib.sha256(b"\x00random\xff").hexdigest().encode()
    assert demo_hasher.handle("POST", "/", b"\x00random\xff") == (200, "text/plain", digest)
    assert demo_hasher.handle("GET", "/", b"")[2].startswith(b"HASHER running on ")
    assert demo_hasher.handle("POST", "/elsewhere", b"x")[0] == 404


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("http://rng/32", ("rng", 80, "/32")),
        ("http://hasher", ("hasher", 80, "/")),
        ("http://10.96.0.7:8080/", ("10.96.0.7", 8080, "/")),
        ("rng.coins.svc.cluster.local/32", ("rng.coins.svc.cluster.local", 80, "/32")),
    ],
)
def test_the_worker_reads_its_urls(url: str, parts: tuple[str, int, str]) -> None:
    assert demo_worker.split_url(url) == parts


def test_the_worker_names_network_failures_plainly() -> None:
    assert demo_worker.explain(ConnectionRefusedError(111, "Connection refused")) == "connection refused"
    assert demo_worker.explain(TimeoutError("timed out")) == "timed out"
    assert demo_worker.explain(socket.gaierror(-2, "Name or service not known")) == (
        "DNS: Name or service not known"
    )
    assert demo_worker.explain(demo_worker.Failure("HTTP 503")) == "HTTP 503"


# ------------------------------------------------------- the Redis server on 127.0.0.1


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """demo_redis.py serving on a free port of 127.0.0.1 (no namespace needed), stopped after."""
    port = _free_port()
    log = tmp_path / "redis.log"
    argv = images.rewrite(REDIS, ["redis-server", "--bind", "127.0.0.1", "--port", str(port)])
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _accepts(port), what="the redis server")
        yield RedisServer(port, process, log)
    finally:
        process.kill()
        process.wait(5)


def _receive(sock: socket.socket, size: int) -> bytes:
    """`size` bytes, or what came before the server closed."""
    data = b""
    while len(data) < size and (chunk := sock.recv(65536)):
        data += chunk
    return data


def test_the_server_answers_pipelined_split_inline_and_concurrent_requests(redis_server: RedisServer) -> None:
    address = ("127.0.0.1", redis_server.port)
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(command(b"SET", b"k", b"v") + command(b"GET", b"k") + command(b"INCR", b"hashes"))
        expected = b"+OK\r\n$1\r\nv\r\n:1\r\n"
        assert _receive(sock, len(expected)) == expected
        for byte in command(b"INCRBY", b"hashes", b"41"):
            sock.send(bytes([byte]))
        assert _receive(sock, 5) == b":42\r\n"
        sock.sendall(b"EXISTS k hashes nope\r\nKEYS *\r\n")
        expected = b":2\r\n*2\r\n$6\r\nhashes\r\n$1\r\nk\r\n"
        assert _receive(sock, len(expected)) == expected
        sock.sendall(b"QUIT\r\n")
        assert _receive(sock, 100) == b"+OK\r\n"  # and closed

    def client() -> None:
        with socket.create_connection(address, timeout=5) as sock:
            for _ in range(100):
                sock.sendall(command(b"INCR", b"hashes"))
                assert _receive(sock, 1)[:1] == b":"

    threads = [threading.Thread(target=client) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(GET)
        assert _receive(sock, 10) == b"$4\r\n1042\r\n"
        sock.sendall(b"*1\r\n:1\r\n")
        assert _receive(sock, 100) == b"-ERR Protocol error: expected '$', got ':'\r\n"  # and closed

    redis_server.process.send_signal(signal.SIGTERM)
    assert redis_server.process.wait(5) == 0
    log = redis_server.log.read_text()
    assert f"Ready to accept connections tcp on 127.0.0.1:{redis_server.port}" in log
    assert re.search(r"127\.0\.0\.1:\d+ INCRBY hashes :42\n", log)
    assert "Received SIGTERM" in log


def test_redis_cli_prints_replies_as_redis_cli_does(redis_server: RedisServer) -> None:
    cli = images.rewrite(REDIS, ["redis-cli", "-p", str(redis_server.port)])

    def run(*args: str, stdin: str = "") -> tuple[int, str]:
        done = subprocess.run([*cli, *args], input=stdin, capture_output=True, text=True, timeout=10)
        return done.returncode, done.stdout + done.stderr

    assert run("set", "hashes", "7") == (0, "OK\n")
    assert run("get", "hashes") == (0, "7\n")
    assert run("get", "nope") == (0, "\n")
    assert run("incr") == (1, "(error) ERR wrong number of arguments for 'incr' command\n")
    assert run(stdin="incr hashes\n\nkeys *\n") == (0, "8\nhashes\n")
    closed = _free_port()
    refused = images.rewrite(REDIS, ["redis-cli", "-p", str(closed), "ping"])
    done = subprocess.run(refused, capture_output=True, text=True, timeout=10)
    assert (done.returncode, done.stderr) == (
        1, f"Could not connect to Redis at 127.0.0.1:{closed}: Connection refused\n",
    )  # fmt: skip


# ------------------------------------------------------------------------ the app in a lab


@root_test("curl", "nft")
def test_the_coins_app_counts_shows_the_count_and_rides_out_dependencies_going_away(
    lab: Topology, tmp_path: Path
) -> None:
    lab.add_node("a")
    lab.add_node("b")
    dns_pod = lab.add_pod("a", "coredns", namespace="kube-system", hostname="coredns")
    nodes = {"rng": "a", "hasher": "a", "redis": "b", "webui": "b", "worker": "b"}
    pods = {
        app: lab.add_pod(node, f"coins.{app}", namespace=NAMESPACE, hostname=f"{app}-7c9d")
        for app, node in nodes.items()
    }
    # The Services of app.yaml: a ClusterIP each, proxied to the pod, named in the cluster DNS.
    service_ips = ipaddress.IPv4Network(lab.config.service_cidr)
    cluster_ip = {app: str(service_ips[20 + i]) for i, app in enumerate(SERVICES)}
    records = {
        app: ServiceRecord(NAMESPACE, app, cluster_ip[app], (ServicePortRecord(name, "TCP", port),))
        for app, (name, port) in SERVICES.items()
    }
    kube_dns = ServiceRecord("kube-system", "kube-dns", lab.config.dns_ip)
    zone = ClusterZone()
    zone.update([kube_dns, *records.values()])
    ServiceProxy([ProxyTarget(Nft(ns), ns) for ns in lab.proxy_namespaces()]).update(
        [
            *(
                ServicePort("kube-system/kube-dns", lab.config.dns_ip, proto, 53, (Endpoint(dns_pod.ip, 53),))
                for proto in ("UDP", "TCP")
            ),
            *(
                ServicePort(
                    f"{NAMESPACE}/{app}", cluster_ip[app], "TCP", port, (Endpoint(pods[app].ip, port),), name
                )
                for app, (name, port) in SERVICES.items()
            ),
        ]
    )
    http, redis_port = ContainerPort(80, name="http"), ContainerPort(6379, name="redis")
    specs = {
        "redis": ContainerSpec("redis", "netpol/demo-redis", ports=(redis_port,)),
        "rng": ContainerSpec("rng", "netpol/demo-rng", ports=(http,)),
        "hasher": ContainerSpec("hasher", "netpol/demo-hasher", ports=(http,)),
        # The web UI is told redis' pod IP; the worker finds everything by Service name.
        "webui": ContainerSpec(
            "webui", "netpol/demo-webui", env=(("REDIS_HOST", pods["redis"].ip),), ports=(http,)
        ),
        "worker": ContainerSpec("worker", "netpol/demo-worker", env=(("WORKER_DELAY", "0.05"),)),
    }
    webui = f"http://{pods['webui'].ip}"

    async def counted() -> int:
        code, body = await curl(f"{webui}/json")
        try:
            return int(json.loads(body)["hashes"]) if code == 0 else -1
        except (ValueError, KeyError, TypeError):
            return -1

    async def counted_beyond(count: int) -> int:
        now = await counted()
        return now if now > count else 0

    async def worker_log(runtime: ProcessRuntime) -> str:
        return await read_all(runtime.logs(pods["worker"].pod_id, "worker"))

    async def logged(runtime: ProcessRuntime, pattern: str, times: int = 1) -> bool:
        return len(re.findall(pattern, await worker_log(runtime))) >= times

    async def redis_cli(*args: str) -> str:
        """redis-cli in the worker's pod: the Service name through the pod's resolv.conf."""
        process = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", pods["worker"].netns,
            *images.rewrite(REDIS, ["redis-cli", "-h", "redis", *args]),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await process.communicate()
        return out.decode()

    async def scenario() -> None:
        dns = DnsServer(zone.lookup)
        await dns.start(dns_pod.netns, dns_pod.ip, 53)
        try:
            async with running(tmp_path) as runtime:
                for app, spec in specs.items():
                    await runtime.start(pods[app], spec)
                worker_id = pods["worker"].pod_id

                # It counts, in redis, and the web UI shows the count.
                await eventually(lambda: counted_beyond(2), what="the worker to count 3 hashes")
                seen = await counted()
                assert int(await redis_cli("get", "hashes")) >= seen
                code, page = await curl(f"{webui}/")
                shown = re.search(r'<p id="hashes">(\d+)</p>', page)
                assert code == 0 and "<title>coins web UI</title>" in page and shown is not None
                assert int(shown[1]) >= seen
                assert re.search(
                    r"round \d+: 32 bytes hashed to [0-9a-f]{16}\.\.\., hashes=\d+ ",
                    await worker_log(runtime),
                )
                hasher_log = await read_all(runtime.logs(pods["hasher"].pod_id, "hasher"))
                assert f"{pods['worker'].ip}:" in hasher_log and '"POST / HTTP/1.1" 200 64' in hasher_log
                assert '"GET /32 HTTP/1.1" 200 32' in await read_all(runtime.logs(pods["rng"].pod_id, "rng"))

                # The hasher goes away: the worker says so each round, counts nothing, keeps going.
                await runtime.stop_container(pods["hasher"].pod_id, "hasher", grace=2)
                refused = r"round \d+: hasher http://hasher/: connection refused\n"
                await eventually(lambda: logged(runtime, refused), what="the worker to see hasher gone")
                stalled = await counted()
                await eventually(lambda: logged(runtime, refused, 4), what="more failed rounds")
                assert await counted() == stalled
                # ...and counts again when it is back.
                await runtime.start(pods["hasher"], specs["hasher"])
                await eventually(lambda: counted_beyond(stalled), what="counting to resume")

                # The hasher's Service vanishes from DNS: a name that does not resolve, survived too.
                zone.update([kube_dns, *(r for app, r in records.items() if app != "hasher")])
                unknown = r"round \d+: hasher http://hasher/: DNS: Name or service not known\n"
                await eventually(lambda: logged(runtime, unknown), what="the worker to miss the name")
                zone.update([kube_dns, *records.values()])
                await eventually(lambda: counted_beyond(stalled + 1), what="counting to resume again")

                # Redis goes away: the web UI says so, the worker too.
                await runtime.stop_container(pods["redis"].pod_id, "redis", grace=2)
                code, answer = await curl(f"{webui}/json", "-w", " %{http_code}")
                assert answer == '{"hashes": null, "error": "redis unreachable: connection refused"}\n 503'
                code, page = await curl(f"{webui}/")
                assert code == 0 and '<p id="hashes">redis unreachable</p>' in page
                await eventually(
                    lambda: logged(runtime, r"round \d+: redis redis:6379: connection refused\n"),
                    what="the worker to see redis gone",
                )

                worker = runtime.status(worker_id, "worker")
                assert (worker.running, worker.attempt) == (True, 0)
                stopped = await runtime.stop_container(worker_id, "worker", grace=2)
                assert (stopped.exit_code, stopped.signal) == (0, None)
        finally:
            await dns.close()

    asyncio.run(scenario())
