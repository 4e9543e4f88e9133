"""The network-policy-api kinds in the lab, as a cluster with their CRDs installed serves
them to the real kubectl: `get crd`, short names, printer columns, describe, delete, 422s
with the CRDs' own rules, watch."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.lab.conftest import LabServer, kubectl_binary, wait_until

pytestmark = pytest.mark.usefixtures("needs_kubectl")

ANP = """apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: kubectl-guard}
spec:
  priority: 7
  subject: {namespaces: {matchLabels: {sensitive: "true"}}}
  ingress:
  - {name: nobody, action: Deny, from: [{namespaces: {}}]}
"""
BANP = """apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  egress:
  - {action: Allow, to: [{networks: [10.0.0.0/8]}]}
"""
CNP = """apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: kubectl-baseline}
spec:
  tier: Baseline
  priority: 3
  subject: {namespaces: {}}
  ingress:
  - {name: pass-dns, action: Pass, from: [{namespaces: {}}],
     protocols: [{udp: {destinationPort: {number: 53}}}]}
"""
CRDS = ("adminnetworkpolicies.policy.networking.k8s.io",
        "baselineadminnetworkpolicies.policy.networking.k8s.io",
        "clusternetworkpolicies.policy.networking.k8s.io")


def table(lab: LabServer, *args: str) -> list[list[str]]:
    return [line.split() for line in lab.kubectl("get", *args).stdout.splitlines()]


def test_the_crds_are_listed_and_established(lab: LabServer) -> None:
    names = lab.kubectl("get", "crd", "-o", "name").stdout.split()
    assert {f"customresourcedefinition.apiextensions.k8s.io/{c}" for c in CRDS} <= set(names)
    for crd in CRDS:
        lab.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=10s")


def test_apply_get_with_columns_describe_and_delete_by_short_name(lab: LabServer) -> None:
    assert "created" in lab.kubectl("apply", "-f", "-", input=ANP + "---\n" + BANP + "---\n"
                                    + CNP).stdout
    try:
        anp = table(lab, "anp")
        assert anp[0] == ["NAME", "PRIORITY", "AGE"] and anp[1][:2] == ["kubectl-guard", "7"]
        banp = table(lab, "banp")
        assert banp[0] == ["NAME", "AGE"] and banp[1][0] == "default"
        cnp = table(lab, "cnp")
        assert cnp[0] == ["NAME", "TIER", "PRIORITY", "AGE"]
        assert cnp[1][:3] == ["kubectl-baseline", "Baseline", "3"]
        described = lab.kubectl("describe", "anp", "kubectl-guard").stdout
        assert "Name:" in described and "kubectl-guard" in described
        assert "Priority:  7" in described
        # Applying the same file again changes nothing; cluster scope: no namespace.
        assert "unchanged" in lab.kubectl("apply", "-f", "-", input=ANP).stdout
        got = json.loads(lab.kubectl("get", "anp", "kubectl-guard", "-o", "json").stdout)
        assert "namespace" not in got["metadata"]
    finally:
        out = lab.kubectl("delete", "anp/kubectl-guard", "banp/default",
                          "cnp/kubectl-baseline").stdout
    assert out.count("deleted") == 3
    assert table(lab, "anp") == [] and table(lab, "cnp") == []


@pytest.mark.parametrize(("manifest", "expected"), [
    (ANP.replace("priority: 7", "priority: 1001"),
     'spec.priority: Invalid value: 1001: spec.priority in body should be less than or '
     'equal to 1000'),
    (BANP.replace("name: default", "name: other"),
     'Only one baseline admin network policy with metadata.name="default" can be created'),
    (CNP.replace("action: Pass", "action: Allow"),
     'spec.ingress[0].action: Unsupported value: "Allow": supported values: "Accept", '
     '"Deny", "Pass"'),
])
def test_invalid_objects_get_a_422_naming_the_field(lab: LabServer, manifest: str,
                                                    expected: str) -> None:
    result = lab.kubectl("apply", "-f", "-", input=manifest, check=False)
    assert result.returncode != 0
    assert "is invalid" in result.stderr and expected in result.stderr, result.stderr
    assert table(lab, "anp") == [] and table(lab, "cnp") == [] and table(lab, "banp") == []


def test_watch_sees_a_tier_policy_created(lab: LabServer) -> None:
    binary = kubectl_binary()
    assert binary is not None
    with subprocess.Popen(
            [binary, "--cache-dir", str(lab.cache), "get", "cnp", "--watch", "-o", "name"],
            env={"KUBECONFIG": str(lab.kubeconfig), "HOME": str(lab.directory)},
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as watch:
        try:
            wait_until(lambda: lab.kubectl("get", "cnp").returncode == 0)
            lab.kubectl("apply", "-f", "-", input=CNP)
            assert watch.stdout is not None
            line = watch.stdout.readline().strip()
            assert line == "clusternetworkpolicy.policy.networking.k8s.io/kubectl-baseline"
        finally:
            watch.kill()
            lab.kubectl("delete", "cnp", "kubectl-baseline", "--ignore-not-found")
