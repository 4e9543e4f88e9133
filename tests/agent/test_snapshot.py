"""From watched objects to the engine's state: validated once per resourceVersion, and
nothing silently skipped."""

from __future__ import annotations

from typing import Any

import pytest

from netpolicy.agent.snapshot import Converter


def pod(name: str, rv: str = "1", ip: str = "10.0.0.1", labels: dict[str, str] | None = None,
        phase: str = "Running") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default", "resourceVersion": rv,
                         "labels": labels or {}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]},
            "status": {"podIP": ip, "phase": phase}}


def policy(name: str, spec: dict[str, Any], rv: str = "1") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default", "resourceVersion": rv},
            "spec": spec}


NODE = {"metadata": {"name": "n1", "resourceVersion": "1"},
        "spec": {"podCIDR": "10.0.0.0/24"},
        "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.2"}]}}
NAMESPACE = {"metadata": {"name": "default", "resourceVersion": "1"}}


def objects(pods: list[Any], policies: list[Any]) -> dict[str, list[Any]]:
    return {"Pod": pods, "Namespace": [NAMESPACE], "NetworkPolicy": policies, "Node": [NODE]}


def test_builds_the_state_with_pods_policies_and_pod_cidrs() -> None:
    snap = Converter().snapshot(objects([pod("a")], [policy("p", {"podSelector": {}})]))
    assert [e.key for e in snap.state.endpoints] == ["default/a"]
    assert [p.key for p in snap.state.policies] == ["default/p"]
    assert snap.pod_cidrs == {"n1": ["10.0.0.0/24"]} and snap.errors == []


def test_an_object_is_converted_once_per_resource_version() -> None:
    conv = Converter()
    first = conv.convert("Pod", pod("a", rv="5"))[0]
    assert conv.convert("Pod", pod("a", rv="5"))[0] is first
    assert conv.convert("Pod", pod("a", rv="6", ip="10.0.0.9"))[0] is not first


def test_finished_pods_are_not_endpoints() -> None:
    snap = Converter().snapshot(objects([pod("done", phase="Succeeded")], []))
    assert snap.state.endpoints == ()


def test_an_unreadable_policy_fails_closed_and_is_reported() -> None:
    bad = policy("bad", {"podSelector": {"matchLabels": {"app": "web"}},
                         "ingress": [{"ports": [{"port": 0}]}]})
    snap = Converter().snapshot(objects([pod("a", labels={"app": "web"})], [bad]))
    [p] = snap.state.policies
    assert p.affects_ingress and p.ingress == ()  # isolates, allows nothing
    assert len(snap.errors) == 1 and "enforced as deny-all" in snap.errors[0]
    assert "spec.ingress[0].ports[0].port" in snap.errors[0]


def test_a_policy_with_an_unreadable_selector_selects_nothing_but_is_reported() -> None:
    bad = policy("bad", {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Nope"}]}})
    snap = Converter().snapshot(objects([pod("a")], [bad]))
    assert snap.state.policies == () and len(snap.errors) == 1


def test_a_policy_with_unreadable_policy_types_isolates_both_directions() -> None:
    """`policyTypes` that cannot be read (`["ingress"]`: wrong case) are not read either:
    the fail-closed policy isolates ingress and egress, as its status says."""
    for types in (["ingress"], ["Ingress", "Sideways"]):
        bad = policy("bad", {"podSelector": {}, "policyTypes": types})
        snap = Converter().snapshot(objects([pod("a")], [bad]))
        [p] = snap.state.policies
        assert p.affects_ingress and p.affects_egress and p.ingress == () and p.egress == ()
        assert "enforced as deny-all" in snap.errors[0] and "spec.policyTypes" in snap.errors[0]


def test_empty_policy_types_are_the_default_not_an_error() -> None:
    """`policyTypes: []` is what the API server stores when none are given (defaulted on
    read): Ingress, and Egress when there are egress rules. It is readable."""
    snap = Converter().snapshot(objects([pod("a")], [policy("p", {"podSelector": {},
                                                                  "policyTypes": []})]))
    [p] = snap.state.policies
    assert snap.errors == [] and p.affects_ingress and not p.affects_egress


ANP = {"apiVersion": "policy.networking.k8s.io/v1alpha1", "kind": "AdminNetworkPolicy",
       "metadata": {"name": "guard", "resourceVersion": "1"},
       "spec": {"priority": 5, "subject": {"namespaces": {}},
                "ingress": [{"action": "Deny", "from": [{"namespaces": {}}]}]}}


def tiered_objects(*policies: Any) -> dict[str, list[Any]]:
    return {**objects([pod("a")], []), "AdminNetworkPolicy": list(policies)}


def test_tiered_policies_are_read_into_the_state() -> None:
    snap = Converter().snapshot(tiered_objects(ANP))
    [p] = snap.state.admin_policies
    assert p.key == "AdminNetworkPolicy/guard" and p.priority == 5 and snap.errors == []


def test_an_unreadable_tiered_policy_denies_everything_for_its_subject() -> None:
    bad = {**ANP, "spec": {**ANP["spec"], "ingress": [{"action": "Bogus",
                                                       "from": [{"namespaces": {}}]}]}}
    snap = Converter().snapshot(tiered_objects(bad))
    [p] = snap.state.admin_policies
    assert p.priority == 5 and [r.action for r in p.ingress] == ["Deny"]
    assert [r.action for r in p.egress] == ["Deny"]
    assert all(not r.match.peers for r in (*p.ingress, *p.egress))  # every peer
    [error] = snap.errors
    assert "guard" in error and "enforced as deny-all for its subject" in error


def test_an_unreadable_baseline_cluster_policy_denies_at_its_baseline_priority() -> None:
    cnp = {"apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy",
           "metadata": {"name": "tenants", "resourceVersion": "1"},
           "spec": {"tier": "Baseline", "priority": 7, "subject": {"namespaces": {}},
                    "ingress": [{"action": "Bogus", "from": [{"namespaces": {}}]}]}}
    snap = Converter().snapshot({**objects([pod("a")], []), "ClusterNetworkPolicy": [cnp]})
    assert snap.state.admin_policies == ()
    [p] = snap.state.baseline_policies
    assert (p.kind, p.tier, p.priority) == ("ClusterNetworkPolicy", "Baseline", 7)
    assert [r.action for r in (*p.ingress, *p.egress)] == ["Deny", "Deny"]
    [error] = snap.errors
    assert "tenants" in error and "enforced as deny-all for its subject" in error


def test_a_valid_tiered_policy_this_version_cannot_build_fails_closed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def cannot_build(obj: Any) -> Any:
        raise ValueError("a field this version does not know")

    monkeypatch.setattr("netpolicy.agent.snapshot.cluster_policy_from_dict", cannot_build)
    snap = Converter().snapshot(tiered_objects(ANP))
    [p] = snap.state.admin_policies
    assert p.priority == 5 and [r.action for r in (*p.ingress, *p.egress)] == ["Deny", "Deny"]
    [error] = snap.errors
    assert "'guard' cannot be read" in error and "a field this version does not know" in error
    assert "enforced as deny-all for its subject" in error


def test_a_tiered_policy_with_an_unreadable_subject_is_not_guessed() -> None:
    bad = {**ANP, "spec": {**ANP["spec"], "subject": {"namespaces": {}, "pods": {}},
                           "ingress": [{"action": "Bogus"}]}}
    snap = Converter().snapshot(tiered_objects(bad))
    assert snap.state.admin_policies == ()
    [error] = snap.errors
    assert "not enforced: its subject, tier or priority is unreadable" in error
