"""One connection, judged and explained: the reference semantics of NetworkPolicy.

This module reads the policies as the API reference words them, one connection at a
time, with no precomputation beyond which policies select an endpoint. The fast
paths (`netpolicy.engine.compiled`, `netpolicy.engine.matrix`) are checked against it
by property tests, so it stays the plain statement of the rules:

* DESIGN.md point 7: a connection is allowed when the source's egress allows it and
  the destination's ingress allows it; each side is judged by the policies that
  select *its* pod, and neither side can override the other.
* point 3: a side that no policy isolates allows everything; an isolated side allows
  exactly the union of the rules of the policies that select it.
* point 4: a rule matches when one of its peers matches and one of its ports matches;
  no peers means every peer, no ports means every port.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from netpolicy.api.objects import Direction, Endpoint, IPAddress, Peer, PolicyPort, Protocol
from netpolicy.engine.cluster import ClusterState, External, Party

T = TypeVar("T")
Reason = Literal[
    "not-a-pod",  # this side is an address, not a pod: no policy applies to it
    "host-network",  # a hostNetwork pod: policies do not govern the node's traffic
    "loopback",  # a pod reaching itself never leaves the pod (point 11)
    "from-own-node",  # the node reaching its own pods, e.g. kubelet probes (point 11)
    "not-isolated",  # no policy selecting this pod lists this direction (point 3)
    "allowed-by-rule",  # isolated, and at least one rule allows the connection
    "no-rule-allows",  # isolated, and no rule allows it
]


@dataclass(frozen=True, slots=True)
class RuleRef:
    """Where in a policy a connection was allowed. `peer`/`port` are indexes into the
    rule's `from`/`to` and `ports`; None when the rule leaves that list empty (all)."""

    policy: str
    direction: Direction
    rule: int
    peer: int | None
    port: int | None

    def __str__(self) -> str:
        peers = "from" if self.direction == "ingress" else "to"
        peer = f"{peers}[{self.peer}]" if self.peer is not None else f"any {peers}"
        port = f"ports[{self.port}]" if self.port is not None else "any port"
        return f"{self.policy} {self.direction}[{self.rule}] ({peer}, {port})"


@dataclass(frozen=True, slots=True)
class SideVerdict:
    """The verdict of one side: the source's egress or the destination's ingress."""

    direction: Direction
    subject: str
    allowed: bool
    reason: Reason
    isolated_by: tuple[str, ...] = ()
    allowed_by: tuple[RuleRef, ...] = ()


@dataclass(frozen=True, slots=True)
class Verdict:
    source: str
    destination: str
    protocol: Protocol
    port: int
    egress: SideVerdict
    ingress: SideVerdict

    @property
    def allowed(self) -> bool:
        return self.egress.allowed and self.ingress.allowed


def addresses(party: Party) -> tuple[IPAddress, ...]:
    return party.ips if isinstance(party, Endpoint) else (party.ip,)


def peer_matches(state: ClusterState, peer: Peer, policy_namespace: str, other: Party) -> bool:
    """Does `other` match one `from`/`to` entry of a policy in `policy_namespace`? (point 5)"""
    if peer.ip_block is not None:
        # An ipBlock matches an address, a pod's as well as an outside one. A pod with
        # several addresses (dual-stack) matches when any of them is inside.
        return any(peer.ip_block.contains(ip) for ip in addresses(other)
                   if not (isinstance(other, Endpoint) and other.host_network))
    if not isinstance(other, Endpoint) or other.host_network:
        return False  # selectors match pods only
    if peer.namespace_selector is None:
        in_namespace = other.namespace == policy_namespace  # podSelector alone: own namespace
    else:
        in_namespace = peer.namespace_selector.matches(state.namespace_labels(other.namespace))
    return in_namespace and (peer.pod_selector is None or peer.pod_selector.matches(other.labels))


def port_matches(port_rule: PolicyPort, protocol: Protocol, port: int, destination: Party) -> bool:
    """Does one `ports` entry allow `protocol`/`port` to `destination`? (point 6)
    A named port is looked up on the destination's container ports, name and protocol
    both; where the destination is not a pod it matches nothing."""
    if port_rule.protocol != protocol:
        return False
    if port_rule.port is None:
        return True
    if isinstance(port_rule.port, str):
        return (isinstance(destination, Endpoint)
                and destination.named_port(port_rule.port, protocol) == port)
    end = port_rule.end_port if port_rule.end_port is not None else port_rule.port
    return port_rule.port <= port <= end


def _side(state: ClusterState, direction: Direction, subject: Party, other: Party,
          destination: Party, protocol: Protocol, port: int) -> SideVerdict:
    key = subject.key
    if not isinstance(subject, Endpoint):
        return SideVerdict(direction, key, True, "not-a-pod")
    if subject.host_network:
        return SideVerdict(direction, key, True, "host-network")
    if (direction == "ingress" and isinstance(other, External) and other.node is not None
            and other.node == subject.node):
        return SideVerdict(direction, key, True, "from-own-node")
    isolating = state.isolating(subject, direction)
    if not isolating:
        return SideVerdict(direction, key, True, "not-isolated")
    allowed_by: list[RuleRef] = []
    for policy in isolating:
        namespace = policy.namespace
        for r, rule in enumerate(policy.rules(direction)):
            peer_index = _first(rule.peers, lambda p: peer_matches(state, p, namespace, other))  # noqa: B023
            port_index = _first(rule.ports, lambda p: port_matches(p, protocol, port, destination))
            if peer_index is not False and port_index is not False:
                allowed_by.append(RuleRef(policy.key, direction, r, peer_index, port_index))
    return SideVerdict(direction, key, bool(allowed_by),
                       "allowed-by-rule" if allowed_by else "no-rule-allows",
                       tuple(p.key for p in isolating), tuple(allowed_by))


def _first(items: Sequence[T], pred: Callable[[T], bool]) -> int | Literal[False] | None:
    """Index of the first matching item; None when the list is empty (an empty `from`,
    `to` or `ports` matches all); False when nothing matches."""
    if not items:
        return None
    for i, item in enumerate(items):
        if pred(item):
            return i
    return False


def verdict(state: ClusterState, source: str | Party, destination: str | Party,
            port: int, protocol: Protocol = "TCP") -> Verdict:
    """Is a new `protocol`/`port` connection from `source` to `destination` allowed, and why?
    Parties are `namespace/name`, IP addresses, or resolved parties."""
    src, dst = state.party(source), state.party(destination)
    if isinstance(src, Endpoint) and src.is_pod and src is dst:
        loop = [SideVerdict(d, src.key, True, "loopback") for d in ("egress", "ingress")]
        return Verdict(src.key, dst.key, protocol, port, loop[0], loop[1])
    egress = _side(state, "egress", src, dst, dst, protocol, port)
    ingress = _side(state, "ingress", dst, src, dst, protocol, port)
    return Verdict(src.key, dst.key, protocol, port, egress, ingress)
