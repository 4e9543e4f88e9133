"""Running network-config-analyzer (`nca`, PyPI `network-config-analyzer`) on the generated
files, reading its answer, and comparing it with ours pair by pair.

nca is installed in its own virtual environment (default /tmp/ncavenv), created on first
use. It is run as

    nca --connectivity policies.yaml --pod_list pods.yaml --ns_list namespaces.yaml \
        -o txt_no_fw_rules --output_endpoints pods

`txt_no_fw_rules` is the one output that lists every allowed ordered pair with its
connections, one line per (pair, connection cube), e.g.

    a/p1 => a/p2 : {protocols:TCP,dst_ports:5432,6000-6010}
    a/p1 => a/p2 : {protocols:UDP}
    a/p1 => b/p3 : All connections

Pods are named `namespace/name` (with `--output_endpoints pods`; the default names
workloads); addresses are ranges such as `0.0.0.0-9.255.255.255`; pairs that may not
connect at all are not listed; self pairs are never listed. "All connections" means every
protocol (ICMP included) and port; a cube may also read "All but {...}" (the complement),
and protocols may read "TCP, UDP", "*" or "all but ...". We keep TCP, UDP and SCTP, the
protocols NetworkPolicy speaks about.

`nca_reading` rebuilds our cluster state the way nca reads the manifests (see
bench/README.md, "Known differences"), so that every disagreement can be attributed to a
known difference or reported as unexplained.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from netpolicy.api.inventory import Inventory
from netpolicy.api.loading import Document
from netpolicy.api.objects import DEFAULT_NAMESPACE, PROTOCOLS, Protocol
from netpolicy.engine import ALL, NONE, ClusterState, CompiledView, PortSet, connectivity
from netpolicy.engine.ports import MAX_PORT, MIN_PORT

DEFAULT_VENV = Path("/tmp/ncavenv")
NCA_MAX_PEERS = 10_000  # nca/CoreDS/Peer.py: BasePeerSet.max_num_of_pods
Pair = tuple[str, str]
IntArray = npt.NDArray[np.int64]


def ensure_nca(venv: Path = DEFAULT_VENV) -> Path:
    """The `nca` executable of `venv`, creating the venv and installing
    network-config-analyzer from PyPI when it is missing."""
    nca = venv / "bin" / "nca"
    if nca.exists():
        return nca
    print(f"installing network-config-analyzer into {venv} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "network-config-analyzer"], check=True)
    if not nca.exists():
        raise RuntimeError(f"network-config-analyzer installed but {nca} is missing")
    return nca


def nca_version(nca: Path) -> str:
    out = subprocess.run([str(nca), "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip().removeprefix("NCA version ").strip() or "unknown"


def nca_command(nca: Path, directory: Path) -> list[str]:
    ext = "json" if (directory / "policies.json").exists() else "yaml"
    return [str(nca), "--connectivity", str(directory / f"policies.{ext}"),
            "--pod_list", str(directory / f"pods.{ext}"),
            "--ns_list", str(directory / f"namespaces.{ext}"),
            "-o", "txt_no_fw_rules", "--output_endpoints", "pods"]


# --- reading nca's output -----------------------------------------------------------------

_LINE = re.compile(r"^(?P<src>\S+) => (?P<dst>\S+) : (?P<conn>.+)$")
_KEYS = ("protocols", "src_ports", "dst_ports", "icmp_type", "icmp_code", "methods", "paths",
         "hosts")
_KEY = re.compile(r"(?:^|,)(" + "|".join(_KEYS) + r"):")


def _complement(ports: PortSet) -> PortSet:
    out: dict[Protocol, list[tuple[int, int]]] = {}
    for p in PROTOCOLS:
        gaps, lo = [], MIN_PORT
        for a, b in ports.intervals(p):
            if a > lo:
                gaps.append((lo, a - 1))
            lo = b + 1
        if lo <= MAX_PORT:
            gaps.append((lo, MAX_PORT))
        out[p] = gaps
    return PortSet.of(out)


def _protocols(text: str) -> list[Protocol]:
    text = text.strip()
    if text == "*":
        return list(PROTOCOLS)
    if text.startswith("all but "):
        excluded = {t.strip() for t in text.removeprefix("all but ").split(",")}
        return [p for p in PROTOCOLS if p not in excluded]
    named = {t.strip() for t in text.split(",")}
    return [p for p in PROTOCOLS if p in named]


def _intervals(text: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        out.append((int(lo), int(hi or lo)))
    return out


def _cube(text: str) -> PortSet:
    """One `{protocols:...,dst_ports:...}`; a dimension left out is full."""
    parts = _KEY.split(text)
    fields = dict(zip(parts[1::2], parts[2::2], strict=True))
    unknown = set(fields) - {"protocols", "dst_ports"}
    if unknown:
        raise ValueError(f"unsupported nca connection dimensions {sorted(unknown)} in {text!r}")
    protocols = _protocols(fields["protocols"]) if "protocols" in fields else list(PROTOCOLS)
    ports = _intervals(fields["dst_ports"]) if "dst_ports" in fields else [(MIN_PORT, MAX_PORT)]
    return PortSet.of({p: ports for p in protocols})


def parse_connection(text: str) -> PortSet:
    """nca's text for one connection set, as a PortSet over TCP, UDP and SCTP."""
    text = text.strip()
    if text == "All connections":
        return ALL
    if text == "No connections":
        return NONE
    negate = text.startswith("All but ")
    cubes = NONE
    for body in re.findall(r"\{([^{}]*)\}", text.removeprefix("All but ")):
        cubes = cubes | _cube(body)
    return ALL & _complement(cubes) if negate else cubes


def parse_output(text: str, endpoints: Iterable[str]) -> tuple[dict[Pair, PortSet], int | None]:
    """The allowed connections between `endpoints` in nca's txt_no_fw_rules output, and
    the number of endpoints nca says the cluster has."""
    known = set(endpoints)
    out: dict[Pair, PortSet] = {}
    count = None
    for line in text.splitlines():
        if line.startswith("global: cluster has "):
            count = int(line.split()[3])
            continue
        m = _LINE.match(line)
        if m is None or m["src"] not in known or m["dst"] not in known:
            continue
        pair = (m["src"], m["dst"])
        out[pair] = out.get(pair, NONE) | parse_connection(m["conn"])
    return out, count


# --- how nca reads the manifests ------------------------------------------------------------

def empty_egress_without_types(docs: Iterable[Document]) -> set[tuple[str, str]]:
    """(namespace, name) of policies with no `policyTypes` and an *empty* `egress` list:
    nca isolates their pods for egress; the API server does not."""
    out = set()
    for doc in docs:
        obj = doc.obj
        if obj.get("kind") != "NetworkPolicy":
            continue
        spec = obj.get("spec") or {}
        if not spec.get("policyTypes") and "egress" in spec and not spec["egress"]:
            meta = obj.get("metadata") or {}
            out.add((str(meta.get("namespace") or DEFAULT_NAMESPACE), str(meta.get("name"))))
    return out


def namespace_keys_read_as_empty(inv: Inventory) -> set[str]:
    """Label keys that some namespaceSelector tests with `In` (or matchLabels) against the
    empty value: nca matches a namespace *without* the key as if it had `key: ""`."""
    keys = set()
    for policy in inv.policies:
        for rule in (*policy.ingress, *policy.egress):
            for peer in rule.peers:
                if peer.namespace_selector is None:
                    continue
                for req in peer.namespace_selector.requirements:
                    if req.operator == "In" and "" in req.values:
                        keys.add(req.key)
    return keys


# The readings in which nca differs from the API server (bench/README.md, "Known
# differences"); each is modelled on our typed objects by `nca_reading`.
READINGS = {
    "ip-blocks": "ipBlock matches pod addresses",
    "policy-types": "policyTypes default with `egress: []`",
    "empty-label-value": "namespaceSelector `key: \"\"` on namespaces without key",
}


def nca_reading(inv: Inventory, docs: Sequence[Document],
                readings: Iterable[str] = tuple(READINGS)) -> ClusterState:
    """Our cluster state with nca's known readings applied:

    * `ip-blocks`: nca's pods have no address (it does not read `status.podIP`), so an
      ipBlock never matches a pod;
    * `policy-types`: without `policyTypes`, nca adds Egress when the `egress` key is
      present, even as an empty list;
    * `empty-label-value`: nca looks namespace labels up with a default of "", so
      `matchLabels: {k: ""}` (or `In` with "") also selects namespaces that lack `k`.
      Modelled by giving those namespaces `k: ""`, which is exact as long as no
      namespaceSelector tests `k` with Exists / DoesNotExist (the generator never does).
    """
    chosen = set(readings)
    unknown = chosen - READINGS.keys()
    if unknown:
        raise ValueError(f"unknown readings {sorted(unknown)}")
    endpoints = inv.endpoints
    if "ip-blocks" in chosen:
        endpoints = [dataclasses.replace(e, ips=()) for e in endpoints]
    policies = inv.policies
    if "policy-types" in chosen:
        names = empty_egress_without_types(docs)
        policies = [dataclasses.replace(p, affects_egress=True) if (p.namespace, p.name) in names
                    else p for p in policies]
    namespaces = inv.namespaces
    if "empty-label-value" in chosen:
        keys = namespace_keys_read_as_empty(inv)
        namespaces = [dataclasses.replace(ns, labels={**{k: "" for k in keys}, **ns.labels})
                      for ns in namespaces]
    return ClusterState(namespaces, endpoints, policies, inv.services, inv.nodes)


# --- comparing ----------------------------------------------------------------------------

class Interner:
    """Gives each distinct PortSet a small integer, so that tables compare as arrays."""

    def __init__(self) -> None:
        self.ids: dict[PortSet, int] = {NONE: 0}
        self.sets: list[PortSet] = [NONE]

    def id(self, ports: PortSet) -> int:
        i = self.ids.get(ports)
        if i is None:
            i = self.ids[ports] = len(self.sets)
            self.sets.append(ports)
        return i

    def table(self, state: ClusterState) -> IntArray:
        """Our connectivity of `state`, as interned ids per (source, destination)."""
        conn = connectivity(CompiledView(state))
        ids = np.array([self.id(ps) for ps in conn.port_sets], dtype=np.int64)
        out: IntArray = ids[conn.cell]
        return out

    def from_pairs(self, keys: Sequence[str], pairs: Mapping[Pair, PortSet]) -> IntArray:
        index = {k: i for i, k in enumerate(keys)}
        out = np.zeros((len(keys), len(keys)), dtype=np.int64)
        for (s, d), ports in pairs.items():
            out[index[s], index[d]] = self.id(ports)
        return out

    def flags(self, pred: Any) -> npt.NDArray[np.bool_]:
        return np.array([bool(pred(ps)) for ps in self.sets], dtype=bool)


SAMPLE_PORTS: tuple[tuple[Protocol, int], ...] = (
    ("TCP", 8080), ("TCP", 5432), ("TCP", 80), ("UDP", 53), ("SCTP", 7000))


@dataclass
class Comparison:
    """Ours against nca's, over ordered pairs of distinct endpoints."""

    endpoints: int
    nca_endpoints: int | None
    pairs: int
    ours_some: int  # pairs allowed on at least one port, by us
    nca_some: int
    exact_diff: int  # pairs whose allowed (protocol, port) sets differ
    some_diff: int  # pairs allowed on some port by one tool only
    port_diff: dict[str, int]  # "TCP/8080" -> pairs that differ on that port
    examples: list[str]  # the first disagreement each known difference explains
    affected: dict[str, int]  # known difference -> pairs whose answer it changes (ours)
    unaffected_pairs: int
    unaffected_diff: int  # disagreements on pairs no known difference touches
    unexplained: int  # nca differs from our engine under nca's reading
    unexplained_examples: list[str] = field(default_factory=list)


def compare(state: ClusterState, inv: Inventory, docs: Sequence[Document],
            nca_pairs: Mapping[Pair, PortSet], nca_count: int | None,
            max_examples: int = 5) -> Comparison:
    keys = [e.key for e in state.endpoints]
    n = len(keys)
    interner = Interner()
    ours = interner.table(state)
    theirs = interner.from_pairs(keys, nca_pairs)
    modelled = interner.table(nca_reading(inv, docs))
    by_difference = {title: interner.table(nca_reading(inv, docs, [name]))
                     for name, title in READINGS.items()}
    off_diagonal = ~np.eye(n, dtype=bool)
    empty = interner.flags(lambda ps: ps.is_empty)

    def describe(s: int, d: int, base: IntArray, base_name: str) -> str:
        return (f"{keys[s]} -> {keys[d]}: {base_name} {interner.sets[base[s, d]]}; "
                f"nca {interner.sets[theirs[s, d]]}")

    differ = (ours != theirs) & off_diagonal
    affected_any = (ours != modelled) & off_diagonal
    unexplained = (modelled != theirs) & off_diagonal
    examples = []  # the first disagreement that each known difference explains
    for title, table in by_difference.items():
        hits = np.argwhere(differ & (ours != table))
        if len(hits):
            s, d = (int(i) for i in hits[0])
            examples.append(f"[{title}] " + describe(s, d, ours, "netpolicy"))
    port_diff = {}
    for protocol, port in SAMPLE_PORTS:
        on = interner.flags(lambda ps, pr=protocol, po=port: ps.contains(pr, po))
        port_diff[f"{protocol}/{port}"] = int(((on[ours] != on[theirs]) & off_diagonal).sum())
    return Comparison(
        endpoints=n, nca_endpoints=nca_count, pairs=int(off_diagonal.sum()),
        ours_some=int((~empty[ours] & off_diagonal).sum()),
        nca_some=int((~empty[theirs] & off_diagonal).sum()),
        exact_diff=int(differ.sum()),
        some_diff=int(((empty[ours] != empty[theirs]) & off_diagonal).sum()),
        port_diff=port_diff,
        examples=examples,
        affected={name: int(((ours != table) & off_diagonal).sum())
                  for name, table in by_difference.items()},
        unaffected_pairs=int((~affected_any & off_diagonal).sum()),
        unaffected_diff=int((differ & ~affected_any).sum()),
        unexplained=int(unexplained.sum()),
        unexplained_examples=[describe(s, d, modelled, "netpolicy under nca's reading")
                              for s, d in np.argwhere(unexplained)[:max_examples]],
    )
