"""One connection, judged and explained: the reference semantics of NetworkPolicy and of
the tiered cluster policies above and below it.

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
* the tiers (docs/design.md, "Tiered cluster policies"): per side, the Admin tier decides
  first (its policies whose subject selects the pod, by priority, each one's rules in
  order: the first rule that matches decides: Accept allows, Deny denies, Pass goes on
  to NetworkPolicy), then NetworkPolicy as above when a policy isolates the pod, then the
  Baseline tier likewise, then the default: allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal, TypeVar

from netpolicy.api.objects import Direction, Endpoint, IPAddress, Peer, PolicyPort, Protocol
from netpolicy.api.tiers import BASELINE_KIND, Action, ClusterPolicy, Tier, TierRule
from netpolicy.engine.cluster import (
    ClusterState,
    Party,
    from_own_node,
    node_of_traffic,
)

T = TypeVar("T")
Reason = Literal[
    "not-a-pod",  # this side is an address, not a pod: no policy applies to it
    "host-network",  # a hostNetwork pod: policies do not govern the node's traffic
    "loopback",  # a pod reaching itself never leaves the pod (point 11)
    "hairpin",  # a pod reaching itself through a Service: NetworkPolicy allows it (point 12)
    "from-own-node",  # the node reaching its own pods, e.g. kubelet probes (point 11)
    "not-isolated",  # nothing decided: no tier rule matched, no NetworkPolicy isolates
    "allowed-by-rule",  # isolated, and at least one rule allows the connection
    "no-rule-allows",  # isolated, and no rule allows it
    "admin-accept",  # an Admin tier rule accepted it (NetworkPolicy is not asked)
    "admin-deny",  # an Admin tier rule denied it
    "baseline-accept",  # no NetworkPolicy isolates the pod; a Baseline rule accepted it
    "baseline-deny",  # no NetworkPolicy isolates the pod; a Baseline rule denied it
]
Decider = Literal["admin", "networkpolicy", "baseline", "default", "exempt"]


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
class TierMatch:
    """The rule of a tiered policy that matched a connection first: it decided the side
    (Accept, Deny) or passed it to the next tier (Pass). `peer`/`port` index the rule's
    `from`/`to` and `ports`/`protocols` as written (None: the rule has no ports)."""

    tier: Tier
    policy: str
    priority: int | None
    direction: Direction
    rule: int
    rule_name: str
    action: Action
    written: str
    peer: int
    port: int | None
    tied_with: tuple[str, ...] = ()
    """Policies of the same tier and priority with a matching rule of another action: the
    stable order (`ClusterPolicy.order`) chose this one over them."""

    def __str__(self) -> str:
        name = f" {self.rule_name!r}" if self.rule_name else ""
        prio = "" if self.priority is None else f" (priority {self.priority})"
        return f"{self.policy}{prio} {self.direction}[{self.rule}]{name}: {self.written}"


@dataclass(frozen=True, slots=True)
class TierVerdict:
    """What one tier said about one side: the policies it asked (those whose subject
    selects the pod and that have rules in this direction, in order) and the first rule
    that matched (None: none did, the next tier decides). `unresolved`: rules with
    `domainNames` peers that could match this connection (static analysis cannot resolve
    names) and would change the side's verdict if they did."""

    tier: Tier
    policies: tuple[str, ...] = ()
    match: TierMatch | None = None
    unresolved: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SideVerdict:
    """The verdict of one side: the source's egress or the destination's ingress.
    `admin` and `baseline` say what those tiers decided (None: not asked, e.g. the side is
    not a pod, or an earlier tier decided); `decided_by` names the tier that decided."""

    direction: Direction
    subject: str
    allowed: bool
    reason: Reason
    isolated_by: tuple[str, ...] = ()
    allowed_by: tuple[RuleRef, ...] = ()
    admin: TierVerdict | None = None
    baseline: TierVerdict | None = None
    decided_by: Decider = "exempt"


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
        # A hostNetwork pod's addresses are its node's: matched as the node's are.
        return any(peer.ip_block.contains(ip) for ip in addresses(other))
    if peer.node_selector is not None:
        # A `nodes` peer (tiered policies) matches the addresses of the nodes it selects:
        # the node itself and the hostNetwork pods on it.
        node = node_of_traffic(other)
        return node is not None and peer.node_selector.matches(state.node_labels(node))
    if peer.domain_names:
        return False  # names resolve at run time: statically they match no address
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


def _tier_rule_match(state: ClusterState, rule: TierRule, other: Party, destination: Party,
                     protocol: Protocol, port: int) -> tuple[int, int | None] | None:
    """Where `rule` matches the connection: (peer, port) indexes as written, or None.
    A tiered rule always has peers; its peers carry their namespace selector, so no
    policy namespace applies (""). No ports: every port of every protocol."""
    peer = _first(rule.match.peers, lambda p: peer_matches(state, p, "", other))
    if peer is False or peer is None:
        return None
    found = _first(rule.match.ports, lambda p: port_matches(p, protocol, port, destination))
    if found is False:
        return None
    return rule.peer_index(peer), None if found is None else rule.port_index(found)


_Forced = tuple[str, Direction, int] | None
"""A rule (policy key, direction, index) taken to match whatever its peers say: how a
`domainNames` rule's possible effect is found."""


def _tier(state: ClusterState, tier: Tier, direction: Direction, subject: Endpoint,
          other: Party, destination: Party, protocol: Protocol, port: int,
          forced: _Forced) -> TierVerdict:
    """The first rule of `tier` that matches, over its policies that select `subject`."""
    asked = [p for p in state.subject_of(subject, tier) if p.rules(direction)]
    for i, policy in enumerate(asked):
        for r, rule in enumerate(policy.rules(direction)):
            where = _tier_rule_match(state, rule, other, destination, protocol, port)
            if where is None and forced == (policy.key, direction, r):
                where = (0, None)
            if where is None:
                continue
            ties = _ties(state, asked[i + 1:], policy, rule.action, direction, other,
                         destination, protocol, port)
            match = TierMatch(tier, policy.key, None if policy.kind == BASELINE_KIND
                              else policy.priority, direction, r, rule.name, rule.action,
                              rule.written, where[0], where[1], ties)
            return TierVerdict(tier, tuple(p.key for p in asked), match)
    return TierVerdict(tier, tuple(p.key for p in asked))


def _ties(state: ClusterState, later: Sequence[ClusterPolicy], chosen: ClusterPolicy,
          action: Action, direction: Direction, other: Party, destination: Party,
          protocol: Protocol, port: int) -> tuple[str, ...]:
    """Policies after `chosen` at its priority whose first matching rule acts otherwise:
    there, our stable order (not the API) decided."""
    out = []
    for policy in later:
        if policy.priority != chosen.priority:
            break
        for rule in policy.rules(direction):
            if _tier_rule_match(state, rule, other, destination, protocol, port) is not None:
                if rule.action != action:
                    out.append(policy.key)
                break
    return tuple(out)


def _side(state: ClusterState, direction: Direction, subject: Party, other: Party,
          destination: Party, protocol: Protocol, port: int, *, hairpin: bool = False,
          forced: _Forced = None) -> SideVerdict:
    key = subject.key
    if not isinstance(subject, Endpoint):
        return SideVerdict(direction, key, True, "not-a-pod")
    if subject.host_network:
        return SideVerdict(direction, key, True, "host-network")
    if direction == "ingress" and from_own_node(other, subject):
        return SideVerdict(direction, key, True, "from-own-node")
    args = (direction, subject, other, destination, protocol, port, forced)
    admin = _tier(state, "Admin", *args)
    if admin.match is not None and admin.match.action != "Pass":
        accept = admin.match.action == "Accept"
        return SideVerdict(direction, key, accept, "admin-accept" if accept else "admin-deny",
                           admin=admin, decided_by="admin")
    isolating = state.isolating(subject, direction)
    if isolating:
        if hairpin:
            return SideVerdict(direction, key, True, "hairpin", tuple(p.key for p in isolating),
                               admin=admin, decided_by="networkpolicy")
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
                           tuple(p.key for p in isolating), tuple(allowed_by),
                           admin=admin, decided_by="networkpolicy")
    baseline = _tier(state, "Baseline", *args)
    if baseline.match is not None and baseline.match.action != "Pass":
        accept = baseline.match.action == "Accept"
        return SideVerdict(direction, key, accept,
                           "baseline-accept" if accept else "baseline-deny",
                           admin=admin, baseline=baseline, decided_by="baseline")
    return SideVerdict(direction, key, True, "not-isolated", admin=admin, baseline=baseline,
                       decided_by="default")


def _judged(state: ClusterState, direction: Direction, subject: Party, other: Party,
            destination: Party, protocol: Protocol, port: int, hairpin: bool) -> SideVerdict:
    """`_side`, plus the `domainNames` rules that could change it: each one that the
    evaluation passed before deciding, taken to match, gives another verdict."""
    side = _side(state, direction, subject, other, destination, protocol, port, hairpin=hairpin)
    if direction != "egress" or not isinstance(subject, Endpoint) or side.decided_by == "exempt":
        return side
    unresolved: dict[Tier, list[str]] = {"Admin": [], "Baseline": []}
    for tier in ("Admin", "Baseline"):
        for policy in state.subject_of(subject, tier):
            for r, rule in enumerate(policy.egress):
                if not rule.domain_names or not _ports_match(rule, protocol, port, destination):
                    continue
                other_side = _side(state, direction, subject, other, destination, protocol,
                                   port, hairpin=hairpin, forced=(policy.key, direction, r))
                if other_side.allowed != side.allowed:
                    unresolved[tier].append(f"{policy.key} egress[{r}]")
    if not unresolved["Admin"] and not unresolved["Baseline"]:
        return side
    admin = side.admin or TierVerdict("Admin")
    baseline = side.baseline or TierVerdict("Baseline")
    return replace(side,
                   admin=replace(admin, unresolved=tuple(unresolved["Admin"])),
                   baseline=replace(baseline, unresolved=tuple(unresolved["Baseline"])))


def _ports_match(rule: TierRule, protocol: Protocol, port: int, destination: Party) -> bool:
    return _first(rule.match.ports,
                  lambda p: port_matches(p, protocol, port, destination)) is not False


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
            port: int, protocol: Protocol = "TCP", *, via_service: bool = False) -> Verdict:
    """Is a new `protocol`/`port` connection from `source` to `destination` allowed, and why?
    Parties are `namespace/name`, IP addresses, or resolved parties. `via_service`: the
    connection went through a Service (after DNAT), which matters only for a pod reaching
    itself: on its own address it is loopback, exempt from every policy; through a Service
    (hairpin) the tiered policies judge it, and NetworkPolicy allows it (point 12)."""
    src, dst = state.party(source), state.party(destination)
    hairpin = isinstance(src, Endpoint) and src.is_pod and src is dst
    if hairpin and not via_service:
        loop = [SideVerdict(d, src.key, True, "loopback") for d in ("egress", "ingress")]
        return Verdict(src.key, dst.key, protocol, port, loop[0], loop[1])
    egress = _judged(state, "egress", src, dst, dst, protocol, port, hairpin)
    ingress = _judged(state, "ingress", dst, src, dst, protocol, port, hairpin)
    return Verdict(src.key, dst.key, protocol, port, egress, ingress)
