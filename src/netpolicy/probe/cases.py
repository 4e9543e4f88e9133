"""The conformance cases: the upstream e2e NetworkPolicy suite's model and the kinds of
cases it has, written for this project (DESIGN.md's semantic points, each at least once).

The model: namespaces x, y, z (labelled `ns=<name>`), each with pods a, b, c (labelled
`pod=<name>`) serving 80 and 81 on TCP, UDP and SCTP under named ports `serve-80-tcp`, ...
A case is a sequence of steps; a step applies policies, deletes some, or relabels pods
and namespaces, then states the expected truth table per (protocol, port), the way
upstream writes them: a default, then exceptions by namespace and pod.

The same cases run twice: against the engine alone (tests/engine/test_e2e_model.py) and
in the lab with real traffic (`netpol conformance`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from netpolicy.api.objects import Protocol

NAMESPACES = ("x", "y", "z")
PODS = ("a", "b", "c")
KEYS = tuple(f"{ns}/{p}" for ns in NAMESPACES for p in PODS)
SERVED: tuple[tuple[Protocol, int], ...] = (("TCP", 80), ("TCP", 81), ("UDP", 80), ("UDP", 81),
                                             ("SCTP", 80), ("SCTP", 81))


class Reachability:
    """An expected truth table over the model's pods."""

    def __init__(self, default: bool, keys: Iterable[str] = KEYS) -> None:
        self.keys = list(keys)
        self.table = {(s, d): default for s in self.keys for d in self.keys}

    def expect(self, value: bool, *, from_ns: str | None = None, from_pod: str | None = None,
               to_ns: str | None = None, to_pod: str | None = None) -> Reachability:
        for s, d in self.table:
            sn, sp = s.split("/")
            dn, dp = d.split("/")
            if ((from_ns in (None, sn)) and (from_pod in (None, sp))
                    and (to_ns in (None, dn)) and (to_pod in (None, dp))):
                self.table[(s, d)] = value
        return self

    def allow_loopback(self) -> Reachability:
        """A pod always reaches itself (DESIGN.md point 11), as upstream's AllowLoopback."""
        for k in self.keys:
            self.table[(k, k)] = True
        return self

    def render(self, table: Mapping[tuple[str, str], bool] | None = None) -> str:
        table = self.table if table is None else table
        rows = ["      " + " ".join(f"{k:>4}" for k in self.keys)]
        for s in self.keys:
            rows.append(f"{s:>5} " + " ".join(f"{'.' if table[(s, d)] else 'X':>4}"
                                             for d in self.keys))
        return "\n".join(rows)


def allow_all() -> Reachability:
    return Reachability(True)


def deny_all() -> Reachability:
    return Reachability(False)


Labels = Mapping[str, Mapping[str, str | None]]


@dataclass(frozen=True)
class Step:
    """What to change, then what to expect. Policies are YAML documents without kind and
    namespace (default: the case's namespace); labels map `ns/pod` or `ns` to labels to set
    (None removes one). `tiered`: tiered cluster policies, YAML documents with their
    apiVersion and kind (created, or replaced when one of that kind and name exists);
    `delete_tiered`: `Kind/name` of tiered policies to delete."""

    expect: Mapping[tuple[Protocol, int], Reachability]
    policies: str = ""
    delete: tuple[str, ...] = ()
    pod_labels: Labels = field(default_factory=dict)
    ns_labels: Labels = field(default_factory=dict)
    tiered: str = ""
    delete_tiered: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    name: str
    steps: tuple[Step, ...]
    namespace: str = "x"

    @property
    def tiered(self) -> bool:
        """Does the case need the tiered policy APIs (network-policy-api's CRDs)?"""
        return any(step.tiered or step.delete_tiered for step in self.steps)


def single(name: str, policies: str, expect: Mapping[tuple[Protocol, int], Reachability],
           namespace: str = "x", *, pod_labels: Labels | None = None,
           ns_labels: Labels | None = None) -> Case:
    return Case(name, (Step(expect, policies, (), pod_labels or {}, ns_labels or {}),),
                namespace)


CASES = [
    single(
        "default deny ingress isolates every pod of the namespace",
        """
metadata: {name: deny-ingress}
spec: {podSelector: {}, policyTypes: [Ingress]}
""",
        {("TCP", 80): allow_all().expect(False, to_ns="x").allow_loopback()},
    ),
    single(
        "ingress: [] with policyTypes omitted is also a default deny",
        """
metadata: {name: deny-ingress}
spec: {podSelector: {}, ingress: []}
""",
        {("TCP", 80): allow_all().expect(False, to_ns="x").allow_loopback()},
    ),
    single(
        "default deny egress isolates every pod of the namespace for egress",
        """
metadata: {name: deny-egress}
spec: {podSelector: {}, policyTypes: [Egress]}
""",
        {("TCP", 80): allow_all().expect(False, from_ns="x").allow_loopback()},
    ),
    single(
        "default deny all in both directions",
        """
metadata: {name: deny-all}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
""",
        {("TCP", 80): allow_all().expect(False, from_ns="x").expect(False, to_ns="x")
         .allow_loopback()},
    ),
    single(
        "egress: [] does not make a policy an egress policy",
        """
metadata: {name: only-ingress}
spec: {podSelector: {matchLabels: {pod: a}}, ingress: [{}], egress: []}
""",
        {("TCP", 80): allow_all()},
    ),
    single(
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
    single(
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
    single(
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
    single(
        "empty namespace selector matches pods of every namespace",
        """
metadata: {name: allow-all-ns}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {}}]}]
""",
        {("TCP", 80): allow_all()},
    ),
    single(
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
    single(
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
    single(
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
    single(
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
    single(
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
    single(
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
    single(
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
    single(
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
    single(
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
    single(
        "a policy with egress rules and no policyTypes also isolates for ingress",
        """
metadata: {name: egress-only-rules}
spec: {podSelector: {}, egress: [{}]}
""",
        {("TCP", 80): allow_all().expect(False, to_ns="x").allow_loopback()},
    ),
    single(
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
    single(
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
    single(
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
    single(
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
    single(
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
    single(
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
    single(
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
    single(
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
    single(
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
    single(
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
    single(
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
    single(
        "ipBlock matches pod addresses; except carves some out",
        """
metadata: {name: cidr}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0, except: ["{ip:y/b}/32"]}}]}]
""",
        {("TCP", 80): allow_all()
         .expect(False, from_ns="x", from_pod="a", to_ns="y", to_pod="b").allow_loopback()},
    ),
    single(
        "an address both excepted by one policy and allowed by another is allowed",
        """
metadata: {name: except-b}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0, except: ["{ip:y/b}/32"]}}]}]
---
metadata: {name: allow-b}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: "{ip:y/b}/32"}}]}]
""",
        {("TCP", 80): allow_all()},
    ),
    single(
        "a policy in namespace y does not select pods of namespace x",
        """
metadata: {name: deny-in-y}
spec: {podSelector: {matchLabels: {pod: a}}, ingress: []}
""",
        {("TCP", 80): allow_all().expect(False, to_ns="y", to_pod="a").allow_loopback()},
        namespace="y",
    ),
    single(
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
    single(
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
    single(
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
    single(
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
    single(
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
    single(
        "ingress from an ipBlock of one pod's address, nothing else",
        """
metadata: {name: from-one-address}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{ipBlock: {cidr: "{ip:z/c}/32"}}]}]
""",
        {("TCP", 80): allow_all().expect(False, to_ns="x", to_pod="a")
         .expect(True, from_ns="z", from_pod="c", to_ns="x", to_pod="a").allow_loopback()},
    ),
    Case("an updated policy is enforced as updated", (
        Step({("TCP", 80): allow_all().expect(False, to_ns="x", to_pod="a")
              .expect(True, from_ns="x", from_pod="b", to_ns="x", to_pod="a").allow_loopback()},
             """
metadata: {name: allow-one}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]
"""),
        Step({("TCP", 80): allow_all().expect(False, to_ns="x", to_pod="a")
              .expect(True, from_ns="x", from_pod="c", to_ns="x", to_pod="a").allow_loopback()},
             """
metadata: {name: allow-one}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: c}}}]}]
"""),
    )),
    Case("a deleted policy stops being enforced", (
        Step({("TCP", 80): allow_all().expect(False, to_ns="x").allow_loopback(),
              ("UDP", 81): allow_all().expect(False, to_ns="x").allow_loopback()},
             """
metadata: {name: deny-all}
spec: {podSelector: {}, policyTypes: [Ingress]}
"""),
        Step({("TCP", 80): allow_all(), ("UDP", 81): allow_all()}, delete=("x/deny-all",)),
    )),
    Case("a pod relabelled into a peer selector gets in, and out again", (
        Step({("TCP", 80): allow_all().expect(False, to_ns="x").allow_loopback()},
             """
metadata: {name: from-clients}
spec:
  podSelector: {}
  ingress: [{from: [{podSelector: {matchLabels: {role: client}}}]}]
"""),
        Step({("TCP", 80): allow_all().expect(False, to_ns="x")
              .expect(True, from_ns="x", from_pod="c", to_ns="x").allow_loopback()},
             pod_labels={"x/c": {"role": "client"}}),
        Step({("TCP", 80): allow_all().expect(False, to_ns="x").allow_loopback()},
             pod_labels={"x/c": {"role": None}}),
    )),
    Case("a namespace relabelled into a namespace selector gets in", (
        Step({("TCP", 81): allow_all().expect(False, to_ns="x").allow_loopback()},
             """
metadata: {name: from-blue-team}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {matchLabels: {team: blue}}}]}]
"""),
        Step({("TCP", 81): allow_all().expect(False, to_ns="x")
              .expect(True, from_ns="y", to_ns="x").allow_loopback()},
             ns_labels={"y": {"team": "blue"}}),
    )),
    Case("a pod relabelled out of a policy's pod selector is no longer isolated", (
        Step({("TCP", 80): allow_all().expect(False, to_ns="x", to_pod="b")
              .expect(False, from_ns="x", from_pod="b").allow_loopback()},
             """
metadata: {name: isolate-quarantined}
spec:
  podSelector: {matchLabels: {quarantine: "yes"}}
  policyTypes: [Ingress, Egress]
""", pod_labels={"x/b": {"quarantine": "yes"}}),
        Step({("TCP", 80): allow_all()}, pod_labels={"x/b": {"quarantine": None}}),
    )),
]


def substitute(text: str, addresses: Mapping[str, str]) -> str:
    """Replace `{ip:ns/pod}` with that pod's address (cases cannot know them in advance)."""
    for key, ip in addresses.items():
        text = text.replace("{ip:" + key + "}", ip)
    return text
