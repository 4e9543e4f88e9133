"""The tiered cluster policies enforced by the agent's nftables program, with real TCP
and UDP traffic between pod namespaces on a real node namespace: each case compares what
the packets do with the engine's verdicts and with what the case expects."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from netpolicy.agent.enforcer import Enforcer
from netpolicy.agent.snapshot import Snapshot
from netpolicy.agent.status import AgentStatus
from netpolicy.api.objects import Endpoint, Namespace, namespace_labels
from netpolicy.dataplane import netns
from netpolicy.dataplane.nft import Nft
from netpolicy.engine import ClusterState, verdict
from netpolicy.lab.topology import PodNet, Topology
from tests.builders import policies, tiered
from tests.dataplane.support import lab, root_test  # noqa: F401  (fixture)

SERVER = """
import socket, threading
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("0.0.0.0", 5000)); t.listen(16)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 5001))
def tcp():
    while True:
        c, _ = t.accept(); c.sendall(b"hi"); c.close()
def udp():
    while True:
        data, peer = u.recvfrom(100); u.sendto(data, peer)
threading.Thread(target=tcp, daemon=True).start()
print("ready", flush=True); udp()
"""
PODS = {"x/a": ("x", "a"), "y/b": ("y", "b"), "x/server": ("x", "server")}
ANP = "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\n"
BANP = "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: BaselineAdminNetworkPolicy\n"
CNP = "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\n"
TO_SERVER = "subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: server}}}}"
FROM_Y = "namespaces: {matchLabels: {ns: y}}"
ALLOW_ALL_IN = """
metadata: {name: allow-all}
spec: {podSelector: {matchLabels: {app: server}}, ingress: [{}]}
"""
DENY_ALL_IN = """
metadata: {name: deny-all}
spec: {podSelector: {matchLabels: {app: server}}, policyTypes: [Ingress]}
"""
FROM_Y_ONLY = """
metadata: {name: from-y}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: y}}}]}]
"""


def anp(name: str, priority: int, rules: str, subject: str = TO_SERVER) -> str:
    return f"{ANP}metadata: {{name: {name}}}\nspec:\n  priority: {priority}\n  {subject}\n{rules}"


CASES = {
    # An admin Deny beats a NetworkPolicy that allows everything.
    "admin-deny-beats-np-allow": (ALLOW_ALL_IN, anp("deny-y", 10, f"""  ingress:
  - {{name: no-y, action: Deny, from: [{{{FROM_Y}}}]}}
"""), {"x/a": True, "y/b": False}),
    # An admin Allow cannot be narrowed by a NetworkPolicy that denies everything.
    "admin-allow-beats-np-deny": (DENY_ALL_IN, anp("allow-y", 10, f"""  ingress:
  - {{action: Allow, from: [{{{FROM_Y}}}]}}
"""), {"x/a": False, "y/b": True}),
    # Pass skips the rest of the admin tier: NetworkPolicy decides (y allowed, x not).
    "pass-to-networkpolicy": (FROM_Y_ONLY, anp("pass-y", 1, f"""  ingress:
  - {{action: Pass, from: [{{{FROM_Y}}}]}}
""") + "\n---\n" + anp("deny-all", 2, """  ingress:
  - {action: Deny, from: [{namespaces: {}}]}
"""), {"x/a": False, "y/b": True}),
    # Baseline: where no NetworkPolicy isolates the pod, the baseline Deny holds.
    "baseline-deny": ("", f"""{BANP}metadata: {{name: default}}
spec:
  {TO_SERVER}
  ingress: [{{action: Deny, from: [{{{FROM_Y}}}]}}]
""", {"x/a": True, "y/b": False}),
    # ... and once a NetworkPolicy isolates it, the baseline is not asked.
    "networkpolicy-before-baseline": (FROM_Y_ONLY, f"""{BANP}metadata: {{name: default}}
spec:
  {TO_SERVER}
  ingress: [{{action: Deny, from: [{{{FROM_Y}}}]}}]
""", {"x/a": False, "y/b": True}),
    # Egress of the client, v1alpha2, by port: TCP 5000 denied, UDP 5001 not matched.
    "egress-deny-by-port": ("", f"""{CNP}metadata: {{name: no-tcp-5000}}
spec:
  tier: Admin
  priority: 5
  subject: {{namespaces: {{matchLabels: {{ns: y}}}}}}
  egress:
  - action: Deny
    to: [{{pods: {{namespaceSelector: {{}}, podSelector: {{matchLabels: {{app: server}}}}}}}}]
    protocols: [{{tcp: {{destinationPort: {{number: 5000}}}}}}]
""", {"x/a": True, "y/b": False}),
    # A Baseline-tier ClusterNetworkPolicy's Pass ends the tier: default allow.
    "baseline-pass-then-default": ("", f"""{CNP}metadata: {{name: pass-y}}
spec:
  tier: Baseline
  priority: 1
  {TO_SERVER}
  ingress:
  - {{action: Pass, from: [{{{FROM_Y}}}]}}
  - {{action: Deny, from: [{{namespaces: {{}}}}]}}
""", {"x/a": False, "y/b": True}),
}


def snapshot(pods: dict[str, PodNet], np_yaml: str, tier_yaml: str) -> Snapshot:
    endpoints = [Endpoint(ns, name, "Pod", {"app": name}, (ipaddress.ip_address(pods[k].ip),),
                          (), "n1") for k, (ns, name) in PODS.items()]
    namespaces = [Namespace(n, namespace_labels(n, {"ns": n})) for n in ("x", "y")]
    state = ClusterState(namespaces, endpoints, policies(np_yaml, "x") if np_yaml else [],
                         (), (), tiered(tier_yaml) if tier_yaml else [])
    return Snapshot(state, [], {})


def connects(client: PodNet, server: PodNet, protocol: str) -> bool:
    if protocol == "TCP":
        sock = netns.socket_in(client.netns)
        sock.settimeout(0.5)
        try:
            sock.connect((server.ip, 5000))
            return sock.recv(10) == b"hi"
        except (TimeoutError, OSError):
            return False
        finally:
            sock.close()
    sock = netns.socket_in(client.netns, socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(0.5)
    try:
        sock.sendto(b"ping", (server.ip, 5001))
        return sock.recv(10) == b"ping"
    except (TimeoutError, OSError):
        return False
    finally:
        sock.close()


@pytest.fixture
def pods(lab: Topology) -> Iterator[tuple[Topology, dict[str, PodNet]]]:  # noqa: F811
    node = lab.add_node("n1")
    made = {key: lab.add_pod(node.name, f"{ns}-{name}", namespace=ns, hostname=name)
            for key, (ns, name) in PODS.items()}
    proc = subprocess.Popen(["ip", "netns", "exec", made["x/server"].netns, sys.executable,
                             "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield lab, made
    finally:
        proc.kill()
        proc.communicate()


@root_test("nft")
def test_every_tier_case_with_real_traffic(pods: tuple[Topology, dict[str, PodNet]]) -> None:
    topology, made = pods
    enforcer = Enforcer("n1", Nft(topology.node("n1").netns))
    server = made["x/server"]
    seen: dict[str, dict[tuple[str, str], bool]] = {}
    for name, (np_yaml, tier_yaml, expected) in CASES.items():
        snap = snapshot(made, np_yaml, tier_yaml)
        enforcer.sync(snap)
        for client in ("x/a", "y/b"):
            for protocol, port in (("TCP", 5000), ("UDP", 5001)):
                real = connects(made[client], server, protocol)
                engine = verdict(snap.state, client, "x/server", port, protocol).allowed
                seen.setdefault(name, {})[(client, protocol)] = real
                assert real == engine, (name, client, protocol, real, engine)
                if protocol == "TCP" or name != "egress-deny-by-port":
                    assert real == expected[client], (name, client, protocol)
                else:
                    assert real  # the rule names TCP 5000 only
        if name == "admin-deny-beats-np-allow":
            # The agent's status counts what each tiered rule decided.
            status = AgentStatus("n1", "keep")
            status.record_counters(enforcer.read_counters(), enforcer.notes)
            assert status.tiered["AdminNetworkPolicy/deny-y ingress[0] Deny"] >= 2
            assert "AdminNetworkPolicy/deny-y" not in status.allowed
            assert status.prometheus().count('rule="AdminNetworkPolicy/deny-y ingress[0]"') == 1
    assert len(seen) == len(CASES)
