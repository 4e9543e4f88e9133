"""The policies of one node, as an nftables program (a pure function of the compiled view).

The node routes its pods' traffic at L3, so every connection into or out of a local pod
crosses the node's `forward` hook (a pod reaching the node itself crosses `input`;
the node reaching its pods leaves through `output`, which we leave alone: point 11).
The program, in table `inet netpol`:

    chain forward  (hook forward, priority filter)
        ct state established,related accept          # replies need no rule (point 9)
        jump egress                                   # the client's consent (point 7) ...
        jump ingress                                  # ... and the server's
    chain input    (hook input): established accept; jump egress
    chain egress
        ip saddr vmap @egress_pods4                   # a judged local pod -> its group chain
        ip saddr <node pod CIDR> ip saddr != @known_pods4 drop   # not programmed yet
    chain ingress  (the same with daddr)
    chain eg_<hash>                                   # one per distinct list of decisions
        ip daddr @p4_<peers> tcp dport 53 counter goto eg_r_<hash>   # admin tier (T1), Pass (T3)
        ip daddr @p4_<peers> counter drop             # an admin Deny; Accept is `return`
        goto eg_r_<hash>                              # (only where a Pass exists)
    chain eg_r_<hash>                                 # what follows the admin tier (T2):
        ip saddr . ip daddr @hairpin4 return          #   NetworkPolicy where it isolates:
        tcp dport 80 ip daddr @p4_<peers> counter return          # one port: inline
        ip daddr @p4_<peers> meta l4proto . th dport @t_<ports> counter return
        ip daddr . meta l4proto . th dport @n4_<rule> counter return   # named ports
        counter drop
                                                      #   else the baseline decisions, then
                                                      #   `return` (allowed by default)
    chain in_<hash>  (the same with saddr, and accept)

A direction gets a group chain when NetworkPolicy isolates it or a tiered policy with
rules that way selects it (`judged`); without an admin Pass, the admin decisions and
what follows share one chain. The hairpin rule (a pod reaching itself through a Service,
point 12) belongs to the NetworkPolicy part: the tiers judge that connection first.

Sizes grow with pods + rules, never with pod pairs: a peer set per rule (pod addresses
its selectors match, ipBlock ranges minus their excepts, admin networks and node
addresses), a port set per distinct port set, named ports as address . protocol . port
elements, one group chain per distinct list of decisions, and one verdict-map entry per
judged local pod. Sets are named after what they stand for (the rule), chains after their
content, so a change to one pod or one policy changes a few elements and chains, and
`program.transition` applies just that.

Unknown local addresses fail closed: a pod the program does not know yet (its policies
not computed) is dropped, so a pod becoming selected is never open before its rules
are in place.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from netpolicy.api.objects import Endpoint, IPBlock, IPNetwork, Peer, Rule
from netpolicy.dataplane.nft import Chain, ChainType, Family, Hook, Priority
from netpolicy.dataplane.program import ChainSpec, MapSpec, Program, SetSpec
from netpolicy.engine import Allowance, CompiledView, Decision, DirectionView, PortSet, RuleId

TABLE = "netpol"
_PROTO = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}
_FAMILIES = ((4, "ip", "ipv4_addr"), (6, "ip6", "ipv6_addr"))


@functools.lru_cache(maxsize=1 << 16)
def _h(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _ranges_to_elements(ranges: Iterable[tuple[int, int]], version: int) -> frozenset[str]:
    """Disjoint, merged intervals as nft interval-set elements (prefixes where they fit)."""
    merged: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    addr = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    out: set[str] = set()
    for lo, hi in merged:
        for net in ipaddress.summarize_address_range(addr(lo), addr(hi)):
            out.add(str(net.network_address) if net.num_addresses == 1 else str(net))
    return frozenset(out)


@functools.lru_cache(maxsize=4096)
def _block_elements(blocks: tuple[IPBlock, ...], version: int) -> frozenset[str]:
    """The set elements of some ipBlocks (the same blocks recur across rules)."""
    return _ranges_to_elements([r for b in blocks for r in block_ranges(b)], version)


def block_ranges(block: IPBlock) -> list[tuple[int, int]]:
    """An ipBlock as disjoint integer ranges: the CIDR minus its excepts (point 5)."""
    ranges = [(int(block.cidr.network_address), int(block.cidr.broadcast_address))]
    for ex in block.excepts:
        if ex.version != block.cidr.version:
            continue
        lo, hi = int(ex.network_address), int(ex.broadcast_address)
        out = []
        for a, b in ranges:
            if hi < a or lo > b:
                out.append((a, b))
                continue
            if a < lo:
                out.append((a, lo - 1))
            if hi < b:
                out.append((hi + 1, b))
        ranges = out
    return ranges


def port_elements(ports: PortSet) -> frozenset[str]:
    return frozenset(
        f"{_PROTO[p]} . {lo}" if lo == hi else f"{_PROTO[p]} . {lo}-{hi}"
        for p, intervals in ports.ranges for lo, hi in intervals)


@dataclass(frozen=True)
class PeerSetInfo:
    """How a peer set's elements are made: the addresses (of `version`) of the parties
    `peers` (read in `namespace`) match, less those inside `ranges` (the ipBlocks' own
    elements cover them)."""

    version: int
    peers: tuple[Peer, ...]
    namespace: str
    ranges: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class NamedSetInfo:
    """How a named-port set's elements are made: `address . protocol . number` for the
    parties the rule's peers match, for each named port they hold (resolved on them)."""

    version: int
    peers: tuple[Peer, ...]
    namespace: str
    ports: tuple[tuple[str, str], ...]  # (name, protocol)


@dataclass(frozen=True)
class RenderIndex:
    """Where each part of a rendered program came from, so that a change of pods alone can
    be applied to the program without rendering it again (`netpolicy.dataplane.incremental`).
    Sets are listed whether or not they exist (an empty set is left out of the program)."""

    peer_sets: Mapping[str, PeerSetInfo]
    named_sets: Mapping[str, NamedSetInfo]
    groups: Mapping[tuple[object, ...], str]  # DirectionView.key -> group chain
    scope: NodeScope


@dataclass(frozen=True)
class NodeScope:
    """What the program is for: the node's pods (endpoint indexes) and its pod CIDRs."""

    local: frozenset[int]
    pod_cidrs: tuple[IPNetwork, ...] = ()


Request = tuple[object, ...]
PeerSetProduct = tuple[str, PeerSetInfo, "SetSpec | None"]
"""What a peer set adds to a program: its name, how its elements are made, the set (None:
empty, left out)."""


class RenderCache:
    """What one render can hand the next, for the parts whose inputs are the very same
    objects (the compiled view keeps the identity of what a change did not touch): the
    elements of a peer set (by its PeerSet), and a group chain with the set and counter
    requests that make its text (by its DirectionView). Entries not used by a render are
    dropped after it."""

    def __init__(self) -> None:
        self.peer_sets: dict[tuple[int, int], tuple[object, PeerSetProduct]] = {}
        self.named_elements: dict[tuple[object, ...], tuple[object, frozenset[str]]] = {}
        self.chains: dict[tuple[int, bool], tuple[DirectionView, str, tuple[str, ...],
                                                  list[Request]]] = {}
        self._used: set[tuple[object, ...]] = set()
        self._addresses: dict[int, tuple[Endpoint, tuple[tuple[int, str, str], ...]]] = {}
        self._used_addresses: set[int] = set()

    def addresses(self, endpoint: Endpoint) -> tuple[tuple[int, str, str], ...]:
        """(family, address, `address . address`) of each of an endpoint's addresses:
        text made once per endpoint object (unchanged pods keep theirs across snapshots)."""
        cached = self._addresses.get(id(endpoint))
        if cached is None or cached[0] is not endpoint:
            texts = tuple((ip.version, str(ip), f"{ip} . {ip}") for ip in endpoint.ips)
            cached = self._addresses[id(endpoint)] = (endpoint, texts)
        self._used_addresses.add(id(endpoint))
        return cached[1]

    def use(self, kind: str, key: tuple[object, ...]) -> None:
        self._used.add((kind, *key))

    def prune(self) -> None:
        used = self._used
        self.peer_sets = {k: v for k, v in self.peer_sets.items() if ("p", *k) in used}
        self.named_elements = {k: v for k, v in self.named_elements.items() if ("n", *k) in used}
        self.chains = {k: v for k, v in self.chains.items() if ("c", *k) in used}
        self._used = set()
        self._addresses = {k: v for k, v in self._addresses.items() if k in self._used_addresses}
        self._used_addresses = set()


class _Builder:
    def __init__(self, view: CompiledView, cache: RenderCache | None = None) -> None:
        self.view = view
        self.cache = cache or RenderCache()
        self._requests: list[Request] | None = None
        self.sets: dict[str, SetSpec] = {}
        self.chains: dict[str, ChainSpec] = {}
        self.notes: dict[str, str] = {}
        self.counters: dict[str, str | None] = {}
        self._peer_sets: dict[tuple[str, int], str | None] = {}
        self.peer_infos: dict[str, PeerSetInfo] = {}
        self.policies = {p.key: p for p in view.state.policies}
        self.tiered = {p.key: p for p in view.state.cluster_policies}
        self.named_infos: dict[str, NamedSetInfo] = {}
        self.groups: dict[tuple[object, ...], str] = {}
        self._groups: dict[tuple[int, bool], str] = {}
        self._port_sets: dict[PortSet, str] = {}
        # Each endpoint's addresses per family, as integers and as text, computed once.
        self._ips: dict[int, list[list[tuple[int, str]]]] = {}

    @functools.cached_property
    def _v4(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.object_]]:
        """Every endpoint's IPv4 address as an integer (-1: none) and as text."""
        numbers = np.full(self.view.size, -1, dtype=np.int64)
        texts = np.full(self.view.size, "", dtype=object)
        for i, e in enumerate(self.view.state.endpoints):
            if e.host_network:
                continue
            for ip in e.ips:
                if ip.version == 4:
                    numbers[i], texts[i] = int(ip), str(ip)
        return numbers, texts

    @functools.cached_property
    def _has_v6(self) -> npt.NDArray[np.bool_]:
        return np.array([not e.host_network and any(ip.version == 6 for ip in e.ips)
                         for e in self.view.state.endpoints], dtype=bool)

    def ips(self, index: int, version: int) -> list[tuple[int, str]]:
        if index not in self._ips:
            e = self.view.state.endpoints[index]
            by_family: list[list[tuple[int, str]]] = [[], [], [], [], [], [], []]
            if not e.host_network:
                for ip in e.ips:
                    by_family[ip.version].append((int(ip), str(ip)))
            self._ips[index] = by_family
        return self._ips[index][version]

    def peer_set(self, a: Allowance | Decision, version: int) -> str | None:
        """Name of the set of peer addresses of `a` in one IP family (None: empty). One set
        per distinct peer definition: rules with the same peers share it. Pods only: a
        plain set of addresses; with ipBlocks: an interval set (nft loads interval sets
        whole for every change, so they are used only where ranges need them)."""
        if self._requests is not None:
            self._requests.append(("peer", a, version))
        key = (a.peers.definition, version)
        if key in self._peer_sets:
            return self._peer_sets[key]
        cache_key = (id(a.peers), version)
        cached = self.cache.peer_sets.get(cache_key)
        self.cache.use("p", cache_key)
        if cached is not None and cached[0] is a.peers:
            product = cached[1]
        else:
            product = self._peer_set_product(a, version)
            self.cache.peer_sets[cache_key] = (a.peers, product)
        name, info, spec = product
        self.peer_infos[name] = info
        if spec is not None:
            self.sets[name] = spec
            self.note(a.peers.definition)
        self._peer_sets[key] = name if spec is not None else None
        return self._peer_sets[key]

    def _peer_set_product(self, a: Allowance | Decision, version: int) -> PeerSetProduct:
        blocks = tuple(b for b in a.peers.ip_blocks if b.cidr.version == version)
        ranges = [r for b in blocks for r in block_ranges(b)]
        elements = self._peer_elements(a, version, blocks, ranges)
        name = f"p{version}{'r' if blocks else ''}_{_h(a.peers.definition)}"
        info = PeerSetInfo(version, a.peers.peers, a.peers.namespace, tuple(sorted(ranges)))
        addr_type = "ipv4_addr" if version == 4 else "ipv6_addr"
        spec = SetSpec(addr_type, ("interval",) if blocks else (), frozenset(elements),
                       self.note(a.peers.definition)) if elements else None
        return name, info, spec

    def _peer_elements(self, a: Allowance | Decision, version: int, blocks: tuple[IPBlock, ...],
                       ranges: list[tuple[int, int]]) -> set[str]:
        elements = set(_block_elements(blocks, version)) if blocks else set()
        if version == 4:
            # Vectorized: the members' IPv4 addresses, less those inside a block (already
            # there: the intervals of a set must not overlap).
            numbers, texts = self._v4
            idx = np.flatnonzero(a.peers.members & (numbers >= 0))
            if ranges:
                inside = np.zeros(len(idx), dtype=bool)
                for lo, hi in ranges:
                    inside |= (numbers[idx] >= lo) & (numbers[idx] <= hi)
                idx = idx[~inside]
            elements.update(texts[idx].tolist())
        else:
            starts = sorted(ranges)
            for i in np.flatnonzero(a.peers.members & self._has_v6).tolist():
                for number, text in self.ips(i, version):
                    k = bisect.bisect_right(starts, (number, 1 << 129)) - 1
                    if k < 0 or not starts[k][0] <= number <= max(h for _, h in starts[: k + 1]):
                        elements.add(text)
        return elements

    def counter(self, kind: str, text: str) -> str:
        """`counter name "..."` for a named counter standing for `text` (a rule, or the
        policies isolating a group); `notes` maps the counter's name back to `text`."""
        if self._requests is not None:
            self._requests.append(("counter", kind, text))
        name = f"{kind}_{_h(text)}"
        if name not in self.counters:
            self.counters[name] = self.note(text)
            self.notes[name] = text
        return f'counter name "{name}"'

    def note(self, text: str) -> str:
        """A comment for nft (at most 128 characters); `notes` maps it back to `text`."""
        comment = text if len(text) <= 120 else f"{text[:100]}... {_h(text)}"
        self.notes[comment] = text
        return comment

    def port_match(self, ports: PortSet) -> str:
        """The rule's port condition (with a trailing space; empty for all ports). One
        protocol and one port or range is matched inline (`tcp dport 80`: two compares);
        otherwise a shared set of protocol . port (a hash lookup; a pipapo lookup, slower,
        only where ranges need intervals)."""
        if ports.is_all:
            return ""
        if len(ports.ranges) == 1 and len(ports.ranges[0][1]) == 1:
            [(protocol, [(lo, hi)])] = ports.ranges
            return f"{_PROTO[protocol]} dport {lo if lo == hi else f'{lo}-{hi}'} "
        return f"meta l4proto . th dport @{self.port_set(ports)} "

    def port_set(self, ports: PortSet) -> str:
        if self._requests is not None:
            self._requests.append(("port", ports))
        name = self._port_sets.get(ports)
        if name is None:
            name = self._port_sets[ports] = f"t_{_h(str(ports))}"
            ranges = any(lo < hi for _, intervals in ports.ranges for lo, hi in intervals)
            self.sets[name] = SetSpec("inet_proto . inet_service", ("interval",) if ranges else (),
                                      port_elements(ports), self.note(str(ports)))
        return name

    def rule_of(self, rid: RuleId) -> tuple[Rule, str]:
        """The rule `rid` names, and the namespace its peers are read in ("" for a tiered
        policy: its peers carry their own namespace selectors)."""
        tiered = self.tiered.get(rid.policy)
        if tiered is not None:
            return tiered.rules(rid.direction)[rid.rule].match, ""
        policy = self.policies[rid.policy]
        return policy.rules(rid.direction)[rid.rule], policy.namespace

    def named_set(self, rid: RuleId, allowances: Sequence[Allowance | Decision],
                  version: int) -> str | None:
        """Address . protocol . port elements of a rule's named ports, resolved per peer."""
        if self._requests is not None:
            self._requests.append(("named", rid, allowances, version))
        cache_key = (str(rid), version, *(id(a.peers) for a in allowances))
        self.cache.use("n", cache_key)
        cached = self.cache.named_elements.get(cache_key)
        if cached is not None and cached[0] == [a.peers for a in allowances]:
            elements: set[str] | frozenset[str] = cached[1]
        else:
            elements = set()
            for a in allowances:
                [(protocol, [(port, _)])] = a.ports.ranges
                for i in _members(a):
                    for _, text in self.ips(i, version):
                        elements.add(f"{text} . {_PROTO[protocol]} . {port}")
            self.cache.named_elements[cache_key] = ([a.peers for a in allowances],
                                                    frozenset(elements))
        name = f"n{version}_{_h(f'{rid.policy} {rid.direction} {rid.rule}')}"
        rule, namespace = self.rule_of(rid)
        self.named_infos[name] = NamedSetInfo(
            version, rule.peers, namespace,
            tuple((str(p.port), p.protocol) for p in rule.ports if isinstance(p.port, str)))
        if not elements:
            return None
        addr_type = "ipv4_addr" if version == 4 else "ipv6_addr"
        self.sets[name] = SetSpec(f"{addr_type} . inet_proto . inet_service", (),
                                  frozenset(elements), self.note(f"{rid} named ports"))
        return name

    def group_chain(self, view: DirectionView, egress: bool) -> str:
        """The chain judging new connections of pods with these allowances (one per
        distinct view: the compiled view shares view objects between endpoints)."""
        name = self._groups.get((id(view), egress))
        if name is None:
            key = (id(view), egress)
            self.cache.use("c", key)
            cached = self.cache.chains.get(key)
            if cached is not None and cached[0] is view:
                _, name, rules, requests = cached
                self._replay(requests)
                self.chains[name] = ChainSpec(Chain(name), rules)
            else:
                self._requests = []
                name = self._group_chain(view, egress)
                self.cache.chains[key] = (view, name, self.chains[name].rules, self._requests)
                self._requests = None
            self._groups[key] = name
            self.groups[view.key] = name
        return name

    def _replay(self, requests: list[Request]) -> None:
        """Make the sets, counters and notes a cached chain's rules refer to."""
        for request in requests:
            kind = request[0]
            if kind == "peer":
                self.peer_set(request[1], request[2])  # type: ignore[arg-type]
            elif kind == "port":
                self.port_set(request[1])  # type: ignore[arg-type]
            elif kind == "named":
                self.named_set(request[1], request[2], request[3])  # type: ignore[arg-type]
            elif kind == "chain":
                self.chains[request[1]] = ChainSpec(Chain(request[1]), request[2])  # type: ignore[index,arg-type]
            else:
                self.counter(request[1], request[2])  # type: ignore[arg-type]

    def _group_chain(self, view: DirectionView, egress: bool) -> str:
        """The tiers in order (docs/design.md, "Tiered cluster policies"): the admin
        decisions, then NetworkPolicy where it isolates, else the baseline decisions, then
        the default. An admin Pass skips the rest of its tier: it goes to a second chain
        holding what follows the admin tier."""
        consent = "return" if egress else "accept"  # the egress side consents: ingress next
        prefix = "eg" if egress else "in"
        admin = [k for k in view.tiered_by if self.tiered[k].tier == "Admin"]
        baseline = [k for k in view.tiered_by if self.tiered[k].tier == "Baseline"]
        if view.isolated:
            rest = self._network_policy_rules(view, egress)
        else:
            rest = self._decision_rules(view.baseline, baseline, egress, consent)
            rest.append(consent)  # nothing decided: allowed
        if not any(d.action == "Pass" for d in view.admin):
            rules = self._decision_rules(view.admin, admin, egress, "") + rest
        else:
            after = f"{prefix}r_{_h(chr(10).join(rest))}"
            self.chains[after] = ChainSpec(Chain(after), tuple(rest))
            if self._requests is not None:  # a cached group chain brings this one along
                self._requests.append(("chain", after, tuple(rest)))
            rules = self._decision_rules(view.admin, admin, egress, f"goto {after}")
            rules.append(f"goto {after}")
        name = f"{prefix}_{_h(chr(10).join(rules))}"
        self.chains[name] = ChainSpec(Chain(name), tuple(rules))
        return name

    def _decision_rules(self, decisions: Sequence[Decision], policies: Sequence[str],
                        egress: bool, passing: str) -> list[str]:
        """One tier's decisions (of `policies`) as rules, in order, each counted: Accept
        consents, Deny drops, Pass does `passing` (on to the next tier)."""
        field = "daddr" if egress else "saddr"
        consent = "return" if egress else "accept"
        rules: list[str] = []
        done_named: set[RuleId] = set()
        for d in decisions:
            verdict = {"Accept": consent, "Deny": "drop", "Pass": passing}[d.action]
            text = f"{d.rule} {d.action}"
            if d.named_port is not None:
                # Egress named ports: one rule per tiered rule, at the rule's place (the
                # decisions of one rule are adjacent and share its action).
                if d.rule in done_named:
                    continue
                done_named.add(d.rule)
                group = [x for x in decisions if x.rule == d.rule and x.named_port is not None]
                for version, proto, _ in _FAMILIES:
                    named = self.named_set(d.rule, group, version)
                    if named is not None:
                        rules.append(f"{proto} {field} . meta l4proto . th dport @{named} "
                                     f"{self.counter('t', text)} {verdict}")
                continue
            port = self.port_match(d.ports)
            if d.peers.everything:
                rules.append(f"{port}{self.counter('t', text)} {verdict}")
                continue
            for version, proto, _ in _FAMILIES:
                peers = self.peer_set(d, version)
                if peers is not None:
                    match = (f"{port}{proto} {field} @{peers} " if "@" not in port
                             else f"{proto} {field} @{peers} {port}")
                    rules.append(f"{match}{self.counter('t', text)} {verdict}")
        if egress:
            self._no_holders(policies, done_named)
        return rules

    def _no_holders(self, policies: Iterable[str], rendered: set[RuleId]) -> None:
        """Egress named-port rules that no pod resolves yet have no set and no rule; the
        index still lists their sets, so that a pod change making a holder appear is seen
        (the set would appear: a full render)."""
        for key in policies:
            tiered = self.tiered.get(key)
            rules = ([t.match for t in tiered.egress] if tiered is not None
                     else list(self.policies[key].egress))
            for r, match in enumerate(rules):
                rid = RuleId(key, "egress", r)
                if rid not in rendered and any(isinstance(p.port, str) for p in match.ports):
                    for version in (4, 6):
                        self.named_set(rid, (), version)

    def _network_policy_rules(self, view: DirectionView, egress: bool) -> list[str]:
        """An isolated direction: a pod reaching itself through a Service (hairpin) is
        allowed (point 12), then any allowance, else drop."""
        field, verdict = ("daddr", "return") if egress else ("saddr", "accept")
        rules = [f"ip saddr . ip daddr @hairpin4 {verdict}",
                 f"ip6 saddr . ip6 daddr @hairpin6 {verdict}"]
        named: dict[RuleId, list[Allowance]] = {}
        for a, ports, rids in _merged(view.allowances):
            if a.named_port is not None:
                named.setdefault(a.rule, []).append(a)
                continue
            # A counter only where a rule uses it (peers may be empty in every family).
            text = ", ".join(str(r) for r in rids)
            port = self.port_match(ports)
            if a.peers.everything:
                rules.append(f"{port}{self.counter('a', text)} {verdict}")
                continue
            for version, proto, _ in _FAMILIES:
                peers = self.peer_set(a, version)
                if peers is not None:
                    # Cheapest test first: an inline port (two compares) before the
                    # address lookup, which is cheaper than a port-set lookup (pipapo).
                    match = (f"{port}{proto} {field} @{peers} " if "@" not in port
                             else f"{proto} {field} @{peers} {port}")
                    rules.append(f"{match}{self.counter('a', text)} {verdict}")
        for rid, group in named.items():
            for version, proto, _ in _FAMILIES:
                name = self.named_set(rid, group, version)
                if name is not None:
                    rules.append(f"{proto} {field} . meta l4proto . th dport @{name} "
                                 f"{self.counter('a', str(rid))} {verdict}")
        if egress:
            self._no_holders(view.isolated_by, set(named))
        rules.append(f"{self.counter('d', 'isolated by ' + ', '.join(view.isolated_by))} drop")
        return rules


def _merged(allowances: Sequence[Allowance]) -> list[tuple[Allowance, PortSet, list[RuleId]]]:
    """The allowances as few rules as the counters allow, each (an allowance standing for
    its peers, the ports, the rules): one policy's rules with the same peers become one
    rule of their ports' union, and rules of several policies with the same peers and
    ports become one rule, counted for the first (it is the one that would match first).
    Every rule a new connection walks past costs it time (about 1 µs per 20 rules here);
    the order of a group chain's rules does not matter, as each one only allows.
    Named-port allowances pass through unmerged (their sets are per rule)."""
    by_policy: dict[tuple[str, str], tuple[Allowance, PortSet, list[RuleId]]] = {}
    out: list[tuple[Allowance, PortSet, list[RuleId]]] = []
    for a in allowances:
        if a.named_port is not None:
            out.append((a, a.ports, [a.rule]))
            continue
        key = (a.peers.definition, a.rule.policy)
        if key in by_policy:
            first, ports, rids = by_policy[key]
            by_policy[key] = (first, ports | a.ports, rids if a.rule in rids else [*rids, a.rule])
        else:
            by_policy[key] = (a, a.ports, [a.rule])
    same: dict[tuple[str, PortSet], tuple[Allowance, PortSet, list[RuleId]]] = {}
    for a, ports, rids in by_policy.values():
        shared = (a.peers.definition, ports)
        if shared in same:
            same[shared][2].extend(rids)
        else:
            same[shared] = (a, ports, list(rids))
    return list(same.values()) + out


def _members(a: Allowance | Decision) -> list[int]:
    return [int(i) for i in a.peers.members.nonzero()[0]] if not a.peers.everything else []


def judged(view: DirectionView) -> bool:
    """Does this direction of a pod get a group chain? When NetworkPolicy isolates it or a
    tiered policy with rules this way selects it; otherwise every connection is allowed."""
    return view.isolated or bool(view.tiered_by)


def render(view: CompiledView, scope: NodeScope, cache: RenderCache | None = None) -> Program:
    """The node's whole program: see the module docstring. `cache`, kept from one render
    to the next, saves recomputing what the compiled view kept unchanged."""
    b = _Builder(view, cache)
    egress_pods: dict[int, dict[str, str]] = {4: {}, 6: {}}
    ingress_pods: dict[int, dict[str, str]] = {4: {}, 6: {}}
    known: dict[int, set[str]] = {4: set(), 6: set()}
    hairpin: dict[int, set[str]] = {4: set(), 6: set()}
    for i in sorted(scope.local):
        endpoint = view.state.endpoints[i]
        if endpoint.host_network:
            continue
        group: dict[str, str] = {}
        if judged(view.egress[i]):
            group["egress"] = b.group_chain(view.egress[i], egress=True)
        if judged(view.ingress[i]):
            group["ingress"] = b.group_chain(view.ingress[i], egress=False)
        for version, key, pair in b.cache.addresses(endpoint):
            known[version].add(key)
            hairpin[version].add(pair)
            if "egress" in group:
                egress_pods[version][key] = f"jump {group['egress']}"
            if "ingress" in group:
                ingress_pods[version][key] = f"jump {group['ingress']}"

    sets = dict(b.sets)
    maps: dict[str, MapSpec] = {}
    for version, _, addr_type in _FAMILIES:
        sets[f"known_pods{version}"] = SetSpec(addr_type, (), frozenset(known[version]),
                                               "local pods the program knows")
        sets[f"hairpin{version}"] = SetSpec(f"{addr_type} . {addr_type}", (),
                                            frozenset(hairpin[version]), "pod to itself")
        maps[f"egress_pods{version}"] = MapSpec(addr_type, "verdict", (),
                                                egress_pods[version], "isolated for egress")
        maps[f"ingress_pods{version}"] = MapSpec(addr_type, "verdict", (),
                                                 ingress_pods[version], "isolated for ingress")

    egress_rules, ingress_rules = [], []
    for version, proto, _ in _FAMILIES:
        egress_rules.append(f"{proto} saddr vmap @egress_pods{version}")
        ingress_rules.append(f"{proto} daddr vmap @ingress_pods{version}")
    for cidr in scope.pod_cidrs:
        proto = "ip" if cidr.version == 4 else "ip6"
        egress_rules.append(f"{proto} saddr {cidr} {proto} saddr != @known_pods{cidr.version} "
                            f"{b.counter('u', 'unknown local pod')} drop")
        ingress_rules.append(f"{proto} daddr {cidr} {proto} daddr != @known_pods{cidr.version} "
                             f"{b.counter('u', 'unknown local pod')} drop")
    established = "ct state established,related accept"
    chains = {
        "forward": ChainSpec(Chain("forward", ChainType.FILTER, Hook.FORWARD, Priority.FILTER,
                                   "accept"),
                             (established, "jump egress", "jump ingress")),
        "input": ChainSpec(Chain("input", ChainType.FILTER, Hook.INPUT, Priority.FILTER, "accept"),
                           (established, "jump egress")),
        "egress": ChainSpec(Chain("egress"), tuple(egress_rules)),
        "ingress": ChainSpec(Chain("ingress"), tuple(ingress_rules)),
        **b.chains,
    }
    b.cache.prune()
    return Program(Family.INET, TABLE, sets, maps, chains, "netpolicy: NetworkPolicy enforcement",
                   b.notes, b.counters, RenderIndex(b.peer_infos, b.named_infos, b.groups, scope))


def local_endpoints(view: CompiledView, node: str) -> frozenset[int]:
    return frozenset(i for i, e in enumerate(view.state.endpoints)
                     if e.node == node and e.is_pod)
