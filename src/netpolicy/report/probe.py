"""The prober's report: per port, the observed truth table beside the engine's, every
disagreement marked."""

from __future__ import annotations

from typing import Any

from netpolicy.probe.runner import PortTable, ProbeReport
from netpolicy.report.formats import text_table, to_json

LEGEND = (". allowed   X denied   (both agree)      "
          "! allowed by the engine, blocked in traffic   ? denied by the engine, got through   "
          "E probe error")


def _cell(table: PortTable, pair: tuple[str, str]) -> str:
    want = table.expected[pair]
    result = table.observed[pair]
    if result.outcome == "error":
        return "E"
    if result.reached == want:
        return "." if want else "X"
    return "!" if want else "?"


def render_text(report: ProbeReport) -> str:
    parts = []
    for t in report.tables:
        header = [f"{t.protocol}/{t.port}", *t.pods]
        rows = [[s, *(_cell(t, (s, d)) for d in t.pods)] for s in t.pods]
        parts.append(text_table(header, rows))
        for d in t.disagreements():
            parts.append(f"  DISAGREEMENT {d}\n")
    n = len(report.disagreements)
    summary = (f"{report.probes} probes in {report.duration:.1f}s: "
               + ("traffic agrees with the engine" if n == 0 else f"{n} disagreements"))
    return "\n".join(parts) + "\n" + LEGEND + "\n" + summary + "\n"


def render_json(report: ProbeReport) -> str:
    data: dict[str, Any] = {
        "agree": not report.disagreements,
        "probes": report.probes,
        "seconds": round(report.duration, 3),
        "ports": [{
            "protocol": t.protocol, "port": t.port, "pods": t.pods,
            "expected": {s: [d for d in t.pods if t.expected[(s, d)]] for s in t.pods},
            "observed": {s: [d for d in t.pods if t.observed[(s, d)].reached] for s in t.pods},
        } for t in report.tables],
        "disagreements": [{
            "from": d.source, "to": d.destination, "protocol": d.protocol, "port": d.port,
            "expected": d.expected, "outcome": d.observed.outcome, "detail": d.observed.detail,
        } for d in report.disagreements],
    }
    return to_json(data)
