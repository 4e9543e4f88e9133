"""The benchmark's cluster generator (bench/generate.py) and a smoke run of the benchmark.

The generator must be a pure function of its arguments (the same seed gives the same
files, so that runs and tools can be compared), its output must be valid manifests, and
it must exercise every NetworkPolicy feature the benchmark claims to cover."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netpolicy.api.inventory import build_inventory
from netpolicy.api.loading import read_paths
from netpolicy.engine import ClusterState, verdict

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import generate  # noqa: E402  (bench/ is a directory of scripts, not a package)


def netpol_command() -> list[str]:
    script = Path(sys.executable).parent / "netpol"
    return ([sys.executable, str(script)] if script.exists() else
            [sys.executable, "-c", "from netpolicy.cli import main; main()"])


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    generate.write(generate.generate(200, 60, seed=7), tmp_path / "a")
    generate.write(generate.generate(200, 60, seed=7), tmp_path / "b")
    generate.write(generate.generate(200, 60, seed=8), tmp_path / "c")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert _files(tmp_path / "a") != _files(tmp_path / "c")


def test_command_line_writes_the_requested_cluster(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(BENCH / "generate.py"), "--endpoints", "120",
                          "--policies", "40", "--seed", "3", str(tmp_path)],
                         capture_output=True, text=True, check=True)
    assert "120 pods, 40 NetworkPolicies" in out.stderr
    assert _files(tmp_path) == _files(_written(tmp_path.parent / "api", 120, 40, 3))


def _written(directory: Path, endpoints: int, policies: int, seed: int) -> Path:
    generate.write(generate.generate(endpoints, policies, seed), directory)
    return directory


@pytest.mark.parametrize(("endpoints", "policies"), [(100, 30), (500, 150)])
def test_output_validates_and_has_the_requested_counts(tmp_path: Path, endpoints: int,
                                                       policies: int) -> None:
    inv = build_inventory(read_paths([str(_written(tmp_path, endpoints, policies, 1))]))
    assert len(inv.endpoints) == endpoints
    assert len(inv.policies) == policies
    assert all(e.ips for e in inv.endpoints)
    assert len({ip for e in inv.endpoints for ip in e.ips}) == endpoints


def test_netpol_validate_accepts_the_output(tmp_path: Path) -> None:
    directory = _written(tmp_path, 100, 30, 1)
    cmd = netpol_command()
    done = subprocess.run([*cmd, "validate", "-f", str(directory)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "valid: 30 NetworkPolicies, 100 endpoints" in done.stdout


def test_policies_cover_every_feature_the_benchmark_claims() -> None:
    cluster = generate.generate(500, 150, seed=1)
    specs = [p["spec"] for p in cluster.policies]
    nodes = [v for s in specs for v in _walk(s)]
    dicts = [v for v in nodes if isinstance(v, dict)]
    ports = [d for d in dicts if "port" in d or "protocol" in d]
    operators = {d["operator"] for d in dicts if "operator" in d}
    assert any(s["podSelector"] == {} and "ingress" not in s and "egress" not in s
               for s in specs), "default deny"
    assert any(r.get("from") == [{"podSelector": {}}] for s in specs
               for r in s.get("ingress", [])), "allow from the same namespace"
    assert any("matchLabels" in d for d in dicts)
    assert operators == {"In", "NotIn", "Exists", "DoesNotExist"}
    assert any("namespaceSelector" in d and "podSelector" not in d for d in dicts)
    assert any("namespaceSelector" in d and "podSelector" in d for d in dicts), "AND peer"
    assert any(d.get("namespaceSelector", {}).get("matchLabels") == {"scrape": ""}
               for d in dicts), "an empty label value"
    assert any(d.get("except") for d in dicts if "cidr" in d), "ipBlock with except"
    assert any(isinstance(p.get("port"), int) and "endPort" not in p for p in ports)
    assert any("endPort" in p for p in ports)
    assert any(isinstance(p.get("port"), str) for p in ports), "named ports"
    assert {p.get("protocol", "TCP") for p in ports} == {"TCP", "UDP", "SCTP"}
    assert any("port" not in p for p in ports), "a protocol without a port"
    assert any("ports" not in r for s in specs for r in s.get("ingress", [])), "rule without ports"
    assert any(s.get("egress") for s in specs), "egress rules"
    assert any(s.get("policyTypes") == ["Egress"] for s in specs)
    assert any(s.get("policyTypes") == ["Ingress", "Egress"] for s in specs)
    assert any("policyTypes" not in s and s.get("egress") for s in specs), "omitted, egress rules"
    assert any("policyTypes" not in s and s.get("egress") == [] for s in specs), "egress: []"
    numbers = {p["containerPort"] for pod in cluster.pods for c in pod["spec"]["containers"]
               for p in c["ports"] if p.get("name") == "http"}
    assert len(numbers) > 1, "one port name, several numbers across pods"


def test_tiered_policies_leave_the_rest_of_the_cluster_byte_identical(tmp_path: Path) -> None:
    generate.write(generate.generate(300, 90, seed=2), tmp_path / "plain")
    generate.write(generate.generate(300, 90, seed=2, tiered=40), tmp_path / "tiered")
    plain, tiered = _files(tmp_path / "plain"), _files(tmp_path / "tiered")
    assert set(tiered) == set(plain) | {"nodes.yaml", "tiered.yaml"}
    assert all(tiered[name] == content for name, content in plain.items())
    generate.write(generate.generate(300, 90, seed=2, tiered=40), tmp_path / "again")
    assert _files(tmp_path / "again") == tiered


def test_tiered_policies_validate_and_change_verdicts(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    generate.write(generate.generate(500, 150, seed=1, tiered=60), directory)
    cmd = netpol_command()
    done = subprocess.run([*cmd, "validate", "-f", str(directory)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "60 tiered cluster policies" in done.stdout
    inv = build_inventory(read_paths([str(directory)]))
    with_tiers = ClusterState(inv.namespaces, inv.endpoints, inv.policies, inv.services,
                              inv.nodes, inv.cluster_policies)
    without = ClusterState(inv.namespaces, inv.endpoints, inv.policies, inv.services, inv.nodes)
    sample = inv.endpoints[::12]
    pairs = [(a.key, b.key) for a in sample for b in sample]
    changed = sum(verdict(with_tiers, a, b, 8080).allowed != verdict(without, a, b, 8080).allowed
                  for a, b in pairs)
    assert changed > 0, "the tiered policies decide nothing the benchmark measures"


def test_tiered_policies_cover_both_apis_tiers_actions_peers_and_ports() -> None:
    cluster = generate.generate(500, 150, seed=1, tiered=100)
    kinds = {(p["kind"], p["apiVersion"], p["spec"].get("tier")) for p in cluster.cluster_policies}
    assert kinds == {("AdminNetworkPolicy", "policy.networking.k8s.io/v1alpha1", None),
                     ("BaselineAdminNetworkPolicy", "policy.networking.k8s.io/v1alpha1", None),
                     ("ClusterNetworkPolicy", "policy.networking.k8s.io/v1alpha2", "Admin"),
                     ("ClusterNetworkPolicy", "policy.networking.k8s.io/v1alpha2", "Baseline")}
    rules = [(p["kind"], r) for p in cluster.cluster_policies
             for direction in ("ingress", "egress") for r in p["spec"].get(direction, [])]
    actions = {(kind, r["action"]) for kind, r in rules}
    assert {("AdminNetworkPolicy", a) for a in ("Allow", "Deny", "Pass")} <= actions
    assert {("ClusterNetworkPolicy", a) for a in ("Accept", "Deny", "Pass")} <= actions
    assert {a for kind, a in actions if kind == "BaselineAdminNetworkPolicy"} <= {"Allow", "Deny"}
    peers = {key for _, r in rules for peer in r.get("from", []) + r.get("to", []) for key in peer}
    assert peers == {"namespaces", "pods", "nodes", "networks"}
    subjects = {key for p in cluster.cluster_policies for key in p["spec"]["subject"]}
    assert subjects == {"namespaces", "pods"}
    ports = [port for _, r in rules for port in r.get("ports", []) + r.get("protocols", [])]
    forms = {key for port in ports for key in port} | {
        key for port in ports for v in port.values() if isinstance(v, dict)
        for key in v.get("destinationPort", {})}
    assert {"portNumber", "portRange", "namedPort", "tcp", "udp", "destinationNamedPort",
            "number", "range"} <= forms
    assert any("ports" not in r and "protocols" not in r for _, r in rules), "every port"
    priorities = [p["spec"]["priority"] for p in cluster.cluster_policies if "priority" in p["spec"]]
    assert len(priorities) > len(set(priorities)), "some policies share a priority"
    assert {n["metadata"]["name"] for n in cluster.nodes} == {
        p["spec"]["nodeName"] for p in cluster.pods}


# bench/known_differences: the minimal cases where network-config-analyzer disagrees with
# the API server (bench/README.md). netpolicy must keep the API server's answer.
KNOWN_DIFFERENCES = [
    ("ipblock-pod-address", "x/a", "x/b", True),  # a pod's address is inside the ipBlock
    ("ipblock-pod-address", "x/c", "x/b", False),  # ... unless it is in `except`
    ("empty-egress-policy-types", "x/a", "x/b", True),  # `egress: []` does not add Egress
    ("empty-label-value", "y/b", "x/a", True),  # y has `scrape: ""`
    ("empty-label-value", "z/c", "x/a", False),  # z has no `scrape` label at all
    ("policy-types-order", "x/a", "x/b", False),  # [Egress, Ingress] is valid: b isolated
    ("policy-types-ignored-rules", "x/a", "x/b", True),  # ingress rules of an Egress policy
    ("policy-types-ignored-rules", "x/b", "x/a", False),
    ("owner-collapse", "x/web-7d9f8-aaaaa", "x/web-7d9f8-ccccc", True),  # by address
    ("owner-collapse", "x/web-7d9f8-bbbbb", "x/web-7d9f8-ccccc", False),
]


@pytest.mark.parametrize(("case", "source", "destination", "allowed"), KNOWN_DIFFERENCES)
def test_known_difference_cases_keep_the_api_servers_answer(
        case: str, source: str, destination: str, allowed: bool) -> None:
    inv = build_inventory(read_paths([str(BENCH / "known_differences" / case)]))
    state = ClusterState(inv.namespaces, inv.endpoints, inv.policies)
    assert verdict(state, source, destination, 80).allowed is allowed


@pytest.mark.slow
def test_quick_benchmark_prints_the_table() -> None:
    done = subprocess.run([sys.executable, str(BENCH / "bench_engine.py"), "--quick"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("SIZE"))
    assert lines[header].split()[:3] == ["SIZE", "MEASUREMENT", "TIME"]
    assert "PEAK RSS" in lines[header] and "RESULT" in lines[header]
    rows = lines[header + 1:]
    for size in ("100/30", "500/150"):
        assert any(r.startswith(size) and "matrix TCP/8080 (API)" in r and " s " in r
                   for r in rows), size
        assert any(r.startswith(size) and "connectivity (API)" in r for r in rows), size
    assert any("explain" in r and " ms " in r and ("PASS" in r or "FAIL" in r) for r in rows)
    assert any(r.startswith("500/150+200") and "matrix: +200 tiered vs without" in r
               for r in rows)
    assert any(r.startswith("500/150+200") and "explain" in r for r in rows)
    assert "ru_maxrss" in done.stdout
