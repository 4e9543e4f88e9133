"""The truth table for one port: who may open a new connection to whom.

The JSON form is a contract other tools read; keep its shape:
`{"port": int, "protocol": str, "pods": [sorted "namespace/name"],
  "allowed": {source: [sorted destinations], ...every source}}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from netpolicy.engine import Matrix
from netpolicy.report.formats import table, to_json

MatrixFormat = Literal["text", "json", "csv", "md"]
LEGEND = ". allowed   X denied   (rows: from, columns: to)"


def render(m: Matrix, fmt: MatrixFormat, sources: Sequence[int],
           destinations: Sequence[int]) -> str:
    keys = m.endpoints
    if fmt == "json":
        names = np.array(keys, dtype=object)
        cols = np.asarray(destinations, dtype=np.intp)
        data: dict[str, Any] = {
            "port": m.port,
            "protocol": m.protocol,
            "pods": sorted({keys[i] for i in [*sources, *destinations]}),
            "allowed": {keys[s]: names[cols[m.allowed[s, cols]]].tolist() for s in sources},
        }
        return to_json(data)
    corner = f"{m.protocol}/{m.port}"
    header = [corner, *(keys[d] for d in destinations)]
    rows = [[keys[s], *("." if m.allowed[s, d] else "X" for d in destinations)]
            for s in sources]
    if fmt == "text":
        return table("text", header, rows) + "\n" + LEGEND + "\n"
    return table(fmt, header, rows)
