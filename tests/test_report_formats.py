"""The fast table of pairs prints exactly what the general table prints."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from netpolicy.report.formats import pair_table, table

# Cells that need escaping in some format: separators, quotes, pipes, spaces at the end,
# empty strings.
cell = st.text(alphabet=st.sampled_from(list('ab /,"|\\- ')), max_size=6)


@st.composite
def pairs(draw: st.DrawFn) -> tuple[list[str], list[str], list[str], list[list[int]]]:
    left = draw(st.lists(cell, max_size=4))
    right = draw(st.lists(cell, max_size=4))
    values = draw(st.lists(cell, min_size=1, max_size=4))
    index = st.integers(0, len(values) - 1)
    cells = [[draw(index) for _ in right] for _ in left]
    return left, right, values, cells


@given(pairs(), st.sampled_from(["text", "csv", "md"]))
def test_pair_table_is_the_table_of_its_rows(data: tuple[list[str], list[str], list[str],
                                                         list[list[int]]], fmt: str) -> None:
    left, right, values, cells = data
    header = ("FROM", "TO", "ALLOWED")
    rows = [(a, b, values[cells[i][j]]) for i, a in enumerate(left) for j, b in enumerate(right)]
    assert pair_table(fmt, header, left, right, values, cells) == table(fmt, header, rows)  # type: ignore[arg-type]


def test_text_pairs_are_padded_to_the_widest_name() -> None:
    out = pair_table("text", ("FROM", "TO", "ALLOWED"), ["x/a", "x/long-name"], ["y/b"],
                     ["All", "none"], [[0], [1]])
    assert out.splitlines() == ["FROM          TO    ALLOWED",
                                "x/a           y/b   All",
                                "x/long-name   y/b   none"]
