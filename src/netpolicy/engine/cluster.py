"""The cluster state the engine reasons about: namespaces, endpoints, policies,
services and nodes, with the lookups every analysis needs.

A *party* to a connection is either an `Endpoint` (a pod, or a workload standing for
its pods) or an `External` address: outside the cluster, or a node's address.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from netpolicy.api.objects import (
    Direction,
    Endpoint,
    IPAddress,
    Namespace,
    NetworkPolicy,
    Node,
    Service,
    namespace_labels,
)
from netpolicy.api.tiers import ClusterPolicy, Tier
from netpolicy.errors import LookupFailure


@dataclass(frozen=True, slots=True)
class External:
    """An address that is not a pod's: outside the cluster, or a node (`node` set)."""

    ip: IPAddress
    node: str | None = None

    @property
    def key(self) -> str:
        return str(self.ip)


Party = Endpoint | External


def node_of_traffic(party: Party) -> str | None:
    """The node whose own traffic `party` is, if it is: a node's address, or a hostNetwork
    pod (it shares its node's network). A connection from a node into one of its own pods
    is exempt from every policy (point 11); this is the one place that says who counts."""
    if isinstance(party, External):
        return party.node
    return party.node if party.host_network else None


def from_own_node(source: Party, destination: Party) -> bool:
    """Is this connection the destination pod's own node reaching it (point 11)?"""
    node = node_of_traffic(source)
    return (node is not None and isinstance(destination, Endpoint)
            and not destination.host_network and destination.node == node)


class ClusterState:
    """Typed cluster objects plus indexes. Immutable once built."""

    def __init__(
        self,
        namespaces: Iterable[Namespace] = (),
        endpoints: Iterable[Endpoint] = (),
        policies: Iterable[NetworkPolicy] = (),
        services: Iterable[Service] = (),
        nodes: Iterable[Node] = (),
        cluster_policies: Iterable[ClusterPolicy] = (),
    ) -> None:
        self.endpoints: tuple[Endpoint, ...] = tuple(sorted(endpoints, key=lambda e: e.key))
        self.policies: tuple[NetworkPolicy, ...] = tuple(sorted(policies, key=lambda p: p.key))
        self.services: tuple[Service, ...] = tuple(sorted(services, key=lambda s: s.key))
        self.nodes: tuple[Node, ...] = tuple(sorted(nodes, key=lambda n: n.name))
        self._nodes = {n.name: n for n in self.nodes}
        # Each tier's policies in the order they are evaluated (`ClusterPolicy.order`).
        tiered = sorted(cluster_policies, key=lambda p: p.order)
        self.admin_policies: tuple[ClusterPolicy, ...] = tuple(p for p in tiered if p.tier == "Admin")
        self.baseline_policies: tuple[ClusterPolicy, ...] = tuple(
            p for p in tiered if p.tier == "Baseline")
        if len({p.key for p in tiered}) != len(tiered):
            raise ValueError("cluster policy keys must be unique")
        ns = {n.name: n for n in namespaces}
        # Namespaces that objects mention but nobody declared exist with their name label.
        for name in {e.namespace for e in self.endpoints} | {p.namespace for p in self.policies}:
            if name not in ns:
                ns[name] = Namespace(name, namespace_labels(name, None))
        self.namespaces: dict[str, Namespace] = dict(sorted(ns.items()))
        self.index: dict[str, int] = {e.key: i for i, e in enumerate(self.endpoints)}
        if len(self.index) != len(self.endpoints):
            raise ValueError("endpoint keys must be unique")
        self._policies_in: dict[str, list[NetworkPolicy]] = defaultdict(list)
        for p in self.policies:
            self._policies_in[p.namespace].append(p)
        self._selecting: dict[int, tuple[NetworkPolicy, ...]] = {}
        self._subjects: dict[tuple[int, Tier], tuple[ClusterPolicy, ...]] = {}

    # --- lookups ----------------------------------------------------------------------

    @cached_property
    def _by_ip(self) -> dict[IPAddress, Party]:
        out: dict[IPAddress, Party] = {}
        for node in self.nodes:
            for ip in node.ips:
                out[ip] = External(ip, node.name)
        for e in self.endpoints:
            for ip in e.ips:
                if not e.host_network:
                    out[ip] = e
                else:  # a hostNetwork pod's address is its node's, Node object or not
                    out.setdefault(ip, External(ip, e.node))
        return out

    def party(self, ref: str | Party) -> Party:
        """Resolve `namespace/name` or an IP address. An address of a pod is that pod; an
        address of a node is that node; any other address is external."""
        if not isinstance(ref, str):
            return ref
        if ref in self.index:
            return self.endpoints[self.index[ref]]
        try:
            ip = ipaddress.ip_address(ref)
        except ValueError as exc:
            raise LookupFailure(self._unknown(ref)) from exc
        return self._by_ip.get(ip, External(ip))

    def _unknown(self, ref: str) -> str:
        if "/" not in ref:
            return (f"{ref!r} is neither an endpoint (write it as namespace/name) "
                    f"nor an IP address")
        ns, _name = ref.split("/", 1)
        near = [e.key for e in self.endpoints if e.namespace == ns][:5]
        hint = f"; endpoints in namespace {ns!r}: {', '.join(near)}" if near else ""
        return f"endpoint {ref!r} not found{hint}"

    def service(self, ref: str) -> Service:
        for s in self.services:
            if s.key == ref:
                return s
        raise LookupFailure(f"service {ref!r} not found")

    def node_labels(self, name: str) -> Mapping[str, str]:
        """The labels of node `name` (an unknown node has none)."""
        return self._nodes[name].labels if name in self._nodes else {}

    def namespace_labels(self, name: str) -> dict[str, str]:
        ns = self.namespaces.get(name)
        return dict(ns.labels) if ns else namespace_labels(name, None)

    # --- selection (DESIGN.md points 1 and 3) -----------------------------------------

    def selecting(self, endpoint: Endpoint) -> tuple[NetworkPolicy, ...]:
        """The policies whose `spec.podSelector` selects `endpoint`: only policies of the
        endpoint's own namespace (point 1). hostNetwork pods are never selected: their
        traffic is the node's, which NetworkPolicy does not govern (point 12: our choice)."""
        i = self.index.get(endpoint.key)
        if i is not None and i in self._selecting:
            return self._selecting[i]
        if endpoint.host_network:
            found: tuple[NetworkPolicy, ...] = ()
        else:
            found = tuple(p for p in self._policies_in.get(endpoint.namespace, ())
                          if p.pod_selector.matches(endpoint.labels))
        if i is not None:
            self._selecting[i] = found
        return found

    @property
    def cluster_policies(self) -> tuple[ClusterPolicy, ...]:
        return self.admin_policies + self.baseline_policies

    def tier_policies(self, tier: Tier) -> tuple[ClusterPolicy, ...]:
        return self.admin_policies if tier == "Admin" else self.baseline_policies

    def subject_of(self, endpoint: Endpoint, tier: Tier) -> tuple[ClusterPolicy, ...]:
        """The `tier` policies whose subject selects `endpoint`, in evaluation order.
        hostNetwork pods are never subjects (the API's words)."""
        if endpoint.host_network:
            return ()
        i = self.index.get(endpoint.key)
        if i is not None and (i, tier) in self._subjects:
            return self._subjects[i, tier]
        ns = self.namespace_labels(endpoint.namespace)
        found = tuple(p for p in self.tier_policies(tier) if p.subject.selects(ns, endpoint.labels))
        if i is not None:
            self._subjects[i, tier] = found
        return found

    def isolating(self, endpoint: Endpoint, direction: Direction) -> tuple[NetworkPolicy, ...]:
        """The policies that isolate `endpoint` in `direction` (point 3)."""
        return tuple(p for p in self.selecting(endpoint) if p.affects(direction))

    def policies_in(self, namespace: str) -> Sequence[NetworkPolicy]:
        return self._policies_in.get(namespace, ())

    def backends(self, service: Service) -> tuple[Endpoint, ...]:
        """The endpoints a Service's selector picks in its namespace (no selector: none)."""
        if not service.selector:
            return ()
        sel = service.selector
        return tuple(e for e in self.endpoints if e.namespace == service.namespace
                     and all(e.labels.get(k) == v for k, v in sel.items()))
