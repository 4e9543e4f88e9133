"""Sets of (protocol, port): per protocol, sorted disjoint closed intervals of 1..65535.

Used for what a rule's `ports` allow once named ports are resolved on a destination,
and for "which ports may A open to B" in the connectivity report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from netpolicy.api.objects import PROTOCOLS, Protocol

MIN_PORT, MAX_PORT = 1, 65535
Interval = tuple[int, int]


def _normalize(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    merged: list[list[int]] = []
    for lo, hi in sorted(intervals):
        lo, hi = max(lo, MIN_PORT), min(hi, MAX_PORT)
        if lo > hi:
            continue
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return tuple((a, b) for a, b in merged)


@dataclass(frozen=True, slots=True)
class PortSet:
    """An immutable set of (protocol, port). Build with `PortSet.of`, `ALL`, `NONE`."""

    ranges: tuple[tuple[Protocol, tuple[Interval, ...]], ...] = ()

    @classmethod
    def of(cls, by_protocol: Mapping[Protocol, Iterable[Interval]]) -> PortSet:
        return cls(tuple((p, iv) for p in PROTOCOLS
                         if (iv := _normalize(by_protocol.get(p, ())))))

    @classmethod
    def single(cls, protocol: Protocol, lo: int, hi: int | None = None) -> PortSet:
        return cls.of({protocol: [(lo, lo if hi is None else hi)]})

    @classmethod
    def all_of(cls, protocol: Protocol) -> PortSet:
        return cls.single(protocol, MIN_PORT, MAX_PORT)

    def intervals(self, protocol: Protocol) -> tuple[Interval, ...]:
        for p, iv in self.ranges:
            if p == protocol:
                return iv
        return ()

    def contains(self, protocol: Protocol, port: int) -> bool:
        return any(lo <= port <= hi for lo, hi in self.intervals(protocol))

    @property
    def is_empty(self) -> bool:
        return not self.ranges

    @property
    def is_all(self) -> bool:
        return self == ALL

    def __or__(self, other: PortSet) -> PortSet:
        return PortSet.of({p: self.intervals(p) + other.intervals(p) for p in PROTOCOLS})

    def __and__(self, other: PortSet) -> PortSet:
        out: dict[Protocol, list[Interval]] = {}
        for p in PROTOCOLS:
            a, b = self.intervals(p), other.intervals(p)
            i = j = 0
            res: list[Interval] = []
            while i < len(a) and j < len(b):
                lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
                if lo <= hi:
                    res.append((lo, hi))
                if a[i][1] < b[j][1]:
                    i += 1
                else:
                    j += 1
            out[p] = res
        return PortSet.of(out)

    def __sub__(self, other: PortSet) -> PortSet:
        out: dict[Protocol, list[Interval]] = {}
        for p in PROTOCOLS:
            res: list[Interval] = []
            holes = other.intervals(p)
            for lo, hi in self.intervals(p):
                start = lo
                for h_lo, h_hi in holes:
                    if h_hi < start or h_lo > hi:
                        continue
                    if h_lo > start:
                        res.append((start, h_lo - 1))
                    start = max(start, h_hi + 1)
                if start <= hi:
                    res.append((start, hi))
            out[p] = res
        return PortSet.of(out)

    def __str__(self) -> str:
        """`All`, `none`, or e.g. `TCP 80,8080-8090; UDP 53` (all ports of a protocol: `UDP`)."""
        if self.is_all:
            return "All"
        if self.is_empty:
            return "none"
        parts: list[str] = []
        for p, iv in self.ranges:
            if iv == ((MIN_PORT, MAX_PORT),):
                parts.append(p)
            else:
                parts.append(p + " " + ",".join(str(a) if a == b else f"{a}-{b}" for a, b in iv))
        return "; ".join(parts)


ALL = PortSet.of({p: [(MIN_PORT, MAX_PORT)] for p in PROTOCOLS})
NONE = PortSet()
