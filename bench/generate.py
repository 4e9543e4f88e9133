"""Seeded synthetic clusters for the benchmarks: namespaces, pods and NetworkPolicies,
written as manifest files that both `netpol` and network-config-analyzer read.

    python3 bench/generate.py --endpoints 1000 --policies 300 --seed 1 OUT_DIR

The output is a pure function of (endpoints, policies, seed): the same arguments give
byte-identical files. Three files are written:

* `namespaces.yaml` - a `NamespaceList`;
* `pods.yaml` - a `PodList` of bare pods (no owner), each with `status.podIP`, a node,
  labels from a small vocabulary (app, tier, team, env, sometimes version) and container
  ports, most of them named;
* `policies.yaml` - the NetworkPolicies, one YAML document each.

The cluster looks like a multi-team platform: `kube-system` (DNS), `monitoring`
(Prometheus, statsd) and `ingress-nginx`, plus team namespaces `<team>-<env>-<n>` running
a few applications each. The policies are the usual mix, all of them on purpose:

* per namespace: default-deny ingress, default-deny of both directions (then DNS egress
  allowed), allow-from-same-namespace;
* per application: ingress from its consumers (matchLabels), from a tier
  (matchExpressions In / NotIn / Exists / DoesNotExist), from other teams' namespaces
  (namespaceSelector), from Prometheus or the ingress controller (namespaceSelector AND
  podSelector in one peer), from namespaces flagged with an empty-valued label
  (`scrape: ""`), from CIDRs with `except` (some of them inside the pod network, so they
  match pods by address);
* ports: numbers, ranges (`endPort`), named ports (the same name maps to different numbers
  on different pods), UDP and SCTP, rules without ports;
* egress: to databases, to DNS, to the internet (`0.0.0.0/0` except private ranges);
* `policyTypes` given (always in the order `[Ingress, Egress]`) or omitted, including an
  occasional ingress policy with `egress: []` and no `policyTypes` (which does *not*
  isolate for egress: the API server defaults on `len(egress) != 0`).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import generate_tiers

Obj = dict[str, Any]
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

# --- vocabulary ---------------------------------------------------------------------------

TEAMS = ("payments", "search", "identity", "catalog", "checkout", "platform", "data", "mobile",
         "growth", "risk", "media", "support")
ENVS = ("prod", "staging", "dev")
NAME_LABEL = "kubernetes.io/metadata.name"
POD_CIDR = ipaddress.ip_network("10.64.0.0/10")  # one /24 per node
PODS_PER_NODE = 110


@dataclass(frozen=True)
class App:
    """An application: its tier and its container ports (number, protocol, name or None)."""

    name: str
    tier: str
    ports: tuple[tuple[int, str, str | None], ...]
    consumers: tuple[str, ...] = ()  # apps that call it


APPS: dict[str, App] = {a.name: a for a in (
    App("frontend", "frontend", ((80, "TCP", "http"), (443, "TCP", "https"))),
    App("web", "frontend", ((8080, "TCP", "http"), (9090, "TCP", "metrics"))),
    App("api", "backend", ((8080, "TCP", "http"), (9090, "TCP", "metrics"), (8081, "TCP", None)),
        ("frontend", "web")),
    App("auth", "backend", ((8443, "TCP", "https"), (9091, "TCP", "metrics")),
        ("api", "frontend", "web", "orders")),
    App("orders", "backend", ((8080, "TCP", "http"), (50051, "TCP", "grpc"),
                              (9090, "TCP", "metrics")), ("api",)),
    App("payments", "backend", ((8080, "TCP", "http"), (50051, "TCP", "grpc")),
        ("orders", "api")),
    App("search", "backend", ((9200, "TCP", "http"), (9300, "TCP", "transport")),
        ("api", "web")),
    App("worker", "backend", ((9090, "TCP", "metrics"),), ()),
    App("postgres", "data", ((5432, "TCP", "postgres"), (9187, "TCP", "metrics")),
        ("api", "orders", "payments", "auth", "worker")),
    App("mysql", "data", ((3306, "TCP", "mysql"),), ("api", "orders", "worker")),
    App("redis", "data", ((6379, "TCP", "redis"),), ("api", "auth", "web", "worker")),
    App("kafka", "data", ((9092, "TCP", "kafka"), (9093, "TCP", None), (7000, "SCTP", "gossip")),
        ("orders", "payments", "worker")),
)}
TEAM_APPS = tuple(APPS)
SYSTEM_APPS: dict[str, App] = {a.name: a for a in (
    App("kube-dns", "infra", ((53, "UDP", "dns"), (53, "TCP", "dns-tcp"), (9153, "TCP", "metrics"))),
    App("prometheus", "infra", ((9090, "TCP", "web"),)),
    App("statsd", "infra", ((8125, "UDP", "statsd"),)),
    App("ingress-nginx", "infra", ((80, "TCP", "http"), (443, "TCP", "https"),
                                   (10254, "TCP", "metrics"))),
)}
SYSTEM_NAMESPACES: tuple[tuple[str, tuple[str, ...], dict[str, str]], ...] = (
    ("kube-system", ("kube-dns",), {}),
    ("monitoring", ("prometheus", "statsd"),
     {"team": "platform", "purpose": "monitoring", "scrape": ""}),
    ("ingress-nginx", ("ingress-nginx",), {"team": "platform", "purpose": "ingress"}),
)
PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


@dataclass
class _Namespace:
    name: str
    labels: dict[str, str]
    apps: list[str]
    pods: list[Obj] = field(default_factory=list)
    pod_apps: set[str] = field(default_factory=set)


@dataclass
class Cluster:
    namespaces: list[Obj]
    pods: list[Obj]
    policies: list[Obj]
    nodes: list[Obj] = field(default_factory=list)
    cluster_policies: list[Obj] = field(default_factory=list)
    """With `tiered`: the Nodes and the tiered policies (bench/generate_tiers.py)."""


class _Generator:
    def __init__(self, endpoints: int, policies: int, seed: int) -> None:
        if endpoints < 10:
            raise ValueError("at least 10 endpoints")
        self.rng = random.Random(seed)
        self.n_endpoints = endpoints
        self.n_policies = policies
        self.namespaces: list[_Namespace] = []
        self.pod_count = 0
        self.nodes = max(1, -(-endpoints // PODS_PER_NODE) + 1)
        self.node_fill = [0] * self.nodes

    # --- objects ------------------------------------------------------------------------

    def _suffix(self, n: int = 5) -> str:
        return "".join(self.rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))

    def _ip(self) -> tuple[str, str]:
        """(node name, pod IP): a random node with room, next address of its /24."""
        while True:
            node = self.rng.randrange(self.nodes)
            if self.node_fill[node] < 250:
                break
        self.node_fill[node] += 1
        base = int(POD_CIDR.network_address) + node * 256
        return f"node-{node:03d}", str(ipaddress.IPv4Address(base + self.node_fill[node]))

    def _pod(self, ns: _Namespace, app: App) -> Obj:
        labels = {"app": app.name}
        if app.tier != "infra":
            if self.rng.random() < 0.9:  # a few pods lack `tier`: Exists / DoesNotExist matter
                labels["tier"] = app.tier
            labels["team"] = ns.labels["team"]
            labels["env"] = ns.labels["env"]
            if self.rng.random() < 0.3:
                labels["version"] = self.rng.choice(("v1", "v2", "v3"))
        else:
            labels = {"k8s-app" if app.name == "kube-dns" else "app": app.name}
        ports = []
        for number, protocol, name in app.ports:
            port: Obj = {"containerPort": number}
            if protocol != "TCP" or self.rng.random() < 0.5:
                port["protocol"] = protocol
            if name is not None:
                port["name"] = name
            ports.append(port)
        node, ip = self._ip()
        self.pod_count += 1
        ns.pod_apps.add(app.name)
        return {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{app.name}-{self._suffix(10)}", "namespace": ns.name,
                         "labels": labels},
            "spec": {"nodeName": node, "containers": [
                {"name": app.name, "image": f"registry.example.com/{app.name}:1.0",
                 "ports": ports}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]},
        }

    def build_namespaces(self) -> None:
        for name, apps, labels in SYSTEM_NAMESPACES:
            ns = _Namespace(name, {NAME_LABEL: name, **labels}, list(apps))
            for app in apps:
                for _ in range(2 if app != "statsd" else 1):
                    ns.pods.append(self._pod(ns, SYSTEM_APPS[app]))
            self.namespaces.append(ns)
        n_team = max(2, self.n_endpoints // 50)
        used: set[str] = set()
        for i in range(n_team):
            team, env = self.rng.choice(TEAMS), self.rng.choices(ENVS, (5, 3, 2))[0]
            name = f"{team}-{env}-{i}"
            used.add(name)
            labels = {NAME_LABEL: name, "team": team, "env": env}
            if self.rng.random() < 0.3:
                labels["istio-injection"] = "enabled"
            if self.rng.random() < 0.3:
                labels["scrape"] = ""  # a flag label: the empty value is a value
            chosen = self.rng.sample(TEAM_APPS, self.rng.randint(3, 7))
            self.namespaces.append(_Namespace(name, labels, chosen))
        # Spread the remaining pods over the team namespaces, app by app.
        team_ns = self.namespaces[len(SYSTEM_NAMESPACES):]
        weights = [self.rng.uniform(0.5, 2.0) for _ in team_ns]
        while self.pod_count < self.n_endpoints:
            ns = self.rng.choices(team_ns, weights)[0]
            ns.pods.append(self._pod(ns, APPS[self.rng.choice(ns.apps)]))

    # --- policies -----------------------------------------------------------------------

    def _policy(self, ns: _Namespace, name: str, spec: Obj) -> Obj:
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": name, "namespace": ns.name}, "spec": spec}

    def _types(self, spec: Obj, ingress: bool, egress: bool) -> Obj:
        """Set `policyTypes`, or leave it out where the default gives the same answer
        (Ingress always; Egress when `egress` has rules)."""
        defaulted = ingress and (egress == bool(spec.get("egress")))
        if defaulted and self.rng.random() < 0.5:
            return spec
        spec["policyTypes"] = [t for t, on in (("Ingress", ingress), ("Egress", egress)) if on]
        return spec

    def _app_selector(self, app: str) -> Obj:
        if self.rng.random() < 0.8:
            return {"matchLabels": {"app": app}}
        return {"matchExpressions": [{"key": "app", "operator": "In", "values": [app]}]}

    def _ports_of(self, app: App) -> list[Obj]:
        """Ports of a rule that admits callers of `app`: named, numeric, or a range."""
        out: list[Obj] = []
        for number, protocol, name in app.ports:
            if name == "metrics" or self.rng.random() < 0.25:
                continue
            roll = self.rng.random()
            port: Obj = {}
            if protocol != "TCP" or self.rng.random() < 0.3:
                port["protocol"] = protocol
            if name is not None and roll < 0.45:
                port["port"] = name
            elif roll < 0.85:
                port["port"] = number
            else:
                port["port"], port["endPort"] = number, number + self.rng.choice((1, 10, 100))
            out.append(port)
        if not out:
            number, protocol, _ = app.ports[0]
            out.append({"protocol": protocol, "port": number})
        return out

    def _per_namespace(self, ns: _Namespace) -> list[Obj]:
        """The namespace-wide policies of one team namespace."""
        out = []
        roll = self.rng.random()
        if roll < 0.55:
            out.append(self._policy(ns, "default-deny-ingress", self._types(
                {"podSelector": {}}, True, False)))
        elif roll < 0.8:
            out.append(self._policy(ns, "default-deny-all", {
                "podSelector": {}, "policyTypes": ["Ingress", "Egress"]}))
            out.append(self._policy(ns, "allow-dns", {
                "podSelector": {}, "policyTypes": ["Egress"],
                "egress": [{
                    "to": [{"namespaceSelector": {"matchLabels": {NAME_LABEL: "kube-system"}},
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]}))
        if self.rng.random() < 0.4:
            out.append(self._policy(ns, "allow-same-namespace", self._types(
                {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]}, True, False)))
        return out

    def _app_policy(self, ns: _Namespace, n: int) -> Obj:
        """One policy about one application of `ns`, of a randomly chosen kind."""
        app = APPS[self.rng.choice(sorted(ns.pod_apps) or ns.apps)]
        kind = self.rng.choices(
            ("consumers", "tiers", "teams", "monitoring", "ingress-controller", "cidr",
             "range", "egress-db", "egress-internet", "both", "empty-egress"),
            (22, 10, 10, 10, 6, 8, 5, 10, 6, 8, 2))[0]
        name = f"{app.name}-{kind}-{n}"
        spec: Obj = {"podSelector": self._app_selector(app.name)}
        if kind == "consumers":
            consumers = app.consumers or ("api",)
            peers = [{"podSelector": self._app_selector(c)}
                     for c in self.rng.sample(consumers, min(len(consumers), self.rng.randint(1, 3)))]
            spec["ingress"] = [{"from": peers, "ports": self._ports_of(app)}]
            return self._policy(ns, name, self._types(spec, True, False))
        if kind == "tiers":
            peer_sel: Obj = {"matchExpressions": [
                {"key": "tier", "operator": "In",
                 "values": sorted(self.rng.sample(("frontend", "backend", "data"), 2))},
                {"key": "env", "operator": "NotIn", "values": ["dev"]}]}
            if self.rng.random() < 0.5:
                peer_sel["matchExpressions"].append({"key": "app", "operator": "Exists"})
            if self.rng.random() < 0.3:
                spec["podSelector"] = {"matchExpressions": [
                    {"key": "tier", "operator": "In", "values": [app.tier]},
                    {"key": "version", "operator": "DoesNotExist"}]}
            rule: Obj = {"from": [{"podSelector": peer_sel}]}
            if self.rng.random() < 0.7:
                rule["ports"] = self._ports_of(app)
            spec["ingress"] = [rule]
            return self._policy(ns, name, self._types(spec, True, False))
        if kind == "teams":
            if self.rng.random() < 0.6:
                ns_sel: Obj = {"matchLabels": {"team": self.rng.choice(TEAMS)}}
            else:
                ns_sel = {"matchExpressions": [
                    {"key": "team", "operator": "Exists"},
                    {"key": "env", "operator": "In", "values": [ns.labels["env"]]}]}
            spec["ingress"] = [{"from": [{"namespaceSelector": ns_sel}],
                                "ports": self._ports_of(app)}]
            return self._policy(ns, name, self._types(spec, True, False))
        if kind == "monitoring":
            metrics = [p for p in app.ports if p[2] == "metrics"]
            port: Obj = ({"port": "metrics"} if metrics and self.rng.random() < 0.7
                         else {"port": 9090, "endPort": 9091})
            scraper: Obj = {"namespaceSelector": {"matchLabels": {NAME_LABEL: "monitoring"}},
                            "podSelector": {"matchLabels": {"app": "prometheus"}}}
            if self.rng.random() < 0.3:  # from any pod of the namespaces flagged `scrape: ""`
                scraper = {"namespaceSelector": {"matchLabels": {"scrape": ""}}}
            spec["ingress"] = [{"from": [scraper], "ports": [port]}]
            return self._policy(ns, name, self._types(spec, True, False))
        if kind == "ingress-controller":
            spec["ingress"] = [{"from": [
                {"namespaceSelector": {"matchLabels": {"purpose": "ingress"}},
                 "podSelector": {"matchLabels": {"app": "ingress-nginx"}}},
                {"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE)}}],
                "ports": [{"port": "http"}, {"port": 443}]}]
            return self._policy(ns, name, self._types(spec, True, False))
        if kind == "cidr":
            # A CIDR of the pod network minus some nodes: matches pods by their addresses.
            node = self.rng.randrange(self.nodes)
            block = {"cidr": str(POD_CIDR),
                     "except": [str(ipaddress.ip_network(
                         (int(POD_CIDR.network_address) + node * 256, 24)))]}
            if self.rng.random() < 0.5:
                block = {"cidr": "10.0.0.0/8", "except": ["10.64.0.0/16", "10.100.0.0/16"]}
            spec["ingress"] = [{"from": [{"ipBlock": block}, {"ipBlock": {"cidr": "192.168.0.0/16"}}],
                                "ports": self._ports_of(app)}]
            return self._policy(ns, name, self._types(spec, True, False))
        if kind == "range":
            lo = self.rng.choice((8000, 9000, 30000))
            spec["ingress"] = [{"from": [{"namespaceSelector": {}, "podSelector": {
                "matchLabels": {"team": ns.labels["team"]}}}],
                "ports": [{"port": lo, "endPort": lo + self.rng.choice((99, 999))},
                          {"protocol": "UDP", "port": 8125}]}]
            return self._policy(ns, name, self._types(spec, True, False))
        if kind in ("egress-db", "both"):
            dbs = [a for a in ("postgres", "mysql", "redis", "kafka") if a in ns.pod_apps] or ["postgres"]
            db = APPS[self.rng.choice(dbs)]
            to: Obj = {"podSelector": {"matchLabels": {"app": db.name}}}
            if self.rng.random() < 0.3:
                to = {"namespaceSelector": {"matchLabels": {"team": ns.labels["team"]}}, **to}
            egress = [{"to": [to], "ports": [{"port": db.ports[0][2] or db.ports[0][0]}]
                       if self.rng.random() < 0.5 else [{"port": db.ports[0][0]}]},
                      {"to": [{"namespaceSelector": {"matchLabels": {NAME_LABEL: "kube-system"}}}],
                       "ports": [{"protocol": "UDP", "port": 53}]}]
            spec["egress"] = egress
            if kind == "both":
                consumers = app.consumers or ("frontend",)
                spec["ingress"] = [{"from": [{"podSelector": self._app_selector(
                    self.rng.choice(consumers))}], "ports": self._ports_of(app)},
                    {"from": [{"namespaceSelector": {"matchLabels": {"purpose": "monitoring"}}}],
                     "ports": [{"port": "metrics"}, {"protocol": "UDP"}]}]
                return self._policy(ns, name, self._types(spec, True, True))
            return self._policy(ns, name, self._types(spec, False, True))
        if kind == "egress-internet":
            spec["egress"] = [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE)}}],
                               "ports": [{"port": 443}, {"port": 80}]},
                              {"to": [{"podSelector": {}}]}]
            return self._policy(ns, name, self._types(spec, False, True))
        # empty-egress: an ingress policy rendered from a template with an empty egress list.
        spec["ingress"] = [{"from": [{"podSelector": {}}], "ports": self._ports_of(app)}]
        spec["egress"] = []
        return self._policy(ns, name, spec)

    def _system_policies(self) -> list[Obj]:
        system = {ns.name: ns for ns in self.namespaces[:len(SYSTEM_NAMESPACES)]}
        return [
            self._policy(system["kube-system"], "allow-dns", {
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                "ingress": [{"ports": [{"protocol": "UDP", "port": "dns"},
                                       {"protocol": "TCP", "port": "dns-tcp"}]},
                            {"from": [{"namespaceSelector": {"matchLabels": {NAME_LABEL: "monitoring"}}}],
                             "ports": [{"port": "metrics"}]}],
                "policyTypes": ["Ingress"]}),
            self._policy(system["monitoring"], "prometheus", {
                "podSelector": {"matchLabels": {"app": "prometheus"}},
                "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.64.0.0/10"]}}],
                             "ports": [{"port": "web"}]}],
                "egress": [{}],
                "policyTypes": ["Ingress", "Egress"]}),
        ]

    def build_policies(self) -> list[Obj]:
        out = self._system_policies()
        team_ns = self.namespaces[len(SYSTEM_NAMESPACES):]
        for ns in team_ns:
            out.extend(self._per_namespace(ns))
        del out[self.n_policies:]
        n = 0
        while len(out) < self.n_policies:
            ns = self.rng.choice(team_ns)
            out.append(self._app_policy(ns, n))
            n += 1
        return out

    def cluster(self) -> Cluster:
        self.build_namespaces()
        policies = self.build_policies()
        namespaces = [{"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": ns.name, "labels": ns.labels}} for ns in self.namespaces]
        pods = [p for ns in self.namespaces for p in ns.pods]
        return Cluster(namespaces, pods, policies)


def generate(endpoints: int, policies: int, seed: int = 1, tiered: int = 0) -> Cluster:
    """The cluster for these arguments (pods + workloads = `endpoints`); with `tiered`, also
    Nodes and that many tiered policies, the rest of the cluster unchanged."""
    cluster = _Generator(endpoints, policies, seed).cluster()
    if tiered:
        cluster.nodes = generate_tiers.nodes(cluster.pods)
        cluster.cluster_policies = generate_tiers.tiered_policies(cluster.namespaces, tiered, seed)
    return cluster


def _dump(data: Any) -> str:
    text: str = yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False)
    return text


def write(cluster: Cluster, out_dir: Path, fmt: str = "yaml") -> list[Path]:
    """Write the cluster's manifests under `out_dir`; return the files. `fmt` "json" writes
    the same objects as JSON Lists (what `kubectl get -o json` prints)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        files = {
            "namespaces.json": json.dumps({"apiVersion": "v1", "kind": "NamespaceList",
                                           "items": cluster.namespaces}),
            "pods.json": json.dumps({"apiVersion": "v1", "kind": "PodList",
                                     "items": cluster.pods}),
            "policies.json": json.dumps({"apiVersion": "v1", "kind": "List",
                                         "items": cluster.policies}),
        }
        if cluster.cluster_policies:
            files["nodes.json"] = json.dumps({"apiVersion": "v1", "kind": "NodeList",
                                              "items": cluster.nodes})
            files["tiered.json"] = json.dumps({"apiVersion": "v1", "kind": "List",
                                               "items": cluster.cluster_policies})
    else:
        files = {
            "namespaces.yaml": _dump({"apiVersion": "v1", "kind": "NamespaceList",
                                      "items": cluster.namespaces}),
            "pods.yaml": _dump({"apiVersion": "v1", "kind": "PodList", "items": cluster.pods}),
            "policies.yaml": "".join("---\n" + _dump(p) for p in cluster.policies),
        }
        if cluster.cluster_policies:
            files["nodes.yaml"] = _dump({"apiVersion": "v1", "kind": "NodeList",
                                         "items": cluster.nodes})
            files["tiered.yaml"] = "".join("---\n" + _dump(p) for p in cluster.cluster_policies)
    paths = []
    for name, text in files.items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, required=True, help="number of pods")
    parser.add_argument("--policies", type=int, required=True, help="number of NetworkPolicies")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tiered", type=int, default=0, metavar="N",
                        help="also N tiered policies (AdminNetworkPolicy, BaselineAdminNetworkPolicy, "
                        "ClusterNetworkPolicy) and the Nodes, in nodes.yaml and tiered.yaml")
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    cluster = generate(args.endpoints, args.policies, args.seed, args.tiered)
    for path in write(cluster, args.out_dir):
        print(path)
    print(f"{len(cluster.namespaces)} namespaces, {len(cluster.pods)} pods, "
          f"{len(cluster.policies)} NetworkPolicies, {len(cluster.nodes)} nodes, "
          f"{len(cluster.cluster_policies)} tiered policies", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
