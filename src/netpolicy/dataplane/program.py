"""An nftables program as a value, and the transaction that turns one program into another.

A `Program` is the complete desired content of one table: its sets (with elements), its
verdict and data maps (with entries) and its chains (with rules). Renderers produce
programs as pure functions of their input; `transition(old, new)` computes the one
transaction that changes the kernel from `old` to `new`, touching only what differs:

1. new sets and maps are added, existing ones get only their changed elements;
2. new chains are added with their rules; chains whose rules changed are flushed and
   refilled (base chains included);
3. map entries that point at chains are switched only once those chains exist;
4. what is no longer used goes last: chains, then the sets and maps they referenced.

The kernel commits the transaction atomically, so no packet ever sees a half-updated
table. `transition(None, new)` builds the table from scratch, first deleting whatever
table of that name exists (so a restart never inherits stale state).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from netpolicy.dataplane.nft import (
    Chain,
    Counter,
    Element,
    Family,
    Map,
    Rule,
    Set,
    Table,
    Transaction,
)


@dataclass(frozen=True)
class SetSpec:
    type: str
    flags: tuple[str, ...] = ()
    elements: frozenset[str] = frozenset()
    comment: str | None = None


@dataclass(frozen=True)
class MapSpec:
    type: str
    value_type: str
    flags: tuple[str, ...] = ()
    entries: Mapping[str, str] = field(default_factory=dict)
    comment: str | None = None


@dataclass(frozen=True)
class ChainSpec:
    chain: Chain
    rules: tuple[str, ...] = ()


@dataclass(frozen=True)
class Program:
    family: Family
    table: str
    sets: Mapping[str, SetSpec] = field(default_factory=dict)
    maps: Mapping[str, MapSpec] = field(default_factory=dict)
    chains: Mapping[str, ChainSpec] = field(default_factory=dict)
    comment: str | None = None
    notes: Mapping[str, str] = field(default_factory=dict, compare=False)
    """What comments and counter names stand for (nft keeps them short)."""
    counters: Mapping[str, str | None] = field(default_factory=dict)
    """Named counters (name -> comment) that rules count into."""
    index: Any = field(default=None, compare=False)
    """What the renderer knows of how the program was made (for incremental updates)."""

    @property
    def element_count(self) -> int:
        """Set elements plus map entries: the size of the program's data."""
        return (sum(len(s.elements) for s in self.sets.values())
                + sum(len(m.entries) for m in self.maps.values()))

    @property
    def rule_count(self) -> int:
        return sum(len(c.rules) for c in self.chains.values())


def _set(name: str, spec: SetSpec) -> Set:
    return Set(name, spec.type, spec.flags, spec.comment)


def _map(name: str, spec: MapSpec) -> Map:
    return Map(name, spec.type, spec.value_type, spec.flags, spec.comment)


def _fill_chain(tx: Transaction, name: str, spec: ChainSpec) -> None:
    for rule in spec.rules:
        tx.add(Rule(name, rule))


def transition(old: Program | None, new: Program) -> Transaction:
    """The single transaction that changes table `new.table` from `old` to `new`."""
    tx = Transaction(new.family, new.table)
    if old is None:
        # add-then-delete makes the delete succeed whether or not the table exists.
        tx.add(Table()).delete(Table())
        old = Program(new.family, new.table)
        tx.add(Table(new.comment))
    assert (old.family, old.table) == (new.family, new.table)

    # 1. sets and maps: new ones whole, existing ones by element
    for name, s in new.sets.items():
        before = old.sets.get(name)
        if before is s:
            continue  # the same object: unchanged (an incremental update shares them)
        if before is None or (before.type, before.flags) != (s.type, s.flags):
            if before is not None:
                raise ValueError(f"set {name} changed its type: give it another name")
            tx.add(_set(name, s))
            for e in sorted(s.elements):
                tx.add(Element(name, e))
            continue
        for e in sorted(before.elements - s.elements):
            tx.delete(Element(name, e))
        for e in sorted(s.elements - before.elements):
            tx.add(Element(name, e))
    data_maps = {n: m for n, m in new.maps.items() if m.value_type != "verdict"}
    verdict_maps = {n: m for n, m in new.maps.items() if m.value_type == "verdict"}
    for name, m in new.maps.items():
        if name not in old.maps:
            tx.add(_map(name, m))
    _map_entries(tx, old, data_maps)
    for name, comment in new.counters.items():
        if name not in old.counters:
            tx.add(Counter(name, comment))

    # 2. chains: declare all new ones first (rules may jump between them), then fill
    for name, c in new.chains.items():
        if name not in old.chains:
            tx.add(c.chain)
    for name, c in new.chains.items():
        previous = old.chains.get(name)
        if previous is None:
            _fill_chain(tx, name, c)
        elif previous is not c and previous.rules != c.rules:
            tx.flush(c.chain)
            _fill_chain(tx, name, c)

    # 3. verdict maps now that their target chains exist
    _map_entries(tx, old, verdict_maps)

    # 4. what is gone: chains (no longer jumped to), then sets and maps
    for name, c in old.chains.items():
        if name not in new.chains:
            tx.flush(c.chain)
    for name, c in old.chains.items():
        if name not in new.chains:
            tx.delete(c.chain)
    for name, m in old.maps.items():
        if name not in new.maps:
            tx.delete(_map(name, m))
    for name, s in old.sets.items():
        if name not in new.sets:
            tx.delete(_set(name, s))
    for name in old.counters:
        if name not in new.counters:
            tx.delete(Counter(name))
    return tx


def _map_entries(tx: Transaction, old: Program, maps: Mapping[str, MapSpec]) -> None:
    for name, m in maps.items():
        before = old.maps.get(name)
        if before is m:
            continue
        previous: Mapping[str, str] = before.entries if before is not None else {}
        for key in sorted(previous):
            if key not in m.entries or m.entries[key] != previous[key]:
                tx.delete(Element(name, key))
        for key in sorted(m.entries):
            if previous.get(key) != m.entries[key]:
                tx.add(Element(name, key, m.entries[key]))
