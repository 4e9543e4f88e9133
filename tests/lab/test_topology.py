"""The lab's network: address plan (pure), then real namespaces, pods, the host's way in,
and teardown — also after the process that built the lab was killed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from netpolicy.dataplane import netns
from netpolicy.lab.topology import (
    ETC_NETNS,
    LabConfig,
    LabNetworkError,
    Topology,
    create_fabric,
    leftovers,
    teardown,
)
from tests.dataplane.support import free_lab_config, lab, root_test, wait_until

__all__ = ["lab"]


# ------------------------------------------------------------------------ the address plan


def test_node_i_gets_the_ith_slash_24_of_the_pod_cidr() -> None:
    config = LabConfig()
    assert [str(config.node_pod_cidr(i)) for i in (0, 1, 7)] == [
        "10.244.0.0/24",
        "10.244.1.0/24",
        "10.244.7.0/24",
    ]


def test_links_are_consecutive_slash_30s_of_the_infrastructure_range() -> None:
    config = LabConfig()
    assert (config.fabric_host_ip, config.host_ip) == ("198.18.0.1", "198.18.0.2")
    assert str(config.link_network(1)) == "198.18.0.4/30"
    assert config.dns_ip == "10.96.0.10"


def test_every_name_carries_the_lab_prefix_and_the_host_link_fits_ifnamsiz() -> None:
    config = LabConfig(name="abcdefghi")
    names = [config.fabric_netns, config.node_netns("n1"), config.pod_netns("p"), config.host_link]
    assert all(n.startswith("npl-abcdefghi-") for n in names)
    assert len(config.host_link) <= 15


@pytest.mark.parametrize(
    "settings",
    [
        {"name": "Has-Dash"},
        {"name": "toolongname"},
        {"pod_cidr": "10.96.0.0/12"},  # overlaps the service CIDR
        {"infra_cidr": "10.244.128.0/24"},
        {"cluster_dns": "10.0.0.10"},
        {"node_prefix_len": 12},
    ],
    ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()),
)
def test_inconsistent_configs_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        LabConfig(**settings)  # type: ignore[arg-type]


# ----------------------------------------------------------------------- real namespaces


async def _serve_peer(pod_netns: str, ip: str, port: int) -> asyncio.Server:
    """A TCP server inside a pod that answers each connection, HTTP-style, with the address
    the connection came from."""
    sock = netns.socket_in(pod_netns)
    sock.bind((ip, port))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        peer = writer.get_extra_info("peername")[0]
        writer.write(f"HTTP/1.0 200 OK\r\n\r\n{peer}".encode())
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, sock=sock)


def _rx_packets(namespace: str) -> dict[str, int]:
    out = subprocess.run(
        ["ip", "-n", namespace, "-s", "-j", "link"], capture_output=True, text=True, check=True
    ).stdout
    return {link["ifname"]: link["stats64"]["rx"]["packets"] for link in json.loads(out)}


@root_test()
def test_pods_on_two_nodes_talk_tcp_through_the_fabric(lab: Topology) -> None:
    a, b = lab.add_node("a"), lab.add_node("b")
    server = lab.add_pod("a", "server", namespace="default", hostname="server")
    client = lab.add_pod("b", "client", namespace="default", hostname="client")
    assert server.ip == str(lab.config.node_pod_cidr(a.index)[2])
    assert client.ip == str(lab.config.node_pod_cidr(b.index)[2])
    before = _rx_packets(lab.config.fabric_netns)

    async def talk() -> str:
        async with await _serve_peer(server.netns, server.ip, 8080):
            reader, writer = await netns.open_connection_in(client.netns, server.ip, 8080)
            writer.write(b"GET / HTTP/1.0\r\n\r\n")
            reply = await reader.read()
            writer.close()
            return reply.decode().split("\r\n\r\n")[1]

    assert asyncio.run(talk()) == client.ip  # pod to pod: no NAT
    after = _rx_packets(lab.config.fabric_netns)
    assert after[a.fabric_link] > before[a.fabric_link]  # the replies came in from node a
    assert after[b.fabric_link] > before[b.fabric_link]  # the requests came in from node b


@root_test("curl")
def test_the_host_reaches_a_pod_ip_as_a_machine_outside_the_nodes(lab: Topology) -> None:
    lab.add_node("a")
    pod = lab.add_pod("a", "web", namespace="default", hostname="web")

    async def fetch() -> str:
        async with await _serve_peer(pod.netns, pod.ip, 80):
            curl = await asyncio.create_subprocess_exec(
                "curl", "-s", "-m", "5", f"http://{pod.ip}/", stdout=asyncio.subprocess.PIPE
            )
            out, _ = await curl.communicate()
            return out.decode()

    assert asyncio.run(fetch()) == lab.config.host_ip


@root_test()
def test_pods_get_their_resolv_conf_hosts_and_hostname_through_ip_netns_exec(
    lab: Topology,
) -> None:
    lab.add_node("a")
    pod = lab.add_pod("a", "web-1", namespace="shop", hostname="web-1")

    def inside(*command: str) -> str:
        return subprocess.run(
            ["ip", "netns", "exec", pod.netns, *command], capture_output=True, text=True, check=True
        ).stdout

    assert inside("cat", "/etc/resolv.conf").splitlines() == [
        "search shop.svc.cluster.local svc.cluster.local cluster.local",
        f"nameserver {lab.config.dns_ip}",
        "options ndots:5",
    ]
    assert f"{pod.ip}\tweb-1" in inside("cat", "/etc/hosts")
    lab.remove_pod(pod.pod_id)
    assert not (ETC_NETNS / pod.netns).exists()


@root_test()
def test_pod_ips_come_from_the_node_cidr_and_are_reused_after_removal(lab: Topology) -> None:
    lab.add_node("a")
    first = [lab.add_pod("a", f"p{i}", namespace="d", hostname=f"p{i}").ip for i in range(3)]
    lab.remove_pod("p1")
    lab.remove_pod("p1")  # removing twice is harmless
    again = lab.add_pod("a", "p9", namespace="d", hostname="p9")
    assert again.ip == first[1]
    assert [p.pod_id for p in lab.pods()] == ["p0", "p2", "p9"]
    with pytest.raises(LabNetworkError, match="exists"):
        lab.add_pod("a", "p0", namespace="d", hostname="p0")
    with pytest.raises(LabNetworkError, match="still has pods"):
        lab.remove_node("a")


@root_test()
def test_a_lab_refuses_to_start_over_leftovers_or_a_clashing_host_route(lab: Topology) -> None:
    with pytest.raises(LabNetworkError, match="leftovers"):
        create_fabric(lab.config)
    other = free_lab_config()
    clashing = LabConfig(
        name=other.name,
        pod_cidr=lab.config.pod_cidr,
        service_cidr=other.service_cidr,
        infra_cidr=other.infra_cidr,
    )
    with pytest.raises(LabNetworkError, match=f"overlaps.*belong to lab '{lab.config.name}'"):
        create_fabric(clashing)
    assert leftovers(clashing) == []


def _host_state(config: LabConfig) -> tuple[list[str], list[str], list[str]]:
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    return (
        netns.names(config.prefix),
        [line for line in links.splitlines() if config.prefix in line],
        [line for line in routes.splitlines() if config.pod_cidr in line or config.prefix in line],
    )


HOST_SYSCTLS = [
    Path("/proc/sys/net/ipv4/ip_forward"),
    Path("/proc/sys/net/ipv4/conf/all/rp_filter"),
    Path("/proc/sys/net/ipv4/conf/all/proxy_arp"),
]


@root_test()
def test_teardown_leaves_nothing_on_the_host() -> None:
    config = free_lab_config()
    sysctls = [p.read_text() for p in HOST_SYSCTLS]
    topology = create_fabric(config)
    try:
        topology.add_node("a")
        topology.add_node("b")
        pod = topology.add_pod("b", "p", namespace="d", hostname="p")
        sleeper = subprocess.Popen(["ip", "netns", "exec", pod.netns, "sleep", "300"])
        wait_until(lambda: netns.pids(pod.netns), what="a process in the pod")
        assert all(_host_state(config))
    finally:
        topology.teardown()
    assert sleeper.wait(timeout=5) == -signal.SIGKILL
    assert _host_state(config) == ([], [], [])
    assert leftovers(config) == []
    assert [p.read_text() for p in HOST_SYSCTLS] == sysctls  # the host was never a router
    teardown(config)  # twice is harmless


_BUILD_AND_HANG = textwrap.dedent(
    """
    import subprocess, sys
    from netpolicy.lab.topology import LabConfig, create_fabric
    topology = create_fabric(LabConfig(**{config!r}))
    topology.add_node("a")
    topology.add_node("b")
    pod = topology.add_pod("a", "p", namespace="d", hostname="p")
    topology.add_pod("b", "q", namespace="d", hostname="q")
    sleeper = subprocess.Popen(["ip", "netns", "exec", pod.netns, "sleep", "300"])
    print(sleeper.pid, flush=True)
    sys.stdin.read()
    """
)


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


@root_test()
def test_teardown_from_a_fresh_process_finds_everything_after_kill_9() -> None:
    config = free_lab_config()
    fields = {k: getattr(config, k) for k in ("name", "pod_cidr", "service_cidr", "infra_cidr")}
    with subprocess.Popen(
        [sys.executable, "-c", _BUILD_AND_HANG.format(config=fields)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as builder:
        try:
            assert builder.stdout is not None
            sleeper = int(builder.stdout.readline())
            os.kill(builder.pid, signal.SIGKILL)
            builder.wait()
            assert len(leftovers(config)) >= 6  # 5 namespaces, the link, routes, 2 directories
            assert not _gone(sleeper)
            fresh = f"from netpolicy.lab.topology import *; teardown(LabConfig(**{fields!r}))"
            subprocess.run([sys.executable, "-c", fresh], check=True)
            assert leftovers(config) == []
            wait_until(lambda: _gone(sleeper), what="the process left in the pod to die")
        finally:
            builder.kill()
            builder.wait()
            teardown(config)
