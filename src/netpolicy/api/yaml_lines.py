"""A line-at-a-time reader for the block YAML that kubectl prints.

Even building documents from libyaml's events (`yaml_events`) spends most of its time
creating an event object per scalar: 60 per pod. Manifests as `kubectl get -o yaml`
prints them, and as most people write them, use one narrow form: one key or list item per
line, indented by spaces, values plain or simply quoted. `load_all` reads exactly that
form with one regular expression per line -- twice as fast as the event builder, eight
times PyYAML's loader on the manifests of 500 pods -- resolving plain scalars with the
YAML 1.1 rules (`yaml_events.resolve_plain`) as PyYAML does, once per distinct text.

It reads nothing it is not sure of: flow collections (but `{}` and `[]`), block scalars
(but a plain `key: |` or `key: |-`, as kubectl prints annotations), anchors, tags,
escapes, comments after a value, multi-line scalars, tabs, non-ASCII text, unusual
indentation, any inconsistency -- all make it return None, and the caller goes on to the
general readers, which give the same values or PyYAML's error. Property tests hold its
answers equal to PyYAML's.
"""

from __future__ import annotations

import re
from typing import Any

from netpolicy.api.yaml_events import Unsupported, resolve_plain

# indentation, an optional "- ", then `key:` with an optional value, or an item's value.
_LINE = re.compile(r"( *)(- (?=\S))?(?:([A-Za-z0-9_][A-Za-z0-9_./-]*):(?: +(\S.*))?|(\S.*))")
# A plain scalar: no indicator first (`-` only before a letter or digit, as in -1), no
# quote, bracket or "#" anywhere; ": " and a final ":" are refused apart.
_PLAIN = re.compile(r"(?:[A-Za-z0-9_./+~]|-(?=[A-Za-z0-9.]))[A-Za-z0-9_./+=:@~*&!?, -]*")
_SINGLE = re.compile(r"'((?:[^']|'')*)'")
_DOUBLE = re.compile(r'"([^"\\]*)"')

# A parsed line: (column of its content, is a list item, has a key, the key (which may
# read as None: `null:`), the value: its text to read, a 1-tuple holding a literal block's
# string, or None)
Line = tuple[int, bool, bool, Any, str | tuple[str] | None]


def _scalar(text: str) -> Any:
    if text[0] == "'":
        match = _SINGLE.fullmatch(text)
        if match:
            return match.group(1).replace("''", "'")
    elif text[0] == '"':
        match = _DOUBLE.fullmatch(text)
        if match:
            return match.group(1)
    elif text == "{}":
        return {}
    elif text == "[]":
        return []
    elif _PLAIN.fullmatch(text) and ": " not in text and not text.endswith(":"):
        return resolve_plain(text)
    raise Unsupported


class _Scalars(dict[str, Any]):
    """Scalars read once per distinct text, as a manifest repeats the same keys and values
    (`{}` and `[]` are made anew each time: they are mutable)."""

    def __missing__(self, text: str) -> Any:
        value = _scalar(text)
        if not isinstance(value, dict | list):
            self[text] = value
        return value


def _literal(raws: list[str], i: int, column: int, chomp: str) -> tuple[str, int]:
    """The literal block scalar (`key: |` or `key: |-`) whose lines start at `raws[i]`,
    under a key at `column`, and the index of the line after it. Only the plain case:
    content indented past the key from its first line on, blank lines empty."""
    if i == len(raws) or not raws[i].strip(" "):
        raise Unsupported  # empty, or leading blank lines (they set no indentation)
    indent = len(raws[i]) - len(raws[i].lstrip(" "))
    if indent <= column:
        raise Unsupported
    content: list[str] = []
    while i < len(raws):
        raw = raws[i]
        if not raw.strip(" "):
            if len(raw) > indent:
                raise Unsupported  # spaces past the indentation are content
            content.append("")
        elif len(raw) - len(raw.lstrip(" ")) >= indent:
            content.append(raw[indent:])
        elif len(raw) - len(raw.lstrip(" ")) > column:
            raise Unsupported  # less indented than the block, more than its key
        else:
            break
        i += 1
    while content[-1] == "":
        content.pop()  # trailing blank lines: chomped (`|` keeps one line break)
    return "\n".join(content) + ("\n" if chomp == "|" else ""), i


def _lines(text: str, scalars: _Scalars) -> list[list[Line]]:
    """The documents of `text`, each as its parsed lines."""
    documents: list[list[Line]] = []
    current: list[Line] | None = None
    match = _LINE.fullmatch
    raws = text.split("\n")
    after_block = 0  # the lines of a literal block are read by `_literal`
    for i, raw in enumerate(raws):
        if i < after_block:
            continue
        line = raw.rstrip(" ")
        if not line or line.lstrip(" ")[0] == "#":
            continue
        if line == "---":
            current = []
            documents.append(current)
            continue
        got = match(line)
        if got is None:
            raise Unsupported
        indent, dash, key, value, item = got.groups()
        if current is None:  # content before any `---`: the implicit first document
            current = []
            documents.append(current)
        column = len(indent) + (2 if dash else 0)
        if key is not None:
            if value == "|" or value == "|-":
                literal, after_block = _literal(raws, i + 1, column, value)
                current.append((column, bool(dash), True, scalars[key], (literal,)))
            else:
                current.append((column, bool(dash), True, scalars[key], value))
        elif dash:
            current.append((column, True, False, None, item))
        else:
            raise Unsupported  # a scalar outside any list or mapping
    return documents


class _Reader:
    """Builds one document from its lines by their columns."""

    def __init__(self, lines: list[Line], scalars: _Scalars) -> None:
        self.lines = lines
        self.scalars = scalars
        self.i = 0

    def node(self, column: int) -> Any:
        """The collection whose first line (at `self.i`) starts at `column`."""
        item = self.lines[self.i][1]
        return self.sequence(column - 2) if item else self.mapping(column, first_is_item=False)

    def mapping(self, column: int, first_is_item: bool) -> dict[Any, Any]:
        mapping: dict[Any, Any] = {}
        lines, n = self.lines, len(self.lines)
        first = True
        while self.i < n:
            col, item, keyed, key, value = lines[self.i]
            if col != column or item != (first and first_is_item) or not keyed:
                if col > column:
                    raise Unsupported  # deeper than this mapping yet not its child
                break  # the end of this mapping
            first = False
            self.i += 1
            if isinstance(value, str):
                mapping[key] = self.scalars[value]
            elif value is not None:
                mapping[key] = value[0]  # a literal block, already read
            elif self.i < n and self._child_of(column):
                mapping[key] = self.node(lines[self.i][0])
            else:
                mapping[key] = None  # `key:` and nothing under it
        return mapping

    def _child_of(self, column: int) -> bool:
        """Whether the line at `self.i` starts the value of a key at `column`: a mapping
        indented further, or a list whose dashes sit at the key's column or further."""
        col, item = self.lines[self.i][:2]
        return col - 2 >= column if item else col > column

    def sequence(self, dashes: int) -> list[Any]:
        sequence: list[Any] = []
        lines, n = self.lines, len(self.lines)
        while self.i < n:
            col, item, keyed, _, value = lines[self.i]
            if not item or col - 2 != dashes:
                if col - (2 if item else 0) > dashes:
                    raise Unsupported
                break
            if keyed:  # `- key: ...`: a mapping whose keys line up after the dash
                sequence.append(self.mapping(col, first_is_item=True))
            else:
                assert isinstance(value, str)
                sequence.append(self.scalars[value])
                self.i += 1
        return sequence

    def document(self) -> Any:
        if not self.lines:
            return None
        top = self.node(self.lines[0][0])
        if self.i != len(self.lines):
            raise Unsupported  # lines left over: indentation this reader does not follow
        return top


def load_all(text: str) -> list[Any] | None:
    """Every document of `text`, as `list(yaml.load_all(text, CSafeLoader))` gives them;
    None when the text is not in the form this module reads (see its docstring)."""
    if not text.isascii() or "\t" in text or "\r" in text or "..." in text or "%" in text:
        return None
    try:
        scalars = _Scalars()
        return [_Reader(lines, scalars).document() for lines in _lines(text, scalars)]
    except (Unsupported, RecursionError):
        return None
