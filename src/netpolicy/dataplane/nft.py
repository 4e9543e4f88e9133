"""nftables transactions as data, applied atomically; a faithful fake for tests.

Design (after knftables, the Go library kube-proxy uses)
-------------------------------------------------------
A `Transaction` is a list of operations — add, create, flush, delete — on typed objects
(`Table`, `Chain`, `Rule`, `Set`, `Map`, `Element`), all in one table of one family. Each
operation is checked when it is added (a base chain names its type, hook and priority; only
elements can be deleted by value; names need no quoting), and the whole transaction renders to
one `nft -f` script. A runner applies it in a single `nft -f -` run, which the kernel commits
atomically: every operation or none.

Two runners share the `NftRunner` protocol:

- `Nft` runs the real `nft` inside a network namespace (`ip netns exec NS nft -f -`).
- `FakeNft` keeps the ruleset in memory and mimics what the kernel checks: a missing table,
  chain, set or map (also when a rule or a verdict-map element refers to it) rejects the whole
  transaction; `add` of an existing object is a no-op unless it conflicts (another base-chain
  spec, another set type, another value for a map key), `create` of an existing object fails;
  a chain, set or map still referenced cannot be deleted; `flush table` empties the chains and
  leaves set elements alone. It does *not* parse rule expressions: a rule is kept as text.

Both can `dump()` their state as the sorted script that would rebuild it, so the same
transactions run against both can be compared (tests/dataplane/test_nft.py does that in a
throwaway namespace). For the comparison to hold, write rule text and element keys the way
`nft list` prints them ("meta mark & 0x00004000 == 0x00004000", "10.96.0.1 . tcp . 443").

The recommended style, as in knftables: static chains, dynamic sets and maps; to replace a
table whole, `add` then `delete` then re-`add` it and fill it, all in one transaction.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol, Self

from netpolicy.dataplane.libnftables import Libnftables, LibnftablesError
from netpolicy.dataplane.libnftables import available as libnftables_available
from netpolicy.errors import NetpolError


class NftError(NetpolError):
    """A transaction was rejected (nothing of it was applied), or nft could not run."""


class Family(StrEnum):
    IP = "ip"
    IP6 = "ip6"
    INET = "inet"


class ChainType(StrEnum):
    FILTER = "filter"
    NAT = "nat"
    ROUTE = "route"


class Hook(StrEnum):
    PREROUTING = "prerouting"
    INPUT = "input"
    FORWARD = "forward"
    OUTPUT = "output"
    POSTROUTING = "postrouting"


class Priority:
    """The standard priorities of the ip, ip6 and inet families (nft(8), "CHAINS").

    Rendered as numbers: nft 1.0.6 accepts the name `dstnat` only in the prerouting hook."""

    RAW = -300
    MANGLE = -150
    DSTNAT = -100
    FILTER = 0
    SECURITY = 50
    SRCNAT = 100


_NAME = re.compile(r"[A-Za-z_.][A-Za-z0-9_./-]*\Z")  # nft's unquoted identifier


def _check_name(kind: str, name: str) -> None:
    if not _NAME.match(name) or len(name) > 256:
        raise ValueError(f"invalid nftables {kind} name {name!r}")


def _check_comment(comment: str | None) -> None:
    if comment is not None and ('"' in comment or "\n" in comment or len(comment) > 128):
        raise ValueError(f"invalid nftables comment {comment!r}")


@dataclass(frozen=True)
class Table:
    """The transaction's table itself (its family and name belong to the transaction)."""

    comment: str | None = None

    def __post_init__(self) -> None:
        _check_comment(self.comment)


@dataclass(frozen=True)
class Chain:
    """A regular chain, or a base chain when `type`, `hook` and `priority` are all given."""

    name: str
    type: ChainType | None = None
    hook: Hook | None = None
    priority: int | None = None
    policy: Literal["accept", "drop"] | None = None
    comment: str | None = None

    def __post_init__(self) -> None:
        _check_name("chain", self.name)
        _check_comment(self.comment)
        spec = (self.type, self.hook, self.priority)
        if any(x is not None for x in spec) and any(x is None for x in spec):
            raise ValueError(f"base chain {self.name} needs type, hook and priority together")
        if self.policy is not None and self.hook is None:
            raise ValueError(f"regular chain {self.name} cannot have a policy")

    @property
    def is_base(self) -> bool:
        return self.hook is not None


@dataclass(frozen=True)
class Rule:
    """One rule appended to `chain`; `rule` is nft rule text, e.g. "ip daddr @x accept"."""

    chain: str
    rule: str
    comment: str | None = None

    def __post_init__(self) -> None:
        _check_name("chain", self.chain)
        _check_comment(self.comment)
        if not self.rule.strip() or "\n" in self.rule or ";" in self.rule:
            raise ValueError(f"invalid rule text {self.rule!r}")


@dataclass(frozen=True)
class Set:
    """A named set; `type` is the key type, e.g. "ipv4_addr . inet_proto . inet_service"."""

    name: str
    type: str
    flags: tuple[str, ...] = ()
    comment: str | None = None

    def __post_init__(self) -> None:
        _check_name("set", self.name)
        _check_comment(self.comment)


@dataclass(frozen=True)
class Map:
    """A named map from `type` keys to `value_type` values ("verdict" for a verdict map)."""

    name: str
    type: str
    value_type: str
    flags: tuple[str, ...] = ()
    comment: str | None = None

    def __post_init__(self) -> None:
        _check_name("map", self.name)
        _check_comment(self.comment)


@dataclass(frozen=True)
class Counter:
    """A named counter object; rules count into it with `counter name "NAME"`."""

    name: str
    comment: str | None = None

    def __post_init__(self) -> None:
        _check_name("counter", self.name)
        _check_comment(self.comment)


@dataclass(frozen=True)
class Element:
    """An element of set or map `set`: `key`, and for a map its `value` ("goto chain")."""

    set: str
    key: str
    value: str | None = None

    def __post_init__(self) -> None:
        _check_name("set", self.set)
        for text in (self.key, self.value or "x"):
            if _BAD_ELEMENT.search(text) or not text.strip():
                raise ValueError(f"invalid element text {text!r}")


_BAD_ELEMENT = re.compile(r"[,{};\n]")
NftObject = Table | Chain | Rule | Set | Map | Element | Counter
_ELEMENTS_PER_LINE = 1000
Verb = Literal["add", "create", "flush", "delete"]


@dataclass(frozen=True)
class Operation:
    verb: Verb
    obj: NftObject


class Transaction:
    """Operations on one table, checked as they are added, rendered as one `nft -f` script."""

    def __init__(self, family: Family, table: str) -> None:
        _check_name("table", table)
        self.family = family
        self.table = table
        self._ops: list[Operation] = []

    @property
    def operations(self) -> tuple[Operation, ...]:
        return tuple(self._ops)

    def __len__(self) -> int:
        return len(self._ops)

    def add(self, obj: NftObject) -> Self:
        """Add, or leave alone what exists and agrees (rules and elements are appended/added)."""
        return self._append("add", obj)

    def create(self, obj: NftObject) -> Self:
        """Add, failing the transaction if it already exists."""
        if isinstance(obj, Rule):
            raise ValueError("rules cannot be created, only added")
        return self._append("create", obj)

    def flush(self, obj: Table | Chain | Set | Map) -> Self:
        """Empty a table (its chains' rules), a chain (its rules), or a set or map."""
        if isinstance(obj, Rule | Element | Counter):
            raise ValueError("only tables, chains, sets and maps can be flushed")
        return self._append("flush", obj)

    def delete(self, obj: Table | Chain | Set | Map | Element | Counter) -> Self:
        """Delete an object, which must exist (elements: by key)."""
        if isinstance(obj, Rule):
            raise ValueError("rules are removed by flushing their chain, not one by one")
        return self._append("delete", obj)

    def _append(self, verb: Verb, obj: NftObject) -> Self:
        self._ops.append(Operation(verb, obj))
        return self

    def render(self) -> str:
        """The `nft -f` script: one line per operation, except that a run of element
        additions (or deletions) to one set or map becomes one line, which nft parses
        much faster than one line per element."""
        lines: list[str] = []
        i, ops = 0, self._ops
        while i < len(ops):
            op = ops[i]
            first = op.obj
            if isinstance(first, Element):
                j = i
                items: list[str] = []
                while j < len(ops) and len(items) < _ELEMENTS_PER_LINE:
                    e = ops[j].obj
                    if ops[j].verb != op.verb or not isinstance(e, Element) or e.set != first.set:
                        break
                    items.append(e.key if e.value is None or op.verb == "delete"
                                 else f"{e.key} : {e.value}")
                    j += 1
                where = f"{self.family} {self.table}"
                lines.append(f"{op.verb} element {where} {first.set} {{ {', '.join(items)} }}")
                i = j
                continue
            lines.append(render_operation(self.family, self.table, op))
            i += 1
        return "".join(line + "\n" for line in lines)


def _block(parts: Iterable[str]) -> str:
    inner = " ".join(parts)
    return f" {{ {inner} }}" if inner else ""


def render_operation(family: Family, table: str, op: Operation) -> str:
    """One operation as an `nft -f` line."""
    obj, verb = op.obj, op.verb
    where = f"{family} {table}"
    if isinstance(obj, Table):
        if verb in ("flush", "delete") or obj.comment is None:
            return f"{verb} table {where}"
        return f'{verb} table {where} {{ comment "{obj.comment}" ; }}'
    if isinstance(obj, Chain):
        if verb in ("flush", "delete"):
            return f"{verb} chain {where} {obj.name}"
        parts = []
        if obj.is_base:
            parts.append(f"type {obj.type} hook {obj.hook} priority {obj.priority} ;")
            if obj.policy is not None:
                parts.append(f"policy {obj.policy} ;")
        if obj.comment is not None:
            parts.append(f'comment "{obj.comment}" ;')
        return f"{verb} chain {where} {obj.name}{_block(parts)}"
    if isinstance(obj, Counter):
        if verb == "delete" or obj.comment is None:
            return f"{verb} counter {where} {obj.name}"
        return f'{verb} counter {where} {obj.name} {{ comment "{obj.comment}" ; }}'
    if isinstance(obj, Rule):
        return f"add rule {where} {obj.chain} {obj.rule}" + (
            f' comment "{obj.comment}"' if obj.comment is not None else ""
        )
    if isinstance(obj, Set | Map):
        kind = "set" if isinstance(obj, Set) else "map"
        if verb in ("flush", "delete"):
            return f"{verb} {kind} {where} {obj.name}"
        type_text = obj.type if isinstance(obj, Set) else f"{obj.type} : {obj.value_type}"
        parts = [f"type {type_text} ;"]
        if obj.flags:
            parts.append(f"flags {', '.join(obj.flags)} ;")
        if obj.comment is not None:
            parts.append(f'comment "{obj.comment}" ;')
        return f"{verb} {kind} {where} {obj.name}{_block(parts)}"
    item = obj.key if obj.value is None or verb == "delete" else f"{obj.key} : {obj.value}"
    return f"{verb} element {where} {obj.set} {{ {item} }}"


class NftRunner(Protocol):
    """What applies transactions: the real `Nft` or the `FakeNft`."""

    def run(self, tx: Transaction) -> None:
        """Apply all of `tx` or, raising NftError, none of it."""
        ...

    def dump(self) -> str:
        """The whole ruleset as the sorted script that rebuilds it."""
        ...


# ---------------------------------------------------------------------------------------------
# The state both runners can report, and its canonical dump.


@dataclass
class _ChainState:
    spec: Chain
    rules: list[tuple[str, str | None]] = field(default_factory=list)  # (text, comment)


@dataclass
class _SetState:
    spec: Set | Map
    elements: dict[str, str | None] = field(default_factory=dict)


@dataclass
class _TableState:
    comment: str | None = None
    chains: dict[str, _ChainState] = field(default_factory=dict)
    sets: dict[str, _SetState] = field(default_factory=dict)
    counters: dict[str, Counter] = field(default_factory=dict)


_Ruleset = dict[tuple[Family, str], _TableState]


def _dump(ruleset: _Ruleset) -> str:
    lines: list[str] = []
    for (family, name), table in sorted(ruleset.items()):

        def line(op: Operation, family: Family = family, name: str = name) -> None:
            lines.append(render_operation(family, name, op))

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


_CHAIN_REF = re.compile(r"\b(?:jump|goto)\s+([A-Za-z_.][A-Za-z0-9_./-]*)")
_SET_REF = re.compile(r"@([A-Za-z_.][A-Za-z0-9_./-]*)")
_COUNTER_REF = re.compile(r'\bcounter name "?([A-Za-z_.][A-Za-z0-9_./-]*)"?')


def _normalize(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------------
# The fake.


class FakeNft:
    """An in-memory nftables that checks references and commits transactions atomically."""

    def __init__(self) -> None:
        self._ruleset: _Ruleset = {}
        self.transactions: list[Transaction] = []  # every committed one, in order
        self.counts: dict[str, int] = {}  # what `counters` reports (no packets flow here)

    def run(self, tx: Transaction) -> None:
        work = copy.deepcopy(self._ruleset)
        for op in tx.operations:
            try:
                self._apply(work, tx.family, tx.table, op)
            except NftError as exc:
                line = render_operation(tx.family, tx.table, op)
                raise NftError(f"{exc} (in: {line})") from None
        self._ruleset = work
        self.transactions.append(tx)

    def dump(self) -> str:
        return _dump(self._ruleset)

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

    @staticmethod
    def _apply(ruleset: _Ruleset, family: Family, name: str, op: Operation) -> None:
        obj, verb = op.obj, op.verb
        key = (family, name)
        if isinstance(obj, Table):
            if verb in ("add", "create"):
                if key in ruleset:
                    if verb == "create":
                        raise NftError(f"table {family} {name} exists")
                else:
                    ruleset[key] = _TableState(comment=obj.comment)
                return
            if key not in ruleset:
                raise NftError(f"no table {family} {name}")
            if verb == "delete":
                del ruleset[key]
            else:
                for state in ruleset[key].chains.values():
                    state.rules.clear()
            return
        table = ruleset.get(key)
        if table is None:
            raise NftError(f"no table {family} {name}")
        if isinstance(obj, Chain):
            FakeNft._chain(table, verb, obj)
        elif isinstance(obj, Rule):
            target = table.chains.get(obj.chain)
            if target is None:
                raise NftError(f"no chain {obj.chain}")
            FakeNft._check_refs(table, obj.rule)
            target.rules.append((_normalize(obj.rule), obj.comment))
        elif isinstance(obj, Set | Map):
            FakeNft._set(table, verb, obj)
        elif isinstance(obj, Counter):
            FakeNft._counter(table, verb, obj)
        else:
            FakeNft._element(table, verb, obj)

    @staticmethod
    def _counter(table: _TableState, verb: Verb, obj: Counter) -> None:
        if verb in ("add", "create"):
            if obj.name in table.counters and verb == "create":
                raise NftError(f"counter {obj.name} exists")
            table.counters.setdefault(obj.name, obj)
            return
        if obj.name not in table.counters:
            raise NftError(f"no counter {obj.name}")
        if FakeNft._references(table, _COUNTER_REF, obj.name):
            raise NftError(f"counter {obj.name} is in use")
        del table.counters[obj.name]

    @staticmethod
    def _check_refs(table: _TableState, text: str) -> None:
        for ref in _CHAIN_REF.findall(text):
            if ref not in table.chains:
                raise NftError(f"no chain {ref}")
        for ref in _SET_REF.findall(text):
            if ref not in table.sets:
                raise NftError(f"no set or map {ref}")
        for ref in _COUNTER_REF.findall(text):
            if ref not in table.counters:
                raise NftError(f"no counter {ref}")

    @staticmethod
    def _references(table: _TableState, pattern: re.Pattern[str], name: str) -> bool:
        for chain in table.chains.values():
            if any(name in pattern.findall(text) for text, _ in chain.rules):
                return True
        if pattern is _CHAIN_REF:
            for st in table.sets.values():
                if any(name in pattern.findall(v or "") for v in st.elements.values()):
                    return True
        return False

    @staticmethod
    def _chain(table: _TableState, verb: Verb, obj: Chain) -> None:
        existing = table.chains.get(obj.name)
        if verb in ("add", "create"):
            if existing is None:
                table.chains[obj.name] = _ChainState(obj)
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
        if FakeNft._references(table, _CHAIN_REF, obj.name):
            raise NftError(f"chain {obj.name} is in use")
        del table.chains[obj.name]

    @staticmethod
    def _set(table: _TableState, verb: Verb, obj: Set | Map) -> None:
        existing = table.sets.get(obj.name)
        if verb in ("add", "create"):
            if existing is None:
                table.sets[obj.name] = _SetState(obj)
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
        if FakeNft._references(table, _SET_REF, obj.name):
            raise NftError(f"set {obj.name} is in use")
        del table.sets[obj.name]

    @staticmethod
    def _element(table: _TableState, verb: Verb, obj: Element) -> None:
        st = table.sets.get(obj.set)
        if st is None:
            raise NftError(f"no set or map {obj.set}")
        key = _normalize(obj.key)
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
        value = _normalize(obj.value) if obj.value is not None else None
        if value is not None:
            FakeNft._check_refs(table, value)
        if key in st.elements:
            if verb == "create" or st.elements[key] != value:
                raise NftError(f"element {key} exists in {obj.set}")
            return
        st.elements[key] = value


# ---------------------------------------------------------------------------------------------
# The real thing.


class Nft:
    """Runs the real nftables in a network namespace (None: the caller's own): the `nft`
    tool's library in-process where it can (`dataplane.libnftables`: a change costs the
    kernel's commit, not a process), else the `nft` binary. In-process is the default for
    the caller's own namespace only, as an open context keeps its namespace alive."""

    def __init__(self, netns: str | None = None, *, binary: str = "nft",
                 in_process: bool | None = None) -> None:
        self.netns = netns
        self.binary = binary
        wanted = in_process if in_process is not None else netns is None and binary == "nft"
        self._lib: Libnftables | None = None
        self._reader: Libnftables | None = None
        if wanted and libnftables_available():
            opener = None
            if netns is not None:
                from netpolicy.dataplane.netns import run_in  # pyroute2: 0.2 s to import

                def opener(create: Callable[[], int]) -> int:
                    return run_in(netns, create)
            self._lib = Libnftables(opener)
            # Listings (counters: tens of ms on a big table) have a context of their own,
            # so a transaction never waits for one to finish.
            self._reader = Libnftables(opener)

    def close(self) -> None:
        """Release the in-process contexts (before deleting their namespace)."""
        for lib in (self._lib, self._reader):
            if lib is not None:
                lib.close()

    def _command(self, *args: str) -> list[str]:
        prefix = ["ip", "netns", "exec", self.netns] if self.netns is not None else []
        return [*prefix, self.binary, *args]

    def _nft(self, *args: str, stdin: str | None = None) -> str:
        if self._lib is not None:
            words = [a for a in args if a not in ("-j", "--check")]
            try:
                if words == ["-f", "-"]:
                    return self._lib.run_script(stdin or "", dry_run="--check" in args)
                lib = self._reader if words[0] == "list" and self._reader else self._lib
                return lib.run(" ".join(words), json="-j" in args, dry_run="--check" in args)
            except LibnftablesError as exc:
                where = f" in network namespace {self.netns}" if self.netns else ""
                raise NftError(f"nft {' '.join(args)}{where} failed: {exc}") from None
        try:
            done = subprocess.run(
                self._command(*args), input=stdin, capture_output=True, text=True, check=False
            )
        except OSError as exc:
            raise NftError(f"cannot run nft: {exc}") from exc
        if done.returncode != 0:
            where = f" in network namespace {self.netns}" if self.netns else ""
            raise NftError(f"nft {' '.join(args)}{where} failed: {done.stderr.strip()}")
        return done.stdout

    def run(self, tx: Transaction) -> None:
        if len(tx):
            self._nft("-f", "-", stdin=tx.render())

    def check(self, tx: Transaction) -> None:
        """Let nft validate `tx` without applying it (`nft --check`)."""
        self._nft("--check", "-f", "-", stdin=tx.render())

    def list_table(self, family: Family, table: str) -> str:
        """`nft list table` as nft prints it."""
        return self._nft("list", "table", str(family), table)

    def counters(self, family: Family, table: str) -> dict[str, int]:
        """Packets counted by each named counter of `table` (cheap: no rules, no sets)."""
        data = json.loads(self._nft("-j", "list", "counters", "table", str(family), table))
        return {str(c["counter"]["name"]): int(c["counter"]["packets"])
                for c in data.get("nftables", []) if "counter" in c}

    def rule_counters(self, family: Family, table: str,
                      chains: list[str] | None = None) -> list[tuple[str, str, int]]:
        """(chain, comment, packets) of every commented rule with a counter in `table`, or
        in the given `chains` only (listing a chain skips the sets: much cheaper)."""
        if chains is None:
            items = json.loads(self._nft("-j", "list", "table", str(family), table))["nftables"]
        else:
            items = [item for chain in chains for item in json.loads(
                self._nft("-j", "list", "chain", str(family), table, chain))["nftables"]]
        out = []
        for item in items:
            rule = item.get("rule")
            if not rule or not rule.get("comment"):
                continue
            packets = next((e["counter"]["packets"] for e in rule.get("expr", [])
                            if isinstance(e, dict) and "counter" in e), None)
            if packets is not None:
                out.append((str(rule["chain"]), str(rule["comment"]), int(packets)))
        return out

    def dump(self) -> str:
        return _dump(self._read_ruleset())

    def _read_ruleset(self) -> _Ruleset:
        data = json.loads(self._nft("-j", "list", "ruleset"))
        text = self._nft("list", "ruleset")
        listing = _parse_listing(text)
        ruleset: _Ruleset = {}
        for item in data.get("nftables", []):
            if "table" in item:
                t = item["table"]
                comment = listing.table_comments.get((t["family"], t["name"]))
                ruleset[(Family(t["family"]), t["name"])] = _TableState(comment=comment)
        for item in data.get("nftables", []):
            for kind in ("chain", "set", "map"):
                if kind not in item:
                    continue
                o = item[kind]
                table = ruleset[(Family(o["family"]), o["table"])]
                if kind == "chain":
                    where = (o["family"], o["table"], o["name"])
                    spec = Chain(
                        o["name"],
                        ChainType(o["type"]) if "type" in o else None,
                        Hook(o["hook"]) if "hook" in o else None,
                        o.get("prio"),
                        o.get("policy"),
                        listing.chain_comments.get(where),
                    )
                    found = listing.rules.get(where, [])
                    table.chains[o["name"]] = _ChainState(spec, list(found))
                else:
                    type_text = _json_type(o["type"])
                    flags = tuple(o.get("flags", ()))
                    set_spec: Set | Map = (
                        Set(o["name"], type_text, flags, o.get("comment"))
                        if kind == "set"
                        else Map(o["name"], type_text, _json_type(o["map"]), flags, o.get("comment"))
                    )
                    st = _SetState(set_spec)
                    for elem in o.get("elem", ()):
                        if kind == "map":
                            st.elements[_json_value(elem[0])] = _json_value(elem[1])
                        else:
                            st.elements[_json_value(elem)] = None
                    table.sets[o["name"]] = st
        return ruleset


def _json_type(value: object) -> str:
    return " . ".join(value) if isinstance(value, list) else str(value)


def _json_value(value: object) -> str:
    """An element key or value of `nft -j` output, as `nft list` writes it."""
    if isinstance(value, dict):
        if "elem" in value:
            return _json_value(value["elem"]["val"])
        if "concat" in value:
            return " . ".join(_json_value(v) for v in value["concat"])
        if "prefix" in value:
            return f"{value['prefix']['addr']}/{value['prefix']['len']}"
        if "range" in value:
            low, high = value["range"]
            return f"{_json_value(low)}-{_json_value(high)}"
        (verdict, arg), *_ = value.items()
        if isinstance(arg, dict) and "target" in arg:
            return f"{verdict} {arg['target']}"
        return str(verdict)
    return str(value)


_COMMENT_TAIL = re.compile(r'\s+comment "([^"]*)"\Z')
_COMMENT_LINE = re.compile(r'comment "([^"]*)"\Z')


@dataclass
class _Listing:
    """What `nft list ruleset` text tells and nft 1.0.6's JSON leaves out: the comments of
    tables and chains, and rules as text."""

    table_comments: dict[tuple[str, str], str] = field(default_factory=dict)
    chain_comments: dict[tuple[str, str, str], str] = field(default_factory=dict)
    rules: dict[tuple[str, str, str], list[tuple[str, str | None]]] = field(default_factory=dict)


def _parse_listing(text: str) -> _Listing:
    found = _Listing()
    table: tuple[str, str] | None = None
    chain: tuple[str, str, str] | None = None
    depth = 0
    for raw in text.splitlines():
        line = raw.strip()
        if line.endswith("{"):
            words = line.split()
            if depth == 0 and words[0] == "table":
                table = (words[1], words[2])
            elif depth == 1 and words[0] == "chain" and table is not None:
                chain = (*table, words[1])
                found.rules[chain] = []
            depth += 1
            continue
        if line == "}":
            depth -= 1
            if depth <= 1:
                chain = None
            continue
        comment_line = _COMMENT_LINE.match(line)
        if depth == 1 and table is not None and comment_line:
            found.table_comments[table] = comment_line.group(1)
        elif depth == 2 and chain is not None and comment_line:
            found.chain_comments[chain] = comment_line.group(1)
        elif depth == 2 and chain is not None and line and not line.startswith("type "):
            match = _COMMENT_TAIL.search(line)
            body = line[: match.start()] if match else line
            found.rules[chain].append((_normalize(body), match.group(1) if match else None))
    return found
