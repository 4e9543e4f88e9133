"""Reachability for every ordered pair of endpoints, from the compiled view.

The port space is split into *atoms*: maximal (protocol, port range)s on which no
allowance changes its mind. At one atom, an endpoint's egress depends only on *which*
peer sets admit it there (its "signature"), and so does its ingress; each distinct
signature's mask (the endpoints it admits) is computed once, and a pair's verdict is

    allowed[s, d] = egress_mask[sig_e(s)][d]  and  ingress_mask[sig_i(d)][s]

`matrix` assembles that N x N table for one port by indexing, in chunks of sources so
memory stays bounded. `connectivity` (every atom) first groups endpoints that no
verdict can tell apart: two sources with the same egress signature at every atom and
the same membership in every ingress mask have equal rows (and likewise destinations,
columns), so the atoms are evaluated only between one representative of each group and
spread to the N x N table at the end. Pods always reach themselves (loopback, point 11),
and a node's hostNetwork pods always reach the pods on that node (point 11).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from netpolicy.api.objects import PROTOCOLS, Protocol
from netpolicy.engine.cluster import node_of_traffic
from netpolicy.engine.compiled import (
    Allowance,
    CompiledView,
    Decision,
    DirectionView,
    Mask,
    PeerSet,
)
from netpolicy.engine.ports import ALL, MAX_PORT, MIN_PORT, PortSet

Atom = tuple[Protocol, int, int]
CHUNK_CELLS = 1 << 25  # cells (sources x destinations) computed at a time
Signatures = npt.NDArray[np.int32]


@dataclass(frozen=True)
class Matrix:
    """The truth table for one (protocol, port): `allowed[s, d]` for endpoint indexes."""

    endpoints: tuple[str, ...]
    protocol: Protocol
    port: int
    allowed: npt.NDArray[np.bool_]

    def destinations(self, source: int) -> list[str]:
        return [self.endpoints[d] for d in np.flatnonzero(self.allowed[source])]


@dataclass(frozen=True)
class Connectivity:
    """For every ordered pair, the ports on which a new connection is allowed:
    `port_sets[cell[s, d]]`."""

    endpoints: tuple[str, ...]
    port_sets: tuple[PortSet, ...]
    cell: npt.NDArray[np.int32]

    def ports(self, source: int, destination: int) -> PortSet:
        return self.port_sets[int(self.cell[source, destination])]


_Tier = tuple[tuple[PeerSet, str], ...]
_Choice = tuple[_Tier, bool, tuple[PeerSet, ...] | None, _Tier]
"""What decides a side at an atom: the admin decisions that cover it (peers, action) in
order, whether NetworkPolicy isolates, the peer sets of its allowances there (None: one
of them admits every peer), the baseline decisions likewise."""

_OPEN: _Choice = ((), False, None, ())


class _Side:
    """One direction over a list of atoms: `sig[e, j]`, the signature of endpoint e at
    atom j, and `masks[k]`, the endpoints signature k admits on the other side."""

    def __init__(self, views: Sequence[DirectionView], size: int, parts: Sequence[Atom]) -> None:
        self._parts = parts
        self._protocol = np.array([PROTOCOLS.index(p) for p, _, _ in parts], dtype=np.int8)
        self._first = np.array([lo for _, lo, _ in parts], dtype=np.int32)
        self._covers: dict[int, npt.NDArray[np.bool_]] = {}
        self._ids: dict[tuple[object, ...], int] = {}
        self._chosen: list[_Choice] = []
        self.sig: Signatures = np.empty((size, len(parts)), dtype=np.int32)
        # The compiled view shares one view object between endpoints alike: decide once
        # per distinct view, then spread the answer to its endpoints.
        groups: dict[int, tuple[DirectionView, list[int]]] = {}
        for i, view in enumerate(views):
            groups.setdefault(id(view), (view, []))[1].append(i)
        for view, indexes in groups.values():
            self.sig[np.array(indexes, dtype=np.intp)] = self._row(view)
        self.masks = self._masks(size)

    def _cover(self, ports: PortSet) -> npt.NDArray[np.bool_]:
        """Which atoms `ports` contains."""
        out = self._covers.get(id(ports))
        if out is None:
            out = np.zeros(len(self._parts), dtype=bool)
            for protocol, intervals in ports.ranges:
                mine = self._protocol == PROTOCOLS.index(protocol)
                for lo, hi in intervals:  # an atom is inside or outside every interval
                    out |= mine & (self._first >= lo) & (self._first <= hi)
            self._covers[id(ports)] = out
        return out

    def _id(self, choice: _Choice) -> int:
        """The signature of deciding by `choice`: equal peer sets and actions, equal id."""
        admin, isolated, allowed, baseline = choice
        key = (tuple((id(p), a) for p, a in admin), isolated,
               None if allowed is None else tuple(sorted({id(p) for p in allowed})),
               tuple((id(p), a) for p, a in baseline))
        k = self._ids.get(key)
        if k is None:
            k = self._ids[key] = len(self._chosen)
            self._chosen.append(choice)
        return k

    def _row(self, view: DirectionView) -> Signatures:
        """A view's signature at every atom."""
        if view.is_open:
            return np.full(len(self._parts), self._id(_OPEN), dtype=np.int32)
        # Baseline decisions matter only where NetworkPolicy does not isolate.
        baseline = () if view.isolated else view.baseline
        entries: list[Decision | Allowance] = [*view.admin, *view.allowances, *baseline]
        if not entries:
            return np.full(len(self._parts), self._id(((), True, (), ())), dtype=np.int32)
        bits = np.stack([self._cover(e.ports) for e in entries])
        # Atoms where the same entries apply have the same signature: one per column.
        columns, inverse = np.unique(np.packbits(bits, axis=0), axis=1, return_inverse=True)
        n_admin, n_allow = len(view.admin), len(view.allowances)
        ids = []
        for col in columns.T:
            on = np.unpackbits(col)[: len(entries)].astype(bool)
            admin = tuple((d.peers, d.action) for d, o in zip(view.admin, on[:n_admin],
                                                              strict=True) if o)
            chosen = [a for a, o in zip(view.allowances, on[n_admin:n_admin + n_allow],
                                        strict=True) if o]
            allowed = (None if any(a.peers.everything for a in chosen)
                       else tuple(a.peers for a in chosen)) if view.isolated else None
            base = tuple((d.peers, d.action) for d, o in zip(baseline, on[n_admin + n_allow:],
                                                             strict=True) if o)
            ids.append(self._id((admin, view.isolated, allowed, base)))
        return np.array(ids, dtype=np.int32)[inverse.reshape(-1)]

    def _masks(self, size: int) -> Mask:
        masks = np.zeros((len(self._chosen), size), dtype=bool)
        for k, (admin, isolated, allowed, baseline) in enumerate(self._chosen):
            accepted, onward = _tier_mask(admin, np.ones(size, dtype=bool))
            if isolated:
                union = np.ones(size, dtype=bool)
                if allowed is not None:
                    union[:] = False
                    for peers in {id(p): p for p in allowed}.values():
                        union |= peers.members
                masks[k] = accepted | (onward & union)
            else:
                base_accepted, base_onward = _tier_mask(baseline, onward)
                masks[k] = accepted | base_accepted | base_onward
        return masks


def _tier_mask(decisions: _Tier, reaching: Mask) -> tuple[Mask, Mask]:
    """Of the endpoints `reaching` a tier, those it accepts and those it sends on (Pass,
    or no decision matched): the first matching decision takes each endpoint."""
    if not decisions:
        return np.zeros_like(reaching), reaching
    left = reaching.copy()
    accepted = np.zeros_like(reaching)
    passed = np.zeros_like(reaching)
    for peers, action in decisions:
        hit = peers.members & left
        left &= ~peers.members
        if action == "Accept":
            accepted |= hit
        elif action == "Pass":
            passed |= hit
    return accepted, passed | left


def _chunks(n: int, per_row: int) -> list[slice]:
    step = max(1, CHUNK_CELLS // max(1, per_row))
    return [slice(i, min(n, i + step)) for i in range(0, n, step)]


def _pods(view: CompiledView) -> npt.NDArray[np.intp]:
    """Indexes of the endpoints that are pods (a workload stands for several pods, so its
    self pair is judged by the policies like any other pair)."""
    return np.array([i for i, e in enumerate(view.state.endpoints) if e.is_pod], dtype=np.intp)


def _node_pairs(view: CompiledView) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """(sources, destinations) of the pairs `from_own_node` exempts (point 11): a node's
    own traffic (its hostNetwork pods) into the pods on it; found per node, not per pair."""
    on_node: dict[str, list[int]] = {}
    for i, e in enumerate(view.state.endpoints):
        if e.node is not None and not e.host_network:
            on_node.setdefault(e.node, []).append(i)
    rows: list[int] = []
    cols: list[int] = []
    for i, e in enumerate(view.state.endpoints):
        node = node_of_traffic(e)
        targets = on_node.get(node, []) if node is not None else []
        rows.extend([i] * len(targets))
        cols.extend(targets)
    return np.array(rows, dtype=np.intp), np.array(cols, dtype=np.intp)


def matrix(view: CompiledView, port: int, protocol: Protocol = "TCP") -> Matrix:
    """The truth table for new connections on `protocol`/`port`, every ordered pair."""
    n = view.size
    parts = [(protocol, port, port)]
    egress, ingress = _Side(view.egress, n, parts), _Side(view.ingress, n, parts)
    e_sig, i_sig = egress.sig[:, 0], ingress.sig[:, 0]
    allowed = np.zeros((n, n), dtype=bool)
    for rows in _chunks(n, n):
        allowed[rows] = egress.masks[e_sig[rows]] & ingress.masks[:, rows].T[:, i_sig]
    pods = _pods(view)
    allowed[pods, pods] = True
    allowed[_node_pairs(view)] = True
    keys = tuple(e.key for e in view.state.endpoints)
    return Matrix(keys, protocol, port, allowed)


def atoms(view: CompiledView) -> list[Atom]:
    """Split each protocol's 1..65535 at every boundary of every allowance's ports."""
    cuts: dict[Protocol, set[int]] = {p: {MIN_PORT, MAX_PORT + 1} for p in PROTOCOLS}
    seen: set[int] = set()
    for views in (view.ingress, view.egress):
        for v in views:
            entries: tuple[Allowance | Decision, ...] = (*v.admin, *v.allowances, *v.baseline)
            for a in entries:
                if id(a.ports) in seen:
                    continue
                seen.add(id(a.ports))
                for protocol, intervals in a.ports.ranges:
                    for lo, hi in intervals:
                        cuts[protocol].update((lo, hi + 1))
    out: list[Atom] = []
    for p in PROTOCOLS:
        edges = sorted(cuts[p])
        out.extend((p, lo, hi - 1) for lo, hi in itertools.pairwise(edges))
    return out


def _classes(sig: Signatures, member: Mask) -> tuple[npt.NDArray[np.intp],
                                                    npt.NDArray[np.intp]]:
    """Group endpoints by (signature at every atom, membership in every mask of the
    other side): (one representative per group, the group of each endpoint)."""
    n = sig.shape[0]
    key = np.ascontiguousarray(np.concatenate(
        [sig.view(np.uint8).reshape(n, sig.shape[1] * sig.itemsize),
         np.packbits(member, axis=1)], axis=1))
    # Unique rows as opaque byte strings: one 1-D sort (memcmp), not a row-wise one.
    flat = key.view(np.dtype((np.void, key.shape[1]))).ravel()
    _, first, group = np.unique(flat, return_index=True, return_inverse=True)
    return first.astype(np.intp), group.reshape(-1).astype(np.intp)


def _port_set(parts: Sequence[Atom], bits: npt.NDArray[np.uint8]) -> PortSet:
    on = np.unpackbits(bits)[: len(parts)]
    by_protocol: dict[Protocol, list[tuple[int, int]]] = {p: [] for p in PROTOCOLS}
    for (p, lo, hi), bit_on in zip(parts, on, strict=True):
        if bit_on:
            by_protocol[p].append((lo, hi))
    return PortSet.of(by_protocol)


def connectivity(view: CompiledView) -> Connectivity:
    """For every ordered pair of endpoints, the ports a new connection may use."""
    n = view.size
    parts = atoms(view)
    egress, ingress = _Side(view.egress, n, parts), _Side(view.ingress, n, parts)
    sources, source_group = _classes(egress.sig, ingress.masks.T)
    targets, target_group = _classes(ingress.sig, egress.masks.T)
    e_masks = egress.masks[:, targets]  # signature x target representative
    i_masks = ingress.masks[:, sources]  # signature x source representative
    packed = np.zeros((len(sources), len(targets), (len(parts) + 7) // 8), dtype=np.uint8)
    chunks = _chunks(len(sources), len(targets))
    for j in range(len(parts)):
        bit = np.uint8(1 << (7 - j % 8))
        i_sig = ingress.sig[targets, j]
        for rows in chunks:
            block = e_masks[egress.sig[sources[rows], j]] & i_masks[:, rows].T[:, i_sig]
            packed[rows, :, j // 8] |= block.astype(np.uint8) * bit
    width = packed.shape[2]
    flat = np.ascontiguousarray(packed.reshape(-1, width))
    uniq, inverse = np.unique(flat.view(np.dtype((np.void, width))).ravel(),
                              return_inverse=True)
    port_sets = [_port_set(parts, row) for row in uniq.view(np.uint8).reshape(-1, width)]
    by_group = inverse.reshape(len(sources), len(targets)).astype(np.int32)
    cell = by_group[source_group[:, None], target_group[None, :]]
    pods = _pods(view)
    node_rows, node_cols = _node_pairs(view)
    if len(pods) or len(node_rows):
        if ALL not in port_sets:
            port_sets.append(ALL)
        cell[pods, pods] = port_sets.index(ALL)
        cell[node_rows, node_cols] = port_sets.index(ALL)
        # Drop the port sets only self pairs of representatives had.
        used = np.bincount(cell.ravel(), minlength=len(port_sets)) > 0
        if not used.all():
            renumber = np.cumsum(used, dtype=np.int32) - 1
            cell = renumber[cell]
            port_sets = [ps for ps, keep in zip(port_sets, used, strict=True) if keep]
    keys = tuple(e.key for e in view.state.endpoints)
    return Connectivity(keys, tuple(port_sets), cell)
