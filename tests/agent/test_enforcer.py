"""The enforcer keeps a node's program equal to the engine's, changing only what differs."""

from __future__ import annotations

import ipaddress
from collections import Counter

from netpolicy.agent.enforcer import Enforcer
from netpolicy.agent.snapshot import Snapshot
from netpolicy.dataplane.nft import FakeNft, Family, Transaction
from netpolicy.engine import ClusterState
from tests.builders import cluster
from tests.engine.test_semantics import cluster_text_state, docs, pod


class CountingNft(FakeNft):
    """The fake runner, keeping the transactions it applied."""

    def __init__(self) -> None:
        super().__init__()
        self.applied: list[Transaction] = []

    def run(self, tx: Transaction) -> None:
        super().run(tx)
        self.applied.append(tx)


def snapshot(state: ClusterState) -> Snapshot:
    return Snapshot(state, [], {"n1": ["10.0.0.0/24"]})


def state(pods: int, policy_text: str = "") -> ClusterState:
    return cluster_text_state(pods, policy_text)


def verbs(tx: Transaction) -> Counter[str]:
    return Counter(f"{op.verb} {type(op.obj).__name__}" for op in tx.operations)


DENY_B = """
metadata: {name: only-from-a}
spec:
  podSelector: {matchLabels: {app: b}}
  ingress: [{from: [{podSelector: {matchLabels: {app: a}}}]}]
"""


def test_from_scratch_then_only_what_changed() -> None:
    nft = CountingNft()
    enforcer = Enforcer("n1", nft)
    report = enforcer.sync(snapshot(state(3, DENY_B)))
    assert report.local_pods == 3 and report.elements > 0
    assert nft.table_exists(Family.INET, "netpol")
    # One more pod, nothing else: only set/map elements are added.
    report = enforcer.sync(snapshot(state(4, DENY_B)))
    assert set(verbs(nft.applied[-1])) == {"add Element"}
    # Nothing changed: no transaction at all.
    before = len(nft.applied)
    assert enforcer.sync(snapshot(state(4, DENY_B))).operations == 0
    assert len(nft.applied) == before


def labelled(apps: list[str], policy_text: str) -> ClusterState:
    """Pods p0, p1, ... labelled app=<apps[i]> (a builder for membership changes)."""
    parts = [pod(f"p{i}", ip=f"10.0.0.{i + 1}", labels=f"{{app: {app}}}")
             for i, app in enumerate(apps)]
    parts.append("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
                 + policy_text.replace("metadata: {name:", "metadata: {namespace: default, name:"))
    return cluster(docs(*parts))


def test_a_pod_joining_a_peer_selector_changes_set_elements_only() -> None:
    nft = CountingNft()
    enforcer = Enforcer("n1", nft)
    enforcer.sync(snapshot(labelled(["a", "b", "c"], DENY_B)))
    enforcer.sync(snapshot(labelled(["a", "b", "a"], DENY_B)))  # p2 is now app=a: a peer
    assert set(verbs(nft.applied[-1])) == {"add Element"}
    assert enforcer.program is not None
    [peers] = [s for n, s in enforcer.program.sets.items() if n.startswith("p4")]
    assert peers.elements == {"10.0.0.1", "10.0.0.3"}


def test_rules_with_the_same_peers_share_one_set() -> None:
    nft = CountingNft()
    enforcer = Enforcer("n1", nft)
    enforcer.sync(snapshot(state(3, DENY_B + """
---
metadata: {name: also-from-a}
spec:
  podSelector: {matchLabels: {app: c}}
  ingress: [{from: [{podSelector: {matchLabels: {app: a}}}], ports: [{port: 443}]}]
""")))
    assert enforcer.program is not None
    peer_sets = [n for n in enforcer.program.sets if n.startswith("p4")]
    assert len(peer_sets) == 1


PORTS_80 = DENY_B.replace("app: a}}}]}]", "app: a}}}], ports: [{port: 80}]}]")


def test_a_changed_rule_swaps_its_chain_in_one_transaction() -> None:
    nft = CountingNft()
    enforcer = Enforcer("n1", nft)
    enforcer.sync(snapshot(state(3, DENY_B)))
    assert enforcer.program is not None
    chains_before = set(enforcer.program.chains)
    enforcer.sync(snapshot(state(3, PORTS_80)))
    ops = verbs(nft.applied[-1])
    assert ops["add Chain"] == 1 and ops["delete Chain"] == 1 and ops["add Rule"] >= 1
    assert set(enforcer.program.chains) != chains_before


def counter_of(enforcer: Enforcer, text: str) -> str:
    assert enforcer.program is not None
    return next(name for name in enforcer.program.counters if enforcer.notes[name] == text)


def test_counters_are_named_by_rule_and_survive_chain_swaps_and_deletions() -> None:
    nft = CountingNft()
    enforcer = Enforcer("n1", nft)
    enforcer.sync(snapshot(state(3, DENY_B)))
    allow = counter_of(enforcer, "default/only-from-a ingress[0]")
    nft.counts[allow] = 7
    enforcer.sync(snapshot(state(3, PORTS_80)))  # the group chain is replaced, the rule stays
    assert enforcer.read_counters()[allow] == 7
    enforcer.sync(snapshot(state(3)))  # the policy is gone, and its counter with it
    assert enforcer.program is not None and allow not in enforcer.program.counters
    nft.counts.clear()
    assert enforcer.read_counters()[allow] == 7


def test_unknown_local_addresses_fail_closed() -> None:
    nft = CountingNft()
    Enforcer("n1", nft).sync(snapshot(state(2)))
    rules = nft.rules(Family.INET, "netpol", "ingress")
    assert any("10.0.0.0/24" in r and "!= @known_pods4" in r and "drop" in r for r in rules)
    assert ipaddress.ip_network("10.0.0.0/24")


def group_chain_rules(enforcer: Enforcer, ip: str, direction: str = "ingress") -> tuple[str, ...]:
    assert enforcer.program is not None
    """The group chain's rules after the two every isolated chain starts with: a pod
    reaching itself through a Service is allowed (point 12)."""
    target = enforcer.program.maps[f"{direction}_pods4"].entries[ip]
    rules = enforcer.program.chains[target.removeprefix("jump ")].rules
    verdict = "accept" if direction == "ingress" else "return"
    assert rules[:2] == (f"ip saddr . ip daddr @hairpin4 {verdict}",
                         f"ip6 saddr . ip6 daddr @hairpin6 {verdict}")
    return rules[2:]


B_FROM_A = """
metadata: {name: NAME}
spec:
  podSelector: {matchLabels: {app: b}}
  ingress: [RULES]
"""
FROM_A = "{from: [{podSelector: {matchLabels: {app: a}}}], ports: [PORTS]}"


def policy(name: str, *ports: str) -> str:
    return B_FROM_A.replace("NAME", name).replace(
        "RULES", ", ".join(FROM_A.replace("PORTS", p) for p in ports))


def test_one_port_is_matched_inline_and_several_by_a_set() -> None:
    enforcer = Enforcer("n1", CountingNft())
    enforcer.sync(snapshot(state(3, policy("one", "{port: 80}"))))
    [allow, drop] = group_chain_rules(enforcer, "10.0.0.2")
    assert allow.startswith("tcp dport 80 ip saddr @p4_") and "@t_" not in allow
    assert drop.endswith("drop")
    enforcer.sync(snapshot(state(3, policy("range", "{protocol: UDP, port: 80, endPort: 90}"))))
    assert group_chain_rules(enforcer, "10.0.0.2")[0].startswith("udp dport 80-90 ip saddr @")
    enforcer.sync(snapshot(state(3, policy("two", "{port: 80}, {port: 443}"))))
    [allow, _] = group_chain_rules(enforcer, "10.0.0.2")
    assert "meta l4proto . th dport @t_" in allow
    assert enforcer.program is not None
    [ports] = [s for n, s in enforcer.program.sets.items() if n.startswith("t_")]
    assert ports.elements == {"tcp . 80", "tcp . 443"} and ports.flags == ()  # a hash set


def test_rules_with_the_same_peers_merge_without_losing_their_counters() -> None:
    """One policy's rules with the same peers: one rule of their ports' union, counted for
    both. Several policies with the same peers and ports: one rule, counted for the first
    policy. Other rules stay apart, so every policy keeps its own counter."""
    text = "---".join([policy("p1", "{port: 80}", "{port: 81}"), policy("p2", "{port: 80}"),
                       policy("p3", "{port: 80}, {port: 81}"), policy("p4", "{port: 82}")])
    enforcer = Enforcer("n1", CountingNft())
    enforcer.sync(snapshot(state(3, text)))
    rules = group_chain_rules(enforcer, "10.0.0.2")
    assert len(rules) == 4  # p1+p3 (same ports), p2, p4, drop
    assert enforcer.program is not None
    notes = [enforcer.notes[name] for name in enforcer.program.counters if name.startswith("a_")]
    assert sorted(notes) == ["default/p1 ingress[0], default/p1 ingress[1], default/p3 ingress[0]",
                             "default/p2 ingress[0]", "default/p4 ingress[0]"]
    assert sum(r.startswith("tcp dport 80-81 ") for r in rules) == 1  # the union of 80 and 81
