"""The truth table for one port: who may open a new connection to whom.

The JSON form is a contract other tools read; keep its shape:
`{"port": int, "protocol": str, "pods": [sorted "namespace/name"],
  "allowed": {source: [sorted destinations], ...every source}}`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Literal

import numpy as np

from netpolicy.engine import Matrix
from netpolicy.report.formats import table

MatrixFormat = Literal["text", "json", "csv", "md"]
LEGEND = ". allowed   X denied   (rows: from, columns: to)"


def render(m: Matrix, fmt: MatrixFormat, sources: Sequence[int],
           destinations: Sequence[int]) -> str:
    keys = m.endpoints
    if fmt == "json":
        # One line per source, each encoded by the C encoder (json.dumps with indent would
        # use the pure-Python one: minutes for 10,000 endpoints).
        names = np.array(keys, dtype=object)
        cols = np.asarray(destinations, dtype=np.intp)
        dump = json.dumps
        lines = [f"    {dump(keys[s])}: {dump(names[cols[m.allowed[s, cols]]].tolist())}"
                 for s in sources]
        pods = sorted({keys[i] for i in [*sources, *destinations]})
        return (f'{{\n  "port": {m.port},\n  "protocol": {dump(m.protocol)},\n'
                f'  "pods": {dump(pods)},\n  "allowed": {{\n' + ",\n".join(lines)
                + ("\n" if lines else "") + "  }\n}\n")
    corner = f"{m.protocol}/{m.port}"
    header = [corner, *(keys[d] for d in destinations)]
    rows = [[keys[s], *("." if m.allowed[s, d] else "X" for d in destinations)]
            for s in sources]
    if fmt == "text":
        return table("text", header, rows) + "\n" + LEGEND + "\n"
    return table(fmt, header, rows)
