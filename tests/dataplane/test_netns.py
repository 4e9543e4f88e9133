"""Network namespaces and netlink plumbing, for real, in throwaway namespaces."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess

import pytest

from netpolicy.dataplane import netns
from tests.dataplane.support import make_netns, needs_root, needs_tools, wait_until

__all__ = ["make_netns"]

pytestmark = [pytest.mark.root, needs_root, needs_tools("ip")]


def _pair(make_netns: object) -> tuple[str, str]:
    """Two namespaces joined by a veth: a=10.77.0.1/30 (eth0), b=10.77.0.2/30 (eth0)."""
    assert callable(make_netns)
    a, b = make_netns("a"), make_netns("b")

    def plumb_a(nl: netns.Netlink) -> None:
        nl.add_veth("eth0", "eth0", peer_netns=b)
        nl.add_address("eth0", "10.77.0.1/30")
        nl.set_up("eth0")

    def plumb_b(nl: netns.Netlink) -> None:
        nl.add_address("eth0", "10.77.0.2/30")
        nl.set_up("eth0")

    netns.configure(a, plumb_a)
    netns.configure(b, plumb_b)
    return a, b


def test_created_namespace_is_visible_to_ip_netns_with_loopback_up(make_netns: object) -> None:
    assert callable(make_netns)
    name = make_netns("x")
    assert name in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    out = subprocess.run(
        ["ip", "netns", "exec", name, "ip", "-o", "link", "show", "lo"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "UP" in out


def test_creating_an_existing_namespace_fails_and_deleting_twice_is_harmless(
    make_netns: object,
) -> None:
    assert callable(make_netns)
    name = make_netns("x")
    with pytest.raises(netns.NetnsError, match="already exists"):
        netns.create(name)
    assert netns.delete(name) is True
    assert netns.delete(name) is False
    assert not netns.exists(name)


def test_run_in_does_not_move_the_calling_thread() -> None:
    before = os.readlink("/proc/thread-self/ns/net")
    assert netns.run_in(None, lambda: os.readlink("/proc/thread-self/ns/net")) == before


def test_work_runs_inside_the_namespace(make_netns: object) -> None:
    assert callable(make_netns)
    name = make_netns("x")
    inside = netns.run_in(name, lambda: os.readlink("/proc/thread-self/ns/net"))
    assert inside != os.readlink("/proc/thread-self/ns/net")
    assert netns.configure(name, lambda nl: nl.link_names()) == ["lo"]


def test_tcp_crosses_a_veth_between_two_namespaces(make_netns: object) -> None:
    a, b = _pair(make_netns)
    server = netns.socket_in(a)

    async def exchange() -> bytes:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"hello " + await reader.readline())
            await writer.drain()
            writer.close()

        server.bind(("10.77.0.1", 7000))
        srv = await asyncio.start_server(handle, sock=server)
        async with srv:
            reader, writer = await netns.open_connection_in(b, "10.77.0.1", 7000)
            writer.write(b"from b\n")
            reply = await reader.read()
            writer.close()
            await writer.wait_closed()
            return reply

    assert asyncio.run(exchange()) == b"hello from b\n"


@needs_tools("ping")
def test_ping_crosses_the_veth(make_netns: object) -> None:
    _, b = _pair(make_netns)
    ping = ["ip", "netns", "exec", b, "ping", "-c", "1", "-W", "3", "10.77.0.1"]
    assert subprocess.run(ping, capture_output=True).returncode == 0


def test_a_socket_opened_in_one_namespace_cannot_reach_the_other_without_a_link(
    make_netns: object,
) -> None:
    assert callable(make_netns)
    lonely = make_netns("lonely")
    sock = netns.socket_in(lonely, socket.AF_INET, socket.SOCK_STREAM)
    with sock, pytest.raises(OSError):
        sock.connect(("10.77.0.1", 7000))


def test_routes_and_sysctls_are_set_in_the_namespace(make_netns: object) -> None:
    a, _ = _pair(make_netns)

    def setup(nl: netns.Netlink) -> list[netns.Route]:
        nl.sysctl("net/ipv4/ip_forward", 1)
        nl.sysctl("net/ipv4/conf/eth0/proxy_arp", 1)
        nl.add_route("10.200.0.0/16", dev="eth0", via="10.77.0.2")
        nl.add_route("10.201.0.7/32", dev="eth0")
        return nl.routes()

    routes = netns.configure(a, setup)
    assert netns.Route("10.200.0.0/16", "eth0", "10.77.0.2") in routes
    assert netns.Route("10.201.0.7/32", "eth0", None) in routes
    out = subprocess.run(
        ["ip", "netns", "exec", a, "sysctl", "-n", "net.ipv4.ip_forward"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "1"


def test_deleting_a_link_removes_its_peer_and_is_idempotent(make_netns: object) -> None:
    a, b = _pair(make_netns)
    assert netns.configure(a, lambda nl: nl.delete_link("eth0")) is True
    assert netns.configure(a, lambda nl: nl.delete_link("eth0")) is False
    assert netns.configure(b, lambda nl: nl.link_names()) == ["lo"]


def test_processes_in_a_namespace_are_found_and_killed(make_netns: object) -> None:
    assert callable(make_netns)
    name = make_netns("x")
    proc = subprocess.Popen(["ip", "netns", "exec", name, "sleep", "60"])
    try:
        wait_until(lambda: proc.pid in netns.pids(name), what="sleep in the namespace")
        assert netns.kill_processes(name) == [proc.pid]
        assert proc.wait(timeout=5) == -9
    finally:
        proc.kill()
        proc.wait()
