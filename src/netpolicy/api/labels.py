"""Label selectors (`metav1.LabelSelector`), as the API server reads them.

DESIGN.md point 8: `matchLabels` and `matchExpressions` are ANDed; an empty
selector matches everything. A selector is parsed once, when its object comes
in (after validation), into a frozen value that can be matched many times and
used as a dictionary key, so identical selectors share their cached results.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Operator = Literal["In", "NotIn", "Exists", "DoesNotExist"]
OPERATORS: tuple[Operator, ...] = ("In", "NotIn", "Exists", "DoesNotExist")


@dataclass(frozen=True, slots=True)
class Requirement:
    """One `matchExpressions` entry; `matchLabels` entries become `In` with one value."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":
            # A label that is absent is "not in" any set of values.
            return labels.get(self.key) not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels

    def __str__(self) -> str:
        if self.operator == "Exists":
            return self.key
        if self.operator == "DoesNotExist":
            return f"!{self.key}"
        if self.operator == "In" and len(self.values) == 1:
            return f"{self.key}={self.values[0]}"
        word = "in" if self.operator == "In" else "notin"
        return f"{self.key} {word} ({','.join(self.values)})"


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A label selector: every requirement must hold. No requirement: matches all."""

    requirements: tuple[Requirement, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements) if self.requirements else "{}"

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> LabelSelector:
        """Parse an already validated selector dict; `None` and `{}` both match all."""
        if not raw:
            return cls()
        reqs: list[Requirement] = [
            Requirement(str(k), "In", (str(v),))
            for k, v in sorted((raw.get("matchLabels") or {}).items())
        ]
        for expr in raw.get("matchExpressions") or []:
            values = tuple(sorted({str(v) for v in expr.get("values") or []}))
            reqs.append(Requirement(str(expr["key"]), expr["operator"], values))
        return cls(tuple(dict.fromkeys(reqs)))

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        """Parse the `kubectl -l` form: `a=b,c!=d,e in (f,g),h notin (i),j,!k`."""
        reqs: list[Requirement] = []
        for part in _split_top_level(text):
            part = part.strip()
            if not part:
                continue
            if part.startswith("!"):
                reqs.append(Requirement(part[1:].strip(), "DoesNotExist"))
            elif "!=" in part:
                key, value = part.split("!=", 1)
                reqs.append(Requirement(key.strip(), "NotIn", (value.strip(),)))
            elif "==" in part or "=" in part:
                key, value = part.split("==", 1) if "==" in part else part.split("=", 1)
                reqs.append(Requirement(key.strip(), "In", (value.strip(),)))
            elif " in " in part or " notin " in part:
                op: Operator = "NotIn" if " notin " in part else "In"
                key, rest = part.split(" notin " if op == "NotIn" else " in ", 1)
                rest = rest.strip()
                if not (rest.startswith("(") and rest.endswith(")")):
                    raise ValueError(f"invalid label selector {text!r}: expected '(' after {op}")
                values = tuple(sorted({v.strip() for v in rest[1:-1].split(",") if v.strip()}))
                reqs.append(Requirement(key.strip(), op, values))
            else:
                reqs.append(Requirement(part, "Exists"))
        return cls(tuple(reqs))


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts
