"""Reachability for every ordered pair of endpoints, from the compiled view.

For one (protocol, port), an endpoint's ingress depends only on *which* of its
allowances cover that port; endpoints with the same such set (the same "signature")
admit the same sources. So each distinct signature is computed once, as the union of
its allowances' peer masks, and the N x N table is assembled by indexing:

    allowed[s, d] = egress_row[sig_e(s)][d]  and  ingress_col[sig_i(d)][s]

Connectivity (which ports, per pair) splits the port space into *atoms*: maximal
ranges on which no allowance changes its mind. Each atom is one table; a pair's
allowed ports are the atoms its cell is true in. Sources are processed in chunks so
memory stays bounded on large clusters.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from netpolicy.api.objects import PROTOCOLS, Protocol
from netpolicy.engine.compiled import Allowance, CompiledView, DirectionView, Mask
from netpolicy.engine.ports import MAX_PORT, MIN_PORT, PortSet

Atom = tuple[Protocol, int, int]
CHUNK_CELLS = 1 << 25  # cells (sources x destinations x atoms) computed at a time


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


class _Side:
    """One direction's signatures for a given atom, and their masks."""

    def __init__(self, views: Sequence[DirectionView], size: int) -> None:
        self.size = size
        # The compiled view shares one view object between endpoints alike: decide once
        # per distinct view, then spread the answer to its endpoints.
        groups: dict[int, tuple[DirectionView, list[int]]] = {}
        for i, view in enumerate(views):
            groups.setdefault(id(view), (view, []))[1].append(i)
        self.groups = [(view, np.array(idx, dtype=np.intp)) for view, idx in groups.values()]

    def tables(self, protocol: Protocol, port: int) -> tuple[npt.NDArray[np.intp], Mask]:
        """(signature index per endpoint, mask per signature)."""
        sig_ids: dict[tuple[int, ...] | None, int] = {}
        sig_of = np.empty(self.size, dtype=np.intp)
        members: list[list[Allowance] | None] = []
        for view, indexes in self.groups:
            if not view.isolated:
                sig: tuple[int, ...] | None = None
                chosen: list[Allowance] | None = None
            else:
                chosen = [a for a in view.allowances if a.ports.contains(protocol, port)]
                sig = tuple(sorted({id(a.peers) for a in chosen}))
            j = sig_ids.get(sig)
            if j is None:
                j = sig_ids[sig] = len(members)
                members.append(chosen)
            sig_of[indexes] = j
        masks = np.zeros((len(members), self.size), dtype=bool)
        for j, chosen in enumerate(members):
            if chosen is None:
                masks[j] = True
                continue
            seen: set[int] = set()
            for a in chosen:
                if id(a.peers) in seen:
                    continue
                seen.add(id(a.peers))
                if a.peers.everything:
                    masks[j] = True
                    break
                masks[j] |= a.peers.members
        return sig_of, masks


def _chunks(n: int, per_row: int) -> list[slice]:
    step = max(1, CHUNK_CELLS // max(1, per_row))
    return [slice(i, min(n, i + step)) for i in range(0, n, step)]


class _Sides:
    """What every (protocol, port) of one view shares: both directions' view groups, and
    the pods (which always reach themselves: loopback, point 11; a workload stands for
    several pods, so its self pair is judged by the policies like any other pair)."""

    def __init__(self, view: CompiledView) -> None:
        self.egress = _Side(view.egress, view.size)
        self.ingress = _Side(view.ingress, view.size)
        self.loop = np.array([i for i, e in enumerate(view.state.endpoints) if e.is_pod],
                             dtype=np.intp)


class _Tables:
    """Both directions' signatures and masks for one (protocol, port)."""

    def __init__(self, sides: _Sides, protocol: Protocol, port: int) -> None:
        self.e_sig, self.e_mask = sides.egress.tables(protocol, port)
        self.i_sig, self.i_mask = sides.ingress.tables(protocol, port)
        self.loop = sides.loop

    def block(self, rows: slice) -> Mask:
        """allowed[rows, :]"""
        out: Mask = self.e_mask[self.e_sig[rows]] & self.i_mask[:, rows].T[:, self.i_sig]
        mine = self.loop[(self.loop >= rows.start) & (self.loop < rows.stop)]
        out[mine - rows.start, mine] = True
        return out


def matrix(view: CompiledView, port: int, protocol: Protocol = "TCP") -> Matrix:
    """The truth table for new connections on `protocol`/`port`, every ordered pair."""
    n = view.size
    tables = _Tables(_Sides(view), protocol, port)
    allowed = np.zeros((n, n), dtype=bool)
    for rows in _chunks(n, n):
        allowed[rows] = tables.block(rows)
    keys = tuple(e.key for e in view.state.endpoints)
    return Matrix(keys, protocol, port, allowed)


def atoms(view: CompiledView) -> list[Atom]:
    """Split each protocol's 1..65535 at every boundary of every allowance's ports."""
    cuts: dict[Protocol, set[int]] = {p: {MIN_PORT, MAX_PORT + 1} for p in PROTOCOLS}
    seen: set[int] = set()
    for views in (view.ingress, view.egress):
        for v in views:
            for a in v.allowances:
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


def connectivity(view: CompiledView) -> Connectivity:
    """For every ordered pair of endpoints, the ports a new connection may use."""
    n = view.size
    parts = atoms(view)
    packed = np.zeros((n, n, (len(parts) + 7) // 8), dtype=np.uint8)
    sides = _Sides(view)
    for j, (protocol, lo, _) in enumerate(parts):
        tables = _Tables(sides, protocol, lo)
        bit = np.uint8(1 << (7 - j % 8))
        for rows in _chunks(n, n):
            packed[rows, :, j // 8] |= tables.block(rows).astype(np.uint8) * bit
    flat = np.ascontiguousarray(packed.reshape(n * n, -1))
    # Unique rows as opaque byte strings: one 1-D sort (memcmp), not a row-wise one.
    width = flat.shape[1]
    keys_1d = flat.view(np.dtype((np.void, width))).ravel()
    uniq_keys, inverse = np.unique(keys_1d, return_inverse=True)
    uniq = uniq_keys.view(np.uint8).reshape(-1, width)
    port_sets = []
    for row in uniq:
        on = np.unpackbits(row)[: len(parts)]
        by_protocol: dict[Protocol, list[tuple[int, int]]] = {p: [] for p in PROTOCOLS}
        for (p, lo, hi), bit_on in zip(parts, on, strict=True):
            if bit_on:
                by_protocol[p].append((lo, hi))
        port_sets.append(PortSet.of(by_protocol))
    cell = inverse.reshape(n, n).astype(np.int32)
    keys = tuple(e.key for e in view.state.endpoints)
    return Connectivity(keys, tuple(port_sets), cell)
