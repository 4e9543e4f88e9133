"""The OpenAPI v3 schemas of the tiered cluster-policy CRDs, as data, and their CRD manifests.

Our own rendering of what kubernetes-sigs/network-policy-api generates into
`config/crd/experimental/` (the experimental channel: a superset of standard, with `nodes`,
`domainNames` and named ports): AdminNetworkPolicy and BaselineAdminNetworkPolicy as last
published (v0.1.7, before they left the channels), ClusterNetworkPolicy as on the main branch
(v0.2.0). Structure, types, bounds, enums, patterns and CEL rules match upstream; the
descriptions are left out.

A schema here is a plain dict in `openAPIV3Schema` form, except that each
`x-kubernetes-validations` entry is a `CelRule`: the rule's CEL text and message, and an `id`
by which `tier_validation` finds the Python predicate that evaluates it. `crds()` writes the
rules out as the API server wants them. `tier_validation` walks these same dicts, so the
schema is the one place each structural rule is stated.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from netpolicy.api.tiers import ADMIN_KIND, API_VERSIONS, BASELINE_KIND, CLUSTER_KIND, GROUP

Schema = dict[str, Any]


@dataclass(frozen=True, slots=True)
class CelRule:
    """One `x-kubernetes-validations` rule. `id` keys its predicate in `tier_validation`."""

    id: str
    rule: str
    message: str

    def manifest(self) -> dict[str, str]:
        return {"message": self.message, "rule": self.rule}


# --- the rules -------------------------------------------------------------------------------

_NAMED_PORT_PEERS = "{} peer cannot be set with namedPorts since there are no namedPorts for {}"

ADMIN_EGRESS_NAMED_PORTS = CelRule(
    "anp-egress-named-ports",
    "!(self.to.exists(p, has(p.networks) || has(p.nodes) || has(p.domainNames))"
    " && has(self.ports) && self.ports.exists(q, has(q.namedPort)))",
    _NAMED_PORT_PEERS.format("networks/nodes/domainNames", "networks/nodes/domainNames"))
"""v1alpha1 egress: a named port resolves on pods only, so not with nodes, networks or
domainNames peers (ingress peers are always pods)."""
BASELINE_EGRESS_NAMED_PORTS = CelRule(
    "banp-egress-named-ports",
    "!(self.to.exists(p, has(p.networks) || has(p.nodes))"
    " && has(self.ports) && self.ports.exists(q, has(q.namedPort)))",
    _NAMED_PORT_PEERS.format("networks/nodes", "networks/nodes"))
CLUSTER_EGRESS_NAMED_PORTS = CelRule(
    "cnp-egress-named-ports",
    "!(self.to.exists(p, has(p.networks) || has(p.nodes) || has(p.domainNames))"
    " && has(self.protocols) && self.protocols.exists(q, has(q.destinationNamedPort)))",
    _NAMED_PORT_PEERS.format("networks/nodes/domainNames", "networks/nodes/domainNames"))
PORT_RANGE_ORDER = CelRule("cnp-port-range", "self.start < self.end",
                           "Start port must be less than End port")
"""v1alpha2 only: a v1alpha1 portRange has no such rule (start == end, or start > end, pass)."""
CIDR_FORMAT = CelRule("cidr", "isCIDR(self)", "Invalid CIDR format provided")
BASELINE_SINGLETON = CelRule(
    "banp-name", "self.metadata.name == 'default'",
    'Only one baseline admin network policy with metadata.name="default" can be created '
    "in the cluster")

RULES: tuple[CelRule, ...] = (ADMIN_EGRESS_NAMED_PORTS, BASELINE_EGRESS_NAMED_PORTS,
                              CLUSTER_EGRESS_NAMED_PORTS, PORT_RANGE_ORDER, CIDR_FORMAT,
                              BASELINE_SINGLETON)

# Upstream's DomainName pattern, as its CRDs on main carry it: note `A-z` in two of the
# classes, which also admits `[\]^_` and backquote. An open PR (#391) corrects it; the API
# server checks what the installed CRD says, so we keep it until a release changes it.
DOMAIN_NAME_PATTERN = (r"^(\*\.)?([a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)+"
                       r"[a-zA-z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.?$")


# --- building blocks -------------------------------------------------------------------------


def _string(**extra: Any) -> Schema:
    return {"type": "string", **extra}


def _int32(minimum: int, maximum: int) -> Schema:
    return {"format": "int32", "maximum": maximum, "minimum": minimum, "type": "integer"}


def _port() -> Schema:
    return _int32(1, 65535)


def _selector() -> Schema:
    """metav1.LabelSelector: the CRD checks only its shape (operators and label syntax are
    not checked by the schema)."""
    return {
        "properties": {
            "matchExpressions": {
                "items": {
                    "properties": {
                        "key": _string(),
                        "operator": _string(),
                        "values": {"items": _string(), "type": "array",
                                   "x-kubernetes-list-type": "atomic"},
                    },
                    "required": ["key", "operator"],
                    "type": "object",
                },
                "type": "array",
                "x-kubernetes-list-type": "atomic",
            },
            "matchLabels": {"additionalProperties": _string(), "type": "object"},
        },
        "type": "object",
        "x-kubernetes-map-type": "atomic",
    }


def _namespaced_pod(required: list[str]) -> Schema:
    return {"properties": {"namespaceSelector": _selector(), "podSelector": _selector()},
            "required": required, "type": "object"}


def _one_of(properties: Schema) -> Schema:
    """An object that must set exactly one of its fields (min/maxProperties 1)."""
    return {"maxProperties": 1, "minProperties": 1, "properties": properties, "type": "object"}


def _set_of(item: Schema, max_items: int) -> Schema:
    return {"items": item, "maxItems": max_items, "minItems": 1, "type": "array",
            "x-kubernetes-list-type": "set"}


def _list(item: Schema, max_items: int, min_items: int | None = None) -> Schema:
    out: Schema = {"items": item, "maxItems": max_items, "type": "array"}
    if min_items is not None:
        out["minItems"] = min_items
    return out


def _networks() -> Schema:
    return _set_of(_string(maxLength=43, **{"x-kubernetes-validations": [CIDR_FORMAT]}), 25)


def _domain_names() -> Schema:
    return _set_of(_string(pattern=DOMAIN_NAME_PATTERN), 25)


def _peer(pods_required: list[str], egress: bool, domain_names: bool) -> Schema:
    fields: Schema = {"namespaces": _selector(), "pods": _namespaced_pod(pods_required)}
    if egress:
        fields |= {"networks": _networks(), "nodes": _selector()}
        if domain_names:
            fields["domainNames"] = _domain_names()
    return _one_of(dict(sorted(fields.items())))


def _v1alpha1_ports() -> Schema:
    protocol = _string(default="TCP")
    return _list(_one_of({
        "namedPort": _string(),
        "portNumber": {"properties": {"port": _port(), "protocol": protocol},
                       "required": ["port", "protocol"], "type": "object"},
        "portRange": {"properties": {"end": _port(), "protocol": protocol, "start": _port()},
                      "required": ["end", "start"], "type": "object"},
    }), 100, 1)


def _v1alpha2_protocols() -> Schema:
    destination = {
        "maxProperties": 1, "minProperties": 1, "type": "object",
        "properties": {
            "number": _port(),
            "range": {"properties": {"end": _port(), "start": _port()},
                      "required": ["end", "start"], "type": "object",
                      "x-kubernetes-validations": [PORT_RANGE_ORDER]},
        },
    }
    protocol = {"minProperties": 1, "properties": {"destinationPort": destination},
                "type": "object"}
    return _list(_one_of({"destinationNamedPort": _string(), "sctp": copy.deepcopy(protocol),
                          "tcp": copy.deepcopy(protocol), "udp": copy.deepcopy(protocol)}),
                 25, 1)


def _rule(direction: str, actions: list[str], peer: Schema, ports_key: str, ports: Schema,
          max_peers: int, named_ports: CelRule | None) -> Schema:
    peers_key = "from" if direction == "ingress" else "to"
    out: Schema = {
        "properties": dict(sorted({
            "action": _string(enum=actions),
            "name": _string(maxLength=100),
            peers_key: _list(peer, max_peers, 1),
            ports_key: ports,
        }.items())),
        "required": ["action", peers_key],
        "type": "object",
    }
    if named_ports is not None:
        out["x-kubernetes-validations"] = [named_ports]
    return out


def _status() -> Schema:
    """metav1.Condition list (the status subresource; the API server drops it on create)."""
    return {
        "properties": {"conditions": {
            "items": {
                "properties": {
                    "lastTransitionTime": _string(format="date-time"),
                    "message": _string(maxLength=32768),
                    "observedGeneration": {"format": "int64", "minimum": 0, "type": "integer"},
                    "reason": _string(maxLength=1024, minLength=1,
                                      pattern="^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"),
                    "status": _string(enum=["True", "False", "Unknown"]),
                    "type": _string(maxLength=316, pattern=(
                        r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                        r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$")),
                },
                "required": ["lastTransitionTime", "message", "reason", "status", "type"],
                "type": "object",
            },
            "type": "array",
            "x-kubernetes-list-map-keys": ["type"],
            "x-kubernetes-list-type": "map",
        }},
        "required": ["conditions"],
        "type": "object",
    }


def _root(spec: Schema, rules: list[CelRule] | None = None) -> Schema:
    out: Schema = {
        "properties": {"apiVersion": _string(), "kind": _string(), "metadata": {"type": "object"},
                       "spec": spec, "status": _status()},
        "required": ["metadata", "spec"],
        "type": "object",
    }
    if rules:
        out["x-kubernetes-validations"] = rules
    return out


def _spec(properties: Schema, required: list[str]) -> Schema:
    return {"properties": dict(sorted(properties.items())), "required": required,
            "type": "object"}


def _subject(pods_required: list[str]) -> Schema:
    return _one_of({"namespaces": _selector(), "pods": _namespaced_pod(pods_required)})


# --- the three kinds -------------------------------------------------------------------------


def _admin() -> Schema:
    actions = ["Allow", "Deny", "Pass"]
    both = ["namespaceSelector", "podSelector"]
    return _root(_spec({
        "egress": _list(_rule("egress", actions, _peer(both, True, True), "ports",
                              _v1alpha1_ports(), 100, ADMIN_EGRESS_NAMED_PORTS), 100),
        "ingress": _list(_rule("ingress", actions, _peer(both, False, False), "ports",
                               _v1alpha1_ports(), 100, None), 100),
        "priority": _int32(0, 1000),
        "subject": _subject(both),
    }, ["priority", "subject"]))


def _baseline() -> Schema:
    actions = ["Allow", "Deny"]
    both = ["namespaceSelector", "podSelector"]
    return _root(_spec({
        "egress": _list(_rule("egress", actions, _peer(both, True, False), "ports",
                              _v1alpha1_ports(), 100, BASELINE_EGRESS_NAMED_PORTS), 100),
        "ingress": _list(_rule("ingress", actions, _peer(both, False, False), "ports",
                               _v1alpha1_ports(), 100, None), 100),
        "subject": _subject(both),
    }, ["subject"]), [BASELINE_SINGLETON])


def _cluster() -> Schema:
    # Pass is allowed in both tiers (in the Baseline tier it skips to the default).
    actions = ["Accept", "Deny", "Pass"]
    pod = ["podSelector"]  # v1alpha2: an absent namespaceSelector selects all namespaces
    return _root(_spec({
        "egress": _list(_rule("egress", actions, _peer(pod, True, True), "protocols",
                              _v1alpha2_protocols(), 25, CLUSTER_EGRESS_NAMED_PORTS), 25),
        "ingress": _list(_rule("ingress", actions, _peer(pod, False, False), "protocols",
                               _v1alpha2_protocols(), 25, None), 25),
        "priority": _int32(0, 1000),
        "subject": _subject(pod),
        "tier": _string(enum=["Admin", "Baseline"]),
    }, ["priority", "subject", "tier"]))


SCHEMAS: dict[str, Schema] = {ADMIN_KIND: _admin(), BASELINE_KIND: _baseline(),
                              CLUSTER_KIND: _cluster()}
"""Each kind's `openAPIV3Schema` (with `CelRule`s in place of rule dicts). Do not mutate."""


def schema(kind: str) -> Schema:
    """The `openAPIV3Schema` of `kind`, as the CRD manifest carries it (rules as dicts)."""
    out: Schema = _manifest(SCHEMAS[kind])
    return out


# --- CRD manifests ---------------------------------------------------------------------------

_PLURALS = {ADMIN_KIND: ("adminnetworkpolicies", "adminnetworkpolicy", "anp"),
            BASELINE_KIND: ("baselineadminnetworkpolicies", "baselineadminnetworkpolicy", "banp"),
            CLUSTER_KIND: ("clusternetworkpolicies", "clusternetworkpolicy", "cnp")}
# Where the API was approved (required for a *.k8s.io group), and the bundle published.
_APPROVAL = {ADMIN_KIND: ("https://github.com/kubernetes-sigs/network-policy-api/pull/300",
                          "v0.1.7"),
             BASELINE_KIND: ("https://github.com/kubernetes-sigs/network-policy-api/pull/300",
                             "v0.1.7"),
             CLUSTER_KIND: ("https://github.com/kubernetes-sigs/network-policy-api/pull/347",
                            "v0.2.0")}
_AGE = {"jsonPath": ".metadata.creationTimestamp", "name": "Age", "type": "date"}
_PRIORITY = {"jsonPath": ".spec.priority", "name": "Priority", "type": "string"}
_COLUMNS = {ADMIN_KIND: [_PRIORITY, _AGE], BASELINE_KIND: [_AGE],
            CLUSTER_KIND: [{"jsonPath": ".spec.tier", "name": "Tier", "type": "string"},
                           _PRIORITY, _AGE]}


def _manifest(value: Any) -> Any:
    """A deep copy with every `CelRule` written out as the API server reads it."""
    if isinstance(value, CelRule):
        return value.manifest()
    if isinstance(value, Mapping):
        return {k: _manifest(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_manifest(v) for v in value]
    return value


def crd(kind: str) -> dict[str, Any]:
    """The `apiextensions.k8s.io/v1` CustomResourceDefinition of one of the tier kinds."""
    plural, singular, short = _PLURALS[kind]
    approved, bundle = _APPROVAL[kind]
    version = API_VERSIONS[kind].rpartition("/")[2]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "annotations": {"api-approved.kubernetes.io": approved,
                            "policy.networking.k8s.io/bundle-version": bundle,
                            "policy.networking.k8s.io/channel": "experimental"},
            "name": f"{plural}.{GROUP}",
        },
        "spec": {
            "group": GROUP,
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural,
                      "shortNames": [short], "singular": singular},
            "scope": "Cluster",
            "versions": [{
                "additionalPrinterColumns": copy.deepcopy(_COLUMNS[kind]),
                "name": version,
                "schema": {"openAPIV3Schema": schema(kind)},
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
            }],
        },
    }


def crds() -> list[dict[str, Any]]:
    """The CRDs of AdminNetworkPolicy, BaselineAdminNetworkPolicy and ClusterNetworkPolicy."""
    return [crd(kind) for kind in (ADMIN_KIND, BASELINE_KIND, CLUSTER_KIND)]
