"""The shape of the rendered nftables program, read without root: replies pass on
conntrack before any policy rule (point 9), and a judged pod's chain holds the tiers in
their order (T1-T3): the admin decisions first, an admin Pass as a `goto` to the chain of
what follows the admin tier, NetworkPolicy there where it isolates, else the baseline
decisions, then the default. The root tests check the same program with real packets."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import replace

from netpolicy.dataplane.policy import NodeScope, local_endpoints, render
from netpolicy.dataplane.program import Program
from netpolicy.engine import ClusterState, CompiledView
from tests.builders import model, model_ip

GUARD = """
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: guard}
spec:
  priority: 5
  subject: {pods: {namespaceSelector: {matchLabels: {ns: x}}, podSelector: {matchLabels: {pod: a}}}}
  ingress:
  - {name: deny-z, action: Deny, from: [{namespaces: {matchLabels: {ns: z}}}]}
  - {name: pass-y, action: Pass, from: [{namespaces: {matchLabels: {ns: y}}}]}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  ingress:
  - {name: base-deny, action: Deny, from: [{namespaces: {matchLabels: {ns: y}}}]}
"""
ONLY_FROM_C = """
metadata: {name: only-from-c}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: c}}}]}]
"""
ADMIN_DENY_ONLY = """
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: deny-z}
spec:
  tier: Admin
  priority: 5
  subject: {namespaces: {matchLabels: {ns: x}}}
  ingress:
  - {name: deny-z, action: Deny, from: [{namespaces: {matchLabels: {ns: z}}}]}
"""


def program(state: ClusterState) -> Program:
    local = [replace(e, node="n1") for e in state.endpoints]
    state = ClusterState(state.namespaces.values(), local, state.policies, (), state.nodes,
                         state.cluster_policies)
    view = CompiledView(state)
    return render(view, NodeScope(local_endpoints(view, "n1"),
                                  (ipaddress.ip_network("10.0.0.0/16"),)))


def ingress_chain(prog: Program, pod: str) -> tuple[str, tuple[str, ...]]:
    target = prog.maps["ingress_pods4"].entries[model_ip(*pod.split("/"))]
    name = target.removeprefix("jump ")
    return name, prog.chains[name].rules


def addresses(prog: Program, rule: str) -> set[str]:
    """The addresses of the peer set a rule matches."""
    found = re.search(r"@(p4_\w+)", rule)
    assert found, rule
    return {str(e) for e in prog.sets[found.group(1)].elements}


def namespace_ips(ns: str) -> set[str]:
    return {model_ip(ns, p) for p in ("a", "b", "c")}


def test_replies_are_accepted_on_conntrack_before_any_policy_rule() -> None:
    prog = program(model(ONLY_FROM_C, tiered_yaml=GUARD))
    assert prog.chains["forward"].rules[0] == "ct state established,related accept"
    assert prog.chains["forward"].rules[1:] == ("jump egress", "jump ingress")
    assert prog.chains["input"].rules == ("ct state established,related accept", "jump egress")


def test_admin_rules_come_first_and_a_pass_goes_to_the_rest_of_the_tiers() -> None:
    prog = program(model(ONLY_FROM_C, tiered_yaml=GUARD))
    _, rules = ingress_chain(prog, "x/a")
    deny, passing, fall_through = rules
    assert deny.endswith(" drop") and addresses(prog, deny) == namespace_ips("z")
    after = fall_through.removeprefix("goto ")
    assert fall_through.startswith("goto ") and passing.endswith(f" goto {after}")
    assert addresses(prog, passing) == namespace_ips("y")
    # What follows the admin tier: x/a is isolated, so NetworkPolicy decides (from x/c
    # only, anything else dropped) and the baseline is not in the chain at all.
    rest = prog.chains[after].rules
    assert rest[-1].endswith("drop")
    assert rest[0] == "ip saddr . ip daddr @hairpin4 accept"  # point 12: NetworkPolicy's part
    allowing = [r for r in rest if r.endswith(" accept") and "@hairpin" not in r]
    assert [addresses(prog, r) for r in allowing] == [{model_ip("x", "c")}]
    assert not any(addresses(prog, r) == namespace_ips("y") for r in rest if "@p4_" in r)


def test_a_pod_no_networkpolicy_isolates_gets_the_baseline_then_the_default() -> None:
    prog = program(model(ONLY_FROM_C, tiered_yaml=GUARD))
    name, rules = ingress_chain(prog, "x/b")
    assert not name.startswith("inr_")
    base_deny, default = rules
    assert base_deny.endswith(" drop") and addresses(prog, base_deny) == namespace_ips("y")
    assert default == "accept"


def test_without_a_pass_the_admin_decisions_and_what_follows_share_one_chain() -> None:
    prog = program(model(ONLY_FROM_C, tiered_yaml=ADMIN_DENY_ONLY))
    _, rules = ingress_chain(prog, "x/a")
    assert not any(r.startswith("goto ") or " goto " in r for r in rules)
    assert rules[0].endswith(" drop") and addresses(prog, rules[0]) == namespace_ips("z")
    assert rules[-1].endswith("drop")  # NetworkPolicy isolates x/a: the rest is dropped
    assert [addresses(prog, r) for r in rules
            if r.endswith(" accept") and "@p4_" in r] == [{model_ip("x", "c")}]
    assert not any(c.startswith("inr_") for c in prog.chains)
