"""docs/design.md maps every semantic point to its code and its tests: this keeps the map true.

Each table row names code as `path: symbol` (then more symbols of that file) and tests as
`tests/...py::test_name` or `E2E[case name]`. A renamed function, a deleted test or a
renamed conformance case breaks the row, and this test says which.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from netpolicy.probe.cases import CASES
from netpolicy.probe.tier_cases import TIER_CASES

ROOT = Path(__file__).resolve().parent.parent
DESIGN = ROOT / "docs" / "design.md"
SOURCE = ROOT / "src" / "netpolicy"
TICKED = re.compile(r"`([^`]+)`")
CODE_REF = re.compile(r"^([\w/]+\.py)(?::\s*(.+))?$")
TEST_REF = re.compile(r"^(tests/[\w/]+\.py)::(\w+)(?:\[.*\])?$")
SYMBOL = re.compile(r"^[A-Za-z_][\w.]*$")


def rows() -> list[tuple[str, str, str]]:
    """(point, code column, tests column) of every row of the table."""
    text = DESIGN.read_text()
    table = text[text.index("## Where each point lives"):]
    out = []
    for line in table.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 4 and cells[0] not in ("#", "---"):
            out.append((cells[0], cells[2], cells[3]))
    return out


def test_the_table_covers_every_point_of_the_design() -> None:
    text = DESIGN.read_text()
    points = re.findall(r"^(\d+)\. ", text[:text.index("## Tiered")], flags=re.M)
    tiers = re.findall(r"\*\*(T\d+)\.", text)
    assert points and tiers
    assert {p for p, _, _ in rows()} >= set(points) | set(tiers) | {"—"}


def code_refs(column: str) -> list[tuple[Path, str]]:
    """(file, name) for each symbol the code column names; a bare path is checked alone."""
    refs: list[tuple[Path, str]] = []
    current: Path | None = None
    for token in TICKED.findall(column):
        match = CODE_REF.match(token)
        if match:
            current = SOURCE / match.group(1)
            refs.append((current, match.group(2) or ""))
        elif current is not None and (SYMBOL.match(token) or token.startswith(("@", "-"))):
            refs.append((current, token))
    return refs


@pytest.mark.parametrize(("point", "code"), [(p, c) for p, c, _ in rows()])
def test_the_code_each_row_names_exists(point: str, code: str) -> None:
    refs = code_refs(code)
    assert refs, f"row {point} names no code"
    for path, name in refs:
        assert path.is_file(), f"row {point}: {path.relative_to(ROOT)} does not exist"
        if not name or not SYMBOL.match(name):
            continue
        text = path.read_text()
        for part in name.split("."):
            assert re.search(rf"\b{re.escape(part)}\b", text), (
                f"row {point}: {path.relative_to(ROOT)} has no {part!r}")


@pytest.mark.parametrize(("point", "tests"), [(p, t) for p, _, t in rows()])
def test_the_tests_each_row_names_exist(point: str, tests: str) -> None:
    cases = {c.name for c in (*CASES, *TIER_CASES)}
    named = 0
    for token in TICKED.findall(tests):
        match = TEST_REF.match(token)
        if match:
            path = ROOT / match.group(1)
            assert path.is_file(), f"row {point}: {match.group(1)} does not exist"
            assert re.search(rf"^def {match.group(2)}\(", path.read_text(), flags=re.M), (
                f"row {point}: {match.group(1)} has no {match.group(2)}")
            named += 1
    for case in re.findall(r"E2E\[((?:[^\[\]]|\[[^\]]*\])+)\]", tests):
        assert case in cases, f"row {point}: no conformance case named {case!r}"
        named += 1
    assert named, f"row {point} names no test"
