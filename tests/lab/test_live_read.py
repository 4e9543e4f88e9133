"""`read_cluster` (the analysis commands' `--kubeconfig`) against the lab's in-process API
server with the official client: every kind it reads, and the tiered kinds absent from a
cluster that does not serve them (no CRD), which is no error."""

from __future__ import annotations

from netpolicy.api.inventory import build_inventory
from netpolicy.api.live import read_cluster
from tests.lab.conftest import LabServer


def test_a_cluster_without_the_tiered_policy_crds_reads_without_them(lab: LabServer) -> None:
    lab.kubectl("create", "namespace", "live-read")
    lab.kubectl("apply", "-f", "-", input="""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: live-read}
spec: {podSelector: {}}
""")
    docs = read_cluster(str(lab.kubeconfig))
    kinds = {d.obj["kind"] for d in docs}
    assert {"Namespace", "Node", "NetworkPolicy"} <= kinds
    assert not kinds & {"AdminNetworkPolicy", "BaselineAdminNetworkPolicy",
                        "ClusterNetworkPolicy"}
    inventory = build_inventory(docs)
    assert "live-read/deny-all" in [p.key for p in inventory.policies]
    assert inventory.cluster_policies == []
