"""One test per semantic point of the tiered cluster policies (docs/design.md, "Tiered
cluster policies"), each checked on the single-verdict path and on the matrix path, on
the upstream e2e model (namespaces x, y, z; pods a, b, c; ports 80 and 81)."""

from __future__ import annotations

import ipaddress

import pytest

from netpolicy.api.objects import Node
from netpolicy.engine import ClusterState, CompiledView, service_verdicts, verdict
from tests.builders import cluster, model, observed

ANP = "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\n"
BANP = "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: BaselineAdminNetworkPolicy\n"
CNP = "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\n"

ALLOW_ALL_INTO_X_A = """
metadata: {name: allow-all}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{}]
"""
DENY_ALL_INTO_X_A = """
metadata: {name: deny-all}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
"""


def anp(name: str, priority: int, body: str) -> str:
    return f"{ANP}metadata: {{name: {name}}}\nspec:\n  priority: {priority}\n{body}"


def cnp(name: str, tier: str, priority: int, body: str) -> str:
    return (f"{CNP}metadata: {{name: {name}}}\nspec:\n  tier: {tier}\n  priority: {priority}\n"
            f"{body}")


def banp(body: str) -> str:
    return f"{BANP}metadata: {{name: default}}\nspec:\n{body}"


def docs(*parts: str) -> str:
    return "\n---\n".join(parts)


INTO_X_A = """  subject: {pods: {namespaceSelector: {matchLabels: {ns: x}},
                    podSelector: {matchLabels: {pod: a}}}}
"""


def ingress(action: str, peer: str = "namespaces: {}", ports: str = "") -> str:
    """One ingress rule into x/a."""
    port_lines = f"\n    {ports}" if ports else ""
    return INTO_X_A + f"  ingress:\n  - action: {action}\n    from: [{{{peer}}}]{port_lines}\n"


def table(state: ClusterState, port: int = 80, protocol: str = "TCP") -> dict[tuple[str, str], bool]:
    """The truth table, after checking that the matrix path and single verdicts agree."""
    fast, slow = observed(state, port, protocol)
    assert fast == slow
    return slow


def allowed(state: ClusterState, src: str, dst: str, port: int = 80,
            protocol: str = "TCP") -> bool:
    return table(state, port, protocol)[(src, dst)]


# --- the order of the tiers ---------------------------------------------------------------


def test_an_admin_deny_beats_a_networkpolicy_allow() -> None:
    state = model(ALLOW_ALL_INTO_X_A, tiered_yaml=anp("deny", 10, ingress("Deny")))
    assert not allowed(state, "y/b", "x/a")
    side = verdict(state, "y/b", "x/a", 80).ingress
    assert (side.reason, side.decided_by) == ("admin-deny", "admin")
    assert side.admin is not None and side.admin.match is not None
    assert side.admin.match.policy == "AdminNetworkPolicy/deny"


def test_an_admin_allow_cannot_be_narrowed_by_a_networkpolicy() -> None:
    state = model(DENY_ALL_INTO_X_A, tiered_yaml=anp("allow", 10, ingress("Allow")))
    assert allowed(state, "y/b", "x/a")
    assert verdict(state, "y/b", "x/a", 80).ingress.reason == "admin-accept"


def test_pass_leaves_the_admin_tier_for_networkpolicy() -> None:
    tiers = docs(anp("pass", 1, ingress("Pass")), anp("allow", 2, ingress("Allow")))
    state = model(DENY_ALL_INTO_X_A, tiered_yaml=tiers)
    assert not allowed(state, "y/b", "x/a")  # Pass skipped the later Allow; NP denies
    side = verdict(state, "y/b", "x/a", 80).ingress
    assert side.decided_by == "networkpolicy" and side.admin is not None
    assert side.admin.match is not None and side.admin.match.action == "Pass"


def test_pass_with_no_networkpolicy_goes_to_the_baseline() -> None:
    tiers = docs(anp("pass", 1, ingress("Pass")), banp(ingress("Deny")))
    state = model(tiered_yaml=tiers)
    assert not allowed(state, "y/b", "x/a")
    assert verdict(state, "y/b", "x/a", 80).ingress.reason == "baseline-deny"


def test_the_baseline_applies_only_where_no_networkpolicy_isolates() -> None:
    state = model(ALLOW_ALL_INTO_X_A, tiered_yaml=banp(ingress("Deny")))
    assert allowed(state, "y/b", "x/a")
    assert verdict(state, "y/b", "x/a", 80).ingress.decided_by == "networkpolicy"
    # x/b is not isolated by a NetworkPolicy and not a subject: the default allows.
    assert allowed(state, "y/b", "x/b")


def test_pass_in_the_baseline_tier_leaves_it_for_the_default() -> None:
    tiers = docs(cnp("pass", "Baseline", 1, ingress("Pass")), banp(ingress("Deny")))
    state = model(tiered_yaml=tiers)
    assert allowed(state, "y/b", "x/a")
    side = verdict(state, "y/b", "x/a", 80).ingress
    assert (side.reason, side.decided_by) == ("not-isolated", "default")


def test_an_admin_rule_that_matches_nothing_leaves_the_decision_to_later_tiers() -> None:
    tiers = anp("other", 1, ingress("Deny", "namespaces: {matchLabels: {ns: z}}"))
    state = model(DENY_ALL_INTO_X_A, tiered_yaml=tiers)
    assert not allowed(state, "y/b", "x/a")
    side = verdict(state, "y/b", "x/a", 80).ingress
    assert side.reason == "no-rule-allows" and side.admin is not None
    assert side.admin.match is None and side.admin.policies == ("AdminNetworkPolicy/other",)


def test_a_connection_needs_both_sides() -> None:
    egress_deny = anp("no-egress", 5, """  subject: {namespaces: {matchLabels: {ns: y}}}
  egress:
  - action: Deny
    to: [{namespaces: {matchLabels: {ns: x}}}]
""")
    state = model(tiered_yaml=docs(egress_deny, anp("allow-in", 1, ingress("Allow"))))
    assert not allowed(state, "y/b", "x/a")  # the server's ingress accepts, the client's egress denies
    v = verdict(state, "y/b", "x/a", 80)
    assert v.ingress.allowed and not v.egress.allowed and v.egress.reason == "admin-deny"


# --- order inside a tier -------------------------------------------------------------------


def test_lower_priority_numbers_decide_first_and_a_priority_change_flips_it() -> None:
    for deny, allow, expected in ((1, 2, False), (3, 2, True)):
        tiers = docs(anp("deny", deny, ingress("Deny")), anp("allow", allow, ingress("Allow")))
        assert allowed(model(tiered_yaml=tiers), "y/b", "x/a") is expected


def test_rules_of_a_policy_decide_in_their_order() -> None:
    body = INTO_X_A + """  ingress:
  - {action: Allow, from: [{namespaces: {matchLabels: {ns: y}}}]}
  - {action: Deny, from: [{namespaces: {}}]}
"""
    state = model(tiered_yaml=anp("ordered", 1, body))
    assert allowed(state, "y/b", "x/a") and not allowed(state, "z/b", "x/a")
    match = verdict(state, "z/b", "x/a", 80).ingress.admin.match  # type: ignore[union-attr]
    assert match is not None and match.rule == 1


def test_equal_priorities_follow_a_stable_order_and_explain_says_so() -> None:
    # Same priority, same tier: AdminNetworkPolicy before ClusterNetworkPolicy, then names.
    tiers = docs(cnp("a-cnp", "Admin", 5, ingress("Accept")), anp("z-anp", 5, ingress("Deny")),
                 anp("b-anp", 5, ingress("Pass", "namespaces: {matchLabels: {ns: q}}")))
    state = model(tiered_yaml=tiers)
    assert not allowed(state, "y/b", "x/a")
    match = verdict(state, "y/b", "x/a", 80).ingress.admin.match  # type: ignore[union-attr]
    assert match is not None and match.policy == "AdminNetworkPolicy/z-anp"
    assert match.tied_with == ("ClusterNetworkPolicy/a-cnp",)
    assert [p.key for p in state.admin_policies] == [
        "AdminNetworkPolicy/b-anp", "AdminNetworkPolicy/z-anp", "ClusterNetworkPolicy/a-cnp"]


def test_no_tie_is_reported_when_the_policies_agree() -> None:
    tiers = docs(cnp("a", "Admin", 5, ingress("Deny")), anp("b", 5, ingress("Deny")))
    match = verdict(model(tiered_yaml=tiers), "y/b", "x/a", 80).ingress.admin.match  # type: ignore[union-attr]
    assert match is not None and match.tied_with == ()


def test_the_baseline_admin_policy_comes_after_every_baseline_cluster_policy() -> None:
    tiers = docs(banp(ingress("Deny")), cnp("late", "Baseline", 1000, ingress("Accept")))
    state = model(tiered_yaml=tiers)
    assert allowed(state, "y/b", "x/a")
    match = verdict(state, "y/b", "x/a", 80).ingress.baseline.match  # type: ignore[union-attr]
    assert match is not None and match.policy == "ClusterNetworkPolicy/late"


def test_v1alpha1_allow_and_v1alpha2_accept_are_the_same_action() -> None:
    for tiers in (anp("x", 1, ingress("Allow")), cnp("x", "Admin", 1, ingress("Accept"))):
        state = model(DENY_ALL_INTO_X_A, tiered_yaml=tiers)
        assert allowed(state, "y/b", "x/a")


# --- subjects ------------------------------------------------------------------------------


def test_subjects_by_namespaces_and_by_pods() -> None:
    by_ns = anp("ns", 1, """  subject: {namespaces: {matchLabels: {ns: x}}}
  ingress: [{action: Deny, from: [{namespaces: {}}]}]
""")
    state = model(tiered_yaml=by_ns)
    assert not allowed(state, "y/b", "x/a") and not allowed(state, "y/b", "x/c")
    assert allowed(state, "y/b", "z/a")
    by_pods = anp("pods", 1, ingress("Deny"))
    state = model(tiered_yaml=by_pods)
    assert not allowed(state, "y/b", "x/a") and allowed(state, "y/b", "x/b")
    assert allowed(state, "y/b", "y/a")  # pod a of another namespace: not a subject


HOST_NET = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: x, labels: {{pod: {name}}}}}
spec:
  nodeName: n1
  hostNetwork: {host}
  containers: [{{name: c, image: i, ports: [{{name: http, containerPort: 80}}]}}]
status: {{podIP: {ip}}}
"""


def test_host_network_pods_are_never_subjects_nor_matched_by_selectors() -> None:
    text = docs(HOST_NET.format(name="h", host="true", ip="192.168.0.1"),
                HOST_NET.format(name="p", host="false", ip="10.0.0.2"),
                "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}",
                anp("all", 1, """  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {}}]}]
  egress: [{action: Deny, to: [{namespaces: {}}]}]
"""))
    state = cluster(text)
    into_host = verdict(state, "x/p", "x/h", 80)
    assert into_host.ingress.reason == "host-network"
    from_host = verdict(state, "x/h", "x/p", 80)
    assert from_host.egress.reason == "host-network"
    assert from_host.ingress.allowed  # the deny's peers select pods; a hostNetwork pod is none


# --- peers ---------------------------------------------------------------------------------


def test_peers_by_pods_are_namespace_and_pod_selectors_anded() -> None:
    peer = "pods: {namespaceSelector: {matchLabels: {ns: y}}, podSelector: {matchLabels: {pod: b}}}"
    state = model(tiered_yaml=anp("p", 1, ingress("Deny", peer)))
    assert not allowed(state, "y/b", "x/a")
    assert allowed(state, "y/c", "x/a") and allowed(state, "z/b", "x/a")


def test_networks_match_pod_addresses_too() -> None:
    egress = anp("net", 1, """  subject: {namespaces: {matchLabels: {ns: y}}}
  egress: [{action: Deny, to: [{networks: [10.0.1.0/24]}]}]
""")
    state = model(tiered_yaml=egress)
    assert not allowed(state, "y/b", "x/a")  # 10.0.1.1 is in x
    assert allowed(state, "y/b", "z/a")
    assert not verdict(state, "y/b", "10.0.1.200", 80).allowed  # and outside addresses


def test_nodes_peers_match_the_addresses_of_the_selected_nodes() -> None:
    egress = cnp("to-nodes", "Admin", 1, """  subject: {namespaces: {}}
  egress: [{action: Deny, to: [{nodes: {matchLabels: {role: control}}}]}]
""")
    base = model(tiered_yaml=egress)
    nodes = [Node("cp", (ipaddress.ip_address("192.168.1.1"),), {"role": "control"}),
             Node("w", (ipaddress.ip_address("192.168.1.2"),), {"role": "worker"})]
    state = ClusterState(base.namespaces.values(), base.endpoints, nodes=nodes,
                         cluster_policies=base.cluster_policies)
    assert not verdict(state, "x/a", "192.168.1.1", 80).allowed
    assert verdict(state, "x/a", "192.168.1.2", 80).allowed
    assert verdict(state, "x/a", "192.168.1.3", 80).allowed  # not a node
    view = CompiledView(state)
    blocks = [str(b) for d in view.egress[0].admin for b in d.peers.ip_blocks]
    assert blocks == ["192.168.1.1/32"]


HOST_NETWORK_CLUSTER = """
apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: v1
kind: Node
metadata: {name: cp, labels: {role: control}}
status: {addresses: [{type: InternalIP, address: 192.168.1.1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: x, labels: {app: agent}}
spec: {nodeName: cp, hostNetwork: true, containers: [{name: c, image: i}]}
status: {podIP: 192.168.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec: {nodeName: w, containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
status: {podIP: 10.0.0.1}
"""


@pytest.mark.parametrize("peer", ["nodes: {matchLabels: {role: control}}",
                                  "networks: [192.168.1.0/24]"])
def test_a_host_network_pod_is_matched_as_its_node_by_nodes_and_networks_peers(
        peer: str) -> None:
    # Its traffic carries the node's address, so the kernel cannot tell them apart: the
    # engine judges it as the node's, whether it is named as the pod or as the address.
    deny = anp("to-control", 1, f"""  subject: {{namespaces: {{}}}}
  egress: [{{action: Deny, to: [{{{peer}}}]}}]
""")
    state = cluster(docs(HOST_NETWORK_CLUSTER, deny))
    assert not allowed(state, "x/a", "x/agent")
    assert not verdict(state, "x/a", "192.168.1.1", 80).allowed
    assert not CompiledView(state).allowed_ports("x/a", "x/agent").contains("TCP", 80)


def test_domain_names_match_no_address_and_every_verdict_they_could_change_says_so() -> None:
    egress = cnp("dns", "Admin", 1, """  subject: {namespaces: {matchLabels: {ns: y}}}
  egress:
  - {action: Accept, to: [{domainNames: [example.com]}]}
  - {action: Deny, to: [{networks: [0.0.0.0/0]}]}
""")
    state = model(tiered_yaml=egress)
    v = verdict(state, "y/a", "203.0.113.7", 443)
    assert not v.allowed
    assert v.egress.admin is not None
    assert v.egress.admin.unresolved == ("ClusterNetworkPolicy/dns egress[0]",)
    # Where the name could not change the verdict (z is no subject), nothing is said.
    quiet = verdict(state, "z/a", "203.0.113.7", 443)
    assert quiet.allowed and (quiet.egress.admin is None or not quiet.egress.admin.unresolved)


# --- ports ---------------------------------------------------------------------------------


def test_ports_by_number_range_and_all() -> None:
    number = ingress("Deny", ports="ports: [{portNumber: {protocol: TCP, port: 80}}]")
    state = model(tiered_yaml=anp("n", 1, number))
    assert not allowed(state, "y/b", "x/a", 80) and allowed(state, "y/b", "x/a", 81)
    assert allowed(state, "y/b", "x/a", 80, "UDP")
    ranged = ingress("Deny", ports="ports: [{portRange: {protocol: UDP, start: 80, end: 81}}]")
    state = model(tiered_yaml=anp("r", 1, ranged))
    assert not allowed(state, "y/b", "x/a", 81, "UDP") and allowed(state, "y/b", "x/a", 81)
    every = model(tiered_yaml=anp("e", 1, ingress("Deny")))
    for protocol in ("TCP", "UDP", "SCTP"):
        assert not allowed(every, "y/b", "x/a", 81, protocol)


def test_v1alpha2_protocols() -> None:
    # v1alpha2 has no "every port of a protocol" (its CRD wants a destinationPort): 1-65535.
    rule = ingress("Deny", ports="protocols: [{udp: {destinationPort: {number: 80}}}, "
                                 "{sctp: {destinationPort: {range: {start: 1, end: 65535}}}}]")
    state = model(tiered_yaml=cnp("c", "Admin", 1, rule))
    assert not allowed(state, "y/b", "x/a", 80, "UDP") and allowed(state, "y/b", "x/a", 81, "UDP")
    assert not allowed(state, "y/b", "x/a", 81, "SCTP") and allowed(state, "y/b", "x/a", 80)


def test_a_named_port_resolves_on_the_destination_whatever_its_protocol() -> None:
    # The model names its ports serve-80-tcp, serve-80-udp...: by name, one protocol each.
    into = ingress("Deny", ports="ports: [{namedPort: serve-80-udp}]")
    state = model(tiered_yaml=anp("n", 1, into))
    assert not allowed(state, "y/b", "x/a", 80, "UDP")
    assert allowed(state, "y/b", "x/a", 80, "TCP")
    out = anp("out", 1, """  subject: {namespaces: {matchLabels: {ns: y}}}
  egress: [{action: Deny, to: [{namespaces: {}}], ports: [{namedPort: serve-81-tcp}]}]
""")
    state = model(tiered_yaml=out)
    assert not allowed(state, "y/b", "x/a", 81) and allowed(state, "y/b", "x/a", 80)
    assert verdict(state, "y/b", "10.9.9.9", 81).allowed  # an address has no named ports


# --- exemptions ----------------------------------------------------------------------------


SVC_CLUSTER = """
apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec: {nodeName: n1, containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Service
metadata: {name: s, namespace: x}
spec: {selector: {app: a}, ports: [{port: 80}]}
"""


@pytest.mark.parametrize("extra", ["", "np"])
def test_a_pod_reaching_itself_is_exempt_but_not_through_a_service(extra: str) -> None:
    deny_self = anp("deny", 1, """  subject: {namespaces: {}}
  egress: [{action: Deny, to: [{namespaces: {}}]}]
""")
    np_text = ("\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
               "metadata: {name: iso, namespace: x}\nspec: {podSelector: {}, "
               "policyTypes: [Ingress, Egress]}\n") if extra else ""
    state = cluster(docs(SVC_CLUSTER + np_text, deny_self))
    own = verdict(state, "x/a", "x/a", 80)
    assert own.allowed and own.egress.reason == "loopback"
    (hairpin,) = service_verdicts(state, "x/a", "x/s", 80)
    assert hairpin.verdict is not None and not hairpin.allowed
    assert hairpin.verdict.egress.reason == "admin-deny"


def test_a_hairpin_that_networkpolicy_isolates_is_allowed_by_it() -> None:
    np_text = ("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
               "metadata: {name: iso, namespace: x}\nspec: {podSelector: {}, "
               "policyTypes: [Ingress, Egress]}\n")
    state = cluster(docs(SVC_CLUSTER, np_text, banp("""  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {}}]}]
""")))
    (hairpin,) = service_verdicts(state, "x/a", "x/s", 80)
    assert hairpin.allowed and hairpin.verdict is not None
    assert hairpin.verdict.ingress.reason == "hairpin"


def test_connections_from_the_pods_own_node_stay_exempt() -> None:
    text = docs(SVC_CLUSTER, "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n"
                "status: {addresses: [{type: InternalIP, address: 192.168.0.10}]}",
                anp("deny", 1, """  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {}}]}]
"""))
    v = verdict(cluster(text), "192.168.0.10", "x/a", 80)
    assert v.allowed and v.ingress.reason == "from-own-node"
