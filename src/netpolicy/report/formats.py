"""Shared helpers for the text, CSV and Markdown renderings of tables."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any, Literal

TableFormat = Literal["text", "csv", "md"]


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, like `kubectl get`."""
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in [header, *rows]]
    return "\n".join(lines) + "\n"


def csv_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def _md_head(header: Sequence[str]) -> list[str]:
    return ["| " + " | ".join(_md_cell(h) for h in header) + " |",
            "|" + "|".join("---" for _ in header) + "|"]


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = _md_head(header)
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def table(fmt: TableFormat, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    if fmt == "csv":
        return csv_table(header, rows)
    if fmt == "md":
        return md_table(header, rows)
    return text_table(header, rows)


def _csv_cell(text: str) -> str:
    """`text` as the csv module writes it inside a row (quoted only where needed)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([text, ""])
    return buf.getvalue()[:-2]


def pair_table(fmt: TableFormat, header: tuple[str, str, str], left: Sequence[str],
               right: Sequence[str], values: Sequence[str], cells: Sequence[Sequence[int]]) -> str:
    """The same text as `table(fmt, header, rows)` for the rows
    `(left[i], right[j], values[cells[i][j]])` of every pair (i, j). Such a table has
    hundreds of thousands of rows made of a few hundred distinct cells, so each cell is
    escaped and padded once and a row is two concatenations."""
    if fmt == "text":
        shown = bool(left and right)  # no pair, no row: only the header counts
        widths = (max([len(header[0]), *(map(len, left) if shown else ())]),
                  max([len(header[1]), *(map(len, right) if shown else ())]))
        first = [text.ljust(widths[0]) + "   " for text in left]
        second = [text.ljust(widths[1]) + "   " for text in right]
        third, tail = list(values), ""
        head = (header[0].ljust(widths[0]) + "   " + header[1].ljust(widths[1]) + "   "
                + header[2]).rstrip()
    elif fmt == "csv":
        first = [_csv_cell(text) + "," for text in left]
        second = [_csv_cell(text) + "," for text in right]
        third, tail = [_csv_cell(text) for text in values], ""
        head = csv_table(header, []).rstrip("\n")
    else:
        first = ["| " + _md_cell(text) + " | " for text in left]
        second = [_md_cell(text) + " | " for text in right]
        third, tail = [_md_cell(text) for text in values], " |"
        head = "\n".join(_md_head(header))
    third = [text + tail for text in third]
    lines = [a + second[j] + third[k] for a, row in zip(first, cells, strict=True)
             for j, k in enumerate(row)]
    if fmt == "text" and any(text != text.rstrip() or not text for text in third):
        lines = [line.rstrip() for line in lines]
    return "\n".join([head, *lines]) + "\n"


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False) + "\n"
