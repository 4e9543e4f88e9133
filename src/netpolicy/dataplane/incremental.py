"""A change of pods, applied to a rendered program without rendering it again.

Pods come and go far more often than policies change. When only pods changed (the same
policies, tiered policies, namespaces and node), the program's structure — its chains,
port sets and counters — stays as it is; what moves is data: the addresses in the peer
and named-port sets, the node's known pods, and the verdict-map entries of the node's
judged pods (those a NetworkPolicy isolates or a tiered policy selects). `update`
recomputes just those, for just the changed pods, with the engine's own judgement of one
party (`peer_matches`, `ClusterState.selecting`, `view_key`), so the result is the
program `render` would produce (the tests check exactly that).

Anything it cannot place — a new combination of policies for a local pod (a group chain
the program lacks), a set that would appear or disappear (a rule that would be added or
left out), many changes at once — returns None, and the caller renders in full.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from netpolicy.api.objects import Endpoint
from netpolicy.dataplane.policy import (
    _PROTO,
    NamedSetInfo,
    NodeScope,
    PeerSetInfo,
    RenderIndex,
)
from netpolicy.dataplane.program import MapSpec, Program, SetSpec
from netpolicy.engine import ClusterState
from netpolicy.engine.compiled import view_key
from netpolicy.engine.verdict import peer_matches

MAX_CHANGED = 64
"""Beyond this many changed pods, a full render is as quick and simpler."""


def _matches(state: ClusterState, peers: Iterable[object], namespace: str, e: Endpoint) -> bool:
    return any(peer_matches(state, p, namespace, e) for p in peers)  # type: ignore[arg-type]


def _addresses(e: Endpoint | None, version: int) -> list[str]:
    if e is None or e.host_network or not e.is_pod:
        return []
    return [str(ip) for ip in e.ips if ip.version == version]


def _peer_elements(state: ClusterState, info: PeerSetInfo, e: Endpoint | None) -> set[str]:
    if e is None or not _matches(state, info.peers, info.namespace, e):
        return set()
    if e.host_network or not e.is_pod:
        return set()
    return {str(ip) for ip in e.ips if ip.version == info.version
            and not any(lo <= int(ip) <= hi for lo, hi in info.ranges)}


def _named_elements(state: ClusterState, info: NamedSetInfo, e: Endpoint | None) -> set[str]:
    if e is None or (info.peers and not _matches(state, info.peers, info.namespace, e)):
        return set()
    out: set[str] = set()
    for name, protocol in info.ports:
        number = e.named_port(name, protocol)  # type: ignore[arg-type]
        if number is not None:
            out.update(f"{ip} . {_PROTO[protocol]} . {number}" for ip in _addresses(e, info.version))
    return out


def update(program: Program, old: ClusterState, new: ClusterState, scope: NodeScope,
           node: str) -> Program | None:
    """`program` (rendered for `old`) changed to what `render` gives for `new`, when only
    pods changed; None when a full render is needed."""
    index = program.index
    if not isinstance(index, RenderIndex) or index.scope.pod_cidrs != scope.pod_cidrs:
        return None
    if (old.policies != new.policies or old.namespaces != new.namespaces
            or old.cluster_policies != new.cluster_policies):
        return None
    if new.cluster_policies and old.nodes != new.nodes:
        return None  # `nodes` peers match node addresses
    before = {e.key: e for e in old.endpoints}
    after = {e.key: e for e in new.endpoints}
    changed = [k for k in before.keys() | after.keys() if before.get(k) != after.get(k)]
    if len(changed) > MAX_CHANGED:
        return None
    if not changed:
        return program

    sets = dict(program.sets)

    def patch(name: str, remove: set[str], add: set[str]) -> bool:
        """Apply to set `name`; False when it would appear or become empty."""
        current = sets.get(name)
        elements = set(current.elements) if current is not None else set()
        elements = (elements - remove) | add
        if current is None:
            return not elements
        if not elements:
            return False
        if elements != current.elements:
            sets[name] = SetSpec(current.type, current.flags, frozenset(elements), current.comment)
        return True

    for name, info in index.peer_sets.items():
        remove, add = set(), set()
        for k in changed:
            remove |= _peer_elements(old, info, before.get(k))
            add |= _peer_elements(new, info, after.get(k))
        if (remove or add) and not patch(name, remove - add, add):
            return None
    for name, named in index.named_sets.items():
        remove, add = set(), set()
        for k in changed:
            remove |= _named_elements(old, named, before.get(k))
            add |= _named_elements(new, named, after.get(k))
        if (remove or add) and not patch(name, remove - add, add):
            return None

    maps = {name: dict(m.entries) for name, m in program.maps.items()}
    known = {v: set(sets[f"known_pods{v}"].elements) for v in (4, 6)}
    hairpin = {v: set(sets[f"hairpin{v}"].elements) for v in (4, 6)}
    for k in changed:  # the node's own pods: drop what the old versions had ...
        e = before.get(k)
        if e is not None and e.node == node:
            for v in (4, 6):
                for ip in _addresses(e, v):
                    known[v].discard(ip)
                    hairpin[v].discard(f"{ip} . {ip}")
                    maps[f"egress_pods{v}"].pop(ip, None)
                    maps[f"ingress_pods{v}"].pop(ip, None)
    for k in changed:  # ... then add what the new ones have
        e = after.get(k)
        if e is None or e.node != node or not _addresses(e, 4) + _addresses(e, 6):
            continue
        selecting = new.selecting(e)
        admin, baseline = new.subject_of(e, "Admin"), new.subject_of(e, "Baseline")
        chains = {}
        for direction in ("egress", "ingress"):
            # As `policy.judged`: isolated, or the subject of a tiered policy this way.
            if any(p.affects(direction) for p in selecting) or any(
                    p.rules(direction) for p in (*admin, *baseline)):
                chain = index.groups.get(view_key(e, selecting, direction, admin, baseline))
                if chain is None:
                    return None  # a combination of policies the program has no chain for
                chains[direction] = chain
        for v in (4, 6):
            for ip in _addresses(e, v):
                known[v].add(ip)
                hairpin[v].add(f"{ip} . {ip}")
                for direction, chain in chains.items():
                    maps[f"{direction}_pods{v}"][ip] = f"jump {chain}"
    used = {target.removeprefix("jump ") for m in maps.values() for target in m.values()}
    if used != set(index.groups.values()):
        return None  # a group chain lost its last pod: the program loses it too
    for v in (4, 6):
        for name, elements in ((f"known_pods{v}", known[v]), (f"hairpin{v}", hairpin[v])):
            spec = sets[name]
            if elements != spec.elements:
                sets[name] = SetSpec(spec.type, spec.flags, frozenset(elements), spec.comment)
    new_maps: Mapping[str, MapSpec] = {
        name: (m if maps[name] == m.entries else
               MapSpec(m.type, m.value_type, m.flags, maps[name], m.comment))
        for name, m in program.maps.items()}
    return Program(program.family, program.table, sets, new_maps, program.chains,
                   program.comment, program.notes, program.counters, index)
