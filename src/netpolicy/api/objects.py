"""The typed objects the engine understands, built from validated manifests.

Raw Kubernetes JSON is validated first (`netpolicy.api.validation`); only then
is it turned into these frozen values, with every default applied here, once:
`policyTypes` (DESIGN.md point 2), port protocols (point 6), selectors parsed
(point 8), CIDRs parsed (point 5). The engine never sees raw dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from netpolicy.api.addresses import IPAddress as IPAddress  # re-exported with the objects
from netpolicy.api.addresses import IPNet, parse_cidr, parse_ip
from netpolicy.api.labels import LabelSelector
from netpolicy.api.protocols import PROTOCOLS as PROTOCOLS  # re-exported with the objects
from netpolicy.api.protocols import Protocol as Protocol

Direction = Literal["ingress", "egress"]
IPNetwork = IPNet

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True, slots=True)
class IPBlock:
    """`ipBlock`: the addresses of `cidr` minus those of every `except` entry."""

    cidr: IPNetwork
    excepts: tuple[IPNetwork, ...] = ()

    def contains(self, ip: IPAddress) -> bool:
        if ip.version != self.cidr.version or ip not in self.cidr:
            return False
        return not any(ip in ex for ex in self.excepts)

    def __str__(self) -> str:
        if not self.excepts:
            return str(self.cidr)
        return f"{self.cidr} except {', '.join(str(e) for e in self.excepts)}"


@dataclass(frozen=True, slots=True)
class Peer:
    """One entry of `from`/`to` (point 5): selectors (ANDed when both) or an ipBlock.
    The tiered policies' peers (`netpolicy.api.tiers`) add two forms: `node_selector`
    (the addresses of the nodes it selects) and `domain_names` (matching no address)."""

    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None
    node_selector: LabelSelector | None = None
    domain_names: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.ip_block is not None:
            return f"ipBlock {self.ip_block}"
        if self.node_selector is not None:
            return f"nodes [{self.node_selector}]"
        if self.domain_names:
            return f"domainNames [{', '.join(self.domain_names)}]"
        parts = []
        if self.namespace_selector is not None:
            parts.append(f"namespaces [{self.namespace_selector}]")
        if self.pod_selector is not None:
            parts.append(f"pods [{self.pod_selector}]")
        return " and ".join(parts)


@dataclass(frozen=True, slots=True)
class PolicyPort:
    """One entry of `ports` (point 6). `port` None: every port of `protocol`;
    a string: a named port, resolved on the destination pod."""

    protocol: Protocol = "TCP"
    port: int | str | None = None
    end_port: int | None = None

    @property
    def is_named(self) -> bool:
        return isinstance(self.port, str)

    def __str__(self) -> str:
        if self.port is None:
            return f"{self.protocol} (all ports)"
        if self.end_port is not None and self.end_port != self.port:
            return f"{self.protocol} {self.port}-{self.end_port}"
        return f"{self.protocol} {self.port}"


@dataclass(frozen=True, slots=True)
class Rule:
    """An ingress or egress rule. Empty `peers`: every peer; empty `ports`: every
    port of every protocol (point 4: missing and empty mean the same)."""

    peers: tuple[Peer, ...] = ()
    ports: tuple[PolicyPort, ...] = ()


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    namespace: str
    name: str
    pod_selector: LabelSelector
    ingress: tuple[Rule, ...]
    egress: tuple[Rule, ...]
    affects_ingress: bool
    affects_egress: bool
    key: str = field(init=False, compare=False, repr=False)
    """`namespace/name`."""
    ingress_names: tuple[tuple[str, Protocol], ...] = field(init=False, compare=False,
                                                            repr=False)
    """The named ports its ingress rules use (they resolve on each selected pod)."""

    def __post_init__(self) -> None:
        # Derived once: the engine asks for these for every endpoint the policy selects.
        object.__setattr__(self, "key", f"{self.namespace}/{self.name}")
        names = tuple((str(p.port), p.protocol) for rule in self.rules("ingress")
                      for p in rule.ports if isinstance(p.port, str))
        object.__setattr__(self, "ingress_names", names)

    def rules(self, direction: Direction) -> tuple[Rule, ...]:
        """The rules that count in `direction`: none unless the policy lists it (point 2)."""
        if direction == "ingress":
            return self.ingress if self.affects_ingress else ()
        return self.egress if self.affects_egress else ()

    def affects(self, direction: Direction) -> bool:
        return self.affects_ingress if direction == "ingress" else self.affects_egress


@dataclass(frozen=True, slots=True)
class ContainerPort:
    port: int
    protocol: Protocol = "TCP"
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Namespace:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Something that runs in a namespace and can be selected: a Pod, or a workload
    (Deployment, StatefulSet, ...) standing for all the pods of its template.
    `ips` may be empty: such an endpoint is matched by selectors only."""

    namespace: str
    name: str
    kind: str
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    ips: tuple[IPAddress, ...] = ()
    ports: tuple[ContainerPort, ...] = ()
    node: str | None = None
    host_network: bool = False

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def is_pod(self) -> bool:
        return self.kind == "Pod"

    def named_port(self, name: str, protocol: Protocol) -> int | None:
        """The number of this endpoint's container port `name`/`protocol` (point 6)."""
        for cp in self.ports:
            if cp.name == name and cp.protocol == protocol:
                return cp.port
        return None


@dataclass(frozen=True, slots=True)
class ServicePort:
    port: int
    target_port: int | str
    protocol: Protocol = "TCP"
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Service:
    namespace: str
    name: str
    selector: Mapping[str, str] | None = field(default=None, hash=False)
    ports: tuple[ServicePort, ...] = ()
    cluster_ip: IPAddress | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    ips: tuple[IPAddress, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)


# --- construction from validated manifests -------------------------------------------------


def _protocol(raw: Any) -> Protocol:
    return raw if raw in PROTOCOLS else "TCP"


def _ip_block(raw: Mapping[str, Any]) -> IPBlock:
    return IPBlock(
        parse_cidr(raw["cidr"]),
        tuple(parse_cidr(e) for e in raw.get("except") or []),
    )


def _peer(raw: Mapping[str, Any]) -> Peer:
    if raw.get("ipBlock") is not None:
        return Peer(ip_block=_ip_block(raw["ipBlock"]))
    pod = raw.get("podSelector")
    ns = raw.get("namespaceSelector")
    return Peer(
        pod_selector=None if pod is None else LabelSelector.from_dict(pod),
        namespace_selector=None if ns is None else LabelSelector.from_dict(ns),
    )


def _policy_port(raw: Mapping[str, Any]) -> PolicyPort:
    port = raw.get("port")
    if isinstance(port, str) and port.isdigit():
        port = int(port)  # an IntOrString given as a quoted number stays a number
    return PolicyPort(_protocol(raw.get("protocol")), port, raw.get("endPort"))


def _rule(raw: Mapping[str, Any] | None, peers_key: str) -> Rule:
    raw = raw or {}
    return Rule(
        tuple(_peer(p) for p in raw.get(peers_key) or []),
        tuple(_policy_port(p) for p in raw.get("ports") or []),
    )


def policy_directions(spec: Mapping[str, Any]) -> tuple[bool, bool]:
    """(isolates ingress, isolates egress) of a valid NetworkPolicy spec: `policyTypes` as
    given; omitted or empty (the API server defaults both alike), Ingress always, and
    Egress only when `spec.egress` has at least one rule (point 2). The one place this
    rule is written."""
    types = spec.get("policyTypes")
    if not types:
        types = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]
    return "Ingress" in types, "Egress" in types


def network_policy_from_dict(obj: Mapping[str, Any], namespace: str) -> NetworkPolicy:
    """Build a policy from a validated manifest, `policyTypes` defaulted (point 2)."""
    spec = obj.get("spec") or {}
    ingress, egress = policy_directions(spec)
    return NetworkPolicy(
        namespace=namespace,
        name=obj["metadata"]["name"],
        pod_selector=LabelSelector.from_dict(spec.get("podSelector")),
        ingress=tuple(_rule(r, "from") for r in spec.get("ingress") or []),
        egress=tuple(_rule(r, "to") for r in spec.get("egress") or []),
        affects_ingress=ingress,
        affects_egress=egress,
    )


def deny_all_policy(namespace: str, name: str, pod_selector: LabelSelector) -> NetworkPolicy:
    """What a policy that cannot be read is enforced as (fail closed): it isolates the
    pods its selector picks in both directions, with no rule — whatever its `policyTypes`
    said, since they were not read either."""
    return NetworkPolicy(namespace, name, pod_selector, (), (), True, True)


def container_ports(pod_spec: Mapping[str, Any]) -> tuple[ContainerPort, ...]:
    """Every container port of a pod spec (init containers' too: sidecars serve)."""
    ports: list[ContainerPort] = []
    for key in ("containers", "initContainers"):
        for container in pod_spec.get(key) or []:
            for p in container.get("ports") or []:
                ports.append(ContainerPort(int(p["containerPort"]), _protocol(p.get("protocol")),
                                           p.get("name")))
    return tuple(dict.fromkeys(ports))


def pod_ips(status: Mapping[str, Any]) -> tuple[IPAddress, ...]:
    ips: list[IPAddress] = []
    # podIP is podIPs[0] as a rule: each text is parsed once.
    for text in dict.fromkeys([status.get("podIP")] + [p.get("ip") for p in status.get("podIPs") or []]):
        if text:
            ip = parse_ip(text)
            if ip not in ips:
                ips.append(ip)
    return tuple(ips)


def endpoint_from_pod(obj: Mapping[str, Any], namespace: str) -> Endpoint:
    """A Pod as an endpoint: its labels, addresses, container ports and node."""
    meta, spec = obj["metadata"], obj.get("spec") or {}
    return Endpoint(namespace, meta["name"], "Pod", dict(meta.get("labels") or {}),
                    pod_ips(obj.get("status") or {}), container_ports(spec),
                    spec.get("nodeName"), bool(spec.get("hostNetwork")))


def service_from_dict(obj: Mapping[str, Any], namespace: str) -> Service:
    spec = obj.get("spec") or {}
    ports = tuple(
        ServicePort(int(p["port"]), p.get("targetPort", p["port"]), _protocol(p.get("protocol")),
                    p.get("name"))
        for p in spec.get("ports") or []
    )
    cip = spec.get("clusterIP")
    cluster_ip = parse_ip(cip) if cip and cip != "None" else None
    return Service(namespace, obj["metadata"]["name"], spec.get("selector"), ports, cluster_ip)


def node_from_dict(obj: Mapping[str, Any]) -> Node:
    addrs = (obj.get("status") or {}).get("addresses") or []
    ips = tuple(parse_ip(a["address"]) for a in addrs
                if a.get("type") in ("InternalIP", "ExternalIP"))
    meta = obj["metadata"]
    return Node(meta["name"], ips, dict(meta.get("labels") or {}))


def namespace_labels(name: str, labels: Mapping[str, str] | None) -> dict[str, str]:
    """Every namespace carries `kubernetes.io/metadata.name: <name>` (point 8)."""
    out = dict(labels or {})
    out[NAMESPACE_NAME_LABEL] = name
    return out
