"""`read_cluster` (the analysis commands' `--kubeconfig`) against the lab's in-process API
server with the official client: the tiered policies read through the custom-objects API
where the CRDs are installed, and absent, without an error, where they are not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from netpolicy.api.inventory import build_inventory
from netpolicy.api.live import read_cluster
from tests.lab.conftest import LabServer

TIERED = {"AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy"}
POLICIES = """apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: live-guard}
spec:
  priority: 3
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: live-read}}}
  ingress: [{name: no-one, action: Deny, from: [{namespaces: {}}]}]
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: live-baseline}
spec:
  tier: Baseline
  priority: 1
  subject: {namespaces: {}}
  egress: [{action: Accept, to: [{networks: [10.0.0.0/8]}]}]
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {}}]}]
"""


@pytest.fixture
def without_crds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    server = LabServer(tmp_path_factory.mktemp("no-crds"), kubelet=False, crds=lambda: [])
    try:
        yield server
    finally:
        server.close()


def test_tiered_policies_are_read_from_a_cluster_that_serves_them(lab: LabServer) -> None:
    lab.kubectl("create", "namespace", "live-read")
    lab.kubectl("apply", "-f", "-", input=POLICIES)
    try:
        inventory = build_inventory(read_cluster(str(lab.kubeconfig)))
        assert [p.key for p in inventory.cluster_policies] == [
            "AdminNetworkPolicy/live-guard", "BaselineAdminNetworkPolicy/default",
            "ClusterNetworkPolicy/live-baseline"]
    finally:
        lab.kubectl("delete", "-f", "-", input=POLICIES)


def test_a_cluster_without_the_tiered_policy_crds_reads_without_them(
        without_crds: LabServer) -> None:
    lab = without_crds
    lab.kubectl("create", "namespace", "live-read")
    lab.kubectl("apply", "-f", "-", input="""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: live-read}
spec: {podSelector: {}}
""")
    docs = read_cluster(str(lab.kubeconfig))
    kinds = {d.obj["kind"] for d in docs}
    assert {"Namespace", "Node", "NetworkPolicy"} <= kinds and not kinds & TIERED
    inventory = build_inventory(docs)
    assert "live-read/deny-all" in [p.key for p in inventory.policies]
    assert inventory.cluster_policies == []
