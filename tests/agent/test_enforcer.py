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
