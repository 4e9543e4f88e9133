"""From watched objects to the engine's state: validated once per resourceVersion, and
nothing silently skipped."""

from __future__ import annotations

from typing import Any

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
