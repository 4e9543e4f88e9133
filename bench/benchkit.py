"""What the node agent and lab benchmarks share: statistics, Markdown tables, the
PASS/FAIL summary, and clean-up on SIGTERM. Imported by file name (the benchmarks run as
scripts from this folder)."""

from __future__ import annotations

import contextlib
import signal
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table, columns padded."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
              for r in rows]
    return "\n".join(lines)


@dataclass
class Verdict:
    """One line of the summary: `ok` None for a figure given for information."""

    name: str
    value: str
    target: str
    ok: bool | None


def summary(results: list[Verdict]) -> str:
    """The final table: each measurement against its target, PASS / FAIL / -."""
    return table(["measurement", "value", "target", "result"],
                 [[v.name, v.value, v.target, "-" if v.ok is None else ("PASS" if v.ok else "FAIL")]
                  for v in results])


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, so every `finally` cleans up as on Ctrl-C."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
