"""Reading what `nft list` prints: the JSON of `nft -j list` (tables, chains, sets, maps and
their elements, counters) and, for what nft 1.0.6's JSON leaves out, the text of
`nft list ruleset` (comments of tables and chains, rules as text)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from netpolicy.dataplane.nft.objects import Chain, Map, Set
from netpolicy.dataplane.nft.state import ChainState, Ruleset, SetState, TableState, normalize
from netpolicy.dataplane.nft.types import ChainType, Family, Hook


def read_ruleset(json_text: str, text: str) -> Ruleset:
    """The ruleset from `nft -j list ruleset` and `nft list ruleset` of the same state."""
    data = json.loads(json_text)
    listing = parse_listing(text)
    ruleset: Ruleset = {}
    for item in data.get("nftables", []):
        if "table" in item:
            t = item["table"]
            comment = listing.table_comments.get((t["family"], t["name"]))
            ruleset[(Family(t["family"]), t["name"])] = TableState(comment=comment)
    for item in data.get("nftables", []):
        for kind in ("chain", "set", "map"):
            if kind not in item:
                continue
            o = item[kind]
            table = ruleset[(Family(o["family"]), o["table"])]
            if kind == "chain":
                where = (o["family"], o["table"], o["name"])
                spec = Chain(
                    o["name"],
                    ChainType(o["type"]) if "type" in o else None,
                    Hook(o["hook"]) if "hook" in o else None,
                    o.get("prio"),
                    o.get("policy"),
                    listing.chain_comments.get(where),
                )
                found = listing.rules.get(where, [])
                table.chains[o["name"]] = ChainState(spec, list(found))
            else:
                type_text = _json_type(o["type"])
                flags = tuple(o.get("flags", ()))
                set_spec: Set | Map = (
                    Set(o["name"], type_text, flags, o.get("comment"))
                    if kind == "set"
                    else Map(o["name"], type_text, _json_type(o["map"]), flags, o.get("comment"))
                )
                st = SetState(set_spec)
                for elem in o.get("elem", ()):
                    if kind == "map":
                        st.elements[_json_value(elem[0])] = _json_value(elem[1])
                    else:
                        st.elements[_json_value(elem)] = None
                table.sets[o["name"]] = st
    return ruleset


def counters(json_text: str) -> dict[str, int]:
    """Packets of each named counter, from `nft -j list counters ...`."""
    data = json.loads(json_text)
    return {str(c["counter"]["name"]): int(c["counter"]["packets"])
            for c in data.get("nftables", []) if "counter" in c}


def items(json_text: str) -> list[Any]:
    """The items of an `nft -j list ...` output."""
    return list(json.loads(json_text)["nftables"])


def rule_counters(listed: list[Any]) -> list[tuple[str, str, int]]:
    """(chain, comment, packets) of every commented rule with a counter among `listed`."""
    out = []
    for item in listed:
        rule = item.get("rule")
        if not rule or not rule.get("comment"):
            continue
        packets = next((e["counter"]["packets"] for e in rule.get("expr", [])
                        if isinstance(e, dict) and "counter" in e), None)
        if packets is not None:
            out.append((str(rule["chain"]), str(rule["comment"]), int(packets)))
    return out


def _json_type(value: object) -> str:
    return " . ".join(value) if isinstance(value, list) else str(value)


def _json_value(value: object) -> str:
    """An element key or value of `nft -j` output, as `nft list` writes it."""
    if isinstance(value, dict):
        if "elem" in value:
            return _json_value(value["elem"]["val"])
        if "concat" in value:
            return " . ".join(_json_value(v) for v in value["concat"])
        if "prefix" in value:
            return f"{value['prefix']['addr']}/{value['prefix']['len']}"
        if "range" in value:
            low, high = value["range"]
            return f"{_json_value(low)}-{_json_value(high)}"
        (verdict, arg), *_ = value.items()
        if isinstance(arg, dict) and "target" in arg:
            return f"{verdict} {arg['target']}"
        return str(verdict)
    return str(value)


_COMMENT_TAIL = re.compile(r'\s+comment "([^"]*)"\Z')
_COMMENT_LINE = re.compile(r'comment "([^"]*)"\Z')


@dataclass
class Listing:
    """What `nft list ruleset` text tells and nft 1.0.6's JSON leaves out: the comments of
    tables and chains, and rules as text."""

    table_comments: dict[tuple[str, str], str] = field(default_factory=dict)
    chain_comments: dict[tuple[str, str, str], str] = field(default_factory=dict)
    rules: dict[tuple[str, str, str], list[tuple[str, str | None]]] = field(default_factory=dict)


def parse_listing(text: str) -> Listing:
    found = Listing()
    table: tuple[str, str] | None = None
    chain: tuple[str, str, str] | None = None
    depth = 0
    for raw in text.splitlines():
        line = raw.strip()
        if line.endswith("{"):
            words = line.split()
            if depth == 0 and words[0] == "table":
                table = (words[1], words[2])
            elif depth == 1 and words[0] == "chain" and table is not None:
                chain = (*table, words[1])
                found.rules[chain] = []
            depth += 1
            continue
        if line == "}":
            depth -= 1
            if depth <= 1:
                chain = None
            continue
        comment_line = _COMMENT_LINE.match(line)
        if depth == 1 and table is not None and comment_line:
            found.table_comments[table] = comment_line.group(1)
        elif depth == 2 and chain is not None and comment_line:
            found.chain_comments[chain] = comment_line.group(1)
        elif depth == 2 and chain is not None and line and not line.startswith("type "):
            match = _COMMENT_TAIL.search(line)
            body = line[: match.start()] if match else line
            found.rules[chain].append((normalize(body), match.group(1) if match else None))
    return found
