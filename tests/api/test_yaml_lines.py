"""The line reader reads block YAML exactly as PyYAML's C loader does, or declines."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from netpolicy.api.yaml_lines import load_all
from tests.api.test_yaml_events import ANCHORED, TRICKY, same

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Block:
    """A literal block scalar to write as `key: |` (or `|-`) and its indented lines."""

    lines: tuple[str, ...]
    strip: bool

# Keys and values as they appear in manifests, and the ones YAML 1.1 reads otherwise.
key = st.sampled_from(["a", "app", "k8s-app", "app.kubernetes.io/name", "x_1", "80", "yes",
                       "null", "on", "1.5", "0x1F", "-a", "a b", "a:b", "'q'", '"d"', "<<", "="])
value = (st.sampled_from(TRICKY + ANCHORED + [
    "registry.example.com/img:1.0", "http://x/y", "a: b", "a #c", "a#c", "-", "--", "---",
    "- a", "'it''s'", "'a' #c", '"a\\"b"', '"a b"', "'a", "a,b", "[1]", "{a: 1}", "{}", "[]",
    "|", ">-", "a  b", "10.0.0.1", "10.0.0.0/8", "-1", "-x", "+1", "~", "..."]) | st.text(
    alphabet=" ab:#-'\"01.*&!?,", max_size=6))
tree = st.recursive(value, lambda inner: st.dictionaries(key, inner, max_size=3)
                    | st.lists(inner, max_size=3), max_leaves=10)


def render(node: Any, indent: int, kubectl_lists: bool) -> list[str]:
    """Block YAML lines, scalars written raw; lists at their key's column (kubectl) or
    indented under it."""
    pad = " " * indent
    if isinstance(node, dict):
        lines = []
        for k, v in node.items():
            if isinstance(v, Block):
                lines.append(f"{pad}{k}: {'|-' if v.strip else '|'}")
                lines += [pad + "  " + text if text else "" for text in v.lines]
            elif isinstance(v, dict) and v:
                lines += [f"{pad}{k}:", *render(v, indent + 2, kubectl_lists)]
            elif isinstance(v, list) and v:
                lines += [f"{pad}{k}:", *render(v, indent if kubectl_lists else indent + 2,
                                                kubectl_lists)]
            else:
                lines.append(f"{pad}{k}: {flat(v)}".rstrip())
        return lines or [pad + "{}"]
    if isinstance(node, list):
        lines = []
        for v in node:
            if isinstance(v, (dict, list)) and v:
                sub = render(v, indent + 2, kubectl_lists)
                lines += [f"{pad}- {sub[0].lstrip()}", *sub[1:]]
            else:
                lines.append(f"{pad}- {flat(v)}".rstrip())
        return lines or [pad + "[]"]
    return [pad + str(node)]


def flat(v: Any) -> str:
    return "{}" if isinstance(v, dict) else "[]" if isinstance(v, list) else str(v)


def check(text: str) -> list[Any] | None:
    fast = load_all(text)
    try:
        slow = list(yaml.load_all(text, Loader=yaml.CSafeLoader))
    except yaml.YAMLError:
        assert fast is None, f"the line reader accepted a text PyYAML rejects:\n{text}"
        return None
    assert fast is None or same(fast, slow), (text, fast, slow)
    return fast


@settings(max_examples=600, deadline=None)
@given(st.lists(st.dictionaries(key, tree, min_size=1, max_size=4) | tree, min_size=1, max_size=3),
       st.booleans(), st.booleans(), st.sampled_from(["", "\n", "\n# note\n", "\n---\n"]))
def test_block_yaml_reads_as_pyyaml_reads_it(documents: list[Any], kubectl_lists: bool,
                                             explicit: bool, tail: str) -> None:
    text = "\n".join(("---\n" if explicit or i else "")
                     + "\n".join(render(d, 0, kubectl_lists)) for i, d in enumerate(documents))
    check(text + tail)


# Only what the line reader takes, so that its structure (nesting, both list styles,
# documents) is what gets exercised.
safe_key = st.sampled_from(["a", "b", "app", "k8s-app", "80", "yes", "x.y/z"])
safe_value = st.sampled_from(["a", "web", "80", "0", "yes", "Off", "010", "0x1F", "1_0", "1.5",
                              "-1", "~", "null", "'q'", "'it''s'", '"d d"', "{}", "[]", "x:y",
                              "a b", "0 3 * * *", "registry/x:1.0", "10.0.0.0/8"])
block_text = st.sampled_from(['{"kind":"Pod","a":[1]}', "# not a comment", "x: y", "- item",
                              "  deeper", "trailing  ", "'q'", "---", "a", "yes"])
block = st.builds(Block, st.tuples(block_text).map(tuple) | st.lists(
    block_text | st.just(""), min_size=1, max_size=4).map(lambda rest: ("first", *rest)),
    st.booleans())
safe_tree = st.recursive(  # lists hold scalars and mappings (`- - a` is left to libyaml)
    safe_value, lambda inner: st.dictionaries(safe_key, inner | block, max_size=3)
    | st.lists(safe_value | st.dictionaries(safe_key, inner, min_size=1, max_size=3), max_size=3),
    max_leaves=14)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.dictionaries(safe_key, safe_tree | block, min_size=1, max_size=4), min_size=1,
                max_size=3), st.booleans(), st.booleans())
def test_manifest_shaped_yaml_is_read_fast_and_alike(documents: list[Any], kubectl_lists: bool,
                                                     explicit: bool) -> None:
    text = "\n".join(("---\n" if explicit or i else "")
                     + "\n".join(render(d, 0, kubectl_lists)) for i, d in enumerate(documents))
    assert check(text + "\n") is not None, text


RISKY_LINES = ["a: b: c", "- a: b: c", "---x", "--- a", "...", "a: 1 #c", "#c", "  #c", "- - a",
               "-", "- ", "a:b", "- a:b", "? a", ": a", "a: 'x", "a: \"x\\\"y\"", "a: [1, 2]",
               "a: |", "  x", "a: &r 1", "b: *r", "a: !t x", "\ta: 1", "a:  ", "80: x", "yes: x",
               "a: -", "a: - b", "a: b:", "a: ~x", "a: 2001-01-01", "<<: {}", "%YAML 1.1"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.dictionaries(safe_key, safe_tree | block, min_size=1, max_size=4), min_size=1,
                max_size=2), st.booleans(), st.data())
def test_one_odd_line_in_a_manifest_is_read_alike_or_declined(
        documents: list[Any], kubectl_lists: bool, data: st.DataObject) -> None:
    """A manifest the reader takes, with one line changed: indented or dedented, or
    replaced by a form it must decline or get right."""
    lines = "\n".join(("---\n" if i else "") + "\n".join(render(d, 0, kubectl_lists))
                      for i, d in enumerate(documents)).split("\n")
    at = data.draw(st.integers(0, len(lines) - 1))
    how = data.draw(st.sampled_from(["indent", "dedent", "replace", "insert"]))
    if how == "indent":
        lines[at] = " " * data.draw(st.integers(1, 3)) + lines[at]
    elif how == "dedent":
        lines[at] = lines[at][data.draw(st.integers(1, 2)):]
    else:
        pad = " " * (len(lines[at]) - len(lines[at].lstrip(" ")))
        odd = pad + data.draw(st.sampled_from(RISKY_LINES))
        lines[at:at + (how == "replace")] = [odd]
    check("\n".join(lines) + "\n")


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=6),
                    lambda inner: st.dictionaries(st.text(max_size=4), inner, max_size=3)
                    | st.lists(inner, max_size=3), max_leaves=12),
       st.integers(2, 4), st.booleans())
def test_dumped_yaml_reads_as_pyyaml_reads_it(data: Any, indent: int, flow: bool) -> None:
    check(yaml.safe_dump(data, indent=indent, default_flow_style=flow or None))


@pytest.mark.parametrize("text", [
    "", "# only a comment\n", "---\n", "a: 1\n---\n", "---\n---\n", "a:\nb: 1\n", "a:\n- 1\nb: 2\n",
    "a:\n  - 1\n  - x: 2\n    y: [ ]\n", "- a\n- b:\n  - c\n", "  a: 1\n  b: 2\n",
    "a: 1\n  b: 2\n", "- a\n  b: 1\n", "a: 1 # c\n", "k: -\n", "a: |\n  x\n", "a: &x 1\n",
    "a: 'x''y'\n", 'a: "x y"\n', "a:   spaced\n", "a: 1   \n", "a:\tb\n", "- - a\n",
    "a: |\n  x\n\n  y\n\n\nb: 1\n", "a: |-\n  x\n", "a: |\n    \n  x\n", "a: |\n\n  x\n",
    "a: |\n    x\n  y\n", "a: |\n  x\n y\n", "a: |\nb: 1\n", "a: |+\n  x\n\n", "a: >\n  x\n",
    "a: |2\n   x\n", "- |\n  x\n", "a: |\n  x\n   \n  y\n", "a: | # c\n  x\n",
])
def test_edge_cases_agree_with_pyyaml(text: str) -> None:
    check(text)


KUBECTL_CREATE = [
    ["create", "deployment", "web", "--image=nginx:1.27", "--port=80", "--replicas=2"],
    ["create", "service", "clusterip", "web", "--tcp=80:8080", "--tcp=443:8443"],
    ["create", "namespace", "shop"],
    ["create", "job", "once", "--image=busybox", "--", "sh", "-c", "echo hi"],
    ["create", "cronjob", "nightly", "--image=busybox", "--schedule=0 3 * * *", "--", "true"],
    ["create", "deployment", "applied", "--image=nginx", "--save-config"],  # last-applied: |
]


@pytest.mark.parametrize("args", KUBECTL_CREATE, ids=lambda a: a[1])
def test_what_kubectl_prints_takes_the_line_reader(args: list[str]) -> None:
    """The real kubectl's YAML (client-side, no cluster needed) is read by the line
    reader, with PyYAML's values."""
    out = subprocess.run(["kubectl", args[0], "--dry-run=client", "-o", "yaml", *args[1:]],
                         capture_output=True, text=True, check=True).stdout
    docs = check(out)
    assert docs is not None and docs[0]["kind"] in ("Deployment", "Service", "Namespace", "Job", "CronJob")
    if "--save-config" in args:
        annotations = docs[0]["metadata"]["annotations"]
        assert annotations["kubectl.kubernetes.io/last-applied-configuration"].startswith("{")


def test_the_benchmark_clusters_take_the_line_reader(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import generate
    finally:
        sys.path.remove(str(ROOT / "bench"))
    generate.write(generate.generate(60, 20, 7), tmp_path, "yaml")
    for path in sorted(tmp_path.iterdir()):
        assert check(path.read_text()) is not None, path
