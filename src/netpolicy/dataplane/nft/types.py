"""The words every other module of the package uses: families, chain types, hooks,
priorities, the verbs of an operation, names and comments as nft accepts them unquoted, and
the one error (knftables' types.go and error.go)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

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


Verb = Literal["add", "create", "flush", "delete"]

NAME = r"[A-Za-z_.][A-Za-z0-9_./-]*"  # nft's unquoted identifier
_NAME = re.compile(NAME + r"\Z")


def check_name(kind: str, name: str) -> None:
    if not _NAME.match(name) or len(name) > 256:
        raise ValueError(f"invalid nftables {kind} name {name!r}")


def check_comment(comment: str | None) -> None:
    if comment is not None and ('"' in comment or "\n" in comment or len(comment) > 128):
        raise ValueError(f"invalid nftables comment {comment!r}")
