"""One test per semantic point of DESIGN.md that the e2e-model scenarios do not pin,
checked on the single-verdict path and, where it is a pod pair, the matrix path too."""

from __future__ import annotations

from typing import Any

import pytest

from netpolicy.engine import ALL, CompiledView, matrix, service_verdicts, verdict
from tests.builders import cluster, model

POD = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {ns}, labels: {labels}}}
spec:
  nodeName: {node}
  hostNetwork: {host}
  containers:
  - name: c
    image: nginx
    ports: [{{name: http, containerPort: {port}}}, {{name: dns, containerPort: 53, protocol: UDP}}]
status: {{podIP: {ip}}}
"""


def pod(name: str, ns: str = "default", ip: str = "10.0.0.1", labels: str = "{}",
        port: int = 80, node: str = "n1", host: bool = False) -> str:
    return POD.format(name=name, ns=ns, ip=ip, labels=labels, port=port, node=node,
                      host=str(host).lower())


def policy(body: str, name: str = "p", ns: str = "default") -> str:
    return (f"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
            f"metadata: {{name: {name}, namespace: {ns}}}\nspec:\n{body}")


def docs(*parts: str) -> str:
    return "\n---\n".join(parts)


SERVER = pod("server", ip="10.0.0.1", labels="{app: server}", port=8080)
CLIENT = pod("client", ip="10.0.0.2", labels="{app: client}")


def allowed(text: str, src: str, dst: str, port: int = 8080, protocol: str = "TCP") -> bool:
    state = cluster(text)
    v = verdict(state, src, dst, port, protocol)  # type: ignore[arg-type]
    if src in state.index and dst in state.index:
        m = matrix(CompiledView(state), port, protocol)  # type: ignore[arg-type]
        assert bool(m.allowed[state.index[src], state.index[dst]]) == v.allowed
    return v.allowed


# --- point 4: empty and missing lists -------------------------------------------------------

@pytest.mark.parametrize("rule", [
    "  - {}",
    "  - from: []",
    "  - ports: []",
    "  - {from: [], ports: []}",
])
def test_missing_or_empty_from_and_ports_match_every_peer_and_port(rule: str) -> None:
    text = docs(SERVER, CLIENT, policy("  podSelector: {matchLabels: {app: server}}\n"
                                       f"  ingress:\n{rule}\n"))
    assert allowed(text, "default/client", "default/server")
    assert allowed(text, "203.0.113.9", "default/server", 9999, "UDP")


# --- point 5: ipBlock ----------------------------------------------------------------------

IPBLOCK = policy("""  podSelector: {matchLabels: {app: server}}
  ingress:
  - from: [{ipBlock: {cidr: 192.168.0.0/24, except: [192.168.0.0/25]}}]
""")


@pytest.mark.parametrize(("source", "expected"), [
    ("192.168.0.127", False),  # last address of the except
    ("192.168.0.128", True),  # first address after it
    ("192.168.0.255", True),  # last address of the cidr
    ("192.168.1.0", False),  # just outside the cidr
    ("192.167.255.255", False),
])
def test_ip_block_except_at_the_edges_of_the_range(source: str, expected: bool) -> None:
    assert allowed(docs(SERVER, IPBLOCK), source, "default/server") is expected


def test_ip_block_matches_a_pod_by_its_address() -> None:
    text = docs(SERVER, CLIENT, policy("""  podSelector: {matchLabels: {app: server}}
  ingress:
  - from: [{ipBlock: {cidr: 10.0.0.2/32}}]
"""))
    assert allowed(text, "default/client", "default/server")


def test_ip_block_does_not_match_a_workload_without_an_address() -> None:
    text = docs(SERVER, """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: nginx}]}
""", policy("""  podSelector: {matchLabels: {app: server}}
  ingress:
  - from: [{ipBlock: {cidr: 0.0.0.0/0}}]
"""))
    assert not allowed(text, "default/web", "default/server")
    assert allowed(text, "198.51.100.1", "default/server")


def test_selectors_do_not_match_external_addresses() -> None:
    text = docs(SERVER, policy("""  podSelector: {matchLabels: {app: server}}
  ingress:
  - from: [{namespaceSelector: {}}]
"""))
    assert not allowed(text, "10.99.0.1", "default/server")


# --- point 6: ports ------------------------------------------------------------------------

def test_named_port_on_an_external_destination_matches_nothing() -> None:
    text = docs(SERVER, CLIENT, policy("""  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 0.0.0.0/0}}]
    ports: [{port: http}]
"""))
    assert not allowed(text, "default/client", "198.51.100.1", 80)
    assert allowed(text, "default/client", "default/server", 8080)  # its http is 8080
    assert not allowed(text, "default/client", "default/server", 80)


def test_named_port_resolves_on_the_destination_not_the_policy_subject() -> None:
    # The client's own "http" is 80; the server's is 8080.
    text = docs(SERVER, CLIENT, policy("""  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress: [{ports: [{port: http}]}]
"""))
    assert allowed(text, "default/client", "default/server", 8080)
    assert not allowed(text, "default/client", "default/server", 80)


def test_named_port_needs_the_same_protocol() -> None:
    text = docs(SERVER, CLIENT, policy("""  podSelector: {matchLabels: {app: server}}
  ingress: [{ports: [{port: dns}]}]
"""))
    assert not allowed(text, "default/client", "default/server", 53, "TCP")
    text = text.replace("{port: dns}", "{port: dns, protocol: UDP}")
    assert allowed(text, "default/client", "default/server", 53, "UDP")


def test_port_range_is_inclusive() -> None:
    text = docs(SERVER, CLIENT, policy("""  podSelector: {matchLabels: {app: server}}
  ingress: [{ports: [{port: 8000, endPort: 8080}]}]
"""))
    assert allowed(text, "default/client", "default/server", 8000)
    assert allowed(text, "default/client", "default/server", 8080)
    assert not allowed(text, "default/client", "default/server", 8081)
    assert not allowed(text, "default/client", "default/server", 7999)


# --- point 7: both sides ---------------------------------------------------------------------

def test_external_source_is_judged_by_the_destination_ingress_only() -> None:
    text = docs(SERVER, policy("  podSelector: {}\n  policyTypes: [Egress]\n"))
    v = verdict(cluster(text), "203.0.113.1", "default/server", 80)
    assert v.allowed and v.egress.reason == "not-a-pod"


def test_egress_to_an_external_address_is_judged_by_the_source_only() -> None:
    text = docs(CLIENT, policy("  podSelector: {}\n  policyTypes: [Egress]\n"))
    v = verdict(cluster(text), "default/client", "203.0.113.1", 80)
    assert not v.allowed and v.ingress.reason == "not-a-pod"
    assert v.egress.reason == "no-rule-allows" and v.egress.isolated_by == ("default/p",)


def test_ingress_cannot_override_a_client_egress_deny() -> None:
    text = docs(SERVER, CLIENT,
                policy("  podSelector: {matchLabels: {app: client}}\n  policyTypes: [Egress]\n",
                       "deny-egress"),
                policy("  podSelector: {matchLabels: {app: server}}\n  ingress: [{}]\n",
                       "allow-ingress"))
    v = verdict(cluster(text), "default/client", "default/server", 8080)
    assert not v.allowed and v.ingress.allowed and not v.egress.allowed


# --- point 8: namespaces and their name label -------------------------------------------------

def test_undeclared_namespace_still_has_its_name_label() -> None:
    text = docs(SERVER, pod("other", ns="team-a", ip="10.0.1.1"), policy("""  podSelector: {}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: team-a}}}]
"""))
    assert allowed(text, "team-a/other", "default/server")


def test_declared_namespace_gets_its_name_label_even_if_it_sets_another_value() -> None:
    text = docs("""
apiVersion: v1
kind: Namespace
metadata: {name: team-a, labels: {kubernetes.io/metadata.name: spoofed}}
""", SERVER, pod("other", ns="team-a", ip="10.0.1.1"), policy("""  podSelector: {}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: team-a}}}]
"""))
    assert allowed(text, "team-a/other", "default/server")


def test_namespace_selector_alone_selects_all_pods_of_matching_namespaces() -> None:
    text = docs(SERVER, pod("other", ns="team-a", ip="10.0.1.1", labels="{app: x}"),
                policy("""  podSelector: {}
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: team-a}}}]}]
"""))
    assert allowed(text, "team-a/other", "default/server")


# --- point 10: Services ------------------------------------------------------------------------

def test_through_a_service_the_verdict_is_per_backend() -> None:
    text = docs(
        pod("web-1", ip="10.0.0.11", labels="{app: web, open: 'yes'}", port=8080),
        pod("web-2", ip="10.0.0.12", labels="{app: web}", port=8080),
        CLIENT,
        """
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
""",
        policy("""  podSelector: {matchLabels: {app: web}}
  ingress: []
""", "deny"),
        policy("""  podSelector: {matchLabels: {open: 'yes'}}
  ingress: [{ports: [{port: 8080}]}]
""", "allow-open"))
    results = {b.backend: (b.target_port, b.allowed)
               for b in service_verdicts(cluster(text), "default/client", "default/web", 80)}
    assert results == {"default/web-1": (8080, True), "default/web-2": (8080, False)}


# --- point 11: always allowed -------------------------------------------------------------------

def test_a_pod_always_reaches_itself() -> None:
    text = docs(SERVER, policy("  podSelector: {}\n  policyTypes: [Ingress, Egress]\n"))
    v = verdict(cluster(text), "default/server", "default/server", 8080)
    assert v.allowed and v.ingress.reason == "loopback"
    assert allowed(text, "default/server", "default/server")


def test_a_workload_self_pair_is_judged_by_the_policies() -> None:
    """A Deployment stands for several pods: replica to replica is real traffic."""
    text = docs("""
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: nginx}]}
""", policy("  podSelector: {}\n  ingress: []\n"))
    assert not allowed(text, "default/web", "default/web", 80)


NODE = """
apiVersion: v1
kind: Node
metadata: {name: n1}
status: {addresses: [{type: InternalIP, address: 172.18.0.2}]}
"""


def test_the_node_always_reaches_its_own_pods() -> None:
    text = docs(NODE, SERVER, policy("  podSelector: {}\n  ingress: []\n"))
    v = verdict(cluster(text), "172.18.0.2", "default/server", 8080)
    assert v.allowed and v.ingress.reason == "from-own-node"


def test_another_node_is_an_ordinary_address() -> None:
    text = docs(NODE, SERVER.replace("nodeName: n1", "nodeName: n2"),
                policy("  podSelector: {}\n  ingress: []\n"))
    assert not verdict(cluster(text), "172.18.0.2", "default/server", 8080).allowed


def test_egress_from_a_pod_to_its_node_is_not_exempt() -> None:
    text = docs(NODE, CLIENT, policy("  podSelector: {}\n  policyTypes: [Egress]\n"))
    assert not verdict(cluster(text), "default/client", "172.18.0.2", 10250).allowed


# --- point 12: our choices -------------------------------------------------------------------------

def test_host_network_pods_are_not_isolated_and_not_matched_by_selectors() -> None:
    # The agent (hostNetwork, node n2) and an isolated client on n1: the client's policy
    # allows pods labelled app=server, which the agent is, but selectors match no
    # hostNetwork pod.
    text = docs(pod("agent", ip="172.18.0.3", labels="{app: server}", host=True, node="n2"),
                CLIENT,
                policy("  podSelector: {}\n  ingress: []\n", "deny-all"),
                policy("""  podSelector: {matchLabels: {app: client}}
  ingress: [{from: [{podSelector: {matchLabels: {app: server}}}]}]
""", "from-server-pods"))
    v = verdict(cluster(text), "default/client", "default/agent", 80)
    assert v.allowed and v.ingress.reason == "host-network"
    assert not allowed(text, "default/agent", "default/client", 80)


def test_a_host_network_pod_is_its_node_by_name_as_by_address() -> None:
    # Its traffic is the node's: into the pods of its own node it is exempt (point 11),
    # and ipBlocks match its address, whether it is named or given as the address.
    agent = pod("agent", ip="172.18.0.2", labels="{app: agent}", host=True, node="n1")
    remote = pod("remote", ip="10.0.1.5", labels="{app: remote}", node="n2")
    text = docs(agent, CLIENT, remote, policy("  podSelector: {}\n  ingress: []\n", "deny-all"),
                policy("""  podSelector: {matchLabels: {app: remote}}
  ingress: [{from: [{ipBlock: {cidr: 172.18.0.0/16}}]}]
""", "from-nodes"))
    state = cluster(text)
    for source in ("default/agent", "172.18.0.2"):
        to_client = verdict(state, source, "default/client", 80)
        assert to_client.allowed and to_client.ingress.reason == "from-own-node", source
        assert verdict(state, source, "default/remote", 80).allowed, source
    view = CompiledView(state)
    assert view.allowed_ports("default/agent", "default/client") == ALL
    assert view.allowed_ports("default/agent", "default/remote").contains("TCP", 80)
    assert matrix(view, 80).allowed[state.index["default/agent"], state.index["default/client"]]


def test_policies_of_other_namespaces_never_select() -> None:
    state = model("""
metadata: {name: deny}
spec: {podSelector: {}, ingress: []}
""", "z")
    assert [p.key for p in state.selecting(state.endpoints[state.index["x/a"]])] == []
    assert [p.key for p in state.selecting(state.endpoints[state.index["z/a"]])] == ["z/deny"]


def cluster_text_state(pods: int, policy_text: str = "") -> Any:
    """`pods` pods a, b, c, ... on node n1 (10.0.0.1, ...), labelled app=<name>, and the
    given policies in namespace default (a builder the agent tests share)."""
    parts = [pod(chr(ord("a") + i), ip=f"10.0.0.{i + 1}", labels=f"{{app: {chr(ord('a') + i)}}}")
             for i in range(pods)]
    for doc in policy_text.split("---"):
        if doc.strip():
            parts.append("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
                         + doc.replace("metadata: {name:", "metadata: {namespace: default, name:"))
    return cluster(docs(*parts))
