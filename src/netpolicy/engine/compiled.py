"""The compiled view (docs/design.md, "engine/"): per endpoint and direction, an ordered
decision: the Admin tier's entries, then whether NetworkPolicy isolates it and which
(peer set x port set) pairs it allows, then the Baseline tier's entries.

Everything that needs more than one verdict derives from this view: the matrix and
connectivity reports (`netpolicy.engine.matrix`) and the nftables program. It is
computed with sets, never pair by pair:

* selectors are evaluated once each, on a label index, into boolean masks over the
  endpoints (`numpy` arrays), and cached by value, so identical selectors cost once;
* a rule's peers become one `PeerSet`: the union of its peers' masks, plus its ipBlocks
  (which also put the pods whose addresses they contain into the mask: point 5);
* a rule's ports become `PortSet`s. A named port is resolved on the destination
  (point 6): for ingress that is the endpoint itself, so each endpoint gets its own
  port set; for egress it is the peer, so the rule's peers are split by the number
  the name resolves to on each of them (address-and-port pairs, in nftables terms).

The tiered policies compile the same way: each rule of a policy whose subject selects the
endpoint becomes a `Decision` (its action, peer set and port set, named ports resolved as
above), kept in evaluation order; the first one that matches the other side and the port
decides (`decide` states the order once, for every consumer).

Allowances and decisions are shared between endpoints whenever they are equal (same rule,
same resolved ports), so the view's size grows with endpoints + rules, not their product.
"""

from __future__ import annotations

import functools
import ipaddress
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
import numpy.typing as npt

from netpolicy.api.labels import LabelSelector
from netpolicy.api.objects import (
    Direction,
    Endpoint,
    IPBlock,
    NetworkPolicy,
    Peer,
    PolicyPort,
    Protocol,
    Rule,
)
from netpolicy.api.tiers import Action, ClusterPolicy
from netpolicy.engine.cluster import ClusterState, from_own_node
from netpolicy.engine.ports import ALL, NONE, PortSet

Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class RuleId:
    policy: str
    direction: Direction
    rule: int

    def __str__(self) -> str:
        return f"{self.policy} {self.direction}[{self.rule}]"


@dataclass(frozen=True, eq=False)
class PeerSet:
    """Who a rule admits on the other side. `everything`: the rule lists no peers, so
    every address, in the cluster or outside. Otherwise `members` (the endpoints its
    selectors or ipBlocks match) and `ip_blocks` (the addresses its ipBlocks match,
    for parties that are not endpoints). `definition` identifies what the peers are
    (rules with the same definition share one PeerSet) and reads as text."""

    everything: bool
    members: Mask
    ip_blocks: tuple[IPBlock, ...] = ()
    definition: str = ""
    peers: tuple[Peer, ...] = ()
    """The peer entries, read in `namespace` (to judge a single party later)."""
    namespace: str = ""

    def has(self, index: int) -> bool:
        return self.everything or bool(self.members[index])


@dataclass(frozen=True, eq=False)
class Allowance:
    """One (peer set x port set) pair that a rule allows an endpoint in a direction.
    `named_port` is set on egress allowances that come from a named port: their peers
    are the rule's peers that resolve the name to the allowance's one port."""

    rule: RuleId
    peers: PeerSet
    ports: PortSet
    named_port: str | None = None


@dataclass(frozen=True, eq=False)
class Decision:
    """One rule of a tiered policy for an endpoint and direction: when the other side is
    in `peers` and the connection's port in `ports`, `action` decides (Pass: on to the next
    tier). Like an `Allowance`, an egress named port gives one Decision per number it
    resolves to, its peers those holding that number."""

    rule: RuleId
    action: Action
    peers: PeerSet
    ports: PortSet
    named_port: str | None = None


@dataclass(frozen=True, slots=True)
class DirectionView:
    """What decides one direction of an endpoint: `admin` decisions in order, then
    NetworkPolicy (`isolated`: the union of `allowances`), then `baseline` decisions in
    order; where nothing decides, the connection is allowed (`decide`)."""

    isolated: bool
    isolated_by: tuple[str, ...] = ()
    allowances: tuple[Allowance, ...] = ()
    key: tuple[object, ...] = ()
    """What the view is a function of (`view_key`): endpoints with equal keys share it."""
    admin: tuple[Decision, ...] = ()
    baseline: tuple[Decision, ...] = ()
    tiered_by: tuple[str, ...] = ()
    """The tiered policies whose subject selects the endpoint (with rules this way)."""

    @property
    def is_open(self) -> bool:
        """Nothing decides: every connection is allowed."""
        return not (self.isolated or self.admin or self.baseline)


Outcome = Literal["accept", "deny", "next"]


def tier_outcome(decisions: Sequence[Decision], other: int, protocol: Protocol,
                 port: int) -> tuple[Outcome, Decision | None]:
    """The first decision matching endpoint `other` at `protocol`/`port`: Accept, Deny, or
    on to the next tier (Pass, or nothing matched)."""
    for d in decisions:
        if d.peers.has(other) and d.ports.contains(protocol, port):
            if d.action == "Pass":
                return "next", d
            return ("accept" if d.action == "Accept" else "deny"), d
    return "next", None


def decide(view: DirectionView, other: int, protocol: Protocol, port: int) -> bool:
    """The tiers in order (docs/design.md, "Tiered cluster policies"), for endpoint `other`
    on the other side: the Admin tier, then NetworkPolicy if it isolates, then Baseline."""
    outcome, _ = tier_outcome(view.admin, other, protocol, port)
    if outcome != "next":
        return outcome == "accept"
    if view.isolated:
        return any(a.peers.has(other) and a.ports.contains(protocol, port)
                   for a in view.allowances)
    outcome, _ = tier_outcome(view.baseline, other, protocol, port)
    return outcome != "deny"


def view_key(endpoint: Endpoint, policies: Sequence[NetworkPolicy],
             direction: Direction, admin: Sequence[ClusterPolicy] = (),
             baseline: Sequence[ClusterPolicy] = ()) -> tuple[object, ...]:
    """What an endpoint's view in `direction` depends on: the policies that select it and
    list that direction, the tiered policies whose subject selects it (in order), and, for
    ingress, the numbers its container ports give the names those policies' rules use
    (named ports resolve on the destination: point 6)."""
    keys = tuple(p.key for p in policies if p.affects(direction))
    tiers = (tuple(p.key for p in admin if p.rules(direction)),
             tuple(p.key for p in baseline if p.rules(direction)))
    if direction == "egress":
        return ("egress", keys) if tiers == ((), ()) else ("egress", keys, tiers)
    names = tuple(endpoint.named_port(name, protocol) for p in policies
                  for name, protocol in p.ingress_names)
    if tiers == ((), ()):
        return ("ingress", keys, names)
    tier_names = tuple(endpoint.named_port(name, protocol) for p in (*admin, *baseline)
                       if p.rules(direction) for name, protocol in p.ingress_names)
    return ("ingress", keys, names, tiers, tier_names)


OPEN = DirectionView(False)


class LabelIndex:
    """Which endpoints carry which labels, for evaluating selectors as set operations."""

    def __init__(self, state: ClusterState) -> None:
        self.size = len(state.endpoints)
        postings: dict[tuple[str, str], list[int]] = defaultdict(list)
        keys: dict[str, list[int]] = defaultdict(list)
        for i, e in enumerate(state.endpoints):
            for k, v in e.labels.items():
                postings[(k, v)].append(i)
                keys[k].append(i)
        self._postings = postings
        self._keys = keys
        self._cache: dict[LabelSelector, Mask] = {}

    def _mask(self, indexes: list[int]) -> Mask:
        m = np.zeros(self.size, dtype=bool)
        m[indexes] = True
        return m

    def select(self, selector: LabelSelector) -> Mask:
        """The endpoints whose labels match `selector` (point 8)."""
        cached = self._cache.get(selector)
        if cached is not None:
            return cached
        out = np.ones(self.size, dtype=bool)
        for req in selector.requirements:
            if req.operator in ("Exists", "DoesNotExist"):
                m = self._mask(self._keys.get(req.key, []))
            else:
                m = np.zeros(self.size, dtype=bool)
                for v in req.values:
                    m[self._postings.get((req.key, v), [])] = True
            if req.operator in ("NotIn", "DoesNotExist"):
                m = ~m
            out &= m
        out.flags.writeable = False
        self._cache[selector] = out
        return out


class CompiledView:
    """The compiled view of a cluster state. Build once; query many times.

    `previous`: the view of an earlier state. When the endpoints and namespaces are the
    same (a policy changed, say), everything that depends on them alone is taken over —
    selector masks, peer sets, allowances — and so are the views of endpoints whose
    policies are the very same objects: only what the change touches is computed again,
    and what did not change keeps its identity (renderers cache by it)."""

    def __init__(self, state: ClusterState, previous: CompiledView | None = None) -> None:
        self.state = state
        n = len(state.endpoints)
        self.size = n
        self._views: dict[tuple[object, ...], DirectionView] = {}
        self._egress_of: dict[str, list[Allowance]] = {}
        self._selected: dict[str, tuple[NetworkPolicy, Mask]] = {}
        """Each policy (the object) and the endpoints it selects."""
        self._subjects: dict[str, tuple[ClusterPolicy, Mask]] = {}
        """Each tiered policy (the object) and the endpoints its subject selects."""
        self._decision_cache: dict[tuple[str, Direction, tuple[int | None, ...]],
                                   list[Decision]] = {}
        self._previous: CompiledView | None = None
        if previous is not None and previous.state.endpoints == state.endpoints \
                and previous.state.namespaces == state.namespaces:
            self._take_over(previous)
        else:
            self._labels = LabelIndex(state)
            ns_names = list(state.namespaces)
            ns_id = {name: i for i, name in enumerate(ns_names)}
            self._ns_of = np.array([ns_id[e.namespace] for e in state.endpoints], dtype=np.int32)
            self._ns_index = _NamespaceIndex(state, ns_names)
            # hostNetwork pods are never selected nor matched by selectors (`ClusterState`).
            self._pods: Mask = np.array([not e.host_network for e in state.endpoints],
                                        dtype=bool)
            self._peer_cache: dict[tuple[Peer, str], Mask] = {}
            self._named_cache: dict[tuple[str, Protocol], dict[int, Mask]] = {}
            self._peer_sets: dict[str, PeerSet] = {}
            self._ingress_cache: dict[tuple[str, tuple[int | None, ...]], list[Allowance]] = {}
            self._allowance_cache: dict[tuple[RuleId, int, PortSet], Allowance] = {}
        self._rule_peers: dict[RuleId, PeerSet] = {}
        self.ingress: list[DirectionView] = [OPEN] * n
        self.egress: list[DirectionView] = [OPEN] * n
        self._build()

    def _take_over(self, previous: CompiledView) -> None:
        """Reuse what depends on endpoints and namespaces only, and what depends on the
        policies that did not change (the same objects)."""
        self._labels, self._ns_of, self._ns_index = (previous._labels, previous._ns_of,
                                                     previous._ns_index)
        self._pods = previous._pods
        self._peer_cache, self._named_cache = previous._peer_cache, previous._named_cache
        self._peer_sets, self._allowance_cache = previous._peer_sets, previous._allowance_cache
        if "_v4" in previous.__dict__:
            self.__dict__["_v4"] = previous.__dict__["_v4"]
        same = {p.key for p in self.state.policies
                if previous._policy.get(p.key) is p}
        same_tiered = {p.key for p in self.state.cluster_policies
                       if previous._tiered.get(p.key) is p}
        self._ingress_cache = {k: v for k, v in previous._ingress_cache.items() if k[0] in same}
        self._egress_of = {k: v for k, v in previous._egress_of.items() if k in same}
        self._decision_cache = {k: v for k, v in previous._decision_cache.items()
                                if k[0] in same_tiered}
        self._views = {k: v for k, v in previous._views.items()
                       if all(key in same for key in v.isolated_by)
                       and all(key in same_tiered for key in v.tiered_by)}
        self._selected, self._subjects = previous._selected, previous._subjects
        self._previous = previous

    @cached_property
    def _policy(self) -> dict[str, NetworkPolicy]:
        return {p.key: p for p in self.state.policies}

    @cached_property
    def _tiered(self) -> dict[str, ClusterPolicy]:
        return {p.key: p for p in self.state.cluster_policies}

    # --- sets of endpoints --------------------------------------------------------------

    def selected_by(self, policy: NetworkPolicy) -> Mask:
        """Endpoints `policy` selects: its own namespace, its pod selector (point 1);
        never hostNetwork pods (see `ClusterState.selecting`)."""
        in_namespace: Mask = self._ns_of == self._ns_id(policy.namespace)
        selected: Mask = self._labels.select(policy.pod_selector) & in_namespace & self._pods
        return selected

    def _ns_id(self, name: str) -> int:
        return self._ns_index.ids.get(name, -1)

    def peer_members(self, peer: Peer, policy_namespace: str) -> Mask:
        """Endpoints matching one `from`/`to` entry (point 5)."""
        key = (peer, policy_namespace)
        cached = self._peer_cache.get(key)
        if cached is not None:
            return cached
        if peer.ip_block is not None:
            m = self._ips_in(peer.ip_block)
        elif peer.node_selector is not None:
            # The selected nodes' addresses (ip_blocks), which are also the addresses of
            # the hostNetwork pods on those nodes.
            m = self._on_nodes(peer.node_selector)
        elif peer.domain_names:
            m = np.zeros(self.size, dtype=bool)  # names resolve at run time: no address
        else:
            if peer.namespace_selector is None:
                in_ns = self._ns_of == self._ns_id(policy_namespace)
            else:
                in_ns = np.isin(self._ns_of, self._ns_index.select(peer.namespace_selector))
            pods = (self._labels.select(peer.pod_selector) if peer.pod_selector is not None
                    else np.ones(self.size, dtype=bool))
            m = in_ns & pods & self._pods
        m.flags.writeable = False
        self._peer_cache[key] = m
        return m

    def _on_nodes(self, selector: LabelSelector) -> Mask:
        """hostNetwork pods on the nodes `selector` selects (their traffic is the node's)."""
        state = self.state
        return np.array([e.host_network and e.node is not None
                         and selector.matches(state.node_labels(e.node))
                         for e in state.endpoints], dtype=bool)

    @cached_property
    def _v4(self) -> tuple[npt.NDArray[np.int64], list[tuple[int, ipaddress.IPv6Address]]]:
        """IPv4 addresses as integers (-1: none), and the IPv6 ones as a list. A
        hostNetwork pod's addresses are its node's: ipBlocks match them as they match
        the node's."""
        v4 = np.full(self.size, -1, dtype=np.int64)
        v6: list[tuple[int, ipaddress.IPv6Address]] = []
        for i, e in enumerate(self.state.endpoints):
            for ip in e.ips:
                if isinstance(ip, ipaddress.IPv4Address):
                    v4[i] = int(ip)
                else:
                    v6.append((i, ip))
        return v4, v6

    def _ips_in(self, block: IPBlock) -> Mask:
        v4, v6 = self._v4
        m = np.zeros(self.size, dtype=bool)
        if block.cidr.version == 4:
            m = (v4 >= int(block.cidr.network_address)) & (v4 <= int(block.cidr.broadcast_address))
            for ex in block.excepts:
                if ex.version == 4:
                    m &= ~((v4 >= int(ex.network_address)) & (v4 <= int(ex.broadcast_address)))
        else:
            for i, ip in v6:
                if block.contains(ip):
                    m[i] = True
        return m

    def named_port_holders(self, name: str, protocol: Protocol) -> dict[int, Mask]:
        """For a named port: port number -> endpoints whose container port `name` with
        `protocol` has that number (point 6)."""
        key = (name, protocol)
        if key not in self._named_cache:
            by_number: dict[int, list[int]] = defaultdict(list)
            for i, e in enumerate(self.state.endpoints):
                number = e.named_port(name, protocol)
                if number is not None:
                    by_number[number].append(i)
            masks = {}
            for number, idx in sorted(by_number.items()):
                m = np.zeros(self.size, dtype=bool)
                m[idx] = True
                masks[number] = m
            self._named_cache[key] = masks
        return self._named_cache[key]

    # --- rules ---------------------------------------------------------------------------

    def rule_peers(self, policy: NetworkPolicy | ClusterPolicy, rid: RuleId,
                   rule: Rule) -> PeerSet:
        """The peers of a rule; rules whose peers are the same (the same entries, read in
        the same namespace when it matters) share one PeerSet. A tiered policy's peers
        name their namespaces themselves (no policy namespace), and its `nodes` peers
        become the selected nodes' addresses."""
        cached = self._rule_peers.get(rid)
        if cached is not None:
            return cached
        namespace = policy.namespace if isinstance(policy, NetworkPolicy) else ""
        definition = peers_definition(rule.peers, namespace)
        ps = self._peer_sets.get(definition)
        if ps is None:
            if not rule.peers:
                ps = PeerSet(True, np.ones(self.size, dtype=bool), (), definition)
            else:
                members = np.zeros(self.size, dtype=bool)
                for peer in rule.peers:
                    members |= self.peer_members(peer, namespace)
                blocks = tuple(p.ip_block for p in rule.peers if p.ip_block is not None)
                blocks += tuple(b for p in rule.peers if p.node_selector is not None
                                for b in self._node_blocks(p.node_selector))
                ps = PeerSet(False, members, blocks, definition, rule.peers, namespace)
            self._peer_sets[definition] = ps
        self._rule_peers[rid] = ps
        return ps

    def _node_blocks(self, selector: LabelSelector) -> tuple[IPBlock, ...]:
        """The addresses of the nodes `selector` selects, one block each."""
        return tuple(IPBlock(ipaddress.ip_network(ip)) for node in self.state.nodes
                     if selector.matches(node.labels) for ip in node.ips)

    def subjects_of(self, policy: ClusterPolicy) -> Mask:
        """Endpoints a tiered policy's subject selects (never hostNetwork pods)."""
        subject = policy.subject
        in_ns = np.isin(self._ns_of, self._ns_index.select(subject.namespace_selector))
        m: Mask = in_ns & self._pods
        if subject.pod_selector is not None:
            m = m & self._labels.select(subject.pod_selector)
        return m

    def _decisions(self, policy: ClusterPolicy, direction: Direction,
                   index: int) -> list[Decision]:
        """A tiered policy's rules for endpoint `index`, in order. Named ports resolve as
        for allowances: on the endpoint for ingress (so the result depends on the numbers
        it gives them), on each peer for egress."""
        endpoint = self.state.endpoints[index]
        names = (tuple(endpoint.named_port(n, p) for n, p in policy.ingress_names)
                 if direction == "ingress" else ())
        key = (policy.key, direction, names)
        cached = self._decision_cache.get(key)
        if cached is not None:
            return cached
        out: list[Decision] = []
        for r, rule in enumerate(policy.rules(direction)):
            rid = RuleId(policy.key, direction, r)
            peers = self.rule_peers(policy, rid, rule.match)
            ports = self.numeric_ports(rule.match)
            named = _named(rule.match.ports)
            if direction == "ingress":
                for p in named:
                    number = endpoint.named_port(str(p.port), p.protocol)
                    if number is not None:
                        ports = ports | PortSet.single(p.protocol, number)
            if not ports.is_empty:
                out.append(Decision(rid, rule.action, peers, ports))
            if direction == "egress":
                for p in named:
                    holding = self.named_port_holders(str(p.port), p.protocol)
                    for number, holders in holding.items():
                        members = holders & peers.members
                        if members.any():
                            out.append(Decision(rid, rule.action, PeerSet(False, members),
                                                PortSet.single(p.protocol, number), str(p.port)))
        self._decision_cache[key] = out
        return out

    @staticmethod
    @functools.lru_cache(maxsize=65536)
    def numeric_ports(rule: Rule) -> PortSet:
        """What a rule's numeric (and port-less) entries allow; ALL when it has no ports."""
        if not rule.ports:
            return ALL
        out: dict[Protocol, list[tuple[int, int]]] = defaultdict(list)
        for p in rule.ports:
            if p.port is None:
                out[p.protocol].append((1, 65535))
            elif isinstance(p.port, int):
                out[p.protocol].append((p.port, p.end_port if p.end_port is not None else p.port))
        return PortSet.of(out)

    def _allowance(self, rid: RuleId, peers: PeerSet, ports: PortSet) -> Allowance:
        key = (rid, id(peers), ports)
        a = self._allowance_cache.get(key)
        if a is None:
            a = self._allowance_cache[key] = Allowance(rid, peers, ports)
        return a

    def _ingress_allowances(self, policy: NetworkPolicy, index: int) -> list[Allowance]:
        """Ingress of endpoint `index`: named ports resolve on the endpoint itself, so the
        result depends on the policy and those numbers only."""
        endpoint = self.state.endpoints[index]
        key = (policy.key, tuple(endpoint.named_port(n, p) for n, p in policy.ingress_names))
        cached = self._ingress_cache.get(key)
        if cached is None:
            cached = self._ingress_cache[key] = list(self._ingress_of(policy, index))
        return cached

    def _ingress_of(self, policy: NetworkPolicy, index: int) -> Iterator[Allowance]:
        endpoint = self.state.endpoints[index]
        for r, rule in enumerate(policy.rules("ingress")):
            rid = RuleId(policy.key, "ingress", r)
            ports = self.numeric_ports(rule)
            for p in _named(rule.ports):
                number = endpoint.named_port(str(p.port), p.protocol)
                if number is not None:
                    ports = ports | PortSet.single(p.protocol, number)
            if not ports.is_empty:
                yield self._allowance(rid, self.rule_peers(policy, rid, rule), ports)

    def _egress_allowances(self, policy: NetworkPolicy) -> list[Allowance]:
        """Egress allowances of a policy, the same for every endpoint it selects: named
        ports resolve on the peer, so each resolved number gets the peers holding it."""
        out: list[Allowance] = []
        for r, rule in enumerate(policy.rules("egress")):
            rid = RuleId(policy.key, "egress", r)
            peers = self.rule_peers(policy, rid, rule)
            ports = self.numeric_ports(rule)
            if not ports.is_empty:
                out.append(self._allowance(rid, peers, ports))
            for p in _named(rule.ports):
                for number, holders in self.named_port_holders(str(p.port), p.protocol).items():
                    members = holders & peers.members
                    if members.any():
                        sub = PeerSet(False, members)  # outside addresses have no named ports
                        out.append(Allowance(rid, sub, PortSet.single(p.protocol, number),
                                             str(p.port)))
        return out

    def _build(self) -> None:
        masks: dict[str, tuple[NetworkPolicy, Mask]] = {}
        for policy in self.state.policies:
            known = self._selected.get(policy.key)
            masks[policy.key] = (policy, known[1] if known is not None and known[0] is policy
                                 else self.selected_by(policy))
        subjects: dict[str, tuple[ClusterPolicy, Mask]] = {}
        for tiered in self.state.cluster_policies:  # in evaluation order
            had = self._subjects.get(tiered.key)
            subjects[tiered.key] = (tiered, had[1] if had is not None and had[0] is tiered
                                    else self.subjects_of(tiered))
        todo = self._affected(masks, subjects)
        self._selected, self._subjects = masks, subjects
        selected: dict[int, list[NetworkPolicy]] = {}
        for policy, mask in masks.values():
            for i in np.flatnonzero(mask if todo is None else mask & todo).tolist():
                selected.setdefault(i, []).append(policy)
        subject_of: dict[int, list[ClusterPolicy]] = {}
        for tiered, mask in subjects.values():
            for i in np.flatnonzero(mask if todo is None else mask & todo).tolist():
                subject_of.setdefault(i, []).append(tiered)
        # Endpoints selected by the same policies (and, for ingress, resolving named ports
        # alike) share one DirectionView object: consumers may group by identity.
        for i in sorted(selected.keys() | subject_of.keys()):
            policies, tiers = selected.get(i, []), subject_of.get(i, [])
            admin = [p for p in tiers if p.tier == "Admin"]
            baseline = [p for p in tiers if p.tier == "Baseline"]
            ingress = self._view(i, "ingress", policies, admin, baseline)
            if ingress is not None:
                self.ingress[i] = ingress
            egress = self._view(i, "egress", policies, admin, baseline)
            if egress is not None:
                self.egress[i] = egress

    def _view(self, i: int, direction: Direction, policies: Sequence[NetworkPolicy],
              admin: Sequence[ClusterPolicy],
              baseline: Sequence[ClusterPolicy]) -> DirectionView | None:
        """Endpoint `i`'s view in `direction` (None: nothing decides, OPEN)."""
        isolating = [p for p in policies if p.affects(direction)]
        admin = [p for p in admin if p.rules(direction)]
        baseline = [p for p in baseline if p.rules(direction)]
        if not (isolating or admin or baseline):
            return None
        key = view_key(self.state.endpoints[i], policies, direction, admin, baseline)
        view = self._views.get(key)
        if view is not None:
            return view
        allowances: list[Allowance] = []
        for p in isolating:
            if direction == "ingress":
                allowances.extend(self._ingress_allowances(p, i))
            else:
                if p.key not in self._egress_of:
                    self._egress_of[p.key] = self._egress_allowances(p)
                allowances.extend(self._egress_of[p.key])
        view = self._views[key] = DirectionView(
            bool(isolating), tuple(p.key for p in isolating), tuple(allowances), key,
            tuple(d for p in admin for d in self._decisions(p, direction, i)),
            tuple(d for p in baseline for d in self._decisions(p, direction, i)),
            tuple(p.key for p in (*admin, *baseline)))
        return view

    def _affected(self, masks: dict[str, tuple[NetworkPolicy, Mask]],
                  subjects: dict[str, tuple[ClusterPolicy, Mask]]) -> Mask | None:
        """With a previous view of the same endpoints: the endpoints that a policy added,
        removed or replaced selects (before or after), and likewise the subjects of tiered
        policies. Every other endpoint keeps its views, taken over here; None: every view
        is to be made."""
        previous = self._previous
        if previous is None:
            return None
        affected: Mask = np.zeros(self.size, dtype=bool)
        pairs: list[tuple[dict[str, tuple[object, Mask]], dict[str, tuple[object, Mask]]]] = [
            (dict(previous._selected), dict(masks)), (dict(previous._subjects), dict(subjects))]
        for old, new in pairs:
            for before, after in ((old, new), (new, old)):
                for key, (policy, mask) in before.items():
                    other = after.get(key)
                    if other is None or other[0] is not policy:
                        affected |= mask
        self.ingress, self.egress = list(previous.ingress), list(previous.egress)
        for i in np.flatnonzero(affected).tolist():
            self.ingress[i] = self.egress[i] = OPEN
        self._previous = None  # not kept: a chain of views would never be freed
        return affected

    # --- queries -------------------------------------------------------------------------

    def view(self, key: str, direction: Direction) -> DirectionView:
        i = self.state.index[key]
        return self.ingress[i] if direction == "ingress" else self.egress[i]

    def allowed_ports(self, source: str, destination: str) -> PortSet:
        """Every (protocol, port) on which `source` may open a new connection to
        `destination` (both endpoints): egress of one, intersected with ingress of the other."""
        s, d = self.state.index[source], self.state.index[destination]
        src, dst = self.state.endpoints[s], self.state.endpoints[d]
        if (s == d and src.is_pod) or from_own_node(src, dst):
            return ALL  # loopback inside the pod; the node reaching its pod (point 11)
        return self._side_ports(self.egress[s], d) & self._side_ports(self.ingress[d], s)

    @staticmethod
    def _side_ports(view: DirectionView, other: int) -> PortSet:
        """The ports `view` allows endpoint `other` on: `decide` over sets of ports."""
        accepted, onward = _tier_ports(view.admin, other, ALL)
        if view.isolated:
            union = NONE
            for a in view.allowances:
                if a.peers.has(other):
                    union = union | a.ports
            return accepted | (onward & union)
        base_accepted, base_onward = _tier_ports(view.baseline, other, onward)
        return accepted | base_accepted | base_onward


def _tier_ports(decisions: Sequence[Decision], other: int,
                ports: PortSet) -> tuple[PortSet, PortSet]:
    """Of `ports`, those a tier accepts for `other`, and those it sends on (Pass or no
    match): the first matching decision takes each port."""
    accepted, onward, left = NONE, NONE, ports
    for d in decisions:
        if left.is_empty:
            break
        if not d.peers.has(other):
            continue
        hit = left & d.ports
        if hit.is_empty:
            continue
        left = left - d.ports
        if d.action == "Accept":
            accepted = accepted | hit
        elif d.action == "Pass":
            onward = onward | hit
    return accepted, onward | left


def peers_definition(peers: tuple[Peer, ...], namespace: str) -> str:
    """A canonical text for a list of peers: equal texts, equal peers. A pod selector
    without a namespace selector reads in the policy's namespace, so that is part of it."""
    if not peers:
        return "any peer"
    parts = []
    for p in peers:
        text = str(p)
        if p.ip_block is None and p.namespace_selector is None:
            text += f" in namespace {namespace}"
        parts.append(text)
    return "; ".join(sorted(set(parts)))


def _named(ports: tuple[PolicyPort, ...]) -> list[PolicyPort]:
    return [p for p in ports if isinstance(p.port, str)]


@dataclass
class _NamespaceIndex:
    """Namespace selectors, evaluated over the namespaces' labels."""

    state: ClusterState
    names: list[str]
    ids: dict[str, int] = field(init=False)
    _cache: dict[LabelSelector, npt.NDArray[np.int32]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.ids = {n: i for i, n in enumerate(self.names)}

    def select(self, selector: LabelSelector) -> npt.NDArray[np.int32]:
        if selector not in self._cache:
            self._cache[selector] = np.array(
                [i for i, n in enumerate(self.names)
                 if selector.matches(self.state.namespaces[n].labels)], dtype=np.int32)
        return self._cache[selector]
