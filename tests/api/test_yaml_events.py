"""The event builder reads YAML exactly as PyYAML's C loader does, or declines."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from netpolicy.api.yaml_events import load_all

# Plain scalars whose YAML 1.1 reading is not a string, or nearly is.
TRICKY = ["yes", "No", "ON", "off", "y", "n", "true", "False", "~", "null", "Null", "",
          "010", "0o17", "0x1F", "0b101", "-0", "+12", "1_000", "1:20", "190:20:30", "0.5",
          "1e3", "1.0e+3", ".inf", "-.Inf", ".NaN", "6.8523015e+5", "1__2", "0.",
          "2001-12-14", "2001-12-14t21:59:43.10-05:00", "<<", "=", "80", "8080", "x80",
          "TCP", "a b", "-", "--", ":", "- x", "'q'", "\"d\"", "#c", "a#b", "|", ">", "@x",
          "`x", "%x", "!x", "&x", "*x", "{}", "[]", "{a: 1}", "[1, x]", "a: b", "é",
          "\\u00e9"]
ANCHORED = ["&a 1", "*a", "!!str 5", "!!int '7'", "!custom x", "! 12", "!!binary aGk=",
            "!!timestamp 2001-12-14", "!!set {a, b}"]
scalar = st.sampled_from(TRICKY) | st.text(alphabet="abz019 -_.:/", max_size=5)


def _render(value: Any, indent: str) -> list[str]:
    """Block-style YAML lines of a generated tree (scalars written raw, unquoted)."""
    if isinstance(value, dict):
        lines = []
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines += [f"{indent}{k}:", *_render(v, indent + "  ")]
            else:
                lines.append(f"{indent}{k}: {_flat(v)}")
        return lines or [f"{indent}{{}}"]
    if isinstance(value, list):
        lines = []
        for v in value:
            if isinstance(v, (dict, list)) and v:
                sub = _render(v, indent + "  ")
                lines += [f"{indent}- {sub[0].lstrip()}", *sub[1:]]
            else:
                lines.append(f"{indent}- {_flat(v)}")
        return lines or [f"{indent}[]"]
    return [f"{indent}{value}"]


def _flat(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return str(value)


trees = st.recursive(
    scalar | st.sampled_from(ANCHORED),
    lambda inner: st.dictionaries(scalar, inner, max_size=4) | st.lists(inner, max_size=4),
    max_leaves=12)


def same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (1 is not True, nor 1.0), NaN alike."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def check(text: str) -> list[Any] | None:
    fast = load_all(text)
    try:
        slow = list(yaml.load_all(text, Loader=yaml.CSafeLoader))
    except yaml.YAMLError:
        assert fast is None, "the builder accepted a text PyYAML rejects"
        return None
    assert fast is None or same(fast, slow), (fast, slow)
    return fast


@settings(max_examples=400, deadline=None)
@given(st.lists(trees, min_size=1, max_size=3), st.booleans())
def test_block_yaml_reads_as_pyyaml_reads_it(documents: list[Any], explicit: bool) -> None:
    text = "\n".join(("---\n" if explicit or i else "") + "\n".join(_render(d, ""))
                     for i, d in enumerate(documents)) + "\n"
    check(text)


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.dictionaries(st.text(max_size=5), inner, max_size=4)
                    | st.lists(inner, max_size=4), max_leaves=15),
       st.sampled_from([None, False, True]), st.sampled_from([None, "'", '"', "|"]))
def test_dumped_yaml_reads_as_pyyaml_reads_it(data: Any, flow: bool | None, style: str | None) -> None:
    check(yaml.safe_dump(data, default_flow_style=flow, default_style=style, allow_unicode=True))


@pytest.mark.parametrize("text", [
    "a: &x 1\nb: *x\n", "<<: {a: 1}\n", "a: !!str 5\n", "? [a]\n: 1\n", "t: 2001-12-14\n",
    "a: [1\n", "a: b: c\n", "--- !!map\na: 1\n",
])
def test_what_the_builder_leaves_to_pyyaml(text: str) -> None:
    assert load_all(text) is None
    check(text)


def test_manifests_take_the_fast_path_with_yaml_1_1_scalars() -> None:
    text = ("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: web\n"
            "  labels: {enabled: yes, tier: '010', n: 010}\nspec:\n  podSelector: {}\n"
            "  ingress:\n  - ports:\n    - port: 80\n    - {port: http, protocol: TCP}\n"
            "    - port: 0x1F\n      endPort: 1_000\n---\n---\nkind: List\nitems: []\n")
    docs = load_all(text)
    assert docs is not None
    assert docs[0]["metadata"]["labels"] == {"enabled": True, "tier": "010", "n": 8}
    assert docs[0]["spec"]["ingress"][0]["ports"] == [
        {"port": 80}, {"port": "http", "protocol": "TCP"}, {"port": 31, "endPort": 1000}]
    assert docs[1] is None and docs[2] == {"kind": "List", "items": []}
    check(text)
