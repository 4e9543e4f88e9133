"""From the watched objects to the engine's `ClusterState`, remembering conversions.

Each object is validated and converted once per resourceVersion; a change to one pod
re-converts one pod. Objects that fail validation are reported, never skipped
silently: a policy the agent cannot read isolates the pods it selects with no rule
(fail closed), or, when even its pod selector is unreadable, nothing is guessed and the
error stands in the agent's status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from netpolicy.api.labels import LabelSelector
from netpolicy.api.objects import (
    Endpoint,
    Namespace,
    NetworkPolicy,
    Node,
    endpoint_from_pod,
    namespace_labels,
    network_policy_from_dict,
    node_from_dict,
)
from netpolicy.api.validation import ObjectErrors, validate
from netpolicy.engine import ClusterState

JSON = dict[str, Any]
Converted = Endpoint | Namespace | NetworkPolicy | Node | None


@dataclass
class Snapshot:
    state: ClusterState
    errors: list[str]
    pod_cidrs: dict[str, list[str]] = field(default_factory=dict)


def _fail_closed(obj: Mapping[str, Any], namespace: str) -> NetworkPolicy | None:
    """A policy we cannot read: isolate what it selects, in the directions it names."""
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    selector = spec.get("podSelector")
    if selector is not None and validate({"apiVersion": "networking.k8s.io/v1",
                                          "kind": "NetworkPolicy",
                                          "metadata": {"name": "x"},
                                          "spec": {"podSelector": selector}}):
        return None
    types = spec.get("policyTypes") if isinstance(spec.get("policyTypes"), list) else None
    ingress = types is None or "Ingress" in types
    egress = bool(types and "Egress" in types) or (types is None and bool(spec.get("egress")))
    return NetworkPolicy(namespace, str(obj["metadata"].get("name", "")),
                         LabelSelector.from_dict(selector), (), (), ingress, egress)


class Converter:
    """Typed objects from raw ones, cached by (kind, namespace, name, resourceVersion)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, str], tuple[str, Converted, str | None]] = {}

    def convert(self, kind: str, obj: JSON) -> tuple[Converted, str | None]:
        meta = obj.get("metadata") or {}
        key = (kind, meta.get("namespace") or "", meta.get("name") or "")
        rv = str(meta.get("resourceVersion", ""))
        hit = self._cache.get(key)
        if hit is not None and hit[0] == rv and rv:
            return hit[1], hit[2]
        result, error = self._convert(kind, obj, key[1])
        self._cache[key] = (rv, result, error)
        return result, error

    def _convert(self, kind: str, obj: JSON, namespace: str) -> tuple[Converted, str | None]:
        obj = {**obj, "kind": kind}
        errors = validate(obj, strict_ip=False)
        error = None
        if errors:
            group = "networking.k8s.io" if kind == "NetworkPolicy" else ""
            error = str(ObjectErrors(kind, obj["metadata"].get("name", ""), namespace or None,
                                     group, tuple(errors)))
        if kind == "Pod":
            status = obj.get("status") or {}
            if error or status.get("phase") in ("Succeeded", "Failed"):
                return None, error
            return endpoint_from_pod(obj, namespace), None
        if kind == "Namespace":
            name = obj["metadata"]["name"]
            labels = obj["metadata"].get("labels") or {}
            return Namespace(name, namespace_labels(name, labels if not error else None)), error
        if kind == "NetworkPolicy":
            if error:
                return _fail_closed(obj, namespace), error + " (enforced as deny-all)"
            return network_policy_from_dict(obj, namespace), None
        if kind == "Node":
            return (None if error else node_from_dict(obj)), error
        return None, None

    def forget_missing(self, present: set[tuple[str, str, str]]) -> None:
        for key in [k for k in self._cache if k not in present]:
            del self._cache[key]

    def snapshot(self, objects: Mapping[str, list[JSON]]) -> Snapshot:
        namespaces, endpoints, policies, nodes = [], [], [], []
        errors: list[str] = []
        present: set[tuple[str, str, str]] = set()
        pod_cidrs: dict[str, list[str]] = {}
        for kind, items in objects.items():
            for obj in items:
                meta = obj.get("metadata") or {}
                present.add((kind, meta.get("namespace") or "", meta.get("name") or ""))
                value, error = self.convert(kind, obj)
                if error:
                    errors.append(error)
                if isinstance(value, Namespace):
                    namespaces.append(value)
                elif isinstance(value, Endpoint):
                    endpoints.append(value)
                elif isinstance(value, NetworkPolicy):
                    policies.append(value)
                elif isinstance(value, Node):
                    nodes.append(value)
                    spec = obj.get("spec") or {}
                    pod_cidrs[value.name] = list(spec.get("podCIDRs") or
                                                 ([spec["podCIDR"]] if spec.get("podCIDR") else []))
        self.forget_missing(present)
        seen: set[str] = set()
        unique = []
        for e in endpoints:  # a pod recreated under its old name appears once
            if e.key not in seen:
                seen.add(e.key)
                unique.append(e)
        return Snapshot(ClusterState(namespaces, unique, policies, (), nodes), sorted(errors),
                        pod_cidrs)
