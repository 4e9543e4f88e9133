"""`FakeNft`: an in-memory nftables that checks what the kernel checks and commits each
transaction atomically (knftables' fake.go).

A missing table, chain, set or map (also when a rule or a verdict-map element refers to it)
rejects the whole transaction; `add` of an existing object is a no-op unless it conflicts
(another base-chain spec, another set type, another value for a map key), `create` of an
existing object fails; a chain, set or map still referenced cannot be deleted; `flush table`
empties the chains and leaves set elements alone. It does *not* parse rule expressions: a
rule is kept as text. tests/dataplane/test_nft.py holds it against the real nft.
"""

from __future__ import annotations

import copy
import re

from netpolicy.dataplane.nft.objects import Chain, Counter, Element, Map, Rule, Set, Table
from netpolicy.dataplane.nft.state import ChainState, Ruleset, SetState, TableState, dump, normalize
from netpolicy.dataplane.nft.transaction import Transaction
from netpolicy.dataplane.nft.types import NAME, Family, NftError, Verb

_CHAIN_REF = re.compile(rf"\b(?:jump|goto)\s+({NAME})")
_SET_REF = re.compile(rf"@({NAME})")
_COUNTER_REF = re.compile(rf'\bcounter name "?({NAME})"?')


class FakeNft:
    """An in-memory nftables that checks references and commits transactions atomically."""

    def __init__(self) -> None:
        self._ruleset: Ruleset = {}
        self.transactions: list[Transaction] = []  # every committed one, in order
        self.counts: dict[str, int] = {}  # what `counters` reports (no packets flow here)

    def run(self, tx: Transaction) -> None:
        work = _Work(copy.deepcopy(self._ruleset), tx.family, tx.table)
        for op in tx.operations:
            try:
                op.apply(work)
            except NftError as exc:
                raise NftError(f"{exc} (in: {op.render(tx.where)})") from exc
        self._ruleset = work.ruleset
        self.transactions.append(tx)

    def dump(self) -> str:
        return dump(self._ruleset)

    def table_exists(self, family: Family, table: str) -> bool:
        return (family, table) in self._ruleset

    def counters(self, family: Family, table: str) -> dict[str, int]:
        """Every named counter of the table, with the packets `counts` gives it (else 0)."""
        return {name: self.counts.get(name, 0)
                for name in self._ruleset[(family, table)].counters}

    def elements(self, family: Family, table: str, name: str) -> dict[str, str | None]:
        """The elements of a set or map (a copy)."""
        return dict(self._ruleset[(family, table)].sets[name].elements)

    def rules(self, family: Family, table: str, chain: str) -> list[str]:
        """The rule texts of a chain, in order."""
        return [text for text, _ in self._ruleset[(family, table)].chains[chain].rules]


class _Work:
    """One transaction at work on a copy of the ruleset: the `objects.Target` of the fake,
    a method per kind of object."""

    def __init__(self, ruleset: Ruleset, family: Family, name: str) -> None:
        self.ruleset = ruleset
        self.family = family
        self.name = name

    def _table(self) -> TableState:
        table = self.ruleset.get((self.family, self.name))
        if table is None:
            raise NftError(f"no table {self.family} {self.name}")
        return table

    def table(self, verb: Verb, obj: Table) -> None:
        key = (self.family, self.name)
        if verb in ("add", "create"):
            if key in self.ruleset:
                if verb == "create":
                    raise NftError(f"table {self.family} {self.name} exists")
            else:
                self.ruleset[key] = TableState(comment=obj.comment)
            return
        table = self._table()
        if verb == "delete":
            del self.ruleset[key]
        else:
            for state in table.chains.values():
                state.rules.clear()

    def chain(self, verb: Verb, obj: Chain) -> None:
        table = self._table()
        existing = table.chains.get(obj.name)
        if verb in ("add", "create"):
            if existing is None:
                table.chains[obj.name] = ChainState(obj)
                return
            if verb == "create":
                raise NftError(f"chain {obj.name} exists")
            old = existing.spec
            if obj.is_base and (obj.type, obj.hook, obj.priority) != (
                old.type,
                old.hook,
                old.priority,
            ):
                raise NftError(f"chain {obj.name} exists with another type, hook or priority")
            if obj.policy is not None:
                existing.spec = Chain(old.name, old.type, old.hook, old.priority, obj.policy, old.comment)
            return
        if existing is None:
            raise NftError(f"no chain {obj.name}")
        if verb == "flush":
            existing.rules.clear()
            return
        if _references(table, _CHAIN_REF, obj.name):
            raise NftError(f"chain {obj.name} is in use")
        del table.chains[obj.name]

    def rule(self, verb: Verb, obj: Rule) -> None:
        table = self._table()
        target = table.chains.get(obj.chain)
        if target is None:
            raise NftError(f"no chain {obj.chain}")
        _check_refs(table, obj.rule)
        target.rules.append((normalize(obj.rule), obj.comment))

    def set(self, verb: Verb, obj: Set) -> None:
        self._set_or_map(verb, obj)

    def map(self, verb: Verb, obj: Map) -> None:
        self._set_or_map(verb, obj)

    def _set_or_map(self, verb: Verb, obj: Set | Map) -> None:
        table = self._table()
        existing = table.sets.get(obj.name)
        if verb in ("add", "create"):
            if existing is None:
                table.sets[obj.name] = SetState(obj)
                return
            if verb == "create":
                raise NftError(f"set {obj.name} exists")
            old = existing.spec
            same_kind = type(old) is type(obj) and old.type == obj.type
            if not same_kind or (
                isinstance(obj, Map) and isinstance(old, Map) and old.value_type != obj.value_type
            ):
                raise NftError(f"set {obj.name} exists with another type")
            return
        if existing is None or type(existing.spec) is not type(obj):
            raise NftError(f"no {'set' if isinstance(obj, Set) else 'map'} {obj.name}")
        if verb == "flush":
            existing.elements.clear()
            return
        if _references(table, _SET_REF, obj.name):
            raise NftError(f"set {obj.name} is in use")
        del table.sets[obj.name]

    def counter(self, verb: Verb, obj: Counter) -> None:
        table = self._table()
        if verb in ("add", "create"):
            if obj.name in table.counters and verb == "create":
                raise NftError(f"counter {obj.name} exists")
            table.counters.setdefault(obj.name, obj)
            return
        if obj.name not in table.counters:
            raise NftError(f"no counter {obj.name}")
        if _references(table, _COUNTER_REF, obj.name):
            raise NftError(f"counter {obj.name} is in use")
        del table.counters[obj.name]

    def element(self, verb: Verb, obj: Element) -> None:
        table = self._table()
        st = table.sets.get(obj.set)
        if st is None:
            raise NftError(f"no set or map {obj.set}")
        key = normalize(obj.key)
        arity = len(st.spec.type.split(" . "))
        if len(key.split(" . ")) != arity:
            raise NftError(f"element {key} does not match the type {st.spec.type}")
        if verb == "delete":
            if key not in st.elements:
                raise NftError(f"no element {key} in {obj.set}")
            del st.elements[key]
            return
        is_map = isinstance(st.spec, Map)
        if is_map != (obj.value is not None):
            raise NftError(f"element {key}: {'a map needs' if is_map else 'a set takes no'} value")
        value = normalize(obj.value) if obj.value is not None else None
        if value is not None:
            _check_refs(table, value)
        if key in st.elements:
            if verb == "create" or st.elements[key] != value:
                raise NftError(f"element {key} exists in {obj.set}")
            return
        st.elements[key] = value


def _check_refs(table: TableState, text: str) -> None:
    for ref in _CHAIN_REF.findall(text):
        if ref not in table.chains:
            raise NftError(f"no chain {ref}")
    for ref in _SET_REF.findall(text):
        if ref not in table.sets:
            raise NftError(f"no set or map {ref}")
    for ref in _COUNTER_REF.findall(text):
        if ref not in table.counters:
            raise NftError(f"no counter {ref}")


def _references(table: TableState, pattern: re.Pattern[str], name: str) -> bool:
    for chain in table.chains.values():
        if any(name in pattern.findall(text) for text, _ in chain.rules):
            return True
    if pattern is _CHAIN_REF:
        for st in table.sets.values():
            if any(name in pattern.findall(v or "") for v in st.elements.values()):
                return True
    return False
