"""From parsed documents to the typed objects of a cluster: namespaces, endpoints,
policies, services, nodes.

The tiered cluster policies (AdminNetworkPolicy, BaselineAdminNetworkPolicy,
ClusterNetworkPolicy) are read as `netpolicy.api.tiers` describes.

Endpoints are Pods, and the workloads that make pods (what users keep in git), each
workload standing for its pod template. When pods and the workloads that own them
are both given (as `kubectl get all -o yaml` prints), the pods are the endpoints and
their owners add none; a workload owned by another given workload (a Deployment's
ReplicaSet) adds none either. Pods that have finished (phase Succeeded or Failed)
cannot be connected to and are left out.

Every object is validated first; if any is invalid, `InvalidObjectsError` carries all
the errors of all the objects and nothing is built.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from netpolicy.api.loading import Document, gc_paused
from netpolicy.api.objects import (
    DEFAULT_NAMESPACE,
    Endpoint,
    Namespace,
    NetworkPolicy,
    Node,
    Service,
    container_ports,
    endpoint_from_pod,
    namespace_labels,
    network_policy_from_dict,
    node_from_dict,
    service_from_dict,
)
from netpolicy.api.tiers import GROUP as TIER_GROUP
from netpolicy.api.tiers import TIER_KINDS, ClusterPolicy, cluster_policy_from_dict
from netpolicy.api.validation import ObjectErrors, validate
from netpolicy.errors import InvalidObjectsError

WORKLOAD_KINDS = {
    "Deployment": "apps",
    "ReplicaSet": "apps",
    "StatefulSet": "apps",
    "DaemonSet": "apps",
    "ReplicationController": "",
    "Job": "batch",
    "CronJob": "batch",
}
KIND_GROUPS = {
    **WORKLOAD_KINDS,
    "Namespace": "",
    "Pod": "",
    "Service": "",
    "Node": "",
    "NetworkPolicy": "networking.k8s.io",
    **{kind: TIER_GROUP for kind in TIER_KINDS},
}
CLUSTER_SCOPED = {"Namespace", "Node", *TIER_KINDS}


@dataclass(slots=True)
class Inventory:
    """The typed objects of one cluster, each list sorted by key."""

    namespaces: list[Namespace] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)
    policies: list[NetworkPolicy] = field(default_factory=list)
    cluster_policies: list[ClusterPolicy] = field(default_factory=list)
    """AdminNetworkPolicies, BaselineAdminNetworkPolicies and ClusterNetworkPolicies."""
    services: list[Service] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    """Kinds we do not read, with how many objects of each were skipped."""
    finished_pods: int = 0

    def skipped_note(self) -> str | None:
        """One line for stderr saying what was skipped, or None."""
        parts = [f"{n} {kind}" for kind, n in sorted(self.skipped.items())]
        if self.finished_pods:
            parts.append(f"{self.finished_pods} finished Pod")
        if not parts:
            return None
        return "note: skipped objects of kinds netpol does not read: " + ", ".join(parts)


def _pod_template(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec") or {}
    if obj["kind"] == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return spec.get("template") or {}


def _build_inventory(
    docs: Iterable[Document], default_namespace: str = DEFAULT_NAMESPACE, *,
    strict: bool = False, strict_ip: bool = True,
) -> Inventory:
    """Validate every document, then build the typed objects. Raises
    `InvalidObjectsError` with every error of every invalid object.

    `strict` reports unknown fields. `strict_ip` applies today's API server rules to
    addresses and CIDRs (no host bits, no leading zeros); objects read from a live
    cluster were accepted under its own, possibly older, rules, so they are read with
    `strict_ip=False` rather than refused."""
    inv = Inventory()
    known: list[tuple[Document, str]] = []  # documents of kinds we read, with their namespace
    invalid: list[ObjectErrors] = []
    seen: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for doc in docs:
        obj = doc.obj
        kind = obj["kind"]
        if kind not in KIND_GROUPS:
            inv.skipped[kind] += 1
            continue
        raw_meta = obj.get("metadata")
        meta: Mapping[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        name = str(meta.get("name", ""))
        ns = "" if kind in CLUSTER_SCOPED else str(meta.get("namespace") or default_namespace)
        errors = validate(obj, strict=strict, strict_ip=strict_ip)
        if errors:
            invalid.append(ObjectErrors(kind, name, ns or None, KIND_GROUPS[kind], tuple(errors)))
            continue
        key = (kind, ns, name)
        if key in seen:
            if seen[key] != obj:
                invalid.append(ObjectErrors(kind, name, ns or None, KIND_GROUPS[kind], (),
                                            f"given twice with different contents ({doc.source})"))
            continue
        seen[key] = obj
        known.append((doc, ns))
    if invalid:
        raise InvalidObjectsError(invalid)

    owned = _owners_of_pods(known)
    namespaces: dict[str, Namespace] = {}
    endpoints: dict[str, Endpoint] = {}
    mentioned: set[str] = set()
    for doc, ns in known:
        obj, kind, meta = doc.obj, doc.obj["kind"], doc.obj["metadata"]
        name = meta["name"]
        if ns:
            mentioned.add(ns)
        if kind == "Namespace":
            namespaces[name] = Namespace(name, namespace_labels(name, meta.get("labels")))
        elif kind == "NetworkPolicy":
            inv.policies.append(network_policy_from_dict(obj, ns))
        elif kind in TIER_KINDS:
            inv.cluster_policies.append(cluster_policy_from_dict(obj))
        elif kind == "Service":
            inv.services.append(service_from_dict(obj, ns))
        elif kind == "Node":
            inv.nodes.append(node_from_dict(obj))
        elif kind == "Pod":
            status = obj.get("status") or {}
            if status.get("phase") in ("Succeeded", "Failed"):
                inv.finished_pods += 1
                continue
            _add_endpoint(endpoints, endpoint_from_pod(obj, ns))
        elif kind in WORKLOAD_KINDS:
            if (kind, ns, name) in owned:
                continue  # its pods, or the workload it drives, stand for it
            owners = meta.get("ownerReferences") or []
            if any((str(r.get("kind")), ns, str(r.get("name"))) in seen for r in owners):
                continue  # owned by a given workload, which is the endpoint
            template = _pod_template(obj)
            tmeta, tspec = template.get("metadata") or {}, template.get("spec") or {}
            _add_endpoint(endpoints, Endpoint(
                ns, name, kind, dict(tmeta.get("labels") or {}), (), container_ports(tspec),
                None, bool(tspec.get("hostNetwork"))))
    for ns in mentioned - namespaces.keys():
        namespaces[ns] = Namespace(ns, namespace_labels(ns, None))  # only its name label
    inv.namespaces = sorted(namespaces.values(), key=lambda n: n.name)
    inv.endpoints = sorted(endpoints.values(), key=lambda e: (e.namespace, e.name))
    inv.policies.sort(key=lambda p: (p.namespace, p.name))
    inv.cluster_policies.sort(key=lambda p: p.key)
    inv.services.sort(key=lambda s: (s.namespace, s.name))
    inv.nodes.sort(key=lambda n: n.name)
    return inv


def build_inventory(
    docs: Iterable[Document], default_namespace: str = DEFAULT_NAMESPACE, *,
    strict: bool = False, strict_ip: bool = True,
) -> Inventory:
    """Validate every document, then build the typed objects (see `_build_inventory`)."""
    with gc_paused():
        return _build_inventory(docs, default_namespace, strict=strict, strict_ip=strict_ip)


def _owners_of_pods(known: list[tuple[Document, str]]) -> set[tuple[str, str, str]]:
    """(kind, namespace, name) of every workload that a given pod descends from, through
    the owner references of the given objects."""
    refs: dict[tuple[str, str, str], list[tuple[str, str, str]]] = {}
    pods: list[tuple[str, str, str]] = []
    for doc, ns in known:
        meta, kind = doc.obj["metadata"], doc.obj["kind"]
        me = (kind, ns, meta["name"])
        parents = []
        for ref in meta.get("ownerReferences") or []:
            parent_kind, parent = str(ref.get("kind")), str(ref.get("name"))
            parents.append((parent_kind, ns, parent))
            # A Deployment's ReplicaSet is `<deployment>-<pod-template-hash>`: its pods
            # stand for the Deployment even when the ReplicaSet itself is not given.
            suffix = "-" + str((meta.get("labels") or {}).get("pod-template-hash", ""))
            if parent_kind == "ReplicaSet" and len(suffix) > 1 and parent.endswith(suffix):
                parents.append(("Deployment", ns, parent[: -len(suffix)]))
        refs[me] = parents
        if kind == "Pod":
            pods.append(me)
    owned: set[tuple[str, str, str]] = set()
    todo = [parent for pod in pods for parent in refs[pod]]
    while todo:
        owner = todo.pop()
        if owner not in owned:
            owned.add(owner)
            todo.extend(refs.get(owner, ()))
    return owned


def _add_endpoint(endpoints: dict[str, Endpoint], ep: Endpoint) -> None:
    other = endpoints.get(ep.key)
    if other is not None:
        raise InvalidObjectsError([ObjectErrors(
            ep.kind, ep.name, ep.namespace, KIND_GROUPS[ep.kind], (),
            f"has the same name as {other.kind} {other.key}: both would be endpoint {ep.key}")])
    endpoints[ep.key] = ep
