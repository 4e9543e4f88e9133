"""Conformance cases for the tiered cluster policies (AdminNetworkPolicy,
BaselineAdminNetworkPolicy, ClusterNetworkPolicy), on the same model as
`netpolicy.probe.cases`, covering every kind of case the network-policy-api conformance
suite has: both tiers, every action, priorities and a priority change, rule order,
subjects by namespaces and by pods, peers by namespaces, pods, nodes and networks, port
numbers, ranges and named ports, ingress and egress, TCP, UDP and SCTP (matched, not
sent), Pass down to NetworkPolicy and to the baseline, updates and deletions.

Written for this project from the API's documented semantics (docs/design.md, "Tiered
cluster policies"); none is copied from upstream.
"""

from __future__ import annotations

from netpolicy.probe.cases import Case, Step, allow_all

ANP = "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\n"
BANP = "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: BaselineAdminNetworkPolicy\n"
CNP = "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\n"
INTO_X = "subject: {namespaces: {matchLabels: {ns: x}}}"
NS_Y = "namespaces: {matchLabels: {ns: y}}"
NS_Z = "namespaces: {matchLabels: {ns: z}}"
EVERY_NS = "namespaces: {}"
Y_B = "pods: {namespaceSelector: {matchLabels: {ns: y}}, podSelector: {matchLabels: {pod: b}}}"


def anp(name: str, priority: int, body: str, subject: str = INTO_X) -> str:
    return (f"{ANP}metadata: {{name: {name}}}\nspec:\n  priority: {priority}\n"
            f"  {subject}\n{body}")


def banp(body: str, subject: str = INTO_X) -> str:
    return f"{BANP}metadata: {{name: default}}\nspec:\n  {subject}\n{body}"


def cnp(name: str, tier: str, priority: int, body: str, subject: str = INTO_X) -> str:
    return (f"{CNP}metadata: {{name: {name}}}\nspec:\n  tier: {tier}\n  priority: {priority}\n"
            f"  {subject}\n{body}")


def docs(*parts: str) -> str:
    return "\n---\n".join(parts)


def tiered_case(name: str, tiered: str, expect: dict, policies: str = "") -> Case:  # type: ignore[type-arg]
    return Case(name, (Step(expect, policies, tiered=tiered),))


ALLOW_ALL_INTO_X = """
metadata: {name: allow-all-into-x}
spec: {podSelector: {}, ingress: [{}]}
"""
DENY_ALL_INTO_X = """
metadata: {name: deny-all-into-x}
spec: {podSelector: {}, policyTypes: [Ingress]}
"""

TIER_CASES = [
    tiered_case(
        "admin: an ingress Deny beats a NetworkPolicy that allows everything",
        anp("deny-from-y", 10, f"""  ingress:
  - {{name: no-y, action: Deny, from: [{{{NS_Y}}}]}}
"""),
        {("TCP", 80): allow_all().expect(False, from_ns="y", to_ns="x"),
         ("UDP", 81): allow_all().expect(False, from_ns="y", to_ns="x")},
        ALLOW_ALL_INTO_X),
    tiered_case(
        "admin: an ingress Allow cannot be narrowed by a NetworkPolicy deny-all",
        anp("allow-from-y", 10, f"""  ingress:
  - {{action: Allow, from: [{{{NS_Y}}}]}}
"""),
        {("TCP", 80): allow_all().expect(False, to_ns="x").expect(True, from_ns="y", to_ns="x")
         .allow_loopback()},
        DENY_ALL_INTO_X),
    tiered_case(
        "admin: Pass skips the rest of the tier and NetworkPolicy decides",
        docs(anp("pass-y", 1, f"""  ingress:
  - {{action: Pass, from: [{{{NS_Y}}}]}}
"""), anp("deny-rest", 2, f"""  ingress:
  - {{action: Deny, from: [{{{EVERY_NS}}}]}}
""")),
        {("TCP", 80): allow_all().expect(False, to_ns="x")
         .expect(True, from_ns="y", from_pod="b", to_ns="x").allow_loopback()},
        """
metadata: {name: only-y-b}
spec:
  podSelector: {}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {ns: y}}, podSelector: {matchLabels: {pod: b}}}]
"""),
    Case("admin: the lower priority number decides, and a priority change flips it", (
        Step({("TCP", 80): allow_all().expect(False, to_ns="x")
              .expect(True, from_ns="z", to_ns="x").allow_loopback()},
             tiered=docs(anp("allow-z", 5, f"""  ingress:
  - {{action: Allow, from: [{{{NS_Z}}}]}}
"""), anp("deny-all", 10, f"""  ingress:
  - {{action: Deny, from: [{{{EVERY_NS}}}]}}
"""))),
        Step({("TCP", 80): allow_all().expect(False, to_ns="x").allow_loopback()},
             tiered=anp("allow-z", 20, f"""  ingress:
  - {{action: Allow, from: [{{{NS_Z}}}]}}
""")),
    )),
    tiered_case(
        "admin: within a policy the first matching rule decides",
        anp("ordered", 3, f"""  ingress:
  - {{action: Allow, from: [{{{Y_B}}}]}}
  - {{action: Deny, from: [{{{NS_Y}}}]}}
"""),
        {("TCP", 81): allow_all().expect(False, from_ns="y", to_ns="x")
         .expect(True, from_ns="y", from_pod="b", to_ns="x")}),
    tiered_case(
        "admin: a subject by pods selects only those pods",
        anp("guard-x-a", 7, f"""  ingress:
  - {{action: Deny, from: [{{{EVERY_NS}}}]}}
""", subject="subject: {pods: {namespaceSelector: {matchLabels: {ns: x}}, "
              "podSelector: {matchLabels: {pod: a}}}}"),
        {("TCP", 80): allow_all().expect(False, to_ns="x", to_pod="a").allow_loopback()}),
    tiered_case(
        "admin: egress Deny by a UDP port range leaves TCP alone",
        anp("no-udp-from-y", 4, """  egress:
  - action: Deny
    to: [{namespaces: {matchLabels: {ns: x}}}]
    ports: [{portRange: {protocol: UDP, start: 80, end: 81}}]
""", subject=f"subject: {{{NS_Y}}}"),
        {("TCP", 80): allow_all(),
         ("UDP", 80): allow_all().expect(False, from_ns="y", to_ns="x"),
         ("UDP", 81): allow_all().expect(False, from_ns="y", to_ns="x")}),
    tiered_case(
        "admin: a named port resolves on the destination pod",
        anp("no-81-from-z", 6, f"""  ingress:
  - action: Deny
    from: [{{{NS_Z}}}]
    ports: [{{namedPort: serve-81-tcp}}]
"""),
        {("TCP", 80): allow_all(),
         ("TCP", 81): allow_all().expect(False, from_ns="z", to_ns="x"),
         ("UDP", 81): allow_all()}),
    tiered_case(
        "admin: a networks peer matches pod addresses (ClusterNetworkPolicy egress)",
        cnp("no-x-a-from-z", "Admin", 8, """  egress:
  - action: Deny
    to: [{networks: ["{ip:x/a}/32"]}]
""", subject=f"subject: {{{NS_Z}}}"),
        {("TCP", 80): allow_all().expect(False, from_ns="z", to_ns="x", to_pod="a")}),
    tiered_case(
        "admin: a nodes peer matches node addresses, never pods",
        anp("no-nodes-from-x", 9, """  egress:
  - action: Deny
    to: [{nodes: {}}]
""", subject="subject: {namespaces: {matchLabels: {ns: x}}}"),
        {("TCP", 80): allow_all()}),
    Case("baseline: a Deny holds where no NetworkPolicy isolates the pod", (
        Step({("TCP", 80): allow_all().expect(False, from_ns="y", to_ns="x")},
             tiered=banp(f"""  ingress:
  - {{action: Deny, from: [{{{NS_Y}}}]}}
""")),
        Step({("TCP", 80): allow_all().expect(False, from_ns="y", to_ns="x")
              .expect(True, from_ns="y", to_ns="x", to_pod="a")}, """
metadata: {name: x-a-from-everywhere}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {}}]}]
"""),
    )),
    tiered_case(
        "admin Pass goes past NetworkPolicy to the baseline when none isolates",
        docs(anp("pass-y", 1, f"""  ingress:
  - {{action: Pass, from: [{{{NS_Y}}}]}}
"""), anp("allow-all", 2, f"""  ingress:
  - {{action: Allow, from: [{{{EVERY_NS}}}]}}
"""), banp(f"""  ingress:
  - {{action: Deny, from: [{{{NS_Y}}}]}}
""")),
        {("TCP", 80): allow_all().expect(False, from_ns="y", to_ns="x")}),
    tiered_case(
        "ClusterNetworkPolicy: an admin Accept above a baseline Deny of everything",
        docs(cnp("accept-z", "Admin", 5, f"""  ingress:
  - {{action: Accept, from: [{{{NS_Z}}}]}}
"""), cnp("baseline-deny", "Baseline", 5, f"""  ingress:
  - {{action: Deny, from: [{{{EVERY_NS}}}]}}
""")),
        {("TCP", 80): allow_all().expect(False, to_ns="x").expect(True, from_ns="z", to_ns="x")
         .allow_loopback()}),
    tiered_case(
        "ClusterNetworkPolicy: Pass in the baseline tier ends it (default allow)",
        cnp("pass-then-deny", "Baseline", 1, f"""  ingress:
  - {{action: Pass, from: [{{{NS_Y}}}]}}
  - {{action: Deny, from: [{{{EVERY_NS}}}]}}
"""),
        {("TCP", 80): allow_all().expect(False, to_ns="x").expect(True, from_ns="y", to_ns="x")
         .allow_loopback()}),
    Case("admin: deleting a policy restores what it denied", (
        Step({("TCP", 80): allow_all().expect(False, from_ns="y", to_ns="x")},
             tiered=anp("deny-from-y", 10, f"""  ingress:
  - {{action: Deny, from: [{{{NS_Y}}}]}}
""")),
        Step({("TCP", 80): allow_all()}, delete_tiered=("AdminNetworkPolicy/deny-from-y",)),
    )),
    tiered_case(
        "admin: an egress Allow beats a NetworkPolicy egress deny-all (TCP and SCTP)",
        anp("y-to-x", 2, """  egress:
  - action: Allow
    to: [{namespaces: {matchLabels: {ns: x}}}]
    ports: [{portNumber: {protocol: TCP, port: 80}}, {portNumber: {protocol: SCTP, port: 80}}]
""", subject=f"subject: {{{NS_Y}}}"),
        {("TCP", 80): allow_all().expect(False, from_ns="y").expect(True, from_ns="y", to_ns="x")
         .allow_loopback(),
         ("SCTP", 80): allow_all().expect(False, from_ns="y")
         .expect(True, from_ns="y", to_ns="x").allow_loopback(),
         ("TCP", 81): allow_all().expect(False, from_ns="y").allow_loopback()},
        """
metadata: {name: deny-egress, namespace: y}
spec: {podSelector: {}, policyTypes: [Egress]}
"""),
]
