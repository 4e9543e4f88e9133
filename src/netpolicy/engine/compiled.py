"""The compiled view (DESIGN.md, "engine/"): per endpoint and direction, whether it is
isolated and which (peer set x port set) pairs it allows.

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

Allowances are shared between endpoints whenever they are equal (same rule, same
resolved ports), so the view's size grows with endpoints + rules, not their product.
"""

from __future__ import annotations

import functools
import ipaddress
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

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
from netpolicy.engine.cluster import ClusterState
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


@dataclass(frozen=True, slots=True)
class DirectionView:
    isolated: bool
    isolated_by: tuple[str, ...] = ()
    allowances: tuple[Allowance, ...] = ()
    key: tuple[object, ...] = ()
    """What the view is a function of (`view_key`): endpoints with equal keys share it."""


def view_key(endpoint: Endpoint, policies: Sequence[NetworkPolicy],
             direction: Direction) -> tuple[object, ...]:
    """What an endpoint's view in `direction` depends on: the policies that select it and
    list that direction, and, for ingress, the numbers its container ports give the names
    those policies' rules use (named ports resolve on the destination: point 6)."""
    keys = tuple(p.key for p in policies if p.affects(direction))
    if direction == "egress":
        return ("egress", keys)
    names = tuple(endpoint.named_port(name, protocol) for p in policies
                  for name, protocol in p.ingress_names)
    return ("ingress", keys, names)


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
        self._ingress_cache = {k: v for k, v in previous._ingress_cache.items() if k[0] in same}
        self._egress_of = {k: v for k, v in previous._egress_of.items() if k in same}
        self._views = {k: v for k, v in previous._views.items()
                       if all(key in same for key in v.isolated_by)}
        self._selected = previous._selected
        self._previous = previous

    @cached_property
    def _policy(self) -> dict[str, NetworkPolicy]:
        return {p.key: p for p in self.state.policies}

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

    @cached_property
    def _v4(self) -> tuple[npt.NDArray[np.int64], list[tuple[int, ipaddress.IPv6Address]]]:
        """IPv4 addresses as integers (-1: none), and the IPv6 ones as a list."""
        v4 = np.full(self.size, -1, dtype=np.int64)
        v6: list[tuple[int, ipaddress.IPv6Address]] = []
        for i, e in enumerate(self.state.endpoints):
            if e.host_network:
                continue
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

    def rule_peers(self, policy: NetworkPolicy, rid: RuleId, rule: Rule) -> PeerSet:
        """The peers of a rule; rules whose peers are the same (the same entries, read in
        the same namespace when it matters) share one PeerSet."""
        cached = self._rule_peers.get(rid)
        if cached is not None:
            return cached
        definition = peers_definition(rule.peers, policy.namespace)
        ps = self._peer_sets.get(definition)
        if ps is None:
            if not rule.peers:
                ps = PeerSet(True, np.ones(self.size, dtype=bool), (), definition)
            else:
                members = np.zeros(self.size, dtype=bool)
                for peer in rule.peers:
                    members |= self.peer_members(peer, policy.namespace)
                blocks = tuple(p.ip_block for p in rule.peers if p.ip_block is not None)
                ps = PeerSet(False, members, blocks, definition, rule.peers, policy.namespace)
            self._peer_sets[definition] = ps
        self._rule_peers[rid] = ps
        return ps

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
        todo = self._affected(masks)
        self._selected = masks
        selected: dict[int, list[NetworkPolicy]] = {}
        for policy, mask in masks.values():
            for i in np.flatnonzero(mask if todo is None else mask & todo).tolist():
                selected.setdefault(i, []).append(policy)
        # Endpoints selected by the same policies (and, for ingress, resolving named ports
        # alike) share one DirectionView object: consumers may group by identity.
        egress_of, views = self._egress_of, self._views
        for i, policies in sorted(selected.items()):
            endpoint = self.state.endpoints[i]
            if any(p.affects_ingress for p in policies):
                key = view_key(endpoint, policies, "ingress")
                view = views.get(key)
                if view is None:
                    ing = [p for p in policies if p.affects_ingress]
                    allowances = [a for p in ing for a in self._ingress_allowances(p, i)]
                    view = views[key] = DirectionView(True, tuple(p.key for p in ing),
                                                      tuple(allowances), key)
                self.ingress[i] = view
            if any(p.affects_egress for p in policies):
                key = view_key(endpoint, policies, "egress")
                view = views.get(key)
                if view is None:
                    allowances = []
                    egr = [p for p in policies if p.affects_egress]
                    for p in egr:
                        if p.key not in egress_of:
                            egress_of[p.key] = self._egress_allowances(p)
                        allowances.extend(egress_of[p.key])
                    view = views[key] = DirectionView(True, tuple(p.key for p in egr),
                                                      tuple(allowances), key)
                self.egress[i] = view

    def _affected(self, masks: dict[str, tuple[NetworkPolicy, Mask]]) -> Mask | None:
        """With a previous view of the same endpoints: the endpoints that a policy added,
        removed or replaced selects (before or after). Every other endpoint keeps its
        views, taken over here; None: every view is to be made."""
        previous = self._previous
        if previous is None:
            return None
        affected: Mask = np.zeros(self.size, dtype=bool)
        for before, after in ((previous._selected, masks), (masks, previous._selected)):
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
        if s == d and self.state.endpoints[s].is_pod:
            return ALL  # loopback inside the pod (point 11)
        return self._side_ports(self.egress[s], d) & self._side_ports(self.ingress[d], s)

    @staticmethod
    def _side_ports(view: DirectionView, other: int) -> PortSet:
        if not view.isolated:
            return ALL
        out = NONE
        for a in view.allowances:
            if a.peers.has(other):
                out = out | a.ports
        return out


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
