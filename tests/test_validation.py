"""Validation of raw manifests: the API server's rules, field paths and printed messages.

Expected strings are written out in full, as upstream Kubernetes prints them (derived from
pkg/apis/*/validation, apimachinery's util/validation, api/validate/content and
field/errors.go), so that a change of wording in our module shows up here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netpolicy.api.validation import (
    KIND_GROUPS,
    FieldError,
    ObjectErrors,
    cidr_errors,
    dns1035_label_errors,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    ip_errors,
    is_valid_port_name,
    label_key_errors,
    label_value_errors,
    object_errors,
    port_name_errors,
    validate,
    validate_label_selector,
    validate_labels,
    validate_network_policy,
    validate_port_name,
)

# Upstream's messages, spelled out (note RegexError's double space before "or").
DNS1123_LABEL = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1123_SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS1035_LABEL = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
NAME_PART = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
IP = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
CIDR = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
RANGE = "must be between 1 and 65535, inclusive"


# --- builders --------------------------------------------------------------------------------

Tweak = Callable[[dict[str, Any]], Any]


def netpol(spec: dict[str, Any] | None = None, name: str = "np") -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"podSelector": {}} if spec is None else spec}


def ingress_port(**port: Any) -> dict[str, Any]:
    return netpol({"podSelector": {}, "ingress": [{"ports": [port]}]})


def ingress_peer(**peer: Any) -> dict[str, Any]:
    return netpol({"podSelector": {}, "ingress": [{"from": [peer]}]})


def ip_block(cidr: Any, *excepts: Any) -> dict[str, Any]:
    block: dict[str, Any] = {"cidr": cidr}
    if excepts:
        block["except"] = list(excepts)
    return ingress_peer(ipBlock=block)


def pod(ports: list[Any] | None = None, **status: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "ports": ports or []}]},
            "status": status}


def workload(kind: str, selector: Any = None, labels: Any = None,
             ports: list[Any] | None = None) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": "web"} if labels is None else labels},
                "spec": {"containers": [{"name": "c", "ports": ports or []}]}}
    spec: dict[str, Any] = {"template": template}
    if selector is not None:
        spec["selector"] = selector
    if kind == "CronJob":
        spec = {"schedule": "* * * * *", "jobTemplate": {"spec": spec}}
    return {"kind": kind, "metadata": {"name": "web"}, "spec": spec}


def service(ports: list[Any] | None = None, name: str = "web", **spec: Any) -> dict[str, Any]:
    return {"kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": "web"},
                     "ports": [{"port": 80}] if ports is None else ports, **spec}}


def with_(obj: dict[str, Any], tweak: Tweak) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    tweak(out)
    return out


def printed(obj: dict[str, Any], **kwargs: Any) -> list[str]:
    return [str(e) for e in validate(obj, **kwargs)]


# --- what valid objects look like ------------------------------------------------------------

VALID: list[tuple[str, dict[str, Any]]] = [
    ("empty pod selector selects all pods", netpol()),
    ("a policy without spec is the zero spec", {"kind": "NetworkPolicy",
                                                "metadata": {"name": "np"}}),
    ("a full policy", netpol({
        "podSelector": {"matchLabels": {"app": "db", "example.com/tier": ""},
                        "matchExpressions": [{"key": "env", "operator": "In",
                                              "values": ["prod", "staging"]},
                                             {"key": "canary", "operator": "DoesNotExist"}]},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}},
                               "namespaceSelector": {}},
                              {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                              {"ipBlock": {"cidr": "2001:db8::/32",
                                           "except": ["2001:db8:1::/48"]}}],
                     "ports": [{"port": 5432}, {"protocol": "UDP", "port": 53, "endPort": 54},
                               {"protocol": "SCTP", "port": "metrics"}, {"protocol": "TCP"}]}],
        "egress": [{}],
        "policyTypes": ["Ingress", "Egress"]})),
    ("an empty rule allows everything and is valid", netpol({"ingress": [{}, None]})),
    ("a port given as an integral YAML float is a number", ingress_port(port=80.0)),
    ("endPort equal to port is a one-port range", ingress_port(port=80, endPort=80)),
    ("a namespaced object may omit its namespace", workload("Deployment",
                                                            {"matchLabels": {"app": "web"}})),
    ("generateName stands in for name", {"kind": "Pod", "metadata": {"generateName": "web-"}}),
    ("a pod with ports and addresses", pod([{"name": "http", "containerPort": 8080},
                                            {"name": "dns", "containerPort": 53,
                                             "protocol": "UDP"}],
                                           podIP="10.0.0.5",
                                           podIPs=[{"ip": "10.0.0.5"}, {"ip": "fd00::5"}])),
    ("the same port name in two containers is allowed", with_(
        pod([{"name": "http", "containerPort": 80}]),
        lambda o: o["spec"]["containers"].append(
            {"name": "d", "ports": [{"name": "http", "containerPort": 81}]}))),
    ("a headless service", service(clusterIP="None")),
    ("a service with named target ports", service(
        [{"name": "http", "port": 80, "targetPort": "http"},
         {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}],
        clusterIP="10.96.0.10")),
    ("an ExternalName service has no cluster IP rules", service(
        [], type="ExternalName", clusterIP="junk")),
    ("a node with addresses", {"kind": "Node", "metadata": {"name": "node-1.example.com"},
                               "status": {"addresses": [
                                   {"type": "InternalIP", "address": "192.168.1.10"},
                                   {"type": "Hostname", "address": "node-1"}]}}),
    ("a namespace", {"kind": "Namespace", "metadata": {"name": "team-a",
                                                       "labels": {"team": "a"}}}),
    ("a namespace's own namespace field is ignored", {
        "kind": "Namespace", "metadata": {"name": "a", "namespace": "No Such"}}),
    *[(f"a {k} whose selector matches its template", workload(
        k, {"matchLabels": {"app": "web"}})) for k in
      ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")],
    ("a ReplicationController selector defaults to the template labels",
     workload("ReplicationController")),
    ("a Job's selector is generated", workload("Job")),
    ("a CronJob", workload("CronJob")),
    ("an unknown kind is not validated here", {"kind": "ConfigMap", "metadata": {}}),
]


@pytest.mark.parametrize(("name", "obj"), VALID, ids=[n for n, _ in VALID])
def test_valid_objects_have_no_errors(name: str, obj: dict[str, Any]) -> None:
    assert printed(obj) == []


# --- invalid objects: every error, exactly as printed ----------------------------------------

INVALID: list[tuple[str, dict[str, Any], list[str]]] = [
    # metadata (ValidateObjectMeta)
    ("name is required", {"kind": "NetworkPolicy", "metadata": {}},
     ["metadata.name: Required value: name or generateName is required"]),
    ("a policy name is a DNS subdomain", netpol(name="Deny_All"),
     [f'metadata.name: Invalid value: "Deny_All": {DNS1123_SUBDOMAIN}']),
    ("a subdomain name is at most 253 bytes", netpol(name="a" * 254),
     [f'metadata.name: Invalid value: "{"a" * 254}": must be no more than 253 bytes']),
    ("a namespace name is a DNS label", {"kind": "Namespace", "metadata": {"name": "Team"}},
     [f'metadata.name: Invalid value: "Team": {DNS1123_LABEL}']),
    ("a namespace name may not contain dots", {"kind": "Namespace",
                                               "metadata": {"name": "team.a"}},
     ['metadata.name: Invalid value: "team.a": must not contain dots']),
    ("a service name is a DNS-1035 label", service(name="1st"),
     [f'metadata.name: Invalid value: "1st": {DNS1035_LABEL}']),
    ("metadata.namespace is a DNS label", with_(netpol(), lambda o: o["metadata"].update(
        namespace="Prod")),
     [f'metadata.namespace: Invalid value: "Prod": {DNS1123_LABEL}']),
    ("a bad generateName is reported at generateName", {"kind": "Pod",
                                                        "metadata": {"generateName": "Web-"}},
     [f'metadata.generateName: Invalid value: "Web-": {DNS1123_SUBDOMAIN}']),
    ("label keys and values are checked", with_(netpol(), lambda o: o["metadata"].update(
        labels={"-app": "ok", "ok": "bad value", "example.com/": "x"})),
     [f'metadata.labels: Invalid value: "-app": {NAME_PART}',
      f'metadata.labels: Invalid value: "bad value": {LABEL_VALUE}',
      'metadata.labels: Invalid value: "example.com/": name part must be non-empty',
      f'metadata.labels: Invalid value: "example.com/": {NAME_PART}']),
    ("a label key prefix is a DNS subdomain", with_(netpol(), lambda o: o["metadata"].update(
        labels={"Example.com/app": "x"})),
     [f'metadata.labels: Invalid value: "Example.com/app": prefix part {DNS1123_SUBDOMAIN}']),
    ("a label value is at most 63 bytes", with_(netpol(), lambda o: o["metadata"].update(
        labels={"app": "v" * 64})),
     [f'metadata.labels: Invalid value: "{"v" * 64}": must be no more than 63 bytes']),
    ("annotation keys are qualified names in any case", with_(netpol(), lambda o: o[
        "metadata"].update(annotations={"Example.com/Note": "x", "a b": "y"})),
     ['metadata.annotations: Invalid value: "a b": name part must consist of alphanumeric '
      "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
      "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
      "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"]),
    ("annotations are at most 256 KiB in all", with_(netpol(), lambda o: o["metadata"].update(
        annotations={"big": "x" * 262142})),
     ["metadata.annotations: Too long: must have at most 262144 bytes"]),
    ("a CronJob name is at most 52 characters", with_(
        workload("CronJob"), lambda o: o["metadata"].update(name="c" * 53)),
     [f'metadata.name: Invalid value: "{"c" * 53}": must be no more than 52 characters']),
    # NetworkPolicy ports (ValidateNetworkPolicyPort)
    ("port zero is out of range", ingress_port(port=0),
     [f"spec.ingress[0].ports[0].port: Invalid value: 0: {RANGE}"]),
    ("port above 65535 is out of range", ingress_port(port=65536),
     [f"spec.ingress[0].ports[0].port: Invalid value: 65536: {RANGE}"]),
    ("a quoted number is a port name, and names need a letter", ingress_port(port="80"),
     ['spec.ingress[0].ports[0].port: Invalid value: "80": '
      "must contain at least one letter (a-z)"]),
    ("a named port breaking every IANA rule", ingress_port(port="-Web--Port-Name-"),
     ['spec.ingress[0].ports[0].port: Invalid value: "-Web--Port-Name-": '
      "must be no more than 15 bytes",
      'spec.ingress[0].ports[0].port: Invalid value: "-Web--Port-Name-": '
      "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
      'spec.ingress[0].ports[0].port: Invalid value: "-Web--Port-Name-": '
      "must not contain consecutive hyphens",
      'spec.ingress[0].ports[0].port: Invalid value: "-Web--Port-Name-": '
      "must not begin or end with a hyphen"]),
    ("an unknown protocol lists the supported ones", ingress_port(protocol="tcp", port=80),
     ['spec.ingress[0].ports[0].protocol: Unsupported value: "tcp": '
      'supported values: "TCP", "UDP", "SCTP"']),
    ("endPort below port", ingress_port(port=80, endPort=79),
     ["spec.ingress[0].ports[0].endPort: Invalid value: 79: "
      "must be greater than or equal to `port`"]),
    ("endPort out of range", ingress_port(port=80, endPort=70000),
     [f"spec.ingress[0].ports[0].endPort: Invalid value: 70000: {RANGE}"]),
    ("endPort with a named port", ingress_port(port="http", endPort=90),
     ["spec.ingress[0].ports[0].endPort: Invalid value: 90: "
      "may not be specified when `port` is non-numeric"]),
    ("endPort without port", ingress_port(endPort=90),
     ["spec.ingress[0].ports[0].endPort: Invalid value: 90: "
      "may not be specified when `port` is not specified"]),
    # NetworkPolicy peers (ValidateNetworkPolicyPeer)
    ("an empty peer must specify a peer", ingress_peer(),
     ["spec.ingress[0].from[0]: Required value: must specify a peer"]),
    ("an egress peer must specify a peer", netpol({"egress": [{"to": [{}]}]}),
     ["spec.egress[0].to[0]: Required value: must specify a peer"]),
    ("ipBlock with a selector is forbidden", ingress_peer(
        ipBlock={"cidr": "10.0.0.0/8"}, namespaceSelector={}),
     ["spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer"]),
    # ipBlock (ValidateIPBlock)
    ("ipBlock cidr is required", ingress_peer(ipBlock={"except": ["10.0.0.0/8"]}),
     ["spec.ingress[0].from[0].ipBlock.cidr: Required value"]),
    ("ipBlock cidr must parse", ip_block("10.0.0.0"),
     [f'spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.0": {CIDR}']),
    ("except equal to cidr is not a strict subset", ip_block("10.0.0.0/8", "10.0.0.0/8"),
     ['spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "10.0.0.0/8": '
      "must be a strict subset of `cidr`"]),
    ("except outside cidr is not a subset", ip_block("10.0.0.0/8", "11.0.0.0/16"),
     ['spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "11.0.0.0/16": '
      "must be a strict subset of `cidr`"]),
    ("except wider than cidr is not a subset", ip_block("10.1.0.0/16", "10.0.0.0/8"),
     ['spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "10.0.0.0/8": '
      "must be a strict subset of `cidr`"]),
    ("except in the other IP family is not a subset", ip_block("0.0.0.0/0", "::/1"),
     ['spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "::/1": '
      "must be a strict subset of `cidr`"]),
    ("an unparsable except is reported once", ip_block("10.0.0.0/8", "10.1.0.0/33"),
     [f'spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "10.1.0.0/33": {CIDR}']),
    ("a cidr with host bits is rejected under strict IP validation", ip_block("10.0.0.1/8"),
     ['spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.1/8": '
      "must not have bits set beyond the prefix length"]),
    ("leading zeros are rejected under strict IP validation", ip_block("010.0.0.0/8"),
     ['spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "010.0.0.0/8": '
      "must not have leading 0s in IP or prefix length"]),
    # policyTypes
    ("policyTypes values are Ingress or Egress", netpol({"policyTypes": ["Foo"]}),
     ['spec.policyTypes[0]: Unsupported value: "Foo": supported values: "Ingress", "Egress"']),
    ("at most two policyTypes", netpol({"policyTypes": ["Ingress", "Egress", "Ingress"]}),
     ['spec.policyTypes: Invalid value: ["Ingress","Egress","Ingress"]: '
      "may not specify more than two policyTypes"]),
    # selectors (ValidateLabelSelector)
    ("In needs values", netpol({"podSelector": {"matchExpressions": [
        {"key": "app", "operator": "In", "values": []}]}}),
     ["spec.podSelector.matchExpressions[0].values: Required value: "
      "must be specified when `operator` is 'In' or 'NotIn'"]),
    ("Exists takes no values", netpol({"podSelector": {"matchExpressions": [
        {"key": "app", "operator": "Exists", "values": ["x"]}]}}),
     ["spec.podSelector.matchExpressions[0].values: Forbidden: "
      "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"]),
    ("an unknown operator is an invalid value", netpol({"podSelector": {"matchExpressions": [
        {"key": "app", "operator": "Equals", "values": ["x"]}]}}),
     ['spec.podSelector.matchExpressions[0].operator: Invalid value: "Equals": '
      "not a valid selector operator"]),
    ("expression keys and values are checked", netpol({"podSelector": {"matchExpressions": [
        {"key": "a/b/c", "operator": "NotIn", "values": ["ok", "not ok"]}]}}),
     ['spec.podSelector.matchExpressions[0].key: Invalid value: "a/b/c": a valid label key '
      "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
      "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
      "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS "
      "subdomain prefix and '/' (e.g. 'example.com/MyName')",
      f'spec.podSelector.matchExpressions[0].values[1]: Invalid value: "not ok": {LABEL_VALUE}']),
    ("matchLabels in a peer selector are checked", ingress_peer(
        namespaceSelector={"matchLabels": {"team": "a b"}}),
     [f'spec.ingress[0].from[0].namespaceSelector.matchLabels: Invalid value: "a b": '
      f"{LABEL_VALUE}"]),
    # pods (validateContainerPorts, and our status address rule)
    ("containerPort is required", pod([{"name": "http"}]),
     ["spec.containers[0].ports[0].containerPort: Required value"]),
    ("containerPort out of range", pod([{"containerPort": 70000}]),
     [f"spec.containers[0].ports[0].containerPort: Invalid value: 70000: {RANGE}"]),
    ("hostPort out of range", pod([{"containerPort": 80, "hostPort": -1}]),
     [f"spec.containers[0].ports[0].hostPort: Invalid value: -1: {RANGE}"]),
    ("container port protocols are listed sorted", pod([{"containerPort": 80,
                                                          "protocol": "ICMP"}]),
     ['spec.containers[0].ports[0].protocol: Unsupported value: "ICMP": '
      'supported values: "SCTP", "TCP", "UDP"']),
    ("container port names are IANA service names", pod([{"name": "8080",
                                                           "containerPort": 8080}]),
     ['spec.containers[0].ports[0].name: Invalid value: "8080": '
      "must contain at least one letter (a-z)"]),
    ("duplicate port names in a container", pod([{"name": "http", "containerPort": 80},
                                                 {"name": "http", "containerPort": 8080}]),
     ['spec.containers[0].ports[1].name: Duplicate value: "http"']),
    ("init container ports are checked too", with_(pod(), lambda o: o["spec"].update(
        initContainers=[{"name": "i", "ports": [{"containerPort": 0}]}])),
     ["spec.initContainers[0].ports[0].containerPort: Required value"]),
    ("nodeName is a DNS subdomain", with_(pod(), lambda o: o["spec"].update(nodeName="Node_1")),
     [f'spec.nodeName: Invalid value: "Node_1": {DNS1123_SUBDOMAIN}']),
    ("a pod IP must be an IP", pod(podIP="10.0.0.256"),
     [f'status.podIPs[0]: Invalid value: "10.0.0.256": {IP}']),
    ("every pod IP is checked", pod(podIPs=[{"ip": "10.0.0.1"}, {"ip": "fd00::g"}]),
     [f'status.podIPs[1]: Invalid value: "fd00::g": {IP}']),
    ("an IPv4-mapped pod IP is rejected", pod(podIP="::ffff:10.0.0.1"),
     ['status.podIPs[0]: Invalid value: "::ffff:10.0.0.1": '
      "must not be an IPv4-mapped IPv6 address"]),
    # workloads
    ("template labels are checked at spec.template.labels", workload(
        "Deployment", {"matchLabels": {"app": "web"}}, {"app": "web", "v": "1.0 beta"}),
     [f'spec.template.labels: Invalid value: "1.0 beta": {LABEL_VALUE}']),
    ("template container ports are checked", workload(
        "StatefulSet", {"matchLabels": {"app": "web"}}, ports=[{"containerPort": 0}]),
     ["spec.template.spec.containers[0].ports[0].containerPort: Required value"]),
    ("a CronJob's pod template is two levels down", workload(
        "CronJob", ports=[{"containerPort": 99999}]),
     ["spec.jobTemplate.spec.template.spec.containers[0].ports[0].containerPort: "
      f"Invalid value: 99999: {RANGE}"]),
    ("a selector that misses the template labels", workload(
        "Deployment", {"matchLabels": {"app": "api"}}),
     ['spec.template.metadata.labels: Invalid value: {"app":"web"}: '
      "`selector` does not match template `labels`"]),
    ("a DaemonSet selector must match too", workload(
        "DaemonSet", {"matchExpressions": [{"key": "app", "operator": "NotIn",
                                            "values": ["web"]}]}),
     ['spec.template.metadata.labels: Invalid value: {"app":"web"}: '
      "`selector` does not match template `labels`"]),
    ("a Deployment needs a selector", workload("Deployment"),
     ["spec.selector: Required value",
      'spec.template.metadata.labels: Invalid value: {"app":"web"}: '
      "`selector` does not match template `labels`"]),
    ("an empty Deployment selector is invalid", workload("Deployment", {}),
     ["spec.selector: Invalid value: {}: empty selector is invalid for deployment"]),
    ("a ReplicaSet reuses the deployment wording", workload("ReplicaSet", {}),
     ["spec.selector: Invalid value: {}: empty selector is invalid for deployment"]),
    ("an empty StatefulSet selector is invalid", workload("StatefulSet", {}),
     ["spec.selector: Invalid value: {}: empty selector is invalid for statefulset"]),
    ("an empty DaemonSet selector is invalid", workload("DaemonSet", {}),
     ["spec.selector: Invalid value: {}: empty selector is invalid for daemonset"]),
    ("an invalid Deployment selector cannot be matched", workload(
        "Deployment", {"matchLabels": {"app": "web"},
                       "matchExpressions": [{"key": "tier", "operator": "Is"}]}),
     ['spec.selector.matchExpressions[0].operator: Invalid value: "Is": '
      "not a valid selector operator",
      'spec.selector: Invalid value: {"matchLabels":{"app":"web"},'
      '"matchExpressions":[{"key":"tier","operator":"Is"}]}: invalid label selector']),
    ("a ReplicationController selector must match", workload(
        "ReplicationController", {"app": "api"}),
     ['spec.template.metadata.labels: Invalid value: {"app":"web"}: '
      "`selector` does not match template `labels`"]),
    # services (validateServicePort, ValidateServiceClusterIPsRelatedFields)
    ("service port out of range", service([{"port": 0, "targetPort": 80}]),
     [f"spec.ports[0].port: Invalid value: 0: {RANGE}"]),
    ("targetPort defaults to port", service([{"port": 70000}]),
     [f"spec.ports[0].port: Invalid value: 70000: {RANGE}",
      f"spec.ports[0].targetPort: Invalid value: 70000: {RANGE}"]),
    ("a numeric-string targetPort is a bad name", service([{"port": 80,
                                                            "targetPort": "8080"}]),
     ['spec.ports[0].targetPort: Invalid value: "8080": '
      "must contain at least one letter (a-z)"]),
    ("service ports are named when there are several", service(
        [{"port": 80}, {"name": "Web", "port": 81}, {"name": "Web", "port": 82,
                                                     "protocol": "HTTP"}]),
     ["spec.ports[0].name: Required value",
      f'spec.ports[1].name: Invalid value: "Web": {DNS1123_LABEL}',
      f'spec.ports[2].name: Invalid value: "Web": {DNS1123_LABEL}',
      'spec.ports[2].name: Duplicate value: "Web"',
      'spec.ports[2].protocol: Unsupported value: "HTTP": '
      'supported values: "SCTP", "TCP", "UDP"']),
    ("a service selector is a label map", service(selector={"app": "-web"}),
     [f'spec.selector: Invalid value: "-web": {LABEL_VALUE}']),
    ("clusterIP is checked as clusterIPs[0]", service(clusterIP="10.96.0.300"),
     [f'spec.clusterIPs[0]: Invalid value: "10.96.0.300": {IP}']),
    ("clusterIPs must start with clusterIP", service(clusterIP="10.96.0.1",
                                                     clusterIPs=["10.96.0.2"]),
     ['spec.clusterIPs: Invalid value: ["10.96.0.2"]: first value must match `clusterIP`']),
    # nodes
    ("node addresses of IP types are IPs", {"kind": "Node", "metadata": {"name": "n1"},
                                            "status": {"addresses": [
                                                {"type": "ExternalIP", "address": "1.2.3"}]}},
     [f'status.addresses[0].address: Invalid value: "1.2.3": {IP}']),
    # structure: wrong JSON types
    ("a selector that is not an object", netpol({"podSelector": "app=web"}),
     ['spec.podSelector: Invalid value: "app=web": expected an object']),
    ("rules that are not a list", netpol({"ingress": {}}),
     ["spec.ingress: Invalid value: {}: expected a list"]),
    ("a port that is neither number nor string", ingress_port(port=True),
     ["spec.ingress[0].ports[0].port: Invalid value: true: expected an integer or a string"]),
    ("a fractional port", ingress_port(port=80.5),
     ["spec.ingress[0].ports[0].port: Invalid value: 80.5: expected an integer or a string"]),
    ("matchLabels that is a list", netpol({"podSelector": {"matchLabels": [{"app": "x"}]}}),
     ['spec.podSelector.matchLabels: Invalid value: [{"app":"x"}]: expected an object']),
    ("a label value that is not a string", with_(netpol(), lambda o: o["metadata"].update(
        labels={"version": 1.5})),
     ["metadata.labels[version]: Invalid value: 1.5: expected a string"]),
    ("a cidr that is not a string", ip_block(10),
     ["spec.ingress[0].from[0].ipBlock.cidr: Invalid value: 10: expected a string"]),
    ("metadata that is not an object", {"kind": "Pod", "metadata": "web"},
     ['metadata: Invalid value: "web": expected an object',
      "metadata.name: Required value: name or generateName is required"]),
    ("hostNetwork is a boolean", with_(pod(), lambda o: o["spec"].update(hostNetwork="true")),
     ['spec.hostNetwork: Invalid value: "true": expected a boolean']),
]


@pytest.mark.parametrize(("name", "obj", "expected"), INVALID, ids=[n for n, *_ in INVALID])
def test_invalid_objects_print_as_the_api_server_does(name: str, obj: dict[str, Any],
                                                      expected: list[str]) -> None:
    assert printed(obj) == expected


def test_every_error_of_an_object_is_collected_in_one_pass() -> None:
    obj = netpol({
        "podSelector": {"matchLabels": {"app": "-x"}},
        "ingress": [{"ports": [{"port": 0}, {"protocol": "ICMP"}],
                     "from": [{}, {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.0.0.0/8"]}}]}],
        "egress": [{"to": [{"podSelector": {}, "ipBlock": {"cidr": "::/0"}}]}],
        "policyTypes": ["Ingress", "Sideways"],
    }, name="Bad")
    assert [(e.type, e.path) for e in validate(obj)] == [
        ("FieldValueInvalid", "metadata.name"),
        ("FieldValueInvalid", "spec.podSelector.matchLabels"),
        ("FieldValueInvalid", "spec.ingress[0].ports[0].port"),
        ("FieldValueNotSupported", "spec.ingress[0].ports[1].protocol"),
        ("FieldValueRequired", "spec.ingress[0].from[0]"),
        ("FieldValueInvalid", "spec.ingress[0].from[1].ipBlock.except[0]"),
        ("FieldValueForbidden", "spec.egress[0].to[0]"),
        ("FieldValueNotSupported", "spec.policyTypes[1]"),
    ]


def test_lenient_ip_parsing_accepts_what_older_api_servers_did() -> None:
    """Without StrictIPCIDRValidation: host bits and leading zeros are accepted (sloppy
    parsing reads "010" as decimal 10), so the except below is inside the cidr."""
    obj = ip_block("010.0.0.1/8", "10.1.0.0/16")
    assert printed(obj, strict_ip=False) == []
    assert printed(pod(podIP="010.0.0.1"), strict_ip=False) == []


def test_validate_network_policy_is_validate_for_policies() -> None:
    obj = ingress_port(port=0)
    assert validate_network_policy(obj) == validate(obj)


# --- strict field validation -----------------------------------------------------------------


def test_strict_mode_reports_unknown_fields_in_the_policy_spec() -> None:
    obj = netpol({
        "podSelector": {"matchLabel": {"app": "web"},
                        "matchExpressions": [{"key": "a", "operator": "Exists", "value": "x"}]},
        "ingres": [],
        "ingress": [{"form": [], "from": [{"podselector": {}, "ipBlock": {
            "cidr": "10.0.0.0/8", "excepts": []}}], "ports": [{"port": 80, "proto": "TCP"}]}],
        "egress": [{"from": []}],
    })
    assert printed(obj, strict=True) == [
        'unknown field "spec.ingres"',
        'unknown field "spec.podSelector.matchLabel"',
        'unknown field "spec.podSelector.matchExpressions[0].value"',
        'unknown field "spec.ingress[0].form"',
        'unknown field "spec.ingress[0].ports[0].proto"',
        'unknown field "spec.ingress[0].from[0].podselector"',
        'unknown field "spec.ingress[0].from[0].ipBlock.excepts"',
        'unknown field "spec.egress[0].from"',
    ]
    unknown = validate(obj, strict=True)[0]
    assert (unknown.type, unknown.path) == ("FieldValueNotSupported", "spec.ingres")
    # The misspelt podSelector leaves an ipBlock-only peer: valid once unknown fields are
    # ignored, which is the default.
    assert printed(obj) == []


# --- how errors print (field.Error, errors.NewInvalid) --------------------------------------


@pytest.mark.parametrize(("error", "text"), [
    (FieldError("FieldValueRequired", "spec.egress[0].to[0]", "must specify a peer"),
     "spec.egress[0].to[0]: Required value: must specify a peer"),
    (FieldError("FieldValueRequired", "spec.x.cidr", ""), "spec.x.cidr: Required value"),
    (FieldError("FieldValueForbidden", "a", "not allowed on this type", "ignored"),
     "a: Forbidden: not allowed on this type"),
    (FieldError("FieldValueInvalid", "a", "bad", None), "a: Invalid value: null: bad"),
    (FieldError("FieldValueInvalid", "a", "bad", False), "a: Invalid value: false: bad"),
    (FieldError("FieldValueInvalid", "a", "bad", 'say "hi"\n\x01é'),
     'a: Invalid value: "say \\"hi\\"\\n\\x01é": bad'),
    (FieldError("FieldValueInvalid", "a", "bad", {"b": [1, "<x>"], "a": None}),
     'a: Invalid value: {"a":null,"b":[1,"\\u003cx\\u003e"]}: bad'),
    (FieldError("FieldValueDuplicate", "a", "", "http"), 'a: Duplicate value: "http"'),
    (FieldError("FieldValueNotSupported", "a", 'supported values: "X"', "Y"),
     'a: Unsupported value: "Y": supported values: "X"'),
    (FieldError("FieldValueTypeInvalid", "a", "expected a list", {}),
     "a: Invalid value: {}: expected a list"),
    (FieldError("FieldValueTooLong", "a", "must have at most 3 bytes", "abcd"),
     "a: Too long: must have at most 3 bytes"),
], ids=lambda v: v if isinstance(v, str) else v.type)
def test_field_errors_print_like_field_error(error: FieldError, text: str) -> None:
    assert str(error) == text


def test_one_error_prints_without_brackets() -> None:
    errors = object_errors(ingress_port(port=0))
    assert str(errors) == ('NetworkPolicy.networking.k8s.io "np" is invalid: '
                           f"spec.ingress[0].ports[0].port: Invalid value: 0: {RANGE}")


def test_several_errors_print_bracketed_and_deduplicated() -> None:
    obj = netpol({"ingress": [{"ports": [{"port": 0}]}], "egress": [{"to": [{}]}]}, name="deny")
    obj["metadata"]["labels"] = {"a": "x y", "b": "x y"}  # one message, printed once
    errors = object_errors(obj)
    assert len(errors.errors) == 4
    assert str(errors) == (
        'NetworkPolicy.networking.k8s.io "deny" is invalid: ['
        f'metadata.labels: Invalid value: "x y": {LABEL_VALUE}, '
        f"spec.ingress[0].ports[0].port: Invalid value: 0: {RANGE}, "
        "spec.egress[0].to[0]: Required value: must specify a peer]")


def test_core_kinds_print_without_a_group() -> None:
    errors = object_errors({"kind": "Pod", "metadata": {"name": "web", "namespace": "prod"},
                            "spec": {"containers": [{"ports": [{"containerPort": 0}]}]}})
    assert (errors.kind, errors.name, errors.namespace, errors.group) == ("Pod", "web",
                                                                          "prod", "")
    assert str(errors) == ('Pod "web" is invalid: '
                           "spec.containers[0].ports[0].containerPort: Required value")


def test_an_object_without_errors_prints_the_bare_status() -> None:
    assert str(ObjectErrors("Deployment", "web", None, "apps", ())) == \
        'Deployment.apps "web" is invalid'


def test_an_object_level_detail_prints_first() -> None:
    field = FieldError("FieldValueRequired", "spec.selector", "")
    assert str(ObjectErrors("Deployment", "web", "prod", "apps", (), "given twice")) == \
        'Deployment.apps "web" is invalid: given twice'
    assert str(ObjectErrors("Deployment", "web", "prod", "apps", (field,), "given twice")) == \
        'Deployment.apps "web" is invalid: [given twice, spec.selector: Required value]'


def test_every_validated_kind_has_its_group() -> None:
    assert KIND_GROUPS == {
        "NetworkPolicy": "networking.k8s.io", "Namespace": "", "Node": "", "Pod": "",
        "Service": "", "ReplicationController": "", "Deployment": "apps",
        "ReplicaSet": "apps", "StatefulSet": "apps", "DaemonSet": "apps", "Job": "batch",
        "CronJob": "batch", "AdminNetworkPolicy": "policy.networking.k8s.io",
        "BaselineAdminNetworkPolicy": "policy.networking.k8s.io",
        "ClusterNetworkPolicy": "policy.networking.k8s.io"}


def test_unknown_kinds_and_non_objects_give_no_errors() -> None:
    assert validate({"kind": "Secret"}) == []
    assert validate({}) == []
    assert validate(["not", "an", "object"]) == []  # type: ignore[arg-type]


# --- the formats on their own ----------------------------------------------------------------


@pytest.mark.parametrize(("check", "value", "expected"), [
    (dns1123_label_errors, "my-name", []),
    (dns1123_label_errors, "123-abc", []),
    (dns1123_label_errors, "a" * 63, []),
    (dns1123_label_errors, "a" * 64, ["must be no more than 63 bytes"]),
    (dns1123_label_errors, "-a", [DNS1123_LABEL]),
    (dns1123_label_errors, "a.b", ["must not contain dots"]),
    (dns1123_label_errors, "", [DNS1123_LABEL]),
    (dns1123_label_errors, "a\n", [DNS1123_LABEL]),  # Go's $ is the end of the text
    (dns1123_subdomain_errors, "a.b-c.d", []),
    (dns1123_subdomain_errors, "a..b", [DNS1123_SUBDOMAIN]),
    (dns1035_label_errors, "abc-123", []),
    (dns1035_label_errors, "123-abc", [DNS1035_LABEL]),
    (label_key_errors, "example.com/My_Name.1", []),
    (label_key_errors, "/name", ["prefix part must be non-empty"]),
    (label_key_errors, "", ["name part must be non-empty", NAME_PART]),
    (label_key_errors, "n" * 64, ["name part must be no more than 63 bytes"]),
    (label_value_errors, "", []),
    (label_value_errors, "v1.2_3-x", []),
    (label_value_errors, "-v", [LABEL_VALUE]),
    (port_name_errors, "http-alt", []),
    (port_name_errors, "h2c", []),
    (port_name_errors, "", ["must contain only alpha-numeric characters (a-z, 0-9), "
                            "and hyphens (-)", "must contain at least one letter (a-z)"]),
], ids=lambda v: getattr(v, "__name__", repr(v))[:40])
def test_formats_give_upstream_messages(check: Callable[[str], list[str]], value: str,
                                        expected: list[str]) -> None:
    assert check(value) == expected


@pytest.mark.parametrize(("name", "valid"), [
    ("http", True), ("grpc-web", True), ("a1", True), ("x" * 15, True),
    ("80", False), ("HTTP", False), ("x" * 16, False), ("web--ui", False), ("-web", False),
    ("web-", False), ("", False), ("wéb", False), (80, False),
])
def test_is_valid_port_name_follows_iana_service_names(name: Any, valid: bool) -> None:
    assert is_valid_port_name(name) is valid


@pytest.mark.parametrize(("value", "strict", "expected"), [
    ("10.9.8.7", True, []),
    ("2001:db8::ffff", True, []),
    ("::1", True, []),
    ("::ffff:1.2.3.4", False, []),
    ("::ffff:1.2.3.4", True, ["must not be an IPv4-mapped IPv6 address"]),
    ("010.009.008.007", False, []),
    ("010.009.008.007", True, ["must not have leading 0s"]),
    ("1.2.3.04", True, ["must not have leading 0s"]),
    ("0.0.0.0", True, []),
    ("10.0.0.255", True, []),
    ("10.0.0.256", False, [IP]),
    ("10.0.0.1 ", False, [IP]),
    ("\u0661.2.3.4", False, [IP]),  # an Arabic-Indic digit: Go's parser takes ASCII only
    ("::ffff:010.1.1.1", True, ["must not have leading 0s"]),
    ("10.9.8", True, [IP]),
    ("10.9.8.7.6", True, [IP]),
    ("1:2:3:4:5:6:7:8:9", True, [IP]),
    ("fe80::1%eth0", True, [IP]),
    ("", True, [IP]),
])
def test_ip_addresses_parse_like_the_api_server(value: str, strict: bool,
                                                expected: list[str]) -> None:
    assert ip_errors(value, strict) == expected


@pytest.mark.parametrize(("value", "strict", "expected"), [
    ("10.0.0.0/8", True, []),
    ("2001:db8::/32", True, []),
    ("0.0.0.0/0", True, []),
    ("10.0.0.0/08", False, []),
    ("10.0.0.0/08", True, ["must not have leading 0s in IP or prefix length"]),
    ("10.0.0.1/8", False, []),
    ("::ffff:10.0.0.0/104", True, ["must not have an IPv4-mapped IPv6 address"]),
    ("10.0.0.0/33", True, [CIDR]),
    ("10.0.0.0/", True, [CIDR]),
    ("10.0.0.0", True, [CIDR]),
    ("2001:db8::/129", True, [CIDR]),
])
def test_cidrs_parse_like_the_api_server(value: str, strict: bool, expected: list[str]) -> None:
    assert cidr_errors(value, strict) == expected


def test_helpers_report_at_the_given_path() -> None:
    assert [str(e) for e in validate_labels({"a": "-"}, "spec.selector")] == [
        f'spec.selector: Invalid value: "-": {LABEL_VALUE}']
    assert [str(e) for e in validate_label_selector(
        {"matchExpressions": [{"key": "a", "operator": "In"}]}, "sel")] == [
        "sel.matchExpressions[0].values: Required value: "
        "must be specified when `operator` is 'In' or 'NotIn'"]
    assert [str(e) for e in validate_label_selector({"x": 1}, "sel", strict=True)] == [
        'unknown field "sel.x"']
    assert [str(e) for e in validate_port_name("80", "p")] == [
        'p: Invalid value: "80": must contain at least one letter (a-z)']
    assert [str(e) for e in validate_port_name(80, "p")] == [
        "p: Invalid value: 80: expected a string"]


# --- never raises ------------------------------------------------------------------------------

FIELD_NAMES = [
    "metadata", "name", "generateName", "namespace", "labels", "annotations", "spec", "status",
    "podSelector", "namespaceSelector", "ipBlock", "cidr", "except", "ingress", "egress", "from",
    "to", "ports", "port", "endPort", "protocol", "policyTypes", "matchLabels",
    "matchExpressions", "key", "operator", "values", "containers", "initContainers",
    "containerPort", "hostPort", "hostNetwork", "nodeName", "podIP", "podIPs", "ip", "selector",
    "template", "jobTemplate", "type", "clusterIP", "clusterIPs", "targetPort", "addresses",
    "address",
]
SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=12)
    | st.sampled_from(["TCP", "UDP", "In", "NotIn", "Exists", "Ingress", "Egress", "10.0.0.0/8",
                       "10.1.0.0/16", "::/0", "::ffff:1.2.3.4/120", "None", "http", "80", "web",
                       "InternalIP", "ExternalName", "a/b", "\ud800"])
)
JSON_LIKE = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(FIELD_NAMES) | st.text(max_size=6) | st.integers() | st.booleans(),
        inner, max_size=5),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(KIND_GROUPS)),
       body=st.dictionaries(st.sampled_from(["metadata", "spec", "status"]), JSON_LIKE),
       strict=st.booleans(), strict_ip=st.booleans())
def test_validation_never_raises_on_json_like_input(kind: str, body: dict[str, Any],
                                                    strict: bool, strict_ip: bool) -> None:
    obj = {**body, "kind": kind}
    errors = validate(obj, strict, strict_ip=strict_ip)
    assert isinstance(errors, list)
    assert all(isinstance(e, FieldError) for e in errors)
    for error in errors:
        str(error)
    str(object_errors(obj, strict, strict_ip=strict_ip))
