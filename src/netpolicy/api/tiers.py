"""The cluster-scoped, tiered policies of kubernetes-sigs/network-policy-api, as typed values.

Three kinds, one shape (docs/design.md, "Tiered cluster policies"):

- AdminNetworkPolicy (`policy.networking.k8s.io/v1alpha1`): the Admin tier, actions
  Allow/Deny/Pass, `priority` 0..1000;
- BaselineAdminNetworkPolicy (v1alpha1, only the one named `default`): the Baseline tier,
  actions Allow/Deny, no priority;
- ClusterNetworkPolicy (v1alpha2): `tier` Admin or Baseline, actions Accept/Deny/Pass,
  `priority` 0..1000.

Each becomes a `ClusterPolicy`: a subject (namespaces, or namespaces and pods), and per
direction an ordered list of `TierRule`s (an action and an NetworkPolicy-shaped `Rule`:
peers and ports). Peers reuse `objects.Peer`: `namespaces` is a namespace selector alone,
`pods` a namespace and a pod selector (an AND), `networks` one ipBlock per CIDR (which
matches pod addresses too), `nodes` a node selector (the addresses of the selected nodes),
`domainNames` the names (which static analysis cannot resolve: they match no address).
Ports reuse `objects.PolicyPort`: a number, a range, all ports of a protocol, or a named
port — which the API matches whatever its protocol, so it becomes one entry per protocol
(a pod's port names are unique, so at most one of them can match).

Objects are validated first (`netpolicy.api.tier_validation`); only then are they built
here, every default applied once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from netpolicy.api.addresses import parse_cidr
from netpolicy.api.labels import LabelSelector
from netpolicy.api.objects import (
    PROTOCOLS,
    Direction,
    IPBlock,
    Peer,
    PolicyPort,
    Protocol,
    Rule,
)

Tier = Literal["Admin", "Baseline"]
Action = Literal["Accept", "Deny", "Pass"]
"""What a rule does, in v1alpha2's words; v1alpha1's Allow is Accept."""

GROUP = "policy.networking.k8s.io"
ADMIN_KIND = "AdminNetworkPolicy"
BASELINE_KIND = "BaselineAdminNetworkPolicy"
CLUSTER_KIND = "ClusterNetworkPolicy"
API_VERSIONS: dict[str, str] = {
    ADMIN_KIND: f"{GROUP}/v1alpha1",
    BASELINE_KIND: f"{GROUP}/v1alpha1",
    CLUSTER_KIND: f"{GROUP}/v1alpha2",
}
TIER_KINDS = tuple(API_VERSIONS)
PLURALS: dict[str, str] = {ADMIN_KIND: "adminnetworkpolicies",
                            BASELINE_KIND: "baselineadminnetworkpolicies",
                            CLUSTER_KIND: "clusternetworkpolicies"}
"""Each kind's resource name (its CRD's `spec.names.plural`)."""
SHORT_NAMES: dict[str, str] = {ADMIN_KIND: "anp", BASELINE_KIND: "banp", CLUSTER_KIND: "cnp"}
BASELINE_NAME = "default"
"""The only name a BaselineAdminNetworkPolicy may have (its CRD's CEL rule)."""

BASELINE_ADMIN_PRIORITY = 1001
"""Where BaselineAdminNetworkPolicy `default` sorts in the Baseline tier: it has no
priority, and we evaluate it after every Baseline ClusterNetworkPolicy (priorities 0..1000),
the API that replaces it, whose priorities state an order it cannot. Our choice: the API
leaves the two APIs' relative order open (implementations run one or the other)."""

TIE_ORDER: tuple[str, ...] = (ADMIN_KIND, CLUSTER_KIND)
"""The kinds that can share a tier and priority, in the order netpolicy evaluates them at
equal priority (then by name): the API leaves it to implementations (design point T4)."""
_KIND_ORDER = {kind: i for i, kind in enumerate((*TIE_ORDER, BASELINE_KIND))}


@dataclass(frozen=True, slots=True)
class Subject:
    """`spec.subject`: the pods a policy applies to. `pod_selector` None: `namespaces`
    (every pod of the selected namespaces); otherwise `pods` (both selectors, ANDed).
    hostNetwork pods are never subjects."""

    namespace_selector: LabelSelector
    pod_selector: LabelSelector | None = None

    def selects(self, namespace_labels: Mapping[str, str], labels: Mapping[str, str]) -> bool:
        return self.namespace_selector.matches(namespace_labels) and (
            self.pod_selector is None or self.pod_selector.matches(labels))

    def __str__(self) -> str:
        if self.pod_selector is None:
            return f"namespaces [{self.namespace_selector}]"
        return f"pods [{self.pod_selector}] in namespaces [{self.namespace_selector}]"


@dataclass(frozen=True, slots=True)
class TierRule:
    """One ingress or egress rule of a tiered policy: when a connection matches `match`
    (one of its peers and one of its ports; no ports: every port of every protocol), the
    rule decides with `action`. `written` is the action as the manifest spells it."""

    action: Action
    match: Rule
    name: str = ""
    written: str = ""
    peer_sources: tuple[int, ...] = ()
    """For each of `match.peers`, the index of the `from`/`to` entry it comes from."""
    port_sources: tuple[int, ...] = ()
    """For each of `match.ports`, the index of the `ports`/`protocols` entry."""

    def peer_index(self, i: int) -> int:
        return self.peer_sources[i] if i < len(self.peer_sources) else i

    def port_index(self, i: int) -> int:
        return self.port_sources[i] if i < len(self.port_sources) else i

    @property
    def domain_names(self) -> tuple[str, ...]:
        """The rule's `domainNames` peers, which match no address here (see module doc)."""
        return tuple(d for p in self.match.peers for d in p.domain_names)


@dataclass(frozen=True, slots=True)
class ClusterPolicy:
    """An AdminNetworkPolicy, BaselineAdminNetworkPolicy or ClusterNetworkPolicy."""

    kind: str
    name: str
    tier: Tier
    priority: int
    subject: Subject
    ingress: tuple[TierRule, ...] = ()
    egress: tuple[TierRule, ...] = ()
    key: str = field(init=False, compare=False, repr=False)
    """`Kind/name`: unique in a cluster (these kinds are cluster-scoped)."""
    order: tuple[int, int, str] = field(init=False, compare=False, repr=False)
    """Where the policy sorts in its tier: by priority (lower first), then — equal
    priorities that overlap are left to implementations — AdminNetworkPolicy before
    ClusterNetworkPolicy, then by name. Stable, so explain can say when it decided."""
    ingress_names: tuple[tuple[str, Protocol], ...] = field(init=False, compare=False,
                                                            repr=False)
    """The named ports of its ingress rules (they resolve on each subject pod)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.kind}/{self.name}")
        object.__setattr__(self, "order", (self.priority, _KIND_ORDER[self.kind], self.name))
        names = tuple((str(p.port), p.protocol) for rule in self.ingress
                      for p in rule.match.ports if isinstance(p.port, str))
        object.__setattr__(self, "ingress_names", names)

    def rules(self, direction: Direction) -> tuple[TierRule, ...]:
        return self.ingress if direction == "ingress" else self.egress

    @property
    def short(self) -> str:
        """`anp/name`, as kubectl's short names write it."""
        return f"{SHORT_NAMES[self.kind]}/{self.name}"


# --- construction from validated manifests -------------------------------------------------


def _selector(raw: Any) -> LabelSelector:
    return LabelSelector.from_dict(raw if isinstance(raw, Mapping) else {})


def _subject(raw: Mapping[str, Any]) -> Subject:
    if raw.get("pods") is not None:
        pods = raw["pods"]
        return Subject(_selector(pods.get("namespaceSelector")), _selector(pods.get("podSelector")))
    return Subject(_selector(raw.get("namespaces")))


def _peers(raw: Mapping[str, Any]) -> list[Peer]:
    """One API peer as our peers: a CIDR list becomes one ipBlock each (an OR)."""
    if raw.get("namespaces") is not None:
        return [Peer(namespace_selector=_selector(raw["namespaces"]))]
    if raw.get("pods") is not None:
        pods = raw["pods"]
        return [Peer(pod_selector=_selector(pods.get("podSelector")),
                     namespace_selector=_selector(pods.get("namespaceSelector")))]
    if raw.get("nodes") is not None:
        return [Peer(node_selector=_selector(raw["nodes"]))]
    if raw.get("networks") is not None:
        return [Peer(ip_block=IPBlock(parse_cidr(c))) for c in raw["networks"]]
    if raw.get("domainNames") is not None:
        return [Peer(domain_names=tuple(raw["domainNames"]))]
    raise ValueError(f"a peer with no field this version knows: {sorted(raw)}")


def _named(name: str) -> list[PolicyPort]:
    """A named port matches the destination's container port of that name, whatever its
    protocol: one entry per protocol."""
    return [PolicyPort(protocol, name) for protocol in PROTOCOLS]


def _protocol(raw: Mapping[str, Any]) -> Protocol:
    protocol = raw.get("protocol") or "TCP"
    return protocol if protocol in PROTOCOLS else "TCP"  # validated: one of PROTOCOLS


def _v1alpha1_port(p: Mapping[str, Any]) -> list[PolicyPort]:
    if p.get("portNumber") is not None:
        number = p["portNumber"]
        return [PolicyPort(_protocol(number), int(number["port"]))]
    if p.get("portRange") is not None:
        rng = p["portRange"]
        return [PolicyPort(_protocol(rng), int(rng["start"]), int(rng["end"]))]
    if p.get("namedPort") is not None:
        return _named(str(p["namedPort"]))
    raise ValueError(f"a port with no field this version knows: {sorted(p)}")


def _v1alpha2_port(p: Mapping[str, Any]) -> list[PolicyPort]:
    if p.get("destinationNamedPort"):
        return _named(str(p["destinationNamedPort"]))
    keys: tuple[tuple[str, Protocol], ...] = (("tcp", "TCP"), ("udp", "UDP"), ("sctp", "SCTP"))
    for key, protocol in keys:
        if p.get(key) is None:
            continue
        port = p[key].get("destinationPort")
        if port is None:
            return [PolicyPort(protocol)]  # every port of the protocol
        if port.get("range") is not None:
            return [PolicyPort(protocol, int(port["range"]["start"]), int(port["range"]["end"]))]
        return [PolicyPort(protocol, int(port["number"]))]
    raise ValueError(f"a protocol with no field this version knows: {sorted(p)}")


_ACTIONS: dict[str, Action] = {"Allow": "Accept", "Accept": "Accept", "Deny": "Deny",
                               "Pass": "Pass"}


def _rule(raw: Mapping[str, Any], direction: Direction, v1alpha2: bool) -> TierRule:
    peers: list[Peer] = []
    peer_sources: list[int] = []
    for i, peer in enumerate(raw.get("from" if direction == "ingress" else "to") or []):
        for p in _peers(peer):
            peers.append(p)
            peer_sources.append(i)
    ports: list[PolicyPort] = []
    port_sources: list[int] = []
    read = _v1alpha2_port if v1alpha2 else _v1alpha1_port
    for i, port in enumerate(raw.get("protocols" if v1alpha2 else "ports") or []):
        for q in read(port):
            ports.append(q)
            port_sources.append(i)
    written = str(raw["action"])
    return TierRule(_ACTIONS[written], Rule(tuple(peers), tuple(ports)), str(raw.get("name") or ""),
                    written, tuple(peer_sources), tuple(port_sources))


def cluster_policy_from_dict(obj: Mapping[str, Any]) -> ClusterPolicy:
    """Build a tiered policy from a validated manifest of one of `TIER_KINDS`."""
    kind = obj["kind"]
    spec = obj.get("spec") or {}
    v1alpha2 = kind == CLUSTER_KIND
    if kind == ADMIN_KIND:
        tier: Tier = "Admin"
        priority = int(spec["priority"])
    elif kind == BASELINE_KIND:
        tier, priority = "Baseline", BASELINE_ADMIN_PRIORITY
    else:
        tier = "Admin" if spec["tier"] == "Admin" else "Baseline"
        priority = int(spec["priority"])
    return ClusterPolicy(
        kind, obj["metadata"]["name"], tier, priority, _subject(spec["subject"]),
        tuple(_rule(r, "ingress", v1alpha2) for r in spec.get("ingress") or []),
        tuple(_rule(r, "egress", v1alpha2) for r in spec.get("egress") or []),
    )


def deny_all(kind: str, name: str, tier: Tier, priority: int, subject: Subject) -> ClusterPolicy:
    """What an unreadable tiered policy with a readable subject is enforced as (fail
    closed): a Deny of everything, both directions, at its priority."""
    rule = TierRule("Deny", Rule(), "unreadable: deny all", "Deny")  # no peers: every peer
    return ClusterPolicy(kind, name, tier, priority, subject, (rule,), (rule,))

