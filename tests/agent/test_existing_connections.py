"""`--existing`: what a policy change does to a connection already established, with real
traffic through a real node namespace, nftables and conntrack."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from netpolicy.agent.conntrack import Conntrack
from netpolicy.agent.enforcer import Enforcer, Existing
from netpolicy.agent.snapshot import Snapshot
from netpolicy.api.objects import Endpoint, Namespace, namespace_labels
from netpolicy.dataplane import netns
from netpolicy.dataplane.nft import Nft
from netpolicy.engine import ClusterState
from netpolicy.lab.topology import PodNet, Topology
from tests.builders import policies
from tests.dataplane.support import lab, root_test, wait_until  # noqa: F401  (fixture)

SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5000)); s.listen(); print("ready", flush=True)
conn, _ = s.accept()
while data := conn.recv(100):
    conn.sendall(data)
"""
DENY_CLIENT = """
metadata: {name: deny-client}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress: [{from: [{podSelector: {matchLabels: {app: nobody}}}]}]
"""


def state(client: PodNet, server: PodNet, node: str, policy: str) -> Snapshot:
    endpoints = [Endpoint("default", "client", "Pod", {"app": "client"},
                          (ipaddress.ip_address(client.ip),), (), node),
                 Endpoint("default", "server", "Pod", {"app": "server"},
                          (ipaddress.ip_address(server.ip),), (), node)]
    pols = policies(policy, "default") if policy else []
    ns = [Namespace("default", namespace_labels("default", None))]
    return Snapshot(ClusterState(ns, endpoints, pols), [], {})


@pytest.fixture
def pair(lab: Topology) -> Iterator[tuple[Topology, PodNet, PodNet, subprocess.Popen[str]]]:  # noqa: F811
    node = lab.add_node("n1")
    client = lab.add_pod(node.name, "client", namespace="default", hostname="client")
    server = lab.add_pod(node.name, "server", namespace="default", hostname="server")
    proc = subprocess.Popen(["ip", "netns", "exec", server.netns, sys.executable, "-c", SERVER],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield lab, client, server, proc
    finally:
        proc.kill()
        proc.communicate()


def exchange(sock: socket.socket) -> bool:
    """Does a message get through and back within a second?"""
    sock.sendall(b"ping")
    try:
        return sock.recv(100) == b"ping"
    except TimeoutError:
        return False


@pytest.mark.parametrize(("existing", "survives"), [("keep", True), ("cut", False)])
@root_test("nft", "conntrack")
def test_established_connection_after_a_denying_change(
        pair: tuple[Topology, PodNet, PodNet, subprocess.Popen[str]], existing: Existing,
        survives: bool) -> None:
    topology, client, server, _ = pair
    node = topology.node("n1")
    enforcer = Enforcer("n1", Nft(node.netns), existing, Conntrack(node.netns))
    enforcer.sync(state(client, server, "n1", ""))
    sock = netns.socket_in(client.netns)
    sock.settimeout(1.0)
    try:
        sock.connect((server.ip, 5000))
        assert exchange(sock)
        report = enforcer.sync(state(client, server, "n1", DENY_CLIENT))
        assert report.cut == (0 if survives else 1)
        assert exchange(sock) is survives
        # Either way, a new connection is denied now.
        fresh = netns.socket_in(client.netns)
        fresh.settimeout(1.0)
        with fresh, pytest.raises(TimeoutError):
            fresh.connect((server.ip, 5000))
    finally:
        sock.close()
