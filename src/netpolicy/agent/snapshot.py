"""From the watched objects to the engine's `ClusterState`, remembering conversions.

Each object is validated and converted once per resourceVersion; a change to one pod
re-converts one pod. Objects that fail validation are reported, never skipped
silently: a policy the agent cannot read isolates the pods it selects in both directions
with no rule (fail closed: `deny_all_policy`); a tiered policy it cannot read denies
everything to and from its subjects at its tier and priority (`tiers.deny_all`); when
even the selector (or subject, tier, priority) is unreadable, nothing is guessed and the
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
    deny_all_policy,
    endpoint_from_pod,
    namespace_labels,
    network_policy_from_dict,
    node_from_dict,
)
from netpolicy.api.tiers import (
    ADMIN_KIND,
    BASELINE_ADMIN_PRIORITY,
    BASELINE_KIND,
    GROUP,
    TIER_KINDS,
    ClusterPolicy,
    Subject,
    Tier,
    cluster_policy_from_dict,
    deny_all,
)
from netpolicy.api.validation import ObjectErrors, validate, validate_label_selector
from netpolicy.engine import ClusterState

JSON = dict[str, Any]
Converted = Endpoint | Namespace | NetworkPolicy | Node | ClusterPolicy | None
_GROUPS = {"NetworkPolicy": "networking.k8s.io", **{kind: GROUP for kind in TIER_KINDS}}


@dataclass
class Snapshot:
    state: ClusterState
    errors: list[str]
    pod_cidrs: dict[str, list[str]] = field(default_factory=dict)


def _fail_closed(obj: Mapping[str, Any], namespace: str) -> NetworkPolicy | None:
    """A NetworkPolicy we cannot read: `deny_all_policy` of what its selector picks."""
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    selector = spec.get("podSelector")
    if selector is not None and validate_label_selector(selector, "spec.podSelector"):
        return None
    return deny_all_policy(namespace, str(obj["metadata"].get("name", "")),
                           LabelSelector.from_dict(selector))


def _selector(raw: Any, path: str) -> LabelSelector | None:
    if raw is None or not isinstance(raw, Mapping) or validate_label_selector(raw, path):
        return None
    return LabelSelector.from_dict(raw)


def _tier_fail_closed(obj: Mapping[str, Any]) -> ClusterPolicy | None:
    """A tiered policy we cannot read: `deny_all` at its tier and priority, when those and
    its subject can be read; otherwise None (nothing is guessed)."""
    kind, spec = obj.get("kind"), obj.get("spec")
    if not isinstance(spec, Mapping) or not isinstance(spec.get("subject"), Mapping):
        return None
    tier: Tier
    if kind == BASELINE_KIND:
        tier, priority = "Baseline", BASELINE_ADMIN_PRIORITY
    else:
        raw_tier = "Admin" if kind == ADMIN_KIND else spec.get("tier")
        raw_priority = spec.get("priority")
        if raw_tier not in ("Admin", "Baseline") or not isinstance(raw_priority, int) \
                or isinstance(raw_priority, bool) or not 0 <= raw_priority <= 1000:
            return None
        tier, priority = ("Admin" if raw_tier == "Admin" else "Baseline"), raw_priority
    raw = spec["subject"]
    subject: Subject | None = None
    if set(raw) == {"namespaces"}:
        namespaces = _selector(raw["namespaces"], "spec.subject.namespaces")
        subject = None if namespaces is None else Subject(namespaces)
    elif set(raw) == {"pods"} and isinstance(raw["pods"], Mapping):
        pods = raw["pods"]
        ns = _selector(pods.get("namespaceSelector"), "spec.subject.pods.namespaceSelector")
        pod = _selector(pods.get("podSelector"), "spec.subject.pods.podSelector")
        subject = None if ns is None or pod is None else Subject(ns, pod)
    if subject is None:
        return None
    name = obj.get("metadata", {}).get("name", "")
    return deny_all(str(kind), str(name), tier, priority, subject)


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
            error = str(ObjectErrors(kind, obj["metadata"].get("name", ""), namespace or None,
                                     _GROUPS.get(kind, ""), tuple(errors)))
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
        if kind in TIER_KINDS:
            return self._tiered(kind, obj, error)
        return None, None

    @staticmethod
    def _tiered(kind: str, obj: JSON, error: str | None) -> tuple[Converted, str | None]:
        if error is None:
            try:
                return cluster_policy_from_dict(obj), None
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                # A field this version cannot read (validation let it through): fail
                # closed like any unreadable policy.
                error = (f"{kind}.{GROUP} {obj['metadata'].get('name', '')!r} cannot be "
                         f"read: {exc!r}")
        closed = _tier_fail_closed(obj)
        if closed is None:
            return None, error + " (not enforced: its subject, tier or priority is unreadable)"
        return closed, error + " (enforced as deny-all for its subject)"

    def forget_missing(self, present: set[tuple[str, str, str]]) -> None:
        for key in [k for k in self._cache if k not in present]:
            del self._cache[key]

    def snapshot(self, objects: Mapping[str, list[JSON]]) -> Snapshot:
        namespaces, endpoints, policies, nodes = [], [], [], []
        tiered: list[ClusterPolicy] = []
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
                elif isinstance(value, ClusterPolicy):
                    tiered.append(value)
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
        return Snapshot(ClusterState(namespaces, unique, policies, (), nodes, tiered),
                        sorted(errors), pod_cidrs)
