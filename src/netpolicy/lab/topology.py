"""The lab's network: a fabric namespace joining node namespaces, pods as namespaces on nodes.

Layout (every range is a `LabConfig` setting; the defaults are shown)
----------------------------------------------------------------------
::

    host  npl-<lab>-h 198.18.0.2/30 ══veth══ host 198.18.0.1/30 ┐
                                                                npl-<lab>-fabric
    npl-<lab>-node-<n>  eth0 198.18.0.6/30 ══veth══ node0 198.18.0.5/30 ┘  (node i: the (i+1)th /30)
        └ pod<x> (no address, proxy_arp) ══veth══ eth0 10.244.i.x/32   npl-<lab>-pod-<id>

- Nodes are routers, not bridges: each pod has a /32 on its `eth0` and a default route via the
  link-local gateway 169.254.1.1, which the node's end of the veth answers by proxy ARP (the
  Calico layout). Every packet of a pod therefore crosses its node's *forward* hook, where the
  node agent's nftables policy (inet family, with conntrack — the bridge family has none) sees
  it, and where the service proxy has DNATed it just before (prerouting).
- The fabric is the only way between nodes, and between the host and the lab: it routes each
  node's pod CIDR (10.244.i.0/24 for node i) to that node. It has no default route, so nothing
  a pod sends leaves the lab; nodes default to the fabric.
- Node i's address on its fabric link is its node IP (what a pod sees when its node connects
  to it: kubelet probes, `kubectl port-forward`).
- Strict reverse-path filtering (rp_filter=1) in the fabric and the nodes: routing is symmetric,
  so it costs nothing, and a pod cannot spoof another pod's address, on which policies rely.
  Proxy ARP answers without the default random delay (proxy_delay=0), so a new pod's first
  packet does not wait up to 0.8 s.

What the lab adds to the host, and nothing else (DESIGN.md: never break the host)
-------------------------------------------------------------------------------
- one veth, `npl-<lab>-h`, with the address 198.18.0.2/30 and IPv6 disabled on it (so the
  host's IPv6 table gains no link-local route);
- three routes through it, via the fabric: the pod CIDR, the service CIDR, and the
  infrastructure range (node addresses: node agents reach the lab's API server on the
  host's lab address, as a hostNetwork DaemonSet reaches a real API server).
The host's own forwarding, firewall and sysctls are untouched: the host is an endpoint talking
to the lab, not a router for it, so `curl POD_IP` and `curl CLUSTER_IP` work from the host like
from a machine outside the nodes. The routes go away with the veth. The 198.18.0.0/15 range is
reserved for benchmarking networks (RFC 2544), so it rarely clashes with a real one; creating a
lab refuses (naming the route) if any of its ranges overlaps a route or address of the host.

Per pod, /etc/netns/<pod netns>/{resolv.conf,hosts,hostname}: `ip netns exec` bind-mounts them
over /etc, so processes started by the runtime see the cluster DNS and their own name. Named
namespaces live, as with `ip netns add`, as bind mounts under /run/netns (made a shared mount
point the first time, as iproute2 does).

Finding everything again
------------------------
Every name the lab creates starts with `npl-<lab>-`: namespaces, the host link, the
/etc/netns directories. `teardown(config)` needs nothing but the config: it kills the processes
left in those namespaces, deletes the host link (and so its routes) and the namespaces, and
removes the directories — also after the process that built the lab died by `kill -9`.
`leftovers(config)` lists what is there, for tests and for refusing or recovering at `lab up`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from netpolicy.dataplane import netns
from netpolicy.errors import NetpolError

ETC_NETNS = Path("/etc/netns")
"""Where `ip netns exec NAME` finds the files it bind-mounts over /etc."""
LAB_PREFIX = "npl-"
"""Every namespace, link and /etc/netns directory of every lab starts with this."""

_LAB_NAME = re.compile(r"[a-z0-9]{1,9}\Z")  # host link `npl-<lab>-h` must fit in 15 characters
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}\Z")


class LabNetworkError(NetpolError):
    """The lab's network could not be built as asked (the message says what is in the way)."""


@dataclass(frozen=True)
class LabConfig:
    """Names and address ranges of one lab."""

    name: str = "lab"
    pod_cidr: str = "10.244.0.0/16"
    node_prefix_len: int = 24
    service_cidr: str = "10.96.0.0/16"
    infra_cidr: str = "198.18.0.0/16"
    """Point-to-point links: host↔fabric is its first /30, node i↔fabric its (i+1)th."""
    cluster_dns: str | None = None
    """The DNS Service's ClusterIP; by default the 10th address of the service CIDR."""
    cluster_domain: str = "cluster.local"
    pod_gateway: str = "169.254.1.1"

    def __post_init__(self) -> None:
        if not _LAB_NAME.match(self.name):
            raise ValueError(f"lab name {self.name!r}: 1 to 9 lowercase letters or digits")
        pods = ipaddress.IPv4Network(self.pod_cidr)
        services = ipaddress.IPv4Network(self.service_cidr)
        infra = ipaddress.IPv4Network(self.infra_cidr)
        if not pods.prefixlen <= self.node_prefix_len <= 28:
            raise ValueError(f"node prefix /{self.node_prefix_len} must lie in {pods} and be ≤ /28")
        if infra.prefixlen > 29:
            raise ValueError(f"infrastructure range {infra} holds fewer than two links")
        for a, b in ((pods, services), (pods, infra), (services, infra)):
            if a.overlaps(b):
                raise ValueError(f"address ranges {a} and {b} overlap")
        if ipaddress.IPv4Address(self.dns_ip) not in services:
            raise ValueError(f"cluster DNS {self.dns_ip} is not in {services}")

    @property
    def dns_ip(self) -> str:
        """The cluster DNS address written into every pod's resolv.conf (10.96.0.10)."""
        if self.cluster_dns is not None:
            return self.cluster_dns
        return str(ipaddress.IPv4Network(self.service_cidr)[10])

    @property
    def prefix(self) -> str:
        """Every name this lab creates starts with this."""
        return f"{LAB_PREFIX}{self.name}-"

    @property
    def fabric_netns(self) -> str:
        return f"{self.prefix}fabric"

    @property
    def host_link(self) -> str:
        return f"{self.prefix}h"

    def node_netns(self, node: str) -> str:
        return f"{self.prefix}node-{node}"

    def pod_netns(self, pod_id: str) -> str:
        return f"{self.prefix}pod-{pod_id}"

    def link_network(self, index: int) -> ipaddress.IPv4Network:
        """The /30 of link `index` (0: host↔fabric, i+1: node i↔fabric)."""
        infra = ipaddress.IPv4Network(self.infra_cidr)
        if index >= infra.num_addresses // 4:
            raise LabNetworkError(f"no room for link {index} in {infra}")
        return ipaddress.IPv4Network((int(infra.network_address) + 4 * index, 30))

    def node_pod_cidr(self, index: int) -> ipaddress.IPv4Network:
        pods = ipaddress.IPv4Network(self.pod_cidr)
        size = 2 ** (32 - self.node_prefix_len)
        if index >= pods.num_addresses // size:
            raise LabNetworkError(f"no room for node {index} in {pods}")
        return ipaddress.IPv4Network((int(pods.network_address) + size * index, self.node_prefix_len))

    @property
    def host_ip(self) -> str:
        """The host's address in the lab: the source of its connections to pods."""
        return str(self.link_network(0)[2])

    @property
    def fabric_host_ip(self) -> str:
        return str(self.link_network(0)[1])


@dataclass(frozen=True)
class NodeNet:
    name: str
    index: int
    netns: str
    ip: str
    """The node IP: its end of the fabric link."""
    gateway: str
    """The fabric's end of the link, the node's default gateway."""
    pod_cidr: str
    fabric_link: str


@dataclass(frozen=True)
class PodNet:
    pod_id: str
    namespace: str
    """The Kubernetes namespace (for the DNS search list)."""
    hostname: str
    node: str
    netns: str
    ip: str
    node_netns: str
    node_link: str
    """The node's end of the pod's veth."""


@dataclass
class _NodeState:
    net: NodeNet
    used: set[int] = field(default_factory=set)  # host offsets of pod IPs in pod_cidr


def _check_id(kind: str, value: str) -> None:
    if not _ID.match(value):
        raise ValueError(f"{kind} {value!r}: letters, digits, '.', '_' or '-' (at most 201)")


class Topology:
    """The network of one running lab. Thread-safe: the kubelet may add pods concurrently
    (each call blocks for a few milliseconds of netlink work; call it via `asyncio.to_thread`
    from a loop)."""

    def __init__(self, config: LabConfig) -> None:
        """Use `create_fabric`; this only holds the state."""
        self.config = config
        self._lock = threading.Lock()
        self._nodes: dict[str, _NodeState] = {}
        self._pods: dict[str, PodNet] = {}

    # ----------------------------------------------------------------- nodes

    def add_node(self, name: str) -> NodeNet:
        """A node namespace linked to the fabric, with the next free pod CIDR."""
        _check_id("node name", name)
        cfg = self.config
        with self._lock:
            if name in self._nodes:
                raise LabNetworkError(f"node {name} exists")
            used = {n.net.index for n in self._nodes.values()}
            index = next(i for i in range(len(used) + 1) if i not in used)
            link = cfg.link_network(index + 1)
            net = NodeNet(
                name=name,
                index=index,
                netns=cfg.node_netns(name),
                ip=str(link[2]),
                gateway=str(link[1]),
                pod_cidr=str(cfg.node_pod_cidr(index)),
                fabric_link=f"node{index}",
            )
            self._nodes[name] = _NodeState(net)
        try:
            self._build_node(net, link.prefixlen)
        except BaseException:
            self._forget_node(net)
            raise
        return net

    def _build_node(self, net: NodeNet, prefixlen: int) -> None:
        netns.create(net.netns)

        def node_sysctls(nl: netns.Netlink) -> None:
            nl.sysctl("net/ipv4/ip_forward", 1)
            nl.sysctl("net/ipv4/conf/all/rp_filter", 1)
            nl.sysctl("net/ipv4/conf/default/rp_filter", 1)

        def fabric_side(nl: netns.Netlink) -> None:
            nl.add_veth(net.fabric_link, "eth0", peer_netns=net.netns)
            nl.add_address(net.fabric_link, f"{net.gateway}/{prefixlen}")
            nl.set_up(net.fabric_link)

        def node_side(nl: netns.Netlink) -> None:
            nl.add_address("eth0", f"{net.ip}/{prefixlen}")
            nl.set_up("eth0")
            nl.add_route("0.0.0.0/0", dev="eth0", via=net.gateway)

        netns.configure(net.netns, node_sysctls)
        netns.configure(self.config.fabric_netns, fabric_side)
        netns.configure(net.netns, node_side)
        netns.configure(
            self.config.fabric_netns,
            lambda nl: nl.add_route(net.pod_cidr, dev=net.fabric_link, via=net.ip),
        )

    def _forget_node(self, net: NodeNet) -> None:
        netns.kill_processes(net.netns)
        netns.configure(self.config.fabric_netns, lambda nl: nl.delete_link(net.fabric_link))
        netns.delete(net.netns)
        with self._lock:
            self._nodes.pop(net.name, None)

    def remove_node(self, name: str) -> None:
        """Remove a node that has no pods left."""
        with self._lock:
            state = self._nodes.get(name)
            if state is None:
                return
            if state.used:
                raise LabNetworkError(f"node {name} still has pods")
        self._forget_node(state.net)

    def node(self, name: str) -> NodeNet:
        with self._lock:
            if name not in self._nodes:
                raise LabNetworkError(f"no node {name}")
            return self._nodes[name].net

    def nodes(self) -> list[NodeNet]:
        with self._lock:
            return sorted((s.net for s in self._nodes.values()), key=lambda n: n.index)

    def proxy_namespaces(self) -> list[str]:
        """Where the service proxy table must be: the fabric and every node."""
        return [self.config.fabric_netns, *(n.netns for n in self.nodes())]

    # ------------------------------------------------------------------ pods

    def add_pod(self, node: str, pod_id: str, *, namespace: str, hostname: str) -> PodNet:
        """A pod namespace on `node` with the lowest free IP of the node's pod CIDR."""
        _check_id("pod id", pod_id)
        cfg = self.config
        with self._lock:
            state = self._nodes.get(node)
            if state is None:
                raise LabNetworkError(f"no node {node}")
            if pod_id in self._pods:
                raise LabNetworkError(f"pod {pod_id} exists")
            cidr = ipaddress.IPv4Network(state.net.pod_cidr)
            offset = next((o for o in range(2, cidr.num_addresses - 1) if o not in state.used), None)
            if offset is None:
                raise LabNetworkError(f"node {node} has no free pod IP in {cidr}")
            state.used.add(offset)
            pod = PodNet(
                pod_id=pod_id,
                namespace=namespace,
                hostname=hostname,
                node=node,
                netns=cfg.pod_netns(pod_id),
                ip=str(cidr[offset]),
                node_netns=state.net.netns,
                node_link=f"pod{offset}",
            )
            self._pods[pod_id] = pod
        try:
            self._build_pod(pod)
        except BaseException:
            self._forget_pod(pod)
            raise
        return pod

    def _build_pod(self, pod: PodNet) -> None:
        gateway = self.config.pod_gateway
        netns.create(pod.netns)

        def node_side(nl: netns.Netlink) -> None:
            nl.add_veth(pod.node_link, "eth0", peer_netns=pod.netns)
            nl.set_up(pod.node_link)
            nl.add_route(f"{pod.ip}/32", dev=pod.node_link)
            nl.sysctl(f"net/ipv4/conf/{pod.node_link}/proxy_arp", 1)
            nl.sysctl(f"net/ipv4/neigh/{pod.node_link}/proxy_delay", 0)

        def pod_side(nl: netns.Netlink) -> None:
            nl.add_address("eth0", f"{pod.ip}/32")
            nl.set_up("eth0")
            nl.add_route(f"{gateway}/32", dev="eth0")
            nl.add_route("0.0.0.0/0", dev="eth0", via=gateway)

        netns.configure(pod.node_netns, node_side)
        netns.configure(pod.netns, pod_side)
        self._write_etc(pod)

    def _write_etc(self, pod: PodNet) -> None:
        cfg = self.config
        etc = ETC_NETNS / pod.netns
        etc.mkdir(parents=True, exist_ok=True)
        domain = cfg.cluster_domain
        (etc / "resolv.conf").write_text(
            f"search {pod.namespace}.svc.{domain} svc.{domain} {domain}\n"
            f"nameserver {cfg.dns_ip}\n"
            "options ndots:5\n"
        )
        (etc / "hosts").write_text(
            "# Kubernetes-managed hosts file.\n"
            "127.0.0.1\tlocalhost\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"
            "fe00::0\tip6-localnet\n"
            "fe00::0\tip6-mcastprefix\n"
            "fe00::1\tip6-allnodes\n"
            "fe00::2\tip6-allrouters\n"
            f"{pod.ip}\t{pod.hostname}\n"
        )
        (etc / "hostname").write_text(f"{pod.hostname}\n")

    def _forget_pod(self, pod: PodNet) -> None:
        netns.kill_processes(pod.netns)
        if netns.exists(pod.node_netns):
            netns.configure(pod.node_netns, lambda nl: nl.delete_link(pod.node_link))
        netns.delete(pod.netns)
        shutil.rmtree(ETC_NETNS / pod.netns, ignore_errors=True)
        with self._lock:
            self._pods.pop(pod.pod_id, None)
            state = self._nodes.get(pod.node)
            if state is not None:
                cidr = ipaddress.IPv4Network(state.net.pod_cidr)
                state.used.discard(int(ipaddress.IPv4Address(pod.ip)) - int(cidr.network_address))

    def remove_pod(self, pod_id: str) -> None:
        """Remove a pod's namespace, veth, route and files (killing what still runs in it);
        its IP becomes free. Removing an unknown pod does nothing."""
        with self._lock:
            pod = self._pods.get(pod_id)
        if pod is not None:
            self._forget_pod(pod)

    def pod(self, pod_id: str) -> PodNet:
        with self._lock:
            if pod_id not in self._pods:
                raise LabNetworkError(f"no pod {pod_id}")
            return self._pods[pod_id]

    def pods(self) -> list[PodNet]:
        with self._lock:
            return sorted(self._pods.values(), key=lambda p: p.pod_id)

    def teardown(self) -> None:
        """Remove the whole lab (see the module `teardown`)."""
        teardown(self.config)
        with self._lock:
            self._nodes.clear()
            self._pods.clear()


# ------------------------------------------------------------------------------ the fabric


def _host_clashes(config: LabConfig) -> list[str]:
    ours = [ipaddress.IPv4Network(c) for c in (config.pod_cidr, config.service_cidr)]
    ours.append(ipaddress.IPv4Network(config.infra_cidr))

    def routes(nl: netns.Netlink) -> list[netns.Route]:
        return nl.routes()

    clashes = []
    host_routes = netns.configure(None, routes)
    for route in host_routes:
        net = ipaddress.IPv4Network(route.dst)
        if net.prefixlen == 0:
            continue  # the default route is fine: more specific routes win
        for mine in ours:
            if net.overlaps(mine):
                clashes.append(f"host route {route.dst} dev {route.dev} overlaps {mine}")
    others = sorted({lab for r in host_routes
                     if (lab := lab_of(r.dev or "")) and lab != config.name})
    if clashes and others:
        clashes.append("these routes belong to lab " + ", ".join(repr(o) for o in others)
                       + ": use other ranges, or remove it (`netpol lab down --name NAME`, or "
                       "`netpol lab prune` for every lab whose process is gone)")
    return clashes


def lab_of(name: str) -> str | None:
    """The lab a namespace or link name belongs to (`npl-<lab>-...`), or None."""
    if not name.startswith(LAB_PREFIX):
        return None
    lab, sep, _ = name[len(LAB_PREFIX):].partition("-")
    return lab if sep and lab else None


def labs_on_host() -> list[str]:
    """Names of the labs that have namespaces or host links on this host."""
    found = {lab_of(n) for n in netns.names(LAB_PREFIX)}
    found |= {lab_of(n) for n in _host_links(LAB_PREFIX)}
    return sorted(lab for lab in found if lab)


def create_fabric(config: LabConfig) -> Topology:
    """Build the fabric namespace and the host's way into it; refuses if anything of a lab
    with this name is left (see `leftovers`) or a range clashes with the host's routes."""
    found = leftovers(config)
    if found:
        raise LabNetworkError(f"lab {config.name} has leftovers (tear it down first): {', '.join(found)}")
    clashes = _host_clashes(config)
    if clashes:
        raise LabNetworkError("; ".join(clashes))
    host_net = config.link_network(0)
    try:
        netns.create(config.fabric_netns)

        def fabric_sysctls(nl: netns.Netlink) -> None:
            nl.sysctl("net/ipv4/ip_forward", 1)
            nl.sysctl("net/ipv4/conf/all/rp_filter", 1)
            nl.sysctl("net/ipv4/conf/default/rp_filter", 1)

        def host_side(nl: netns.Netlink) -> None:
            nl.add_veth(config.host_link, "host", peer_netns=config.fabric_netns)
            ipv6 = Path(f"/proc/sys/net/ipv6/conf/{config.host_link}/disable_ipv6")
            if ipv6.exists():
                nl.sysctl(f"net/ipv6/conf/{config.host_link}/disable_ipv6", 1)
            nl.add_address(config.host_link, f"{config.host_ip}/{host_net.prefixlen}")
            nl.set_up(config.host_link)

        def fabric_side(nl: netns.Netlink) -> None:
            nl.add_address("host", f"{config.fabric_host_ip}/{host_net.prefixlen}")
            nl.set_up("host")

        def host_routes(nl: netns.Netlink) -> None:
            # The infrastructure range too: node agents (like a DaemonSet with hostNetwork)
            # reach the API server on the host's lab address, and replies go to node IPs.
            for cidr in (config.pod_cidr, config.service_cidr, config.infra_cidr):
                nl.add_route(cidr, dev=config.host_link, via=config.fabric_host_ip)

        netns.configure(config.fabric_netns, fabric_sysctls)
        netns.configure(None, host_side)
        netns.configure(config.fabric_netns, fabric_side)
        netns.configure(None, host_routes)
    except BaseException:
        teardown(config)
        raise
    return Topology(config)


def _host_links(prefix: str) -> list[str]:
    return [n for n in netns.configure(None, lambda nl: nl.link_names()) if n.startswith(prefix)]


def teardown(config: LabConfig) -> None:
    """Remove everything named with the lab's prefix: processes in its namespaces, the host
    link (and with it the host routes), the namespaces, the /etc/netns directories. Works from
    a fresh process that knows nothing but the config; doing it twice is harmless."""
    prefix = config.prefix
    for name in netns.names(prefix):
        netns.kill_processes(name)
    links = _host_links(prefix)
    netns.configure(None, lambda nl: [nl.delete_link(link) for link in links])
    # Pods first, then nodes, then the fabric: deleting a namespace destroys its veths, and
    # going outside-in would leave each inner namespace briefly without its peer anyway.
    for name in sorted(netns.names(prefix), key=lambda n: (n == config.fabric_netns, n)):
        netns.delete(name)
    if ETC_NETNS.is_dir():
        for path in ETC_NETNS.iterdir():
            if path.name.startswith(prefix):
                shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(OSError):
            ETC_NETNS.rmdir()  # only if empty: it is iproute2's, and maybe we made it


def leftovers(config: LabConfig) -> list[str]:
    """What of this lab exists on the host: namespaces, host links, host routes through them,
    /etc/netns directories (empty: nothing)."""
    prefix = config.prefix
    found = [f"netns {n}" for n in netns.names(prefix)]
    links = _host_links(prefix)
    found += [f"link {n}" for n in links]
    routes = netns.configure(None, lambda nl: nl.routes())
    found += [f"route {r.dst} dev {r.dev}" for r in routes if r.dev in links]
    if ETC_NETNS.is_dir():
        found += [f"dir {p}" for p in sorted(ETC_NETNS.iterdir()) if p.name.startswith(prefix)]
    return found
