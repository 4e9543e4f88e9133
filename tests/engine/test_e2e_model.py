"""Scenarios modelled on the upstream e2e NetworkPolicy suite: namespaces x, y, z with
pods a, b, c serving 80 and 81 (TCP, UDP, SCTP). Each case states its expected truth
table the way upstream does (a default, then exceptions) and checks both the matrix
path and the single-verdict path against it."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.builders import Reachability, assert_reachability, model

KEYS = [f"{ns}/{p}" for ns in "xyz" for p in "abc"]


def allow_all() -> Reachability:
    return Reachability(KEYS, True)


def deny_all() -> Reachability:
    return Reachability(KEYS, False)


@dataclass
class Case:
    name: str
    policies: str
    expected: dict[tuple[str, int], Reachability]
    namespace: str = "x"
    pod_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    ns_labels: dict[str, dict[str, str]] = field(default_factory=dict)


CASES = [
    Case(
        "default deny ingress isolates every pod of the namespace",
        """
metadata: {name: deny-ingress}
spec: {podSelector: {}, policyTypes: [Ingress]}
""",
        {("TCP", 80): allow_all().expect(False, to_ns="x").allow_loopback()},
    ),
    Case(
        "ingress: [] with policyTypes omitted is also a default deny",
        """
metadata: {name: deny-ingress}
spec: {podSelector: {}, ingress: []}
""",
        {("TCP", 80): allow_all().expect(False, to_ns="x").allow_loopback()},
    ),
    Case(
        "default deny egress isolates every pod of the namespace for egress",
        """
metadata: {name: deny-egress}
spec: {podSelector: {}, policyTypes: [Egress]}
""",
        {("TCP", 80): allow_all().expect(False, from_ns="x").allow_loopback()},
    ),
    Case(
        "default deny all in both directions",
        """
metadata: {name: deny-all}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
""",
        {("TCP", 80): allow_all().expect(False, from_ns="x").expect(False, to_ns="x")
         .allow_loopback()},
    ),
    Case(
        "egress: [] does not make a policy an egress policy",
        """
metadata: {name: only-ingress}
spec: {podSelector: {matchLabels: {pod: a}}, ingress: [{}], egress: []}
""",
        {("TCP", 80): allow_all()},
    ),
    Case(
        "egress rules are ignored when policyTypes lists only Ingress",
        """
metadata: {name: ingress-only}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress: [{}]
  egress: [{to: [{podSelector: {matchLabels: {pod: b}}}]}]
""",
        {("TCP", 80): allow_all()},
    ),
    Case(
        "ingress from a pod selector admits only those pods of the policy's own namespace",
        """
metadata: {name: allow-b}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]
""",
        {("TCP", 80): allow_all().expect(False, to_ns="x", to_pod="a")
         .expect(True, from_ns="x", from_pod="b", to_ns="x", to_pod="a").allow_loopback()},
    ),
    Case(
        "empty pod selector in a peer does not match pods of other namespaces",
        """
metadata: {name: allow-same-ns}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {}}]}]
""",
        {("TCP", 80): allow_all().expect(False, to_ns="x", to_pod="a")
         .expect(True, from_ns="x", to_ns="x", to_pod="a")},
    ),
    Case(
        "empty namespace selector matches pods of every namespace",
        """
metadata: {name: allow-all-ns}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {}}]}]
""",
        {("TCP", 80): allow_all()},
    ),
    Case(
        "namespace selector with matchExpressions",
        """
metadata: {name: allow-y}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{namespaceSelector: {matchExpressions: [{key: ns, operator: In, values: ["y"]}]}}]
""",
        {("TCP", 80): allow_all().expect(False, to_ns="x", to_pod="a")
         .expect(True, from_ns="y", to_ns="x", to_pod="a").allow_loopback()},
    ),
    Case(
        "pod selector with matchExpressions NotIn also matches pods without the key",
        """
metadata: {name: not-b}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchExpressions: [{key: pod, operator: NotIn, values: ["b"]}]}}]
""",
        {("TCP", 80): allow_all().expect(False, to_ns="x", to_pod="a")
         .expect(True, from_ns="x", from_pod="c", to_ns="x", to_pod="a").allow_loopback()},
    ),
    Case(
        "pod and namespace selector in one peer are ANDed",
        """
metadata: {name: and}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchExpressions: [{key: ns, operator: NotIn, values: ["x"]}]}
      podSelector: {matchLabels: {pod: b}}
""",
        {("TCP", 80): allow_all().expect(False, to_ns="x", to_pod="a")
         .expect(True, from_ns="y", from_pod="b", to_ns="x", to_pod="a")
         .expect(True, from_ns="z", from_pod="b", to_ns="x", to_pod="a").allow_loopback()},
    ),
    Case(
        "pod and namespace selector in separate peers are ORed",
        """
metadata: {name: or}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchExpressions: [{key: ns, operator: NotIn, values: ["x"]}]}
    - podSelector: {matchLabels: {pod: b}}
""",
        {("TCP", 80): allow_all().expect(False, from_ns="x", to_ns="x", to_pod="a")
         .expect(True, from_ns="x", from_pod="b", to_ns="x", to_pod="a").allow_loopback()},
    ),
    Case(
        "traffic only from a different namespace, by the default name label",
        """
metadata: {name: from-y}
spec:
  podSelector: {}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: "y"}}}]
""",
        {("TCP", 80): allow_all().expect(False, to_ns="x").expect(True, from_ns="y", to_ns="x")
         .allow_loopback()},
    ),
    Case(
        "ports: only 81 from namespace y",
        """
metadata: {name: port-81}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {ns: "y"}}}]
    ports: [{port: 81}]
""",
        {("TCP", 80): allow_all().expect(False, to_ns="x", to_pod="a").allow_loopback(),
         ("TCP", 81): allow_all().expect(False, to_ns="x", to_pod="a")
         .expect(True, from_ns="y", to_ns="x", to_pod="a").allow_loopback()},
    ),
    Case(
        "stacked policies with overlapping pod selectors add up",
        """
metadata: {name: p80}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: "y"}}}], ports: [{port: 80}]}]
---
metadata: {name: p81}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: "y"}}}], ports: [{port: 81}]}]
""",
        {("TCP", 80): allow_all().expect(False, to_ns="x")
         .expect(True, from_ns="y", to_ns="x", to_pod="a").allow_loopback(),
         ("TCP", 81): allow_all().expect(False, to_ns="x").expect(True, from_ns="y", to_ns="x")
         .allow_loopback()},
    ),
    Case(
        "an allow-all ingress policy takes precedence over a deny",
        """
metadata: {name: deny}
spec: {podSelector: {}, ingress: []}
---
metadata: {name: allow-all}
spec: {podSelector: {}, ingress: [{}]}
""",
        {("TCP", 80): allow_all()},
    ),
    Case(
        "an allow-all egress policy takes precedence over a deny",
        """
metadata: {name: deny}
spec: {podSelector: {}, policyTypes: [Egress]}
---
metadata: {name: allow-all}
spec: {podSelector: {}, policyTypes: [Egress], egress: [{}]}
""",
        {("TCP", 80): allow_all()},
    ),
    Case(
        "a policy with egress rules and no policyTypes also isolates for ingress",
        """
metadata: {name: egress-only-rules}
spec: {podSelector: {}, egress: [{}]}
""",
        {("TCP", 80): allow_all().expect(False, to_ns="x").allow_loopback()},
    ),
    Case(
        "named port on ingress is resolved on the destination pod",
        """
metadata: {name: named}
spec:
  podSelector: {}
  ingress: [{ports: [{port: serve-81-tcp}]}]
""",
        {("TCP", 80): allow_all().expect(False, to_ns="x").allow_loopback(),
         ("TCP", 81): allow_all(),
         ("UDP", 81): allow_all().expect(False, to_ns="x").allow_loopback()},
    ),
    Case(
        "named port with a protocol must match the container port's protocol",
        """
metadata: {name: named-udp}
spec:
  podSelector: {}
  ingress: [{ports: [{port: serve-81-tcp, protocol: UDP}]}]
""",
        {("TCP", 81): allow_all().expect(False, to_ns="x").allow_loopback(),
         ("UDP", 81): allow_all().expect(False, to_ns="x").allow_loopback()},
    ),
    Case(
        "named port on egress is resolved on the destination pod",
        """
metadata: {name: egress-named}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{ports: [{port: serve-80-tcp}]}]
""",
        {("TCP", 80): allow_all(),
         ("TCP", 81): allow_all().expect(False, from_ns="x", from_pod="a").allow_loopback()},
    ),
    Case(
        "egress denied on the client side even when the server allows it",
        """
metadata: {name: deny-egress-a}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
---
metadata: {name: allow-all-ingress}
spec: {podSelector: {}, ingress: [{}]}
""",
        {("TCP", 80): allow_all().expect(False, from_ns="x", from_pod="a").allow_loopback()},
    ),
    Case(
        "egress to a pod in another namespace by pod and namespace selector",
        """
metadata: {name: egress-y-b}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {ns: "y"}}, podSelector: {matchLabels: {pod: b}}}]
""",
        {("TCP", 80): allow_all().expect(False, from_ns="x", from_pod="a")
         .expect(True, from_ns="x", from_pod="a", to_ns="y", to_pod="b").allow_loopback()},
    ),
    Case(
        "a protocol without a port allows every port of that protocol only",
        """
metadata: {name: udp-any}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{ports: [{protocol: UDP}]}]
""",
        {("TCP", 80): allow_all().expect(False, to_ns="x", to_pod="a").allow_loopback(),
         ("UDP", 80): allow_all(), ("UDP", 81): allow_all()},
    ),
    Case(
        "a port without a protocol means TCP, not UDP or SCTP",
        """
metadata: {name: tcp-80}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{ports: [{port: 80}]}]
""",
        {("TCP", 80): allow_all(),
         ("UDP", 80): allow_all().expect(False, to_ns="x", to_pod="a").allow_loopback(),
         ("SCTP", 80): allow_all().expect(False, to_ns="x", to_pod="a").allow_loopback()},
    ),
    Case(
        "SCTP is not TCP",
        """
metadata: {name: sctp-80}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{ports: [{port: 80, protocol: SCTP}]}]
""",
        {("TCP", 80): allow_all().expect(False, to_ns="x", to_pod="a").allow_loopback(),
         ("SCTP", 80): allow_all()},
    ),
    Case(
        "endPort: a range of ports",
        """
metadata: {name: range}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{ports: [{port: 80, endPort: 81}]}]
""",
        {("TCP", 80): allow_all(), ("TCP", 81): allow_all(),
         ("TCP", 82): allow_all().expect(False, to_ns="x", to_pod="a").allow_loopback(),
         ("TCP", 79): allow_all().expect(False, to_ns="x", to_pod="a").allow_loopback()},
    ),
    Case(
        "multiple port ranges",
        """
metadata: {name: ranges}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{ports: [{port: 3000, endPort: 3030}, {port: 80, endPort: 80}]}]
""",
        {("TCP", 80): allow_all(), ("TCP", 3030): allow_all(),
         ("TCP", 81): allow_all().expect(False, to_ns="x", to_pod="a").allow_loopback()},
    ),
    Case(
        "ingress and egress controlled independently",
        """
metadata: {name: a-egress-only-to-b}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{podSelector: {matchLabels: {pod: b}}}]}]
---
metadata: {name: b-ingress-only-from-c}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: c}}}]}]
""",
        {("TCP", 80): allow_all()
         .expect(False, from_ns="x", from_pod="a")
         .expect(False, to_ns="x", to_pod="b")
         .expect(True, from_ns="x", from_pod="c", to_ns="x", to_pod="b").allow_loopback()},
    ),
    Case(
        "ipBlock matches pod addresses; except carves some out",
        """
metadata: {name: cidr}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 10.0.2.0/24, except: [10.0.2.2/32]}}]}]
""",
        {("TCP", 80): allow_all().expect(False, from_ns="x", from_pod="a")
         .expect(True, from_ns="x", from_pod="a", to_ns="y")
         .expect(False, from_ns="x", from_pod="a", to_ns="y", to_pod="b").allow_loopback()},
    ),
    Case(
        "an address both excepted by one policy and allowed by another is allowed",
        """
metadata: {name: except-b}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 10.0.2.0/24, except: [10.0.2.2/32]}}]}]
---
metadata: {name: allow-b}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 10.0.2.2/32}}]}]
""",
        {("TCP", 80): allow_all().expect(False, from_ns="x", from_pod="a")
         .expect(True, from_ns="x", from_pod="a", to_ns="y").allow_loopback()},
    ),
    Case(
        "a policy in namespace y does not select pods of namespace x",
        """
metadata: {name: deny-in-y}
spec: {podSelector: {matchLabels: {pod: a}}, ingress: []}
""",
        {("TCP", 80): allow_all().expect(False, to_ns="y", to_pod="a").allow_loopback()},
        namespace="y",
    ),
    Case(
        "namespace selector follows namespace labels",
        """
metadata: {name: from-team-blue}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {matchLabels: {team: blue}}}]}]
""",
        {("TCP", 80): allow_all().expect(False, to_ns="x").expect(True, from_ns="z", to_ns="x")
         .allow_loopback()},
        ns_labels={"z": {"team": "blue"}},
    ),
    Case(
        "pod selector follows pod labels",
        """
metadata: {name: from-role-client}
spec:
  podSelector: {}
  ingress: [{from: [{podSelector: {matchLabels: {role: client}}}]}]
""",
        {("TCP", 80): allow_all().expect(False, to_ns="x")
         .expect(True, from_ns="x", from_pod="c", to_ns="x").allow_loopback()},
        pod_labels={"x/c": {"role": "client"}, "y/c": {"role": "client"}},
    ),
    Case(
        "a peer with an empty namespace selector and a pod selector: those pods everywhere",
        """
metadata: {name: b-anywhere}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {}, podSelector: {matchLabels: {pod: b}}}]}]
""",
        {("TCP", 80): allow_all().expect(False, to_ns="x", to_pod="a")
         .expect(True, from_pod="b", to_ns="x", to_pod="a").allow_loopback()},
    ),
    Case(
        "matchLabels and matchExpressions in one selector are ANDed",
        """
metadata: {name: and-in-selector}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels: {ns: "y"}
        matchExpressions: [{key: ns, operator: In, values: ["y", "z"]}]
""",
        {("TCP", 80): allow_all().expect(False, to_ns="x", to_pod="a")
         .expect(True, from_ns="y", to_ns="x", to_pod="a").allow_loopback()},
    ),
    Case(
        "Exists and DoesNotExist",
        """
metadata: {name: exists}
spec:
  podSelector: {matchExpressions: [{key: tier, operator: DoesNotExist}]}
  ingress: [{from: [{podSelector: {matchExpressions: [{key: tier, operator: Exists}]}}]}]
""",
        {("TCP", 80): allow_all().expect(False, to_ns="x", to_pod="a")
         .expect(True, from_ns="x", from_pod="b", to_ns="x", to_pod="a")
         .expect(True, from_ns="x", from_pod="c", to_ns="x", to_pod="a").allow_loopback()},
        pod_labels={"x/b": {"tier": "front"}, "x/c": {"tier": "back"}},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_upstream_model_case(case: Case) -> None:
    state = model(case.policies, case.namespace, pod_labels=case.pod_labels,
                  ns_labels=case.ns_labels)
    for (protocol, port), expected in case.expected.items():
        assert_reachability(state, expected, port, protocol)


def test_no_policies_allow_everything() -> None:
    assert_reachability(model(), allow_all(), 80)
