"""A transaction collects operations on one table (each object checks itself and the verb
as it is added) and renders them as one `nft -f` script; `NftRunner` is what applies one
(knftables' transaction.go)."""

from __future__ import annotations

from typing import Protocol, Self

from netpolicy.dataplane.nft.objects import (
    Chain,
    Counter,
    Element,
    Map,
    NftObject,
    Operation,
    Set,
    Table,
    render_script,
)
from netpolicy.dataplane.nft.types import Family, Verb, check_name


class Transaction:
    """Operations on one table, checked as they are added, rendered as one `nft -f` script."""

    def __init__(self, family: Family, table: str) -> None:
        check_name("table", table)
        self.family = family
        self.table = table
        self._ops: list[Operation] = []

    @property
    def operations(self) -> tuple[Operation, ...]:
        return tuple(self._ops)

    @property
    def where(self) -> str:
        """"FAMILY TABLE", as every line of the script names the table."""
        return f"{self.family} {self.table}"

    def __len__(self) -> int:
        return len(self._ops)

    def add(self, obj: NftObject) -> Self:
        """Add, or leave alone what exists and agrees (rules and elements are appended/added)."""
        return self._append("add", obj)

    def create(self, obj: NftObject) -> Self:
        """Add, failing the transaction if it already exists."""
        return self._append("create", obj)

    def flush(self, obj: Table | Chain | Set | Map) -> Self:
        """Empty a table (its chains' rules), a chain (its rules), or a set or map."""
        return self._append("flush", obj)

    def delete(self, obj: Table | Chain | Set | Map | Element | Counter) -> Self:
        """Delete an object, which must exist (elements: by key)."""
        return self._append("delete", obj)

    def _append(self, verb: Verb, obj: NftObject) -> Self:
        obj.check(verb)
        self._ops.append(Operation(verb, obj))
        return self

    def render(self) -> str:
        """The `nft -f` script (`objects.render_script`)."""
        return render_script(self.where, self._ops)


class NftRunner(Protocol):
    """What applies transactions: the real `Nft` or the `FakeNft`."""

    def run(self, tx: Transaction) -> None:
        """Apply all of `tx` or, raising NftError, none of it."""
        ...

    def dump(self) -> str:
        """The whole ruleset as the sorted script that rebuilds it."""
        ...

