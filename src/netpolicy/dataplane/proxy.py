"""The lab's service proxy: kube-proxy's nftables mode, as one pure function of the services.

What it renders (table `ip netpol-proxy`, replaced whole in one transaction)
--------------------------------------------------------------------------
Maps, not one rule per (service, endpoint) pair: the packet path does one map lookup and one
random pick, whatever the number of services.

    chain nat-prerouting  { type nat hook prerouting priority dstnat ; }   jump services
    chain nat-output      { type nat hook output priority -100 ; }         jump services
    chain services        ip daddr . meta l4proto . th dport vmap @service-ips
    map service-ips       { 10.96.0.10 . udp . 53 : goto svc-<hash>-kube-system/kube-dns/udp/dns }
    chain svc-…           numgen random mod 2 vmap { 0 : goto ep-…, 1 : goto ep-… }
    chain ep-…            ip saddr 10.244.1.5 meta mark set meta mark | 0x00004000
                          meta l4proto udp dnat to 10.244.1.5:53
    chain nat-postrouting { type nat hook postrouting priority srcnat ; }
                          meta mark & 0x00004000 == 0x00004000 meta mark set meta mark ^ 0x00004000
                          masquerade fully-random
    chain filter-prerouting { type filter hook prerouting priority -90 ; }  (and filter-output)
                          ct state new ip daddr . meta l4proto . th dport vmap @no-endpoint-services
    map no-endpoint-services { 10.96.5.5 . tcp . 80 : goto reject-chain }
    chain reject-chain    reject

- Where: the same table goes into every node namespace (pods' connections are DNATed on their
  node, in prerouting) and into the fabric namespace (the host's connections to a ClusterIP
  enter the lab there). `output` covers connections that a namespace makes itself.
- Order: DNAT happens in prerouting at priority dstnat (-100), before the forward hook where the
  node agent's policy filter will run, so policies judge the chosen endpoint (DESIGN.md
  point 10). Replies are un-DNATed by conntrack; the paths are symmetric (everything between
  nodes and the host crosses the fabric), so no masquerading is needed for them.
- No endpoints: the connection is rejected (ICMP port unreachable, so TCP clients see
  "connection refused"), as kube-proxy does. The check runs at dstnat + 10, after DNAT, so a
  DNATed packet (no longer addressed to the ClusterIP) never matches it.
- Hairpin (DESIGN.md point 12 — a pod reaching itself through its Service): the endpoint chain
  marks packets whose source is the chosen endpoint itself, and postrouting masquerades them, so
  the pod sees the connection coming from its node's address instead of from itself (which
  the kernel would drop as a martian). Consequence for policies: such a connection is "from the
  pod's node", which DESIGN.md point 11 always allows. The mark bit (0x4000, kube-proxy's) is a
  setting, and is cleared again before the packet leaves.
- Headless services (no ClusterIP) are not proxied; give them no ServicePort.
- Not rendered: NodePorts, external IPs, load balancers, session affinity,
  internalTrafficPolicy/externalTrafficPolicy (every ready endpoint of the cluster is a
  candidate).

Changing endpoints replaces the table; established connections keep their conntrack NAT
binding. For UDP, whose "connections" are conntrack entries that outlive the endpoint, the
`ServiceProxy` applier deletes the conntrack entries of a service port that lost an endpoint
(as kube-proxy does), so clients are not stuck on a vanished backend.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from netpolicy.dataplane.nft import (
    Chain,
    ChainType,
    Element,
    Family,
    Hook,
    Map,
    NftError,
    NftRunner,
    Priority,
    Rule,
    Table,
    Transaction,
)

Protocol = Literal["TCP", "UDP", "SCTP"]

FAMILY = Family.IP
TABLE = "netpol-proxy"
_KEY_TYPE = "ipv4_addr . inet_proto . inet_service"


@dataclass(frozen=True, order=True)
class Endpoint:
    """One ready endpoint of a service port: the pod IP and the target port."""

    ip: str
    port: int


@dataclass(frozen=True)
class ServicePort:
    """One port of one Service with a ClusterIP, and its ready endpoints."""

    service: str  # "namespace/name"
    cluster_ip: str
    protocol: Protocol
    port: int
    endpoints: tuple[Endpoint, ...]
    port_name: str = ""

    def __post_init__(self) -> None:
        if ipaddress.ip_address(self.cluster_ip).version != 4:
            raise ValueError(f"{self.service}: only IPv4 ClusterIPs are proxied")
        for ep in self.endpoints:
            if ipaddress.ip_address(ep.ip).version != 4:
                raise ValueError(f"{self.service}: endpoint {ep.ip} is not IPv4")

    @property
    def key(self) -> tuple[str, str, int]:
        """What the proxy matches on: (ClusterIP, protocol, port)."""
        return (self.cluster_ip, self.protocol, self.port)

    @property
    def label(self) -> str:
        """ "namespace/name/proto/portname", as kube-proxy names its chains."""
        return f"{self.service}/{self.protocol.lower()}/{self.port_name or self.port}"


@dataclass(frozen=True)
class ProxyConfig:
    table: str = TABLE
    masquerade_mark: int = 0x4000
    """The packet-mark bit that asks postrouting to masquerade (hairpin connections)."""


def _hash(text: str) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return base64.b32encode(digest).decode()[:8]


def service_chain(port: ServicePort) -> str:
    return f"svc-{_hash(port.label)}-{port.label}"


def endpoint_chain(port: ServicePort, endpoint: Endpoint) -> str:
    text = f"{port.label}__{endpoint.ip}/{endpoint.port}"
    return f"ep-{_hash(text)}-{text}"


def _element_key(port: ServicePort) -> str:
    return f"{port.cluster_ip} . {port.protocol.lower()} . {port.port}"


def render(ports: Iterable[ServicePort], config: ProxyConfig | None = None) -> Transaction:
    """The whole proxy table for these service ports, as one transaction that replaces it."""
    config = config or ProxyConfig()
    mark = f"0x{config.masquerade_mark:08x}"
    by_key: dict[tuple[str, str, int], ServicePort] = {}
    for port in ports:
        if port.key in by_key:
            raise ValueError(f"{port.service} and {by_key[port.key].service} share {port.key}")
        by_key[port.key] = port

    tx = Transaction(FAMILY, config.table)
    # add + delete + add: the table is replaced whether or not it existed.
    tx.add(Table()).delete(Table()).add(Table("netpolicy lab service proxy"))

    def base(name: str, kind: ChainType, hook: Hook, priority: int) -> None:
        tx.add(Chain(name, kind, hook, priority))

    base("nat-prerouting", ChainType.NAT, Hook.PREROUTING, Priority.DSTNAT)
    base("nat-output", ChainType.NAT, Hook.OUTPUT, Priority.DSTNAT)
    base("nat-postrouting", ChainType.NAT, Hook.POSTROUTING, Priority.SRCNAT)
    base("filter-prerouting", ChainType.FILTER, Hook.PREROUTING, Priority.DSTNAT + 10)
    base("filter-output", ChainType.FILTER, Hook.OUTPUT, Priority.DSTNAT + 10)
    for name in ("services", "reject-chain"):
        tx.add(Chain(name))
    tx.add(Map("service-ips", _KEY_TYPE, "verdict"))
    tx.add(Map("no-endpoint-services", _KEY_TYPE, "verdict"))

    tx.add(Rule("nat-prerouting", "jump services"))
    tx.add(Rule("nat-output", "jump services"))
    tx.add(Rule("services", "ip daddr . meta l4proto . th dport vmap @service-ips"))
    hairpin = f"meta mark & {mark} == {mark} meta mark set meta mark ^ {mark}"
    tx.add(Rule("nat-postrouting", f"{hairpin} masquerade fully-random"))
    check = "ct state new ip daddr . meta l4proto . th dport vmap @no-endpoint-services"
    tx.add(Rule("filter-prerouting", check))
    tx.add(Rule("filter-output", check))
    tx.add(Rule("reject-chain", "reject"))

    for key in sorted(by_key):
        port = by_key[key]
        endpoints = sorted(set(port.endpoints))
        if not endpoints:
            tx.add(Element("no-endpoint-services", _element_key(port), "goto reject-chain"))
            continue
        svc = service_chain(port)
        tx.add(Chain(svc))
        picks = []
        for index, ep in enumerate(endpoints):
            chain = endpoint_chain(port, ep)
            tx.add(Chain(chain))
            tx.add(Rule(chain, f"ip saddr {ep.ip} meta mark set meta mark | {mark}"))
            tx.add(Rule(chain, f"meta l4proto {port.protocol.lower()} dnat to {ep.ip}:{ep.port}"))
            picks.append(f"{index} : goto {chain}")
        tx.add(Rule(svc, f"numgen random mod {len(endpoints)} vmap {{ {', '.join(picks)} }}"))
        tx.add(Element("service-ips", _element_key(port), f"goto {svc}"))
    return tx


def _flush_udp_conntrack(netns: str | None, cluster_ip: str, port: int) -> None:
    """Forget the UDP "connections" to a service port (`conntrack -D`): kube-proxy does this
    when an endpoint goes away, or clients keep sending to it until the entry times out."""
    prefix = ["ip", "netns", "exec", netns] if netns is not None else []
    command = [*prefix, "conntrack", "-D", "-p", "udp", "--orig-dst", cluster_ip]
    # Exit status 1 means "no entry matched": nothing to forget, not an error.
    subprocess.run([*command, "--orig-port-dst", str(port)], capture_output=True, check=False)


@dataclass(frozen=True)
class ProxyTarget:
    """One place the proxy table must be: a runner, and its namespace (for conntrack)."""

    runner: NftRunner
    netns: str | None


class ServiceProxy:
    """Keeps the proxy table equal to the given service ports in every target namespace."""

    def __init__(
        self,
        targets: Sequence[ProxyTarget] = (),
        config: ProxyConfig | None = None,
        *,
        forget_udp: Callable[[str | None, str, int], None] = _flush_udp_conntrack,
    ) -> None:
        self.config = config or ProxyConfig()
        self._targets = list(targets)
        self._ports: dict[tuple[str, str, int], ServicePort] = {}
        self._forget_udp = forget_udp

    def add_target(self, target: ProxyTarget) -> None:
        """A new namespace (a node that joined) gets the current table at once."""
        target.runner.run(render(self._ports.values(), self.config))
        self._targets.append(target)

    def remove_target(self, netns: str | None) -> None:
        self._targets = [t for t in self._targets if t.netns != netns]

    def update(self, ports: Iterable[ServicePort]) -> None:
        """Apply the new set of service ports everywhere (each namespace atomically); then
        forget UDP conntrack entries of the ports whose endpoints lost a member."""
        new = {p.key: p for p in ports}
        tx = render(new.values(), self.config)
        errors = []
        for target in self._targets:
            try:
                target.runner.run(tx)
            except NftError as exc:
                errors.append(exc)
        stale = [
            old.key
            for old in self._ports.values()
            if old.protocol == "UDP"
            and not set(old.endpoints) <= set(new[old.key].endpoints if old.key in new else ())
        ]
        self._ports = new
        for cluster_ip, _, port in stale:
            for target in self._targets:
                self._forget_udp(target.netns, cluster_ip, port)
        if errors:
            raise NftError("; ".join(str(e) for e in errors))
