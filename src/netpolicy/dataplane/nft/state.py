"""A ruleset as both runners report it — what the fake keeps, what the real one reads back
(`listing.read_ruleset`) — and its canonical dump: the sorted script that rebuilds it."""

from __future__ import annotations

from dataclasses import dataclass, field

from netpolicy.dataplane.nft.objects import Chain, Counter, Element, Map, Operation, Rule, Set, Table
from netpolicy.dataplane.nft.types import Family


@dataclass
class ChainState:
    spec: Chain
    rules: list[tuple[str, str | None]] = field(default_factory=list)  # (text, comment)


@dataclass
class SetState:
    spec: Set | Map
    elements: dict[str, str | None] = field(default_factory=dict)


@dataclass
class TableState:
    comment: str | None = None
    chains: dict[str, ChainState] = field(default_factory=dict)
    sets: dict[str, SetState] = field(default_factory=dict)
    counters: dict[str, Counter] = field(default_factory=dict)


Ruleset = dict[tuple[Family, str], TableState]


def normalize(text: str) -> str:
    """Rule text with its whitespace as `nft list` prints it."""
    return " ".join(text.split())


def dump(ruleset: Ruleset) -> str:
    """The sorted script that rebuilds `ruleset` (a base chain's policy written out)."""
    lines: list[str] = []
    for (family, name), table in sorted(ruleset.items()):
        where = f"{family} {name}"

        def line(op: Operation, where: str = where) -> None:
            lines.append(op.render(where))

        line(Operation("add", Table(table.comment)))
        for chain in sorted(table.chains.values(), key=lambda c: c.spec.name):
            spec = chain.spec
            if spec.is_base and spec.policy is None:
                spec = Chain(spec.name, spec.type, spec.hook, spec.priority, "accept", spec.comment)
            line(Operation("add", spec))
        for st in sorted(table.sets.values(), key=lambda s: s.spec.name):
            line(Operation("add", st.spec))
        for counter in sorted(table.counters.values(), key=lambda c: c.name):
            line(Operation("add", counter))
        for chain in sorted(table.chains.values(), key=lambda c: c.spec.name):
            for text, comment in chain.rules:
                line(Operation("add", Rule(chain.spec.name, text, comment)))
        for st in sorted(table.sets.values(), key=lambda s: s.spec.name):
            for key, value in sorted(st.elements.items()):
                line(Operation("add", Element(st.spec.name, key, value)))
    return "".join(f"{x}\n" for x in lines)
