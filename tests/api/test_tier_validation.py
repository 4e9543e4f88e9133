"""AdminNetworkPolicy, BaselineAdminNetworkPolicy and ClusterNetworkPolicy validated as the API
server validates them against their CRDs (network-policy-api's experimental channel).

Expected strings are written out in full, as apiextensions-apiserver prints kube-openapi's
schema errors and CEL failures (Kubernetes v1.34 wording), so a change of wording shows here.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from netpolicy.api.tier_schemas import DOMAIN_NAME_PATTERN, SCHEMAS, crd, crds, schema
from netpolicy.api.tier_validation import validate_tier_policy
from netpolicy.api.validation import object_errors, validate
from netpolicy.cli import app

BLOCKED = ("<nil>: Invalid value: null: some validation rules were not checked because the "
           "object was invalid; correct the existing errors to complete validation")
NAMED_PORTS = ("networks/nodes/domainNames peer cannot be set with namedPorts since there are "
               "no namedPorts for networks/nodes/domainNames")
BANP_NAMED_PORTS = ("networks/nodes peer cannot be set with namedPorts since there are no "
                    "namedPorts for networks/nodes")
BANP_NAME = ('<nil>: Invalid value: "object": Only one baseline admin network policy with '
             'metadata.name="default" can be created in the cluster')


# --- builders ----------------------------------------------------------------------------------


def anp(name: str = "a", **spec: Any) -> dict[str, Any]:
    body = {"priority": 10, "subject": {"namespaces": {}}, **spec}
    return {"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy",
            "metadata": {"name": name}, "spec": body}


def banp(name: str = "default", **spec: Any) -> dict[str, Any]:
    body = {"subject": {"namespaces": {}}, **spec}
    return {"apiVersion": "policy.networking.k8s.io/v1alpha1",
            "kind": "BaselineAdminNetworkPolicy", "metadata": {"name": name}, "spec": body}


def cnp(name: str = "c", **spec: Any) -> dict[str, Any]:
    body = {"tier": "Admin", "priority": 10, "subject": {"namespaces": {}}, **spec}
    return {"apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy",
            "metadata": {"name": name}, "spec": body}


def errors(obj: dict[str, Any], strict: bool = False) -> list[str]:
    return [str(e) for e in validate(obj, strict)]


def egress(action: str, to: list[Any], **ports: Any) -> list[dict[str, Any]]:
    return [{"action": action, "to": to, **ports}]


def ingress(action: str, peers: list[Any] | None = None, **ports: Any) -> list[dict[str, Any]]:
    return [{"action": action, "from": peers or [{"namespaces": {}}], **ports}]


def tcp(port: Any) -> dict[str, Any]:
    return {"tcp": {"destinationPort": port}}


# --- valid examples ----------------------------------------------------------------------------

SELECTOR = {"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                 {"key": "legacy", "operator": "DoesNotExist"}]}
PODS = {"pods": {"namespaceSelector": SELECTOR, "podSelector": {}}}

FULL_ANP = anp(
    "everything", priority=1000, subject={"pods": {"namespaceSelector": {},
                                                   "podSelector": SELECTOR}},
    ingress=[{"name": "r" * 100, "action": "Allow", "from": [{"namespaces": SELECTOR}, PODS],
              "ports": [{"portNumber": {"port": 80, "protocol": "TCP"}},
                        {"portRange": {"start": 90, "end": 90, "protocol": "UDP"}},
                        {"namedPort": "http"}]},
             {"action": "Pass", "from": [{"namespaces": {}}]}],
    egress=[{"action": "Deny", "to": [{"networks": ["10.0.0.0/8", "fd00::/8", "10.1.2.3/16"]},
                                      {"nodes": SELECTOR},
                                      {"domainNames": ["example.com", "*.kubernetes.io."]}],
             "ports": [{"portNumber": {"port": 65535}}, {"portRange": {"start": 1, "end": 2}}]},
            {"action": "Allow", "to": [{"namespaces": {}}, PODS], "ports": [{"namedPort": "dns"}]}])
FULL_BANP = banp(
    subject={"pods": {"namespaceSelector": SELECTOR, "podSelector": SELECTOR}},
    ingress=[{"name": "in", "action": "Deny", "from": [PODS], "ports": [{"namedPort": "x"}]}],
    egress=[{"action": "Allow", "to": [{"networks": ["192.168.0.0/16"]}, {"nodes": {}}],
             "ports": [{"portRange": {"start": 8000, "end": 9000}}]},
            {"action": "Deny", "to": [{"namespaces": SELECTOR}]}])
FULL_CNP = cnp(
    "all", tier="Baseline", priority=0, subject={"pods": {"podSelector": SELECTOR}},
    ingress=[{"name": "in", "action": "Pass", "from": [{"namespaces": {}}, {"pods": {
        "podSelector": {}}}], "protocols": [tcp({"number": 80}), {"udp": {"destinationPort": {
            "range": {"start": 1, "end": 65535}}}}, {"destinationNamedPort": "http"}]}],
    egress=[{"action": "Accept", "to": [{"networks": ["::/0"]}, {"nodes": {}},
                                        {"domainNames": ["*.example.org"]}],
             "protocols": [{"sctp": {"destinationPort": {"number": 9}}}]},
            {"action": "Deny", "to": [PODS], "protocols": [{"destinationNamedPort": "dns"}]}])
VALID = [anp(), banp(), cnp(), cnp(tier="Baseline"), FULL_ANP, FULL_BANP, FULL_CNP]


@pytest.mark.parametrize("obj", VALID, ids=lambda o: f"{o['kind']}/{o['metadata']['name']}")
def test_valid_objects_of_each_kind_pass(obj: dict[str, Any]) -> None:
    assert errors(obj) == [] and errors(obj, strict=True) == []


def test_pass_is_an_action_of_both_cluster_network_policy_tiers() -> None:
    for tier in ("Admin", "Baseline"):
        assert errors(cnp(tier=tier, ingress=ingress("Pass"), egress=egress(
            "Pass", [{"nodes": {}}]))) == []


# --- priority, tier, subject -------------------------------------------------------------------


def test_priority_range() -> None:
    assert errors(anp(priority=1001)) == [
        "spec.priority: Invalid value: 1001: spec.priority in body should be less than or "
        "equal to 1000"]
    assert errors(cnp(priority=-1)) == [
        "spec.priority: Invalid value: -1: spec.priority in body should be greater than or "
        "equal to 0"]
    assert errors(anp(priority=0)) == errors(cnp(priority=1000)) == []


def test_priority_and_tier_are_required_and_baseline_has_no_priority() -> None:
    obj = cnp()
    del obj["spec"]["priority"], obj["spec"]["tier"]
    assert errors(obj) == ["spec.priority: Required value", "spec.tier: Required value",
                           BLOCKED]
    assert errors(banp(priority=5)) == []  # unknown: pruned
    assert errors(banp(priority=5), strict=True) == ['unknown field "spec.priority"']


def test_tier_enum() -> None:
    assert errors(cnp(tier="Developer")) == [
        'spec.tier: Unsupported value: "Developer": supported values: "Admin", "Baseline"',
        BLOCKED]


def test_priority_type_and_int32() -> None:
    assert errors(anp(priority="high")) == [
        'spec.priority: Invalid value: "string": spec.priority in body must be of type '
        'integer: "string"', BLOCKED]
    assert errors(anp(priority=2 ** 31)) == [
        '<nil>: Invalid value: "": Checked value must be of type integer with format int32 in '
        'spec.priority',
        "spec.priority: Invalid value: 2147483648: spec.priority in body should be less than "
        "or equal to 1000"]
    assert errors(anp(priority=1.5)) == [
        'spec.priority: Invalid value: "float64": spec.priority in body must be of type int32: '
        '"float64"',
        '<nil>: Invalid value: "": Checked value must be of type integer with format int32 in '
        'spec.priority', BLOCKED]
    assert errors(anp(priority=True)) == [
        'spec.priority: Invalid value: "": spec.priority in body must be of type int32: ""',
        BLOCKED]
    assert errors(anp(priority=7.0)) == []  # kubectl sends 7


def test_a_null_field_is_dropped_and_then_required() -> None:
    assert errors(anp(priority=None)) == ["spec.priority: Required value", BLOCKED]


def test_exactly_one_subject_form() -> None:
    assert errors(anp(subject={"namespaces": {}, "pods": {
        "namespaceSelector": {}, "podSelector": {}}})) == [
        "spec.subject: Too many: 2: must have at most 1 item", BLOCKED]
    assert errors(cnp(subject={})) == [
        "spec.subject: Invalid value: 0: spec.subject in body should have at least 1 properties"]
    # Unknown fields are pruned first, so they do not count.
    assert errors(cnp(subject={"services": {}})) == errors(cnp(subject={}))


def test_a_v1alpha1_pods_selector_needs_both_selectors_and_v1alpha2_only_pods() -> None:
    assert errors(anp(subject={"pods": {"podSelector": {}}})) == [
        "spec.subject.pods.namespaceSelector: Required value", BLOCKED]
    assert errors(cnp(subject={"pods": {"podSelector": {}}})) == []
    assert errors(cnp(subject={"pods": {"namespaceSelector": {}}})) == [
        "spec.subject.pods.podSelector: Required value", BLOCKED]


def test_subject_of_the_wrong_type() -> None:
    assert errors(anp(subject="everyone")) == [
        'spec.subject: Invalid value: "string": spec.subject in body must be of type object: '
        '"string"', BLOCKED]


# --- counts ------------------------------------------------------------------------------------


def test_rule_counts() -> None:
    assert errors(anp(ingress=ingress("Deny") * 101)) == [
        "spec.ingress: Too many: 101: must have at most 100 items", BLOCKED]
    assert errors(banp(egress=egress("Deny", [{"nodes": {}}]) * 101)) == [
        "spec.egress: Too many: 101: must have at most 100 items", BLOCKED]
    assert errors(cnp(ingress=ingress("Deny") * 26)) == [
        "spec.ingress: Too many: 26: must have at most 25 items", BLOCKED]
    assert errors(anp(ingress=ingress("Deny") * 100)) == errors(cnp(egress=egress(
        "Deny", [{"nodes": {}}]) * 25)) == []


def test_peer_counts() -> None:
    assert errors(anp(ingress=[{"action": "Deny", "from": []}])) == [
        "spec.ingress[0].from: Invalid value: 0: spec.ingress[0].from in body should have at "
        "least 1 items"]
    assert errors(cnp(egress=egress("Deny", [{"nodes": {}}] * 26))) == [
        "spec.egress[0].to: Too many: 26: must have at most 25 items", BLOCKED]
    assert errors(anp(egress=egress("Deny", [{"nodes": {}}] * 101))) == [
        "spec.egress[0].to: Too many: 101: must have at most 100 items", BLOCKED]
    assert errors(anp(ingress=[{"action": "Deny"}])) == [
        "spec.ingress[0].from: Required value", BLOCKED]


def test_port_counts() -> None:
    assert errors(anp(ingress=ingress("Deny", ports=[]))) == [
        "spec.ingress[0].ports: Invalid value: 0: spec.ingress[0].ports in body should have at "
        "least 1 items"]
    assert errors(anp(ingress=ingress("Deny", ports=[{"namedPort": "a"}] * 101))) == [
        "spec.ingress[0].ports: Too many: 101: must have at most 100 items", BLOCKED]
    assert errors(cnp(ingress=ingress("Deny", protocols=[tcp({"number": 1})] * 26))) == [
        "spec.ingress[0].protocols: Too many: 26: must have at most 25 items", BLOCKED]


def test_network_and_domain_name_counts_and_sets() -> None:
    nets = [f"10.0.{i}.0/24" for i in range(26)]
    assert errors(anp(egress=egress("Deny", [{"networks": nets}]))) == [
        "spec.egress[0].to[0].networks: Too many: 26: must have at most 25 items", BLOCKED]
    assert errors(cnp(egress=egress("Deny", [{"networks": []}]))) == [
        "spec.egress[0].to[0].networks: Invalid value: 0: spec.egress[0].to[0].networks in body "
        "should have at least 1 items"]
    names = [f"a{i}.example.com" for i in range(26)]
    assert errors(cnp(egress=egress("Accept", [{"domainNames": names}]))) == [
        "spec.egress[0].to[0].domainNames: Too many: 26: must have at most 25 items", BLOCKED]
    twice = ["10.0.0.0/8", "10.0.0.0/8", "10.0.0.0/8", "fd00::/8", "fd00::/8"]
    assert errors(anp(egress=egress("Deny", [{"networks": twice}]))) == [
        'spec.egress[0].to[0].networks[1]: Duplicate value: "10.0.0.0/8"',
        'spec.egress[0].to[0].networks[4]: Duplicate value: "fd00::/8"']


def test_a_peer_is_exactly_one_of_its_kinds() -> None:
    assert errors(cnp(egress=egress("Deny", [{"nodes": {}, "namespaces": {}}]))) == [
        "spec.egress[0].to[0]: Too many: 2: must have at most 1 item", BLOCKED]
    assert errors(anp(ingress=ingress("Deny", [{}]))) == [
        "spec.ingress[0].from[0]: Invalid value: 0: spec.ingress[0].from[0] in body should have "
        "at least 1 properties"]
    # Ingress peers are pods: networks and nodes are not fields there.
    assert errors(anp(ingress=ingress("Deny", [{"nodes": {}}])), strict=True) == [
        'unknown field "spec.ingress[0].from[0].nodes"',
        "spec.ingress[0].from[0]: Invalid value: 0: spec.ingress[0].from[0] in body should have "
        "at least 1 properties"]


# --- actions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("obj", "supported"), [
    (anp(ingress=ingress("Accept")), '"Allow", "Deny", "Pass"'),
    (banp(ingress=ingress("Pass")), '"Allow", "Deny"'),
    (cnp(ingress=ingress("Allow")), '"Accept", "Deny", "Pass"'),
])
def test_actions_allowed_per_kind(obj: dict[str, Any], supported: str) -> None:
    action = obj["spec"]["ingress"][0]["action"]
    assert errors(obj) == [f'spec.ingress[0].action: Unsupported value: "{action}": supported '
                           f"values: {supported}", BLOCKED]


def test_the_action_is_required() -> None:
    assert errors(cnp(egress=[{"to": [{"nodes": {}}]}])) == [
        "spec.egress[0].action: Required value", BLOCKED]


# --- the baseline singleton --------------------------------------------------------------------


def test_a_baseline_admin_network_policy_must_be_named_default() -> None:
    assert errors(banp("other")) == [BANP_NAME]
    assert str(object_errors(banp("other"))) == (
        'BaselineAdminNetworkPolicy.policy.networking.k8s.io "other" is invalid: ' + BANP_NAME)
    generated = banp()
    generated["metadata"] = {"generateName": "default"}
    assert errors(generated) == [BANP_NAME]


def test_blocking_errors_stop_the_cel_rules_and_say_so() -> None:
    assert errors(banp("other", subject=None)) == ["spec.subject: Required value", BLOCKED]
    # A bound (an Invalid error) does not block them.
    assert errors(banp("other", ingress=[{"action": "Deny", "from": []}])) == [
        "spec.ingress[0].from: Invalid value: 0: spec.ingress[0].from in body should have at "
        "least 1 items", BANP_NAME]


# --- named ports (CEL) -------------------------------------------------------------------------


@pytest.mark.parametrize("peer", [{"networks": ["10.0.0.0/8"]}, {"nodes": {}},
                                  {"domainNames": ["example.com"]}])
def test_named_ports_not_with_networks_nodes_or_domain_names(peer: dict[str, Any]) -> None:
    got_anp = errors(anp(egress=egress("Allow", [{"namespaces": {}}, peer],
                                       ports=[{"portNumber": {"port": 1}}, {"namedPort": "x"}])))
    assert got_anp == [f'spec.egress[0]: Invalid value: "object": {NAMED_PORTS}']
    got_cnp = errors(cnp(egress=egress("Accept", [peer],
                                       protocols=[{"destinationNamedPort": "x"}])))
    assert got_cnp == [f'spec.egress[0]: Invalid value: "object": {NAMED_PORTS}']
    if "domainNames" not in peer:  # BANP has no domainNames
        got_banp = errors(banp(egress=egress("Allow", [peer], ports=[{"namedPort": "x"}])))
        assert got_banp == [f'spec.egress[0]: Invalid value: "object": {BANP_NAMED_PORTS}']


def test_named_ports_with_pod_peers_and_numbers_with_any_peer_are_fine() -> None:
    assert errors(anp(egress=egress("Allow", [PODS], ports=[{"namedPort": "x"}]))) == []
    assert errors(anp(egress=egress("Allow", [{"nodes": {}}],
                                    ports=[{"portNumber": {"port": 1}}]))) == []
    assert errors(banp(egress=egress("Allow", [{"domainNames": ["example.com"]}]),
                       ), strict=True) == ['unknown field "spec.egress[0].to[0].domainNames"',
                                           "spec.egress[0].to[0]: Invalid value: 0: "
                                           "spec.egress[0].to[0] in body should have at least "
                                           "1 properties"]


# --- networks (CEL isCIDR, maxLength) ----------------------------------------------------------


@pytest.mark.parametrize("cidr", ["10.0.0.0/8", "10.1.2.3/8", "0.0.0.0/0", "::/0", "fd00::/8",
                                  "2001:db8::1/128", "::1.2.3.4/128"])
def test_networks_valid_cidrs(cidr: str) -> None:
    assert errors(anp(egress=egress("Deny", [{"networks": [cidr]}]))) == []


@pytest.mark.parametrize("cidr", ["10.0.0.0", "10.0.0.0/33", "010.0.0.0/8", "10.0.0.0/08",
                                  "::ffff:1.2.3.4/128", "fe80::1%eth0/64", "10.0.0.0/+8",
                                  "10.0.0.0/", "example.com/8", "fd00::/129", ""])
def test_networks_invalid_cidrs(cidr: str) -> None:
    assert errors(cnp(egress=egress("Deny", [{"networks": [cidr]}]))) == [
        'spec.egress[0].to[0].networks[0]: Invalid value: "string": Invalid CIDR format '
        "provided"]


def test_networks_max_length() -> None:
    long = "2001:0db8:0000:0000:0000:0000:0000:0001/128"
    assert len(long) == 43 and errors(anp(egress=egress("Deny", [{"networks": [long]}]))) == []
    assert errors(anp(egress=egress("Deny", [{"networks": [long + "0"]}]))) == [
        "spec.egress[0].to[0].networks[0]: Too long: may not be more than 43 bytes", BLOCKED]


# --- names, ports ------------------------------------------------------------------------------


def test_rule_name_max_length() -> None:
    rule = ingress("Deny")[0] | {"name": "n" * 101}
    assert errors(cnp(ingress=[rule])) == [
        "spec.ingress[0].name: Too long: may not be more than 100 bytes", BLOCKED]


def test_v1alpha1_port_numbers_and_ranges() -> None:
    assert errors(anp(ingress=ingress("Deny", ports=[{"portNumber": {"port": 0}},
                                                     {"portNumber": {"port": 65536}}]))) == [
        "spec.ingress[0].ports[0].portNumber.port: Invalid value: 0: spec.ingress[0].ports[0]."
        "portNumber.port in body should be greater than or equal to 1",
        "spec.ingress[0].ports[1].portNumber.port: Invalid value: 65536: spec.ingress[0]."
        "ports[1].portNumber.port in body should be less than or equal to 65535"]
    assert errors(anp(ingress=ingress("Deny", ports=[{"portRange": {"start": 1}}]))) == [
        "spec.ingress[0].ports[0].portRange.end: Required value", BLOCKED]
    # v1alpha1 has no start < end rule, and the protocol defaults to TCP.
    assert errors(anp(ingress=ingress("Deny", ports=[
        {"portRange": {"start": 9, "end": 3}}, {"portNumber": {"port": 1, "protocol": None}}]))) \
        == []
    assert errors(banp(ingress=ingress("Deny", ports=[{"namedPort": "a", "portNumber": {
        "port": 1}}]))) == ["spec.ingress[0].ports[0]: Too many: 2: must have at most 1 item",
                            BLOCKED]


def test_v1alpha2_ports() -> None:
    assert errors(cnp(ingress=ingress("Deny", protocols=[tcp({"range": {"start": 80,
                                                                        "end": 80}})]))) == [
        'spec.ingress[0].protocols[0].tcp.destinationPort.range: Invalid value: "object": '
        "Start port must be less than End port"]
    assert errors(cnp(ingress=ingress("Deny", protocols=[tcp({"number": 80, "range": {
        "start": 1, "end": 2}})]))) == [
        "spec.ingress[0].protocols[0].tcp.destinationPort: Too many: 2: must have at most 1 "
        "item", BLOCKED]
    assert errors(cnp(ingress=ingress("Deny", protocols=[{"udp": {}}]))) == [
        "spec.ingress[0].protocols[0].udp: Invalid value: 0: spec.ingress[0].protocols[0].udp "
        "in body should have at least 1 properties"]
    assert errors(cnp(ingress=ingress("Deny", protocols=[tcp({"number": 70000})]))) == [
        "spec.ingress[0].protocols[0].tcp.destinationPort.number: Invalid value: 70000: spec."
        "ingress[0].protocols[0].tcp.destinationPort.number in body should be less than or "
        "equal to 65535"]
    assert errors(cnp(ingress=ingress("Deny", protocols=[tcp({"number": 1}) | {
        "destinationNamedPort": "x"}]))) == [
        "spec.ingress[0].protocols[0]: Too many: 2: must have at most 1 item", BLOCKED]


# --- domain names ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["example.com", "*.example.com", "a-b_c.example.com.",
                                  "xn--bcher-kva.example", "^b.com"])
def test_domain_names_valid(name: str) -> None:
    # "^b.com" passes: upstream's pattern spells one class `a-zA-z` (see DOMAIN_NAME_PATTERN).
    assert errors(anp(egress=egress("Allow", [{"domainNames": [name]}]))) == []


@pytest.mark.parametrize("name", ["example", "*.com", "a.*.com", "-a.com", "a..com",
                                  "exa mple.com", "example.com\n", "*example.com"])
def test_domain_names_invalid(name: str) -> None:
    path = "spec.egress[0].to[0].domainNames[0]"
    shown = json.dumps(name)
    assert errors(cnp(egress=egress("Accept", [{"domainNames": [name]}]))) == [
        f"{path}: Invalid value: {shown}: {path} in body should match '{DOMAIN_NAME_PATTERN}'"]


# --- unknown fields, metadata, apiVersion, status ----------------------------------------------


def test_unknown_fields_are_dropped_or_reported_when_strict() -> None:
    obj = anp(zone="x", ingress=[ingress("Deny")[0] | {"comment": "y"}])
    obj["metadata"]["colour"] = "blue"
    obj["extra"] = 1
    assert errors(obj) == []
    assert errors(obj, strict=True) == [
        'unknown field "extra"', 'unknown field "metadata.colour"',
        'unknown field "spec.ingress[0].comment"', 'unknown field "spec.zone"']


def test_metadata_and_api_version() -> None:
    assert errors(anp("Bad_Name")) == [
        'metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist '
        "of lower case alphanumeric characters, '-' or '.', and must start and end with an "
        "alphanumeric character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"]
    scoped = anp()
    scoped["metadata"]["namespace"] = "Not_A_Namespace"  # cluster-scoped: cleared
    assert errors(scoped) == []
    wrong = cnp() | {"apiVersion": "policy.networking.k8s.io/v1alpha1"}
    assert errors(wrong) == [
        'apiVersion: Invalid value: "policy.networking.k8s.io/v1alpha1": must be '
        "policy.networking.k8s.io/v1alpha2"]


def test_status_is_dropped_on_create() -> None:
    assert errors(cnp() | {"status": {"conditions": "not a list"}}) == []


def test_label_selectors_are_checked_too_which_is_ours() -> None:
    bad = cnp(subject={"namespaces": {"matchExpressions": [{"key": "a", "operator": "Near"}],
                                      "matchLabels": {"k": "not ok"}}})
    got = errors(bad)
    assert got[0] == ('spec.subject.namespaces.matchLabels: Invalid value: "not ok": a valid '
                      "label must be an empty string or consist of alphanumeric characters, "
                      "'-', '_' or '.', and must start and end with an alphanumeric character "
                      "(e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation "
                      "is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
    assert got[1] == ('spec.subject.namespaces.matchExpressions[0].operator: Invalid value: '
                      '"Near": not a valid selector operator')
    assert validate_tier_policy(bad, selectors=False) == []  # exactly the API server
    # The schema itself checks a requirement's shape.
    assert errors(cnp(subject={"namespaces": {"matchExpressions": [{"key": "a"}]}})) == [
        "spec.subject.namespaces.matchExpressions[0].operator: Required value", BLOCKED]


def test_errors_print_with_the_group_as_the_api_server_does() -> None:
    assert str(object_errors(anp("x", priority=1001))) == (
        'AdminNetworkPolicy.policy.networking.k8s.io "x" is invalid: spec.priority: Invalid '
        "value: 1001: spec.priority in body should be less than or equal to 1000")


# --- the CRD manifests -------------------------------------------------------------------------


def test_crds_name_the_kinds_as_upstream() -> None:
    by_kind = {c["spec"]["names"]["kind"]: c for c in crds()}
    assert set(by_kind) == set(SCHEMAS)
    expected = {"AdminNetworkPolicy": ("adminnetworkpolicies", "anp", "v1alpha1",
                                       ["Priority", "Age"]),
                "BaselineAdminNetworkPolicy": ("baselineadminnetworkpolicies", "banp",
                                               "v1alpha1", ["Age"]),
                "ClusterNetworkPolicy": ("clusternetworkpolicies", "cnp", "v1alpha2",
                                         ["Tier", "Priority", "Age"])}
    for kind, (plural, short, version, columns) in expected.items():
        manifest = by_kind[kind]
        assert manifest["apiVersion"] == "apiextensions.k8s.io/v1"
        assert manifest["metadata"]["name"] == f"{plural}.policy.networking.k8s.io"
        assert manifest["metadata"]["annotations"]["api-approved.kubernetes.io"].startswith(
            "https://github.com/kubernetes-sigs/network-policy-api/pull/")
        spec = manifest["spec"]
        assert spec["scope"] == "Cluster" and spec["group"] == "policy.networking.k8s.io"
        assert spec["names"]["plural"] == plural and spec["names"]["shortNames"] == [short]
        (served,) = spec["versions"]
        assert served["name"] == version and served["served"] and served["storage"]
        assert served["subresources"] == {"status": {}}
        assert [c["name"] for c in served["additionalPrinterColumns"]] == columns


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_each_crd_manifest_round_trips_and_its_schema_validates_as_ours(kind: str) -> None:
    text = yaml.safe_dump(crd(kind))
    read = json.loads(json.dumps(yaml.safe_load(text)))
    read_schema = read["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert read_schema == schema(kind)
    ours = [o for o in VALID if o["kind"] == kind]
    bad = copy.deepcopy(ours[-1])
    bad["metadata"]["name"] = "default"
    bad["spec"]["ingress"][0]["action"] = "Drop"
    bad["spec"]["egress"][0]["to"][0]["networks"] = ["10.0.0.0/99"]
    for obj in [*ours, bad]:
        assert validate_tier_policy(obj, schema=read_schema) == validate_tier_policy(obj)
    assert all(validate_tier_policy(o, schema=read_schema) == [] for o in ours)
    assert validate_tier_policy(bad, schema=read_schema) != []


# --- robustness --------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 40, 2 ** 40) | st.floats(allow_nan=False)
    | st.text(max_size=5) | st.sampled_from(["10.0.0.0/8", "Allow", "Admin", "x.com"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from([
        "namespaces", "pods", "podSelector", "namespaceSelector", "networks", "nodes", "from",
        "to", "action", "ports", "protocols", "tcp", "destinationPort", "range", "start", "end",
        "number", "namedPort", "portNumber", "port", "matchLabels", "x"]), inner, max_size=3),
    max_leaves=12)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(SCHEMAS)), spec=st.dictionaries(st.sampled_from([
    "priority", "tier", "subject", "ingress", "egress", "other"]), json_values, max_size=4))
def test_validation_never_raises_on_json_like_input(kind: str, spec: dict[str, Any]) -> None:
    version = "v1alpha2" if kind == "ClusterNetworkPolicy" else "v1alpha1"
    obj = {"apiVersion": f"policy.networking.k8s.io/{version}", "kind": kind,
           "metadata": {"name": "default"}, "spec": spec}
    assert isinstance(validate(obj, strict=True), list)


# --- the command line --------------------------------------------------------------------------

BAD_YAML = """
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: too-late}
spec:
  priority: 1001
  subject: {namespaces: {}}
"""
BAD_MESSAGE = ('error: AdminNetworkPolicy.policy.networking.k8s.io "too-late" is invalid: '
               "spec.priority: Invalid value: 1001: spec.priority in body should be less than "
               "or equal to 1000")


@pytest.mark.parametrize("command", ["validate", "connectivity"])
def test_cli_refuses_an_invalid_tier_policy_with_exit_2(command: str) -> None:
    result = CliRunner().invoke(app, [command, "-f", "-"], input=BAD_YAML)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip() == BAD_MESSAGE


def test_cli_validate_json_names_the_field() -> None:
    result = CliRunner().invoke(app, ["validate", "-f", "-", "-o", "json"], input=BAD_YAML)
    assert result.exit_code == 2
    (obj,) = json.loads(result.stdout)["objects"]
    assert obj["kind"] == "AdminNetworkPolicy" and obj["name"] == "too-late"
    assert obj["errors"] == [{"type": "FieldValueInvalid", "field": "spec.priority",
                              "reason": "spec.priority in body should be less than or equal "
                                        "to 1000", "value": 1001}]


def test_cli_validate_accepts_a_valid_tier_policy() -> None:
    result = CliRunner().invoke(app, ["validate", "-f", "-"], input=yaml.safe_dump(FULL_CNP))
    assert result.exit_code == 0 and result.stdout.startswith("valid:")
