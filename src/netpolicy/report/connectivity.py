"""The connectivity report: for every ordered pair of endpoints, the ports a new
connection may use ("All", "TCP 80,8080-8090", "none")."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Literal

from netpolicy.engine import Connectivity, PortSet
from netpolicy.report.formats import table

ConnectivityFormat = Literal["text", "json", "csv", "md", "dot"]
HEADER = ("FROM", "TO", "ALLOWED")


def _ports_json(ports: PortSet) -> dict[str, list[list[int]]]:
    return {protocol: [[lo, hi] for lo, hi in intervals] for protocol, intervals in ports.ranges}


def _rows(conn: Connectivity, sources: Sequence[int], destinations: Sequence[int]
          ) -> list[tuple[int, int]]:
    return [(s, d) for s in sources for d in destinations]


def render(conn: Connectivity, fmt: ConnectivityFormat, sources: Sequence[int],
           destinations: Sequence[int]) -> str:
    """Render the pairs (sources x destinations, endpoint indexes in sorted order)."""
    keys = conn.endpoints
    pairs = _rows(conn, sources, destinations)
    if fmt == "json":
        return _json(conn, pairs, sorted({keys[i] for i in [*sources, *destinations]}))
    if fmt == "dot":
        return _dot(conn, pairs)
    return table(fmt, HEADER, [(keys[s], keys[d], str(conn.ports(s, d))) for s, d in pairs])


def _json(conn: Connectivity, pairs: list[tuple[int, int]], endpoints: list[str]) -> str:
    """One connection per line; each distinct port set is encoded once (a cluster has a
    few dozen of them, and hundreds of thousands of pairs)."""
    dump = json.dumps
    sets = [f'"allowed": {dump(str(p))}, "ports": {dump(_ports_json(p))}' for p in conn.port_sets]
    names = [dump(k) for k in conn.endpoints]
    lines = [f'    {{"from": {names[s]}, "to": {names[d]}, {sets[int(conn.cell[s, d])]}}}'
             for s, d in pairs]
    return ('{\n  "endpoints": ' + dump(endpoints) + ',\n  "connections": [\n'
            + ",\n".join(lines) + ("\n" if lines else "") + "  ]\n}\n")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot(conn: Connectivity, pairs: list[tuple[int, int]]) -> str:
    """Graphviz: one box per endpoint, grouped by namespace; an arrow per pair that may
    connect on at least one port, labelled with the ports. Self pairs are left out."""
    keys = conn.endpoints
    used = sorted({i for pair in pairs for i in pair})
    lines = ["digraph connectivity {", "  rankdir=LR;", "  node [shape=box, style=rounded];"]
    namespaces: dict[str, list[int]] = {}
    for i in used:
        namespaces.setdefault(keys[i].split("/", 1)[0], []).append(i)
    for n, (ns, members) in enumerate(sorted(namespaces.items())):
        lines.append(f"  subgraph cluster_{n} {{")
        lines.append(f"    label={_quote(ns)};")
        lines += [f"    {_quote(keys[i])} [label={_quote(keys[i].split('/', 1)[1])}];"
                  for i in members]
        lines.append("  }")
    for s, d in pairs:
        ports = conn.ports(s, d)
        if s != d and not ports.is_empty:
            lines.append(f"  {_quote(keys[s])} -> {_quote(keys[d])} [label={_quote(str(ports))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
