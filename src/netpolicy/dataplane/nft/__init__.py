"""nftables transactions as data, applied atomically; a faithful fake for tests.

Design (after knftables, the Go library kube-proxy uses)
-------------------------------------------------------
A `Transaction` is a list of operations — add, create, flush, delete — on typed objects
(`Table`, `Chain`, `Rule`, `Set`, `Map`, `Element`, `Counter`), all in one table of one
family. Each operation is checked when it is added (a base chain names its type, hook and
priority; only elements can be deleted by value; names need no quoting), and the whole
transaction renders to one `nft -f` script. A runner applies it in a single `nft -f -` run,
which the kernel commits atomically: every operation or none.

Two runners share the `NftRunner` protocol:

- `Nft` runs the real `nft` inside a network namespace (`ip netns exec NS nft -f -`), or
  libnftables in-process.
- `FakeNft` keeps the ruleset in memory and mimics what the kernel checks (`fake.py`).

Both can `dump()` their state as the sorted script that would rebuild it, so the same
transactions run against both can be compared (tests/dataplane/test_nft.py does that in a
throwaway namespace). For the comparison to hold, write rule text and element keys the way
`nft list` prints them ("meta mark & 0x00004000 == 0x00004000", "10.96.0.1 . tcp . 443").

The recommended style, as in knftables: static chains, dynamic sets and maps; to replace a
table whole, `add` then `delete` then re-`add` it and fill it, all in one transaction.

Map of the package: one role a module, each importing only the layers below it (the
import-linter contract in pyproject.toml checks it)
--------------------------------------------------------------------------------------
    runner        `Nft`: the real nftables; nft's failures become NftError
    fake          `FakeNft`: the kernel's checks, in memory
    exec          the runner's seams: the `nft` command line, libnftables contexts
    listing       what `nft list` and `nft -j list` print, read back into a state
    transaction   `Transaction` (collects operations), `NftRunner`
    state         a ruleset as the runners report it, and its canonical dump
    objects       `Table`, `Chain`, `Rule`, `Set`, `Map`, `Counter`, `Element`: each checks,
                  renders and applies itself; `Operation`; the script of a transaction
    types         `Family`, `ChainType`, `Hook`, `Priority`, `Verb`, names, `NftError`
"""

from netpolicy.dataplane.nft.fake import FakeNft
from netpolicy.dataplane.nft.objects import (
    Chain,
    Counter,
    Element,
    Map,
    NftObject,
    Operation,
    Rule,
    Set,
    Table,
)
from netpolicy.dataplane.nft.runner import Nft
from netpolicy.dataplane.nft.transaction import NftRunner, Transaction
from netpolicy.dataplane.nft.types import ChainType, Family, Hook, NftError, Priority, Verb

__all__ = [
    "Chain",
    "ChainType",
    "Counter",
    "Element",
    "FakeNft",
    "Family",
    "Hook",
    "Map",
    "Nft",
    "NftError",
    "NftObject",
    "NftRunner",
    "Operation",
    "Priority",
    "Rule",
    "Set",
    "Table",
    "Transaction",
    "Verb",
]
