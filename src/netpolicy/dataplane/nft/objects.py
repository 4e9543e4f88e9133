"""The objects of a table — `Table`, `Chain`, `Rule`, `Set`, `Map`, `Counter`, `Element` —
each checking itself when it is made, refusing the verbs nft has no form for, writing itself
as an `nft -f` line, and calling its own method of a `Target` to take effect (knftables'
objects.go). No other module asks which kind an object is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol

from netpolicy.dataplane.nft.types import ChainType, Hook, Verb, check_comment, check_name

_FLUSH = "only tables, chains, sets and maps can be flushed"
_ELEMENTS_PER_LINE = 1000


class Target(Protocol):
    """Where operations take effect, one method per kind of object (the fake's ruleset,
    `fake.py`); each object calls its own (`apply`)."""

    def table(self, verb: Verb, obj: Table) -> None: ...
    def chain(self, verb: Verb, obj: Chain) -> None: ...
    def rule(self, verb: Verb, obj: Rule) -> None: ...
    def set(self, verb: Verb, obj: Set) -> None: ...
    def map(self, verb: Verb, obj: Map) -> None: ...
    def counter(self, verb: Verb, obj: Counter) -> None: ...
    def element(self, verb: Verb, obj: Element) -> None: ...


class _Object:
    """What every kind has: the verbs it refuses (with the reason), and a check of them."""

    refuses: ClassVar[Mapping[Verb, str]] = {}

    def check(self, verb: Verb) -> None:
        """Raise ValueError if nft has no `verb` for this kind of object."""
        if verb in self.refuses:
            raise ValueError(self.refuses[verb])


def _block(parts: Iterable[str]) -> str:
    inner = " ".join(parts)
    return f" {{ {inner} }}" if inner else ""


def _comment(comment: str | None) -> list[str]:
    return [f'comment "{comment}" ;'] if comment is not None else []


@dataclass(frozen=True)
class Table(_Object):
    """The transaction's table itself (its family and name belong to the transaction)."""

    comment: str | None = None

    def __post_init__(self) -> None:
        check_comment(self.comment)

    def render(self, verb: Verb, where: str) -> str:
        if verb in ("flush", "delete"):
            return f"{verb} table {where}"
        return f"{verb} table {where}{_block(_comment(self.comment))}"

    def apply(self, verb: Verb, target: Target) -> None:
        target.table(verb, self)


@dataclass(frozen=True)
class Chain(_Object):
    """A regular chain, or a base chain when `type`, `hook` and `priority` are all given."""

    name: str
    type: ChainType | None = None
    hook: Hook | None = None
    priority: int | None = None
    policy: Literal["accept", "drop"] | None = None
    comment: str | None = None

    def __post_init__(self) -> None:
        check_name("chain", self.name)
        check_comment(self.comment)
        spec = (self.type, self.hook, self.priority)
        if any(x is not None for x in spec) and any(x is None for x in spec):
            raise ValueError(f"base chain {self.name} needs type, hook and priority together")
        if self.policy is not None and self.hook is None:
            raise ValueError(f"regular chain {self.name} cannot have a policy")

    @property
    def is_base(self) -> bool:
        return self.hook is not None

    def render(self, verb: Verb, where: str) -> str:
        if verb in ("flush", "delete"):
            return f"{verb} chain {where} {self.name}"
        parts = []
        if self.is_base:
            parts.append(f"type {self.type} hook {self.hook} priority {self.priority} ;")
            if self.policy is not None:
                parts.append(f"policy {self.policy} ;")
        parts += _comment(self.comment)
        return f"{verb} chain {where} {self.name}{_block(parts)}"

    def apply(self, verb: Verb, target: Target) -> None:
        target.chain(verb, self)


@dataclass(frozen=True)
class Rule(_Object):
    """One rule appended to `chain`; `rule` is nft rule text, e.g. "ip daddr @x accept"."""

    chain: str
    rule: str
    comment: str | None = None

    refuses: ClassVar[Mapping[Verb, str]] = {
        "create": "rules cannot be created, only added",
        "flush": _FLUSH,
        "delete": "rules are removed by flushing their chain, not one by one",
    }

    def __post_init__(self) -> None:
        check_name("chain", self.chain)
        check_comment(self.comment)
        if not self.rule.strip() or "\n" in self.rule or ";" in self.rule:
            raise ValueError(f"invalid rule text {self.rule!r}")

    def render(self, verb: Verb, where: str) -> str:
        comment = f' comment "{self.comment}"' if self.comment is not None else ""
        return f"add rule {where} {self.chain} {self.rule}{comment}"

    def apply(self, verb: Verb, target: Target) -> None:
        target.rule(verb, self)


def _render_set(kind: str, verb: Verb, where: str, name: str, type_text: str,
                flags: tuple[str, ...], comment: str | None) -> str:
    if verb in ("flush", "delete"):
        return f"{verb} {kind} {where} {name}"
    parts = [f"type {type_text} ;"]
    if flags:
        parts.append(f"flags {', '.join(flags)} ;")
    parts += _comment(comment)
    return f"{verb} {kind} {where} {name}{_block(parts)}"


@dataclass(frozen=True)
class Set(_Object):
    """A named set; `type` is the key type, e.g. "ipv4_addr . inet_proto . inet_service"."""

    name: str
    type: str
    flags: tuple[str, ...] = ()
    comment: str | None = None

    def __post_init__(self) -> None:
        check_name("set", self.name)
        check_comment(self.comment)

    def render(self, verb: Verb, where: str) -> str:
        return _render_set("set", verb, where, self.name, self.type, self.flags, self.comment)

    def apply(self, verb: Verb, target: Target) -> None:
        target.set(verb, self)


@dataclass(frozen=True)
class Map(_Object):
    """A named map from `type` keys to `value_type` values ("verdict" for a verdict map)."""

    name: str
    type: str
    value_type: str
    flags: tuple[str, ...] = ()
    comment: str | None = None

    def __post_init__(self) -> None:
        check_name("map", self.name)
        check_comment(self.comment)

    def render(self, verb: Verb, where: str) -> str:
        return _render_set("map", verb, where, self.name, f"{self.type} : {self.value_type}",
                           self.flags, self.comment)

    def apply(self, verb: Verb, target: Target) -> None:
        target.map(verb, self)


@dataclass(frozen=True)
class Counter(_Object):
    """A named counter object; rules count into it with `counter name "NAME"`."""

    name: str
    comment: str | None = None

    refuses: ClassVar[Mapping[Verb, str]] = {"flush": _FLUSH}

    def __post_init__(self) -> None:
        check_name("counter", self.name)
        check_comment(self.comment)

    def render(self, verb: Verb, where: str) -> str:
        if verb == "delete":
            return f"{verb} counter {where} {self.name}"
        return f"{verb} counter {where} {self.name}{_block(_comment(self.comment))}"

    def apply(self, verb: Verb, target: Target) -> None:
        target.counter(verb, self)


_BAD_ELEMENT = re.compile(r"[,{};\n]")


@dataclass(frozen=True)
class Element(_Object):
    """An element of set or map `set`: `key`, and for a map its `value` ("goto chain")."""

    set: str
    key: str
    value: str | None = None

    refuses: ClassVar[Mapping[Verb, str]] = {"flush": _FLUSH}

    def __post_init__(self) -> None:
        check_name("set", self.set)
        for text in (self.key, self.value or "x"):
            if _BAD_ELEMENT.search(text) or not text.strip():
                raise ValueError(f"invalid element text {text!r}")

    def item(self, verb: Verb) -> str:
        """The element inside the braces (a deletion names the key only)."""
        return self.key if self.value is None or verb == "delete" else f"{self.key} : {self.value}"

    def render(self, verb: Verb, where: str) -> str:
        return Element.render_run(verb, where, [self])

    @staticmethod
    def render_run(verb: Verb, where: str, run: Sequence[Element]) -> str:
        """Elements of one set or map (the first one's), in one line."""
        items = ", ".join(e.item(verb) for e in run)
        return f"{verb} element {where} {run[0].set} {{ {items} }}"

    def apply(self, verb: Verb, target: Target) -> None:
        target.element(verb, self)


NftObject = Table | Chain | Rule | Set | Map | Element | Counter


@dataclass(frozen=True)
class Operation:
    verb: Verb
    obj: NftObject

    def render(self, where: str) -> str:
        """This operation as an `nft -f` line; `where` is "FAMILY TABLE"."""
        return self.obj.render(self.verb, where)

    def apply(self, target: Target) -> None:
        self.obj.apply(self.verb, target)


def render_script(where: str, operations: Sequence[Operation]) -> str:
    """An `nft -f` script: one line per operation, except that a run of element additions
    (or deletions) to one set or map becomes one line, which nft parses much faster than
    one line per element."""
    lines: list[str] = []
    i = 0
    while i < len(operations):
        op = operations[i]
        if not isinstance(op.obj, Element):
            lines.append(op.render(where))
            i += 1
            continue
        run = [op.obj]
        i += 1
        while i < len(operations) and len(run) < _ELEMENTS_PER_LINE:
            nxt = operations[i]
            if nxt.verb != op.verb or not isinstance(nxt.obj, Element) or nxt.obj.set != run[0].set:
                break
            run.append(nxt.obj)
            i += 1
        lines.append(Element.render_run(op.verb, where, run))
    return "".join(line + "\n" for line in lines)
