"""The connectivity report: for every ordered pair of endpoints, the ports a new
connection may use ("All", "TCP 80,8080-8090", "none")."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Literal

import numpy as np

from netpolicy.engine import Connectivity, PortSet
from netpolicy.report.formats import pair_table

ConnectivityFormat = Literal["text", "json", "csv", "md", "dot"]
HEADER = ("FROM", "TO", "ALLOWED")


def _ports_json(ports: PortSet) -> dict[str, list[list[int]]]:
    return {protocol: [[lo, hi] for lo, hi in intervals] for protocol, intervals in ports.ranges}


def _cells(conn: Connectivity, sources: Sequence[int], destinations: Sequence[int]
           ) -> list[list[int]]:
    """`cells[i][j]`: the index in `conn.port_sets` of (sources[i], destinations[j])."""
    rows = np.asarray(sources, dtype=np.intp)[:, None]
    cols = np.asarray(destinations, dtype=np.intp)[None, :]
    cells: list[list[int]] = conn.cell[rows, cols].tolist()
    return cells


def render(conn: Connectivity, fmt: ConnectivityFormat, sources: Sequence[int],
           destinations: Sequence[int]) -> str:
    """Render the pairs (sources x destinations, endpoint indexes in sorted order)."""
    keys = conn.endpoints
    cells = _cells(conn, sources, destinations)
    if fmt == "json":
        return _json(conn, sources, destinations, cells)
    if fmt == "dot":
        return _dot(keys, sources, destinations, cells, conn.port_sets)
    return pair_table(fmt, HEADER, [keys[s] for s in sources], [keys[d] for d in destinations],
                      [str(p) for p in conn.port_sets], cells)


def _json(conn: Connectivity, sources: Sequence[int], destinations: Sequence[int],
          cells: list[list[int]]) -> str:
    """One connection per line; each distinct port set is encoded once (a cluster has a
    few dozen of them, and hundreds of thousands of pairs)."""
    dump = json.dumps
    sets = [f'"allowed": {dump(str(p))}, "ports": {dump(_ports_json(p))}}}' for p in conn.port_sets]
    names = [dump(k) for k in conn.endpoints]
    first = [f'    {{"from": {names[s]}, "to": ' for s in sources]
    second = [f"{names[d]}, " for d in destinations]
    lines = [a + second[j] + sets[c] for a, row in zip(first, cells, strict=True)
             for j, c in enumerate(row)]
    endpoints = sorted({conn.endpoints[i] for i in [*sources, *destinations]})
    return ('{\n  "endpoints": ' + dump(endpoints) + ',\n  "connections": [\n'
            + ",\n".join(lines) + ("\n" if lines else "") + "  ]\n}\n")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot(keys: Sequence[str], sources: Sequence[int], destinations: Sequence[int],
         cells: list[list[int]], port_sets: Sequence[PortSet]) -> str:
    """Graphviz: one box per endpoint, grouped by namespace; an arrow per pair that may
    connect on at least one port, labelled with the ports. Self pairs are left out."""
    used = sorted({*sources, *destinations})
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
    quoted = {i: _quote(keys[i]) for i in used}
    arrows = [f" [label={_quote(str(ports))}];" for ports in port_sets]
    lines += [f"  {quoted[s]} -> {quoted[d]}{arrows[c]}"
              for s, row in zip(sources, cells, strict=True)
              for d, c in zip(destinations, row, strict=True) if s != d and not port_sets[c].is_empty]
    lines.append("}")
    return "\n".join(lines) + "\n"
