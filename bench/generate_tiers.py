"""The administrator's side of a generated cluster: Node objects and tiered policies
(AdminNetworkPolicy and BaselineAdminNetworkPolicy v1alpha1, ClusterNetworkPolicy v1alpha2
in both tiers), added on top of what `generate.py` writes without changing any of it.

They draw on their own random generator (seeded from the cluster's seed), so a cluster
generated with `--tiered N` has byte for byte the namespaces, pods and NetworkPolicies of
the same cluster without: the benchmark compares the two.

What they hold, all of it on purpose, as a platform team writes them:

* subjects by namespaces (team, env, matchExpressions) and by namespace + pods (an app in
  prod, the system pods);
* ingress: Deny from other teams or other environments, Allow/Accept of monitoring on
  metrics ports (named, numbers and ranges), a protected database open only to its
  consumers then closed to everyone, Pass within a team (down to its NetworkPolicies);
* egress: DNS passed down to NetworkPolicy, the control plane's nodes denied on the
  kubelet and API ports, other nodes allowed (`nodes` peers), the private networks
  accepted before `0.0.0.0/0` is denied (`networks` peers, which match pods too);
* priorities drawn from 1–999, so some ANP and CNP share one (the engine's stable order
  decides, and `explain` says so); one BaselineAdminNetworkPolicy `default`.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

NAME_LABEL = "kubernetes.io/metadata.name"
NODE_NETWORK = ipaddress.ip_network("10.250.0.0/16")
ZONES = ("zone-a", "zone-b", "zone-c")
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"
METRICS_PORTS = ("metrics", "web")


@dataclass(frozen=True)
class Port:
    protocol: str = "TCP"
    number: int | None = None
    end: int | None = None  # a range number..end
    name: str | None = None

    def v1alpha1(self) -> Obj:
        if self.name is not None:
            return {"namedPort": self.name}
        if self.end is not None:
            return {"portRange": {"protocol": self.protocol, "start": self.number,
                                  "end": self.end}}
        return {"portNumber": {"protocol": self.protocol, "port": self.number}}

    def v1alpha2(self) -> Obj:
        if self.name is not None:
            return {"destinationNamedPort": self.name}
        port: Obj = ({"range": {"start": self.number, "end": self.end}} if self.end is not None
                     else {"number": self.number})
        return {self.protocol.lower(): {"destinationPort": port}}


@dataclass(frozen=True)
class Peer:
    kind: str  # namespaces, pods, nodes, networks
    namespaces: Obj | None = None
    pods: Obj | None = None
    networks: tuple[str, ...] = ()

    def render(self, v1alpha2: bool) -> Obj:
        if self.kind == "networks":
            return {"networks": list(self.networks)}
        if self.kind == "pods":
            pods: Obj = {"podSelector": self.pods or {}}
            if self.namespaces is not None or not v1alpha2:
                pods = {"namespaceSelector": self.namespaces or {}, **pods}
            return {"pods": pods}
        return {self.kind: self.namespaces or {}}


@dataclass(frozen=True)
class Rule:
    name: str
    action: str  # Allow, Deny or Pass (Allow becomes Accept in v1alpha2)
    peers: tuple[Peer, ...]
    ports: tuple[Port, ...] = ()

    def render(self, direction: str, v1alpha2: bool) -> Obj:
        action = "Accept" if v1alpha2 and self.action == "Allow" else self.action
        out: Obj = {"name": self.name, "action": action,
                    "from" if direction == "ingress" else "to":
                        [p.render(v1alpha2) for p in self.peers]}
        if self.ports:
            out["protocols" if v1alpha2 else "ports"] = [
                p.v1alpha2() if v1alpha2 else p.v1alpha1() for p in self.ports]
        return out


def node_names(pods: list[Obj]) -> list[str]:
    return sorted({p["spec"]["nodeName"] for p in pods})


def nodes(pods: list[Obj]) -> list[Obj]:
    """A Node for every node the pods run on: zone labels, a few control-plane nodes, an
    InternalIP in 10.250.0.0/16."""
    out = []
    base = int(NODE_NETWORK.network_address)
    for i, name in enumerate(node_names(pods)):
        labels = {"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": ZONES[i % 3]}
        if i < 3:
            labels[CONTROL_PLANE] = ""
        out.append({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "status": {"addresses": [
                {"type": "InternalIP", "address": str(ipaddress.IPv4Address(base + 1 + i))},
                {"type": "Hostname", "address": name}]},
        })
    return out


class _TierGenerator:
    def __init__(self, namespaces: list[Obj], seed: int) -> None:
        self.rng = random.Random(f"tiers-{seed}")
        labels = [ns["metadata"].get("labels") or {} for ns in namespaces]
        self.teams = sorted({lb["team"] for lb in labels if "team" in lb and lb["team"] != "platform"})
        self.envs = ("prod", "staging", "dev")

    # --- selectors ------------------------------------------------------------------------

    def _team(self) -> str:
        return self.rng.choice(self.teams)

    def _subject(self) -> tuple[Obj, str]:
        """A subject and a word for the policy's name."""
        r = self.rng.random()
        if r < 0.35:
            team = self._team()
            return {"namespaces": {"matchLabels": {"team": team}}}, team
        if r < 0.55:
            env = self.rng.choice(self.envs)
            return {"namespaces": {"matchLabels": {"env": env}}}, env
        if r < 0.65:
            return {"namespaces": {"matchExpressions": [
                {"key": "team", "operator": "Exists"},
                {"key": "env", "operator": "NotIn", "values": ["dev"]}]}}, "teams"
        if r < 0.9:
            app = self.rng.choice(("postgres", "mysql", "redis", "kafka", "payments", "auth"))
            env = self.rng.choice(self.envs)
            return {"pods": {"namespaceSelector": {"matchLabels": {"env": env}},
                             "podSelector": {"matchLabels": {"app": app}}}}, f"{app}-{env}"
        return {"namespaces": {}}, "all"

    # --- rules ----------------------------------------------------------------------------

    def _ingress_rule(self, team: str | None, protected: bool) -> Rule:
        rng = self.rng
        r = rng.random()
        if r < 0.25:
            others = [t for t in self.teams if t != team]
            others = rng.sample(others, min(len(others), rng.randint(1, 4))) or ["platform"]
            return Rule("deny-other-teams", "Deny", (Peer("namespaces", {"matchExpressions": [
                {"key": "team", "operator": "In", "values": sorted(others)}]}),))
        if r < 0.45:
            ports = rng.choice(((Port(name=rng.choice(METRICS_PORTS)),),
                                (Port(number=9090, end=9200),),
                                (Port(number=9090), Port(number=9153), Port("UDP", 8125))))
            return Rule("monitoring-scrapes", "Allow", (Peer("namespaces", {"matchLabels": {
                NAME_LABEL: "monitoring"}}),), ports)
        if r < 0.6:
            consumers = rng.sample(("api", "orders", "worker", "auth", "web"), 2)
            return Rule("consumers-only", rng.choice(("Allow", "Pass")), (Peer(
                "pods", {}, {"matchExpressions": [
                    {"key": "app", "operator": "In", "values": sorted(consumers)}]}),),
                (Port(number=rng.choice((5432, 3306, 6379, 9092))),))
        if r < 0.75:
            return Rule("no-dev", "Deny", (Peer("namespaces", {"matchLabels": {"env": "dev"}}),),
                        rng.choice(((), (Port(number=8000, end=8999),))))
        if r < 0.9:
            peer = (Peer("namespaces", {"matchLabels": {"team": team}}) if team else
                    Peer("pods", {"matchLabels": {"env": rng.choice(self.envs)}},
                         {"matchLabels": {"tier": "frontend"}}))
            return Rule("same-team-by-networkpolicy", "Pass", (peer,))
        if protected:  # a protected app: closed to everyone after what the rules above allow
            return Rule("nobody-else", "Deny", (Peer("namespaces", {}),))
        return Rule("frontends-by-networkpolicy", "Pass", (Peer("pods", {}, {"matchLabels": {
            "tier": "frontend"}}),), (Port(number=80), Port(number=443)))

    def _egress_rule(self) -> Rule:
        rng = self.rng
        r = rng.random()
        if r < 0.3:
            return Rule("dns", "Pass", (Peer("pods", {"matchLabels": {NAME_LABEL: "kube-system"}},
                                             {"matchLabels": {"k8s-app": "kube-dns"}}),),
                        (Port("UDP", 53), Port("TCP", 53)))
        if r < 0.5:
            return Rule("no-control-plane", "Deny", (Peer("nodes", {"matchExpressions": [
                {"key": CONTROL_PLANE, "operator": "Exists"}]}),),
                (Port(number=6443), Port(number=10250), Port(number=2379, end=2380)))
        if r < 0.6:
            return Rule("nodes-of-a-zone", "Allow", (Peer("nodes", {"matchLabels": {
                "topology.kubernetes.io/zone": rng.choice(ZONES)}}),))
        if r < 0.8:
            return Rule("private-networks", rng.choice(("Allow", "Pass")), (Peer(
                "networks", networks=("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")),))
        if r < 0.9:
            return Rule("no-internet", "Deny", (Peer("networks", networks=("0.0.0.0/0",)),))
        return Rule("databases", "Allow", (Peer("pods", {"matchLabels": {
            "env": rng.choice(self.envs)}}, {"matchLabels": {"tier": "data"}}),),
            (Port(name="postgres"), Port(number=3306), Port(number=6379)))

    def _rules(self, team: str | None, protected: bool, baseline: bool
               ) -> tuple[list[Rule], list[Rule]]:
        rng = self.rng
        ingress = [self._ingress_rule(team, protected)
                   for _ in range(rng.randint(0 if rng.random() < 0.3 else 1, 4))]
        egress = [self._egress_rule() for _ in range(rng.randint(0, 3))]
        if not ingress and not egress:
            ingress.append(self._ingress_rule(team, protected))
        if any(r.name == "no-internet" for r in egress):  # the cluster's own networks first
            egress.insert(0, Rule("private-networks", "Pass", (Peer(
                "networks", networks=("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")),)))
        if baseline:  # v1alpha1's baseline has no Pass
            ingress = [r if r.action != "Pass" else Rule(r.name, "Allow", r.peers, r.ports)
                       for r in ingress]
            egress = [r if r.action != "Pass" else Rule(r.name, "Allow", r.peers, r.ports)
                      for r in egress]
        return _unique_names(ingress), _unique_names(egress)

    # --- policies -------------------------------------------------------------------------

    def policy(self, kind: str, n: int) -> Obj:
        subject, word = self._subject()
        team = subject.get("namespaces", {}).get("matchLabels", {}).get("team")
        v1alpha2 = kind.startswith("ClusterNetworkPolicy")
        baseline_v1 = kind == "BaselineAdminNetworkPolicy"
        ingress, egress = self._rules(team, "pods" in subject, baseline_v1)
        spec: Obj = {}
        if kind == "ClusterNetworkPolicy/Admin":
            spec["tier"] = "Admin"
        elif kind == "ClusterNetworkPolicy/Baseline":
            spec["tier"] = "Baseline"
        if not baseline_v1:
            spec["priority"] = self.rng.randint(1, 999)
        if v1alpha2 and "pods" in subject and self.rng.random() < 0.3:
            subject = {"pods": {"podSelector": subject["pods"]["podSelector"]}}  # all namespaces
        spec["subject"] = subject
        if ingress:
            spec["ingress"] = [r.render("ingress", v1alpha2) for r in ingress]
        if egress:
            spec["egress"] = [r.render("egress", v1alpha2) for r in egress]
        name = "default" if baseline_v1 else f"{word}-{n}"
        api = "policy.networking.k8s.io/" + ("v1alpha2" if v1alpha2 else "v1alpha1")
        return {"apiVersion": api, "kind": kind.split("/")[0], "metadata": {"name": name},
                "spec": spec}


def _unique_names(rules: list[Rule]) -> list[Rule]:
    seen: dict[str, int] = {}
    out = []
    for r in rules:
        seen[r.name] = seen.get(r.name, 0) + 1
        out.append(r if seen[r.name] == 1 else Rule(f"{r.name}-{seen[r.name]}", r.action,
                                                   r.peers, r.ports))
    return out


ALL_KINDS = ("AdminNetworkPolicy", "AdminNetworkPolicy", "ClusterNetworkPolicy/Admin",
             "ClusterNetworkPolicy/Admin", "ClusterNetworkPolicy/Baseline")
CLUSTER_KINDS = ("ClusterNetworkPolicy/Admin", "ClusterNetworkPolicy/Admin",
                 "ClusterNetworkPolicy/Baseline")


def tiered_policies(namespaces: list[Obj], count: int, seed: int,
                    kinds: tuple[str, ...] = ALL_KINDS) -> list[Obj]:
    """`count` tiered policies of `kinds`, taken in turn. With the default: one
    BaselineAdminNetworkPolicy `default`, then AdminNetworkPolicies and
    ClusterNetworkPolicies of the Admin and of the Baseline tier in the proportions 2 : 2 : 1;
    with CLUSTER_KINDS, ClusterNetworkPolicies only (Admin : Baseline = 2 : 1)."""
    if count <= 0:
        return []
    gen = _TierGenerator(namespaces, seed)
    out = [gen.policy("BaselineAdminNetworkPolicy", 0)] if kinds == ALL_KINDS else []
    for n in range(len(out), count):
        out.append(gen.policy(kinds[n % len(kinds)], n))
    return out
