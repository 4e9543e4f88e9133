"""`explain` on tiered policies: the chain of each side (admin tier, NetworkPolicy,
baseline tier, default), in text and JSON, on examples/admin-tiers and on ties and
`domainNames` rules."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from netpolicy.cli import app
from netpolicy.engine import verdict
from netpolicy.report.explain import render_json, render_text
from tests.builders import model

TIERS = str(Path(__file__).resolve().parent.parent / "examples" / "admin-tiers")
runner = CliRunner()


def explain(src: str, dst: str, port: str, *extra: str) -> str:
    result = runner.invoke(app, ["explain", "-f", TIERS, "--from", src, "--to", dst,
                                 "--port", port, *extra])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def test_an_admin_deny_beats_a_networkpolicy_allow_and_explain_shows_the_rule() -> None:
    out = explain("tenant-b/web", "payments/ledger", "8443")
    assert out.startswith("tenant-b/web -> payments/ledger TCP/8443: DENIED")
    assert ("admin tier: ClusterNetworkPolicy/sensitive-namespaces (priority 10) ingress[1] "
            "'nobody-else': Deny") in out
    assert "DENIED by the admin tier: NetworkPolicy and baseline are not asked" in out
    data = json.loads(explain("tenant-b/web", "payments/ledger", "8443", "-o", "json"))
    ingress = data["ingress"]
    assert data["allowed"] is False and ingress["decidedBy"] == "admin"
    assert ingress["reason"] == "admin-deny"
    assert ingress["admin"]["match"] == {
        "policy": "ClusterNetworkPolicy/sensitive-namespaces", "priority": 10, "rule": 1,
        "name": "nobody-else", "action": "Deny", "peer": 0, "port": None, "tiedWith": []}
    assert ingress["baseline"] is None
    assert data["egress"]["decidedBy"] == "default"


def test_an_admin_accept_is_not_narrowed_and_the_baseline_denies_where_no_policy_isolates() -> None:
    out = explain("monitoring/prometheus", "payments/ledger", "8443")
    assert "ALLOWED" in out.splitlines()[0]
    assert "'monitoring-may-scrape': Accept" in out
    out = explain("tenant-b/web", "tenant-a/frontend", "80")
    assert "NetworkPolicy: tenant-a/frontend is not isolated" in out
    assert ("baseline tier: BaselineAdminNetworkPolicy/default ingress[0] "
            "'tenants-only-by-networkpolicy': Deny") in out
    assert "DENIED by the baseline tier" in out
    # tenant-a/backend is isolated by its NetworkPolicy: the baseline is not asked.
    data = json.loads(explain("tenant-a/frontend", "tenant-a/backend", "8080", "-o", "json"))
    assert data["allowed"] is True and data["ingress"]["decidedBy"] == "networkpolicy"
    assert data["ingress"]["baseline"] is None


def test_pass_goes_on_to_networkpolicy_and_says_so() -> None:
    out = explain("tenant-a/frontend", "kube-system/coredns", "53", "--protocol", "UDP")
    assert "'dns': Pass (passes: the rest of the admin tier is skipped)" in out
    data = json.loads(explain("tenant-a/frontend", "kube-system/coredns", "53",
                              "--protocol", "UDP", "-o", "json"))
    assert data["egress"]["admin"]["match"]["action"] == "Pass"
    assert data["egress"]["decidedBy"] == "default"


def test_a_tie_at_equal_priority_is_named_with_the_order_that_broke_it() -> None:
    tiers = """apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: a-cnp}
spec:
  tier: Admin
  priority: 5
  subject: {namespaces: {matchLabels: {ns: x}}}
  ingress: [{action: Accept, from: [{namespaces: {}}]}]
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: z-anp}
spec:
  priority: 5
  subject: {namespaces: {matchLabels: {ns: x}}}
  ingress: [{action: Deny, from: [{namespaces: {}}]}]
"""
    state = model(tiered_yaml=tiers)
    v = verdict(state, "y/b", "x/a", 80)
    text = render_text(state, v)
    assert "tie: ClusterNetworkPolicy/a-cnp also match at priority 5 with another action" in text
    assert "AdminNetworkPolicy before ClusterNetworkPolicy, then by name" in text
    match = json.loads(render_json(v))["ingress"]["admin"]["match"]
    assert match["policy"] == "AdminNetworkPolicy/z-anp"
    assert match["tiedWith"] == ["ClusterNetworkPolicy/a-cnp"]


def test_a_domain_names_rule_that_could_reverse_the_verdict_is_named() -> None:
    tiers = """apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: dns}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {matchLabels: {ns: y}}}
  egress:
  - {action: Accept, to: [{domainNames: [example.com]}]}
  - {action: Deny, to: [{networks: [0.0.0.0/0]}]}
"""
    state = model(tiered_yaml=tiers)
    v = verdict(state, "y/a", "203.0.113.7", 443)
    text = render_text(state, v)
    assert "unresolved: ClusterNetworkPolicy/dns egress[0] names domains" in text
    assert json.loads(render_json(v))["egress"]["admin"]["unresolved"] == [
        "ClusterNetworkPolicy/dns egress[0]"]


def test_without_tiered_policies_explain_reads_as_before() -> None:
    state = model()
    text = render_text(state, verdict(state, "y/b", "x/a", 80))
    assert "admin tier" not in text and "baseline tier" not in text
    assert "allowed: x/a is not isolated: no NetworkPolicy selecting it lists Ingress" in text
