"""The service proxy: the rendered table (pure, golden), the applier, and real Services —
load spread over backends, refusal without endpoints, hairpin — from pods and from the host."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from netpolicy.dataplane import proxy
from netpolicy.dataplane.nft import FakeNft, Nft, NftError, Transaction
from netpolicy.dataplane.proxy import Endpoint, ProxyTarget, ServicePort, ServiceProxy
from netpolicy.lab.runtime import ContainerSpec, ProcessRuntime
from netpolicy.lab.topology import PodNet, Topology
from tests.dataplane.support import lab, make_netns, root_test

__all__ = ["lab", "make_netns"]

WEB = ServicePort("default/web", "10.96.0.20", "TCP", 80, (Endpoint("10.244.1.5", 8080),), port_name="http")
EMPTY = ServicePort("default/empty", "10.96.0.21", "UDP", 53, ())

GOLDEN = """\
add table ip netpol-proxy { comment "netpolicy lab service proxy" ; }
add chain ip netpol-proxy ep-HGNPOIJ5-default/web/tcp/http__10.244.1.5/8080
add chain ip netpol-proxy filter-output { type filter hook output priority -90 ; policy accept ; }
add chain ip netpol-proxy filter-prerouting { type filter hook prerouting priority -90 ; policy accept ; }
add chain ip netpol-proxy nat-output { type nat hook output priority -100 ; policy accept ; }
add chain ip netpol-proxy nat-postrouting { type nat hook postrouting priority 100 ; policy accept ; }
add chain ip netpol-proxy nat-prerouting { type nat hook prerouting priority -100 ; policy accept ; }
add chain ip netpol-proxy reject-chain
add chain ip netpol-proxy services
add chain ip netpol-proxy svc-SUSTUHLJ-default/web/tcp/http
add map ip netpol-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; }
add map ip netpol-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }
add rule ip netpol-proxy ep-HGNPOIJ5-default/web/tcp/http__10.244.1.5/8080 ip saddr 10.244.1.5 meta mark set meta mark | 0x00004000
add rule ip netpol-proxy ep-HGNPOIJ5-default/web/tcp/http__10.244.1.5/8080 meta l4proto tcp dnat to 10.244.1.5:8080
add rule ip netpol-proxy filter-output ct state new ip daddr . meta l4proto . th dport vmap @no-endpoint-services
add rule ip netpol-proxy filter-prerouting ct state new ip daddr . meta l4proto . th dport vmap @no-endpoint-services
add rule ip netpol-proxy nat-output jump services
add rule ip netpol-proxy nat-postrouting meta mark & 0x00004000 == 0x00004000 meta mark set meta mark ^ 0x00004000 masquerade fully-random
add rule ip netpol-proxy nat-prerouting jump services
add rule ip netpol-proxy reject-chain reject
add rule ip netpol-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip netpol-proxy svc-SUSTUHLJ-default/web/tcp/http numgen random mod 1 vmap { 0 : goto ep-HGNPOIJ5-default/web/tcp/http__10.244.1.5/8080 }
add element ip netpol-proxy no-endpoint-services { 10.96.0.21 . udp . 53 : goto reject-chain }
add element ip netpol-proxy service-ips { 10.96.0.20 . tcp . 80 : goto svc-SUSTUHLJ-default/web/tcp/http }
"""  # noqa: E501


def _dump(tx: Transaction) -> str:
    fake = FakeNft()
    fake.run(tx)
    return fake.dump()


def test_the_proxy_table_is_one_map_lookup_a_random_pick_and_a_dnat() -> None:
    assert _dump(proxy.render([WEB, EMPTY])) == GOLDEN


def test_the_table_is_replaced_whole_and_does_not_depend_on_input_order() -> None:
    three = [
        ServicePort("a/s", "10.96.0.30", "TCP", 80, (Endpoint("10.244.2.9", 80), Endpoint("10.244.1.9", 80))),
        WEB,
        EMPTY,
    ]
    tx = proxy.render(three)
    assert [op.verb for op in tx.operations[:3]] == ["add", "delete", "add"]
    assert tx.render() == proxy.render(reversed(three)).render()
    fake = FakeNft()
    fake.run(proxy.render(three))
    fake.run(proxy.render([EMPTY]))  # services gone: their chains go with the table
    assert "svc-" not in fake.dump()


def test_endpoints_are_picked_by_numgen_over_a_verdict_map() -> None:
    port = ServicePort(
        "a/s", "10.96.0.30", "TCP", 80, (Endpoint("10.244.2.9", 80), Endpoint("10.244.1.9", 81))
    )
    fake = FakeNft()
    fake.run(proxy.render([port]))
    (rule,) = fake.rules(proxy.FAMILY, proxy.TABLE, proxy.service_chain(port))
    chains = [proxy.endpoint_chain(port, ep) for ep in sorted(port.endpoints)]
    assert rule == f"numgen random mod 2 vmap {{ 0 : goto {chains[0]}, 1 : goto {chains[1]} }}"
    assert fake.rules(proxy.FAMILY, proxy.TABLE, chains[1])[-1] == "meta l4proto tcp dnat to 10.244.2.9:80"


@pytest.mark.parametrize(
    "build",
    [
        lambda: proxy.render([WEB, ServicePort("other/x", "10.96.0.20", "TCP", 80, ())]),
        lambda: ServicePort("a/v6", "fd00::1", "TCP", 80, ()),
        lambda: ServicePort("a/v6", "10.96.0.1", "TCP", 80, (Endpoint("fd00::2", 80),)),
    ],
    ids=["two services on one ClusterIP and port", "IPv6 ClusterIP", "IPv6 endpoint"],
)
def test_what_the_proxy_cannot_do_is_an_error(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        build()


class _Broken(FakeNft):
    def run(self, tx: Transaction) -> None:
        raise NftError("nft is broken here")


def test_the_applier_updates_every_namespace_and_forgets_udp_flows_of_lost_endpoints() -> None:
    forgotten: list[tuple[str | None, str, int]] = []
    nodes = [FakeNft(), FakeNft()]
    applier = ServiceProxy(
        [ProxyTarget(nodes[0], "node-a"), ProxyTarget(nodes[1], "node-b")],
        forget_udp=lambda ns, ip, port: forgotten.append((ns, ip, port)),
    )
    dns = ServicePort("kube-system/kube-dns", "10.96.0.10", "UDP", 53, (Endpoint("10.244.0.2", 53),))
    applier.update([WEB, dns])
    assert nodes[0].dump() == nodes[1].dump() == _dump(proxy.render([WEB, dns]))
    moved = ServicePort("kube-system/kube-dns", "10.96.0.10", "UDP", 53, (Endpoint("10.244.0.3", 53),))
    applier.update([WEB, moved])
    assert forgotten == [("node-a", "10.96.0.10", 53), ("node-b", "10.96.0.10", 53)]
    forgotten.clear()
    grown = ServicePort("kube-system/kube-dns", "10.96.0.10", "UDP", 53, (*moved.endpoints, *dns.endpoints))
    applier.update([WEB, grown])
    assert forgotten == []
    late = FakeNft()
    applier.add_target(ProxyTarget(late, "node-c"))
    assert late.dump() == nodes[0].dump()

    broken = ServiceProxy([ProxyTarget(_Broken(), "x"), ProxyTarget(nodes[0], "node-a")])
    with pytest.raises(NftError, match="broken"):
        broken.update([EMPTY])
    assert nodes[0].dump() == _dump(proxy.render([EMPTY]))


@root_test("nft")
def test_the_real_nft_holds_exactly_what_the_fake_holds(make_netns: Callable[[str], str]) -> None:
    real, fake = Nft(make_netns("proxy")), FakeNft()
    many = [
        ServicePort(
            f"ns{i}/svc{i}",
            f"10.96.1.{i}",
            "TCP" if i % 2 else "UDP",
            80 + i,
            tuple(Endpoint(f"10.244.{j}.{i}", 8000 + j) for j in range(i % 4)),
        )
        for i in range(1, 30)
    ]
    for ports in (many, many[:10], []):
        tx = proxy.render(ports)
        real.run(tx)
        fake.run(tx)
        assert real.dump() == fake.dump()


# ----------------------------------------------------------------------- real services


@contextlib.asynccontextmanager
async def running(log_dir: Path) -> AsyncIterator[ProcessRuntime]:
    runtime = ProcessRuntime(log_dir)
    try:
        yield runtime
    finally:
        await runtime.close(grace=1)


async def fetch(*curl_args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        "curl", "-s", "-S", "-m", "3", *curl_args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    return process.returncode or 0, (out + err).decode()


async def until_serving(url: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        code, body = await fetch(url)
        if code == 0:
            return body
        if time.monotonic() > deadline:
            pytest.fail(f"{url} did not answer within {timeout}s: {body}")
        await asyncio.sleep(0.02)


def _applier(lab: Topology) -> ServiceProxy:
    return ServiceProxy([ProxyTarget(Nft(ns), ns) for ns in lab.proxy_namespaces()])


def _cluster_ip(lab: Topology, n: int) -> str:
    import ipaddress

    return str(ipaddress.IPv4Network(lab.config.service_cidr)[n])


AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.47"


async def _backends(runtime: ProcessRuntime, pods: list[PodNet], *args: str) -> None:
    for pod in pods:
        await runtime.start(pod, ContainerSpec("agnhost", AGNHOST, args=args))


@root_test("nft", "curl")
def test_a_cluster_ip_spreads_new_connections_over_its_backends(lab: Topology, tmp_path: Path) -> None:
    for node in ("a", "b"):
        lab.add_node(node)
    backends = [
        lab.add_pod("ab"[i % 2], f"backend-{i}", namespace="d", hostname=f"backend-{i}") for i in range(3)
    ]
    client = lab.add_pod("b", "client", namespace="d", hostname="client")
    cluster_ip = _cluster_ip(lab, 40)
    service = ServicePort("d/hostnames", cluster_ip, "TCP", 80, tuple(Endpoint(p.ip, 9376) for p in backends))
    _applier(lab).update([service])

    async def scenario() -> None:
        async with running(tmp_path) as runtime:
            await _backends(runtime, backends, "serve-hostname")
            for pod in backends:
                await until_serving(f"http://{pod.ip}:9376/")
            seen_from_host = set()
            for _ in range(60):
                code, body = await fetch(f"http://{cluster_ip}/")
                assert code == 0, body
                seen_from_host.add(body)
            assert seen_from_host == {"backend-0", "backend-1", "backend-2"}

            await runtime.start(client, ContainerSpec("sh", "busybox", command=("sleep", "300")))
            loop = f"for i in $(seq 60); do curl -s -m 3 http://{cluster_ip}/; echo; done"
            process = await runtime.exec(client.pod_id, ["sh", "-c", loop])
            out, _ = await process.communicate()
            assert set(out.decode().split()) == {"backend-0", "backend-1", "backend-2"}

    asyncio.run(scenario())


@root_test("nft", "curl")
def test_a_service_without_endpoints_refuses_connections(lab: Topology, tmp_path: Path) -> None:
    lab.add_node("a")
    client = lab.add_pod("a", "client", namespace="d", hostname="client")
    cluster_ip = _cluster_ip(lab, 41)
    _applier(lab).update([ServicePort("d/nothing", cluster_ip, "TCP", 80, ())])

    async def scenario() -> None:
        with pytest.raises(ConnectionRefusedError):  # from the host
            await asyncio.wait_for(asyncio.open_connection(cluster_ip, 80), 3)
        async with running(tmp_path) as runtime:
            await runtime.start(client, ContainerSpec("probe", AGNHOST, command=("sleep", "300")))
            connect = await runtime.exec(
                client.pod_id, ["/agnhost", "connect", f"{cluster_ip}:80", "--timeout=3s"]
            )
            _, err = await connect.communicate()
            assert (connect.returncode, err.decode().strip()) == (1, "REFUSED")

    asyncio.run(scenario())


@root_test("nft", "curl")
def test_a_pod_reaches_itself_through_its_service_from_its_nodes_address(
    lab: Topology, tmp_path: Path
) -> None:
    """Hairpin (DESIGN.md point 12): masqueraded to the node's address."""
    node = lab.add_node("a")
    pod = lab.add_pod("a", "alone", namespace="d", hostname="alone")
    cluster_ip = _cluster_ip(lab, 42)
    _applier(lab).update([ServicePort("d/alone", cluster_ip, "TCP", 80, (Endpoint(pod.ip, 8080),))])

    async def scenario() -> None:
        async with running(tmp_path) as runtime:
            await _backends(runtime, [pod], "netexec", "--http-port=8080", "--udp-port=-1")
            await until_serving(f"http://{pod.ip}:8080/hostname")
            process = await runtime.exec(
                pod.pod_id, ["curl", "-s", "-m", "3", f"http://{cluster_ip}/clientip"], container="agnhost"
            )
            out, _ = await process.communicate()
            assert out.decode().split(":")[0] == node.ip
            code, body = await fetch(f"http://{cluster_ip}/clientip")  # not hairpin: no SNAT
            assert (code, body.split(":")[0]) == (0, lab.config.host_ip)

    asyncio.run(scenario())


@root_test("nft", "conntrack")
def test_a_udp_flow_follows_its_service_to_a_new_endpoint(lab: Topology, tmp_path: Path) -> None:
    """UDP "connections" are conntrack entries: the applier forgets them when their endpoint
    goes, or the client would keep talking to the old one."""
    lab.add_node("a")
    old, new = (lab.add_pod("a", name, namespace="d", hostname=name) for name in ("old", "new"))
    cluster_ip = _cluster_ip(lab, 43)
    applier = _applier(lab)

    def service(pod: PodNet) -> ServicePort:
        return ServicePort("d/udp", cluster_ip, "UDP", 53, (Endpoint(pod.ip, 8081),))

    async def scenario() -> None:
        async with running(tmp_path) as runtime:
            await _backends(runtime, [old, new], "netexec", "--http-port=8080", "--udp-port=8081")
            for pod in (old, new):
                await until_serving(f"http://{pod.ip}:8080/hostname")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:  # one flow: one port
                sock.settimeout(3)
                applier.update([service(old)])
                sock.sendto(b"hostname", (cluster_ip, 53))
                assert sock.recv(100) == b"old"
                applier.update([service(new)])
                sock.sendto(b"hostname", (cluster_ip, 53))
                assert sock.recv(100) == b"new"

    asyncio.run(scenario())
