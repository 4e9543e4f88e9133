"""Small builders for tests: clusters from YAML snippets, and the upstream e2e model."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

import yaml

from netpolicy.api.inventory import build_inventory
from netpolicy.api.loading import Document, parse_text
from netpolicy.api.objects import ContainerPort, Endpoint, Namespace, namespace_labels
from netpolicy.engine import ClusterState, CompiledView, matrix, verdict
from netpolicy.probe.cases import Reachability

NAMESPACES = ("x", "y", "z")
PODS = ("a", "b", "c")
MODEL_PORTS = (
    ContainerPort(80, "TCP", "serve-80-tcp"),
    ContainerPort(81, "TCP", "serve-81-tcp"),
    ContainerPort(80, "UDP", "serve-80-udp"),
    ContainerPort(81, "UDP", "serve-81-udp"),
    ContainerPort(80, "SCTP", "serve-80-sctp"),
    ContainerPort(81, "SCTP", "serve-81-sctp"),
)


def model_ip(namespace: str, pod: str) -> str:
    return f"10.0.{NAMESPACES.index(namespace) + 1}.{PODS.index(pod) + 1}"


def model_endpoints(extra_labels: Mapping[str, Mapping[str, str]] | None = None) -> list[Endpoint]:
    """Namespaces x, y, z, each with pods a, b, c labelled `pod=<name>`, serving 80 and 81
    on TCP, UDP and SCTP under names like `serve-80-tcp` (the upstream e2e model)."""
    out = []
    for ns in NAMESPACES:
        for p in PODS:
            labels = {"pod": p, **(extra_labels or {}).get(f"{ns}/{p}", {})}
            out.append(Endpoint(ns, p, "Pod", labels, (ipaddress.ip_address(model_ip(ns, p)),),
                                MODEL_PORTS))
    return out


def model_namespaces(extra_labels: Mapping[str, Mapping[str, str]] | None = None) -> list[Namespace]:
    return [Namespace(ns, namespace_labels(ns, {"ns": ns, **(extra_labels or {}).get(ns, {})}))
            for ns in NAMESPACES]


def policies(text: str, namespace: str = "x") -> list[Any]:
    """NetworkPolicies from YAML text (validated, defaults applied)."""
    docs = [Document({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", **raw,
                      "metadata": {"namespace": namespace, **raw.get("metadata", {})}}, "<test>")
            for raw in yaml.safe_load_all(text) if raw]
    return build_inventory(docs).policies


def tiered(text: str) -> list[Any]:
    """AdminNetworkPolicies, BaselineAdminNetworkPolicies and ClusterNetworkPolicies from
    YAML text (each with its apiVersion and kind; validated)."""
    return build_inventory(parse_text(text, "<test>")).cluster_policies


def model(policy_yaml: str = "", namespace: str = "x", *,
          pod_labels: Mapping[str, Mapping[str, str]] | None = None,
          ns_labels: Mapping[str, Mapping[str, str]] | None = None,
          tiered_yaml: str = "") -> ClusterState:
    pols = policies(policy_yaml, namespace) if policy_yaml.strip() else []
    tiers = tiered(tiered_yaml) if tiered_yaml.strip() else []
    return ClusterState(model_namespaces(ns_labels), model_endpoints(pod_labels), pols,
                        cluster_policies=tiers)


def cluster(text: str) -> ClusterState:
    inv = build_inventory(parse_text(text, "<test>"))
    return ClusterState(inv.namespaces, inv.endpoints, inv.policies, inv.services, inv.nodes,
                            inv.cluster_policies)


def manifest(**obj: Any) -> str:
    return yaml.safe_dump(obj)


Table = dict[tuple[str, str], bool]


def observed(state: ClusterState, port: int, protocol: str = "TCP") -> tuple[Table, Table]:
    """The truth table twice: from the fast matrix path and from single verdicts."""
    m = matrix(CompiledView(state), port, protocol)  # type: ignore[arg-type]
    fast = {(m.endpoints[s], m.endpoints[d]): bool(m.allowed[s, d])
            for s in range(len(m.endpoints)) for d in range(len(m.endpoints))}
    slow = {(s, d): verdict(state, s, d, port, protocol).allowed  # type: ignore[arg-type]
            for s, d in fast}
    return fast, slow


def assert_reachability(state: ClusterState, expected: Reachability, port: int,
                        protocol: str = "TCP", where: str = "") -> None:
    fast, slow = observed(state, port, protocol)
    want = expected.table
    assert fast == want, (f"{where} matrix path, {protocol}/{port}\nexpected:\n"
                          f"{expected.render(want)}\ngot:\n{expected.render(fast)}")
    assert slow == want, (f"{where} verdict path, {protocol}/{port}\nexpected:\n"
                          f"{expected.render(want)}\ngot:\n{expected.render(slow)}")
