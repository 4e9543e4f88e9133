"""Property tests: the fast paths (compiled view, matrix, connectivity) agree with the
reference single-verdict path on random clusters."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netpolicy.api.inventory import build_inventory
from netpolicy.api.loading import Document
from netpolicy.engine import (
    ClusterState,
    CompiledView,
    DirectionView,
    External,
    PeerSet,
    connectivity,
    matrix,
    verdict,
)

# Small vocabularies, so that random selectors, names and ports often collide.
KEYS = ["app", "tier"]
VALUES = ["a", "b"]
PORT_NAMES = ["http", "metrics"]
PORTS = [80, 81, 8080]
PROTOCOLS = ["TCP", "UDP", "SCTP"]
protocols = st.sampled_from(["TCP", "TCP", "UDP", "SCTP"])

labels = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=3)


@st.composite
def selectors(draw: st.DrawFn) -> dict[str, Any]:
    sel: dict[str, Any] = {}
    if draw(st.booleans()):
        sel["matchLabels"] = draw(st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES),
                                                  max_size=2))
    if draw(st.booleans()):
        exprs = []
        for _ in range(draw(st.integers(1, 2))):
            op = draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]))
            expr: dict[str, Any] = {"key": draw(st.sampled_from(KEYS)), "operator": op}
            if op in ("In", "NotIn"):
                expr["values"] = draw(st.lists(st.sampled_from(VALUES), min_size=1, max_size=2,
                                               unique=True))
            exprs.append(expr)
        sel["matchExpressions"] = exprs
    return sel


@st.composite
def peers(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["pod", "ns", "both", "ip"]))
    if kind == "ip":
        third = draw(st.integers(0, 3))
        block: dict[str, Any] = {"cidr": f"10.1.{third}.0/24"}
        if draw(st.booleans()):
            prefix = draw(st.sampled_from([24, 25, 32]))
            block = {"cidr": "10.1.0.0/16", "except": [f"10.1.{third}.0/{prefix}"]}
        return {"ipBlock": block}
    peer: dict[str, Any] = {}
    if kind in ("pod", "both"):
        peer["podSelector"] = draw(selectors())
    if kind in ("ns", "both"):
        peer["namespaceSelector"] = draw(selectors())
    return peer


@st.composite
def policy_ports(draw: st.DrawFn) -> dict[str, Any]:
    port: dict[str, Any] = {}
    if draw(st.booleans()):
        port["protocol"] = draw(protocols)
    choice = draw(st.sampled_from(["number", "range", "name", "name", "none"]))
    if choice == "number":
        port["port"] = draw(st.sampled_from(PORTS))
    elif choice == "range":
        lo = draw(st.sampled_from(PORTS))
        port["port"], port["endPort"] = lo, lo + draw(st.sampled_from([0, 1, 100]))
    elif choice == "name":
        port["port"] = draw(st.sampled_from(PORT_NAMES))
    return port


@st.composite
def rules(draw: st.DrawFn, peers_key: str) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    if draw(st.booleans()):
        rule[peers_key] = draw(st.lists(peers(), max_size=2))
    if draw(st.booleans()):
        rule["ports"] = draw(st.lists(policy_ports(), max_size=3))
    return rule


@st.composite
def network_policies(draw: st.DrawFn, namespaces: list[str], i: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": draw(selectors())}
    if draw(st.booleans()):
        spec["ingress"] = draw(st.lists(rules("from"), max_size=3))
    if draw(st.integers(0, 3)) > 0:
        spec["egress"] = draw(st.lists(rules("to"), max_size=3))
    if draw(st.booleans()):
        spec["policyTypes"] = draw(st.lists(st.sampled_from(["Ingress", "Egress"]), min_size=1,
                                            max_size=2, unique=True))
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": f"p{i}", "namespace": draw(st.sampled_from(namespaces))},
            "spec": spec}


@st.composite
def tier_peers(draw: st.DrawFn, direction: str, v1alpha2: bool) -> dict[str, Any]:
    kinds = ["namespaces", "pods"] + (["networks"] if direction == "egress" else [])
    if v1alpha2 and direction == "egress":
        kinds.append("domainNames")
    kind = draw(st.sampled_from(kinds))
    if kind == "namespaces":
        return {"namespaces": draw(selectors())}
    if kind == "pods":
        return {"pods": {"namespaceSelector": draw(selectors()), "podSelector": draw(selectors())}}
    if kind == "networks":
        return {"networks": draw(st.lists(st.sampled_from(
            ["10.1.0.0/24", "10.1.1.0/24", "10.1.0.0/16", "10.1.2.3/32"]), min_size=1,
            max_size=2, unique=True))}
    return {"domainNames": ["example.com"]}


@st.composite
def tier_ports(draw: st.DrawFn, v1alpha2: bool, named: bool = True) -> dict[str, Any]:
    """`named`: whether a named port may be drawn (the CRDs refuse one in an egress rule with
    networks, nodes or domainNames peers)."""
    choice = draw(st.sampled_from(["number", "range", "name"] if named else ["number", "range"]))
    protocol = draw(protocols)
    if choice == "name":
        name = draw(st.sampled_from(PORT_NAMES))
        return {"destinationNamedPort": name} if v1alpha2 else {"namedPort": name}
    lo = draw(st.sampled_from(PORTS))
    if v1alpha2:
        port = ({"number": lo} if choice == "number"
                else {"range": {"start": lo, "end": lo + draw(st.sampled_from([1, 100]))}})
        return {protocol.lower(): {"destinationPort": port}}
    if choice == "number":
        return {"portNumber": {"protocol": protocol, "port": lo}}
    return {"portRange": {"protocol": protocol, "start": lo,
                          "end": lo + draw(st.sampled_from([0, 1, 100]))}}


@st.composite
def tiered_policies(draw: st.DrawFn, i: int) -> dict[str, Any]:
    """An AdminNetworkPolicy, ClusterNetworkPolicy or BaselineAdminNetworkPolicy."""
    kind = draw(st.sampled_from(["AdminNetworkPolicy", "ClusterNetworkPolicy",
                                 "ClusterNetworkPolicy", "BaselineAdminNetworkPolicy"]))
    v1alpha2 = kind == "ClusterNetworkPolicy"
    if kind == "ClusterNetworkPolicy":
        actions = ["Accept", "Deny", "Pass"]
    elif kind == "AdminNetworkPolicy":
        actions = ["Allow", "Deny", "Pass"]
    else:
        actions = ["Allow", "Deny"]
    if draw(st.booleans()):
        subject: dict[str, Any] = {"namespaces": draw(selectors())}
    else:
        subject = {"pods": {"namespaceSelector": draw(selectors()),
                            "podSelector": draw(selectors())}}
    spec: dict[str, Any] = {"subject": subject}
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        rules = []
        for _ in range(draw(st.integers(0, 3))):
            rule: dict[str, Any] = {"action": draw(st.sampled_from(actions)),
                                    peers_key: draw(st.lists(tier_peers(direction, v1alpha2),
                                                             min_size=1, max_size=2))}
            named = not any(k in p for p in rule[peers_key] for k in ("networks", "domainNames"))
            if draw(st.booleans()):
                rule["protocols" if v1alpha2 else "ports"] = draw(
                    st.lists(tier_ports(v1alpha2, named), min_size=1, max_size=2))
            rules.append(rule)
        if rules:
            spec[direction] = rules
    if kind != "BaselineAdminNetworkPolicy":
        spec["priority"] = draw(st.integers(0, 2))
    if v1alpha2:
        spec["tier"] = draw(st.sampled_from(["Admin", "Baseline"]))
    name = "default" if kind == "BaselineAdminNetworkPolicy" else f"t{i}"
    version = "v1alpha2" if v1alpha2 else "v1alpha1"
    return {"apiVersion": f"policy.networking.k8s.io/{version}", "kind": kind,
            "metadata": {"name": name}, "spec": spec}


@st.composite
def endpoints(draw: st.DrawFn, namespaces: list[str], i: int) -> dict[str, Any]:
    ports = []
    for name in draw(st.lists(st.sampled_from(PORT_NAMES), min_size=1, max_size=2, unique=True)):
        ports.append({"name": name, "containerPort": draw(st.sampled_from(PORTS)),
                      "protocol": draw(protocols)})
    containers = [{"name": "c", "image": "img", "ports": ports}]
    meta = {"name": f"e{i}", "namespace": draw(st.sampled_from(namespaces)),
            "labels": draw(labels)}
    if draw(st.integers(0, 4)) == 0:  # a workload: no address, matched by selectors only
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
                "spec": {"selector": {"matchLabels": meta["labels"]} if meta["labels"] else
                         {"matchLabels": {"x": "y"}},
                         "template": {"metadata": {"labels": meta["labels"] or {"x": "y"}},
                                      "spec": {"containers": containers}}}}
    # Two nodes: a hostNetwork pod's traffic into the pods of its own node is exempt.
    spec: dict[str, Any] = {"containers": containers,
                            "nodeName": draw(st.sampled_from(["w1", "w2"]))}
    if draw(st.integers(0, 9)) == 0:
        spec["hostNetwork"] = True
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
            "status": {"podIP": f"10.1.{draw(st.integers(0, 3))}.{i + 1}"}}


@st.composite
def clusters(draw: st.DrawFn) -> ClusterState:
    namespaces = ["n1", "n2", "n3"][: draw(st.integers(1, 3))]
    objs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": draw(labels)}}
        for n in namespaces]
    objs += [draw(endpoints(namespaces, i)) for i in range(draw(st.integers(1, 8)))]
    objs += [draw(network_policies(namespaces, i)) for i in range(draw(st.integers(0, 6)))]
    tiered = [draw(tiered_policies(i)) for i in range(draw(st.integers(0, 4)))]
    # One BaselineAdminNetworkPolicy at most: its name is always `default`.
    names = {(t["kind"], t["metadata"]["name"]): t for t in tiered}
    objs += list(names.values())
    inv = build_inventory([Document(o, "<hypothesis>") for o in objs])
    return ClusterState(inv.namespaces, inv.endpoints, inv.policies,
                        cluster_policies=inv.cluster_policies)


SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(clusters(), st.sampled_from([*PORTS, 1, 65535, 180]), st.sampled_from(PROTOCOLS))
def test_matrix_agrees_with_single_verdicts(state: ClusterState, port: int, protocol: Any) -> None:
    m = matrix(CompiledView(state), port, protocol)
    for s, src in enumerate(m.endpoints):
        for d, dst in enumerate(m.endpoints):
            v = verdict(state, src, dst, port, protocol)
            assert bool(m.allowed[s, d]) == v.allowed, (src, dst, v)


@SETTINGS
@given(clusters())
def test_connectivity_agrees_with_single_verdicts(state: ClusterState) -> None:
    view = CompiledView(state)
    conn = connectivity(view)
    for s, src in enumerate(conn.endpoints):
        for d, dst in enumerate(conn.endpoints):
            ports = conn.ports(s, d)
            assert ports == view.allowed_ports(src, dst)
            for protocol in PROTOCOLS:
                for port in [*PORTS, 1, 65535, 180]:
                    assert ports.contains(protocol, port) == \
                        verdict(state, src, dst, port, protocol).allowed, (src, dst, protocol, port)  # type: ignore[arg-type]


@SETTINGS
@given(clusters(), st.integers(0, 3), st.integers(1, 254), st.sampled_from(PORTS))
def test_external_addresses_follow_ip_blocks(state: ClusterState, third: int, last: int,
                                             port: int) -> None:
    """An address outside the cluster is a party only ipBlocks (or empty peers) match."""
    ip = f"10.1.{third}.{last}"
    view = CompiledView(state)
    party = state.party(ip)
    for i, e in enumerate(state.endpoints):
        v_in = verdict(state, party, e, port)
        side = view.ingress[i]
        if party is e or not e.is_pod or e.host_network:
            continue
        if side.is_open:
            assert v_in.ingress.allowed
        elif isinstance(party, External):
            assert v_in.ingress.allowed == _decide_address(side, party, port)


def _decide_address(side: DirectionView, party: External, port: int) -> bool:
    """The compiled view's order of decisions, for an address: what peer sets say of it
    is their ipBlocks (or that they admit everything)."""
    def has(peers: PeerSet) -> bool:
        return peers.everything or any(b.contains(party.ip) for b in peers.ip_blocks)

    for decision in side.admin:
        if has(decision.peers) and decision.ports.contains("TCP", port):
            if decision.action != "Pass":
                return decision.action == "Accept"
            break
    if side.isolated:
        return any(a.ports.contains("TCP", port) and has(a.peers) for a in side.allowances)
    for decision in side.baseline:
        if has(decision.peers) and decision.ports.contains("TCP", port):
            return decision.action != "Deny"
    return True


def test_a_cluster_without_endpoints_has_empty_tables() -> None:
    view = CompiledView(ClusterState([], [], []))
    assert matrix(view, 80).allowed.shape == (0, 0)
    conn = connectivity(view)
    assert conn.endpoints == () and conn.cell.shape == (0, 0) and conn.port_sets == ()
