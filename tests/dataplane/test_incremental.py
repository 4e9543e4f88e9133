"""A change of pods applied incrementally gives exactly the program a full render gives."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netpolicy.api.objects import Endpoint
from netpolicy.dataplane.incremental import update
from netpolicy.dataplane.policy import NodeScope, local_endpoints, render
from netpolicy.dataplane.program import Program
from netpolicy.engine import ClusterState, CompiledView
from tests.engine.test_paths_agree import KEYS, VALUES, clusters

NODE = "n1"
CIDR = ipaddress.ip_network("10.1.0.0/16")


def on_node(state: ClusterState, every: int) -> ClusterState:
    """The same cluster with some pods on this node (every `every`-th)."""
    endpoints = [replace(e, node=NODE if i % every == 0 else "n2")
                 for i, e in enumerate(state.endpoints)]
    return with_endpoints(state, endpoints)


def with_endpoints(state: ClusterState, endpoints: list[Endpoint]) -> ClusterState:
    """The same cluster (policies, tiered policies, nodes) with these endpoints."""
    return ClusterState(state.namespaces.values(), endpoints, state.policies, (),
                        state.nodes, state.cluster_policies)


def full(state: ClusterState) -> Program:
    view = CompiledView(state)
    return render(view, NodeScope(local_endpoints(view, NODE), (CIDR,)))


def same(a: Program, b: Program) -> bool:
    return (a.sets == b.sets and a.maps == b.maps and a.chains == b.chains
            and a.counters == b.counters)


@st.composite
def pod_changes(draw: st.DrawFn, state: ClusterState) -> list[Endpoint]:
    """The endpoints after a few pod changes: some removed, relabelled, moved, added."""
    endpoints = list(state.endpoints)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["add", "remove", "relabel", "readdress"]))
        pods = [i for i, e in enumerate(endpoints) if e.is_pod]
        if action == "add" or not pods:
            template = draw(st.sampled_from(endpoints)) if endpoints else None
            labels = draw(st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=3))
            n = len(endpoints)
            name = f"new{draw(st.integers(0, 10**6))}"
            if any(e.name == name for e in endpoints):
                continue
            endpoints.append(Endpoint(
                template.namespace if template else "n1", name, "Pod", labels,
                (ipaddress.ip_address(f"10.1.{draw(st.integers(0, 3))}.{200 + n}"),),
                template.ports if template else (), draw(st.sampled_from([NODE, "n2"]))))
            continue
        i = draw(st.sampled_from(pods))
        if action == "remove":
            endpoints.pop(i)
        elif action == "relabel":
            labels = draw(st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=3))
            endpoints[i] = replace(endpoints[i], labels=labels)
        else:
            endpoints[i] = replace(endpoints[i], ips=(ipaddress.ip_address(
                f"10.1.{draw(st.integers(0, 3))}.{150 + i}"),))
    return endpoints


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_incremental_update_equals_a_full_render(data: Any) -> None:
    state = on_node(data.draw(clusters()), data.draw(st.integers(1, 2)))
    before = full(state)
    endpoints = data.draw(pod_changes(state))
    after_state = with_endpoints(state, endpoints)
    expected = full(after_state)
    updated = update(before, state, after_state, before.index.scope, NODE)
    if updated is not None:  # None: it declined, and the caller renders in full
        assert same(updated, expected)


def test_a_policy_change_is_not_incremental() -> None:
    from tests.engine.test_semantics import cluster_text_state

    old = cluster_text_state(3)
    new = cluster_text_state(3, """
metadata: {name: p}
spec: {podSelector: {}, ingress: []}
""")
    assert update(full(old), old, new, NodeScope(frozenset(), (CIDR,)), NODE) is None


def test_the_common_changes_take_the_incremental_path() -> None:
    """A pod like one already there comes, another goes, a third is relabelled into a
    peer selector: no full render needed, and the result is the full render's."""
    from tests.agent.test_enforcer import labelled
    from tests.engine.test_semantics import cluster_text_state  # noqa: F401

    policy = """
metadata: {name: only-from-a}
spec:
  podSelector: {matchLabels: {app: b}}
  ingress: [{from: [{podSelector: {matchLabels: {app: a}}}], ports: [{port: 80}]}]
"""
    old = labelled(["a", "b", "c", "b"], policy)
    old = ClusterState(old.namespaces.values(), [replace(e, node=NODE) for e in old.endpoints],
                       old.policies)
    before = full(old)
    endpoints = [e for e in old.endpoints if e.name != "p3"]  # a b-pod goes
    endpoints.append(replace(endpoints[1], name="p9",  # another b-pod comes
                             ips=(ipaddress.ip_address("10.0.0.9"),)))
    endpoints[2] = replace(endpoints[2], labels={"app": "a"})  # c becomes a peer
    new = ClusterState(old.namespaces.values(), endpoints, old.policies)
    updated = update(before, old, new, before.index.scope, NODE)
    assert updated is not None and same(updated, full(new))


@st.composite
def policy_changes(draw: st.DrawFn, state: ClusterState) -> list[Any]:
    """The policies after a change: one removed, one added, or one replaced."""
    from netpolicy.api.inventory import build_inventory
    from netpolicy.api.loading import Document
    from tests.engine.test_paths_agree import network_policies

    policies = list(state.policies)
    namespaces = list(state.namespaces)
    action = draw(st.sampled_from(["add", "remove", "modify"]))
    if not policies or action == "add":
        raw = draw(network_policies([n for n in namespaces if n.startswith("n")] or ["n1"],
                                    draw(st.integers(100, 999))))
        return policies + build_inventory([Document(raw, "<test>")]).policies
    old = policies.pop(draw(st.integers(0, len(policies) - 1)))
    if action == "modify":  # the same policy (namespace and name), another spec
        raw = draw(network_policies([old.namespace], 0))
        raw["metadata"]["name"] = old.name
        policies += build_inventory([Document(raw, "<test>")]).policies
    return policies


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_a_render_reusing_the_previous_one_equals_a_fresh_render(data: Any) -> None:
    """After a policy change, the compiled view takes over what did not change and the
    renderer reuses its cache; the program is the one a fresh render gives."""
    from netpolicy.dataplane.policy import RenderCache

    state = on_node(data.draw(clusters()), data.draw(st.integers(1, 2)))
    cache = RenderCache()
    first = CompiledView(state)
    scope = NodeScope(local_endpoints(first, NODE), (CIDR,))
    render(first, scope, cache)
    changed = ClusterState(state.namespaces.values(), state.endpoints,
                           data.draw(policy_changes(state)), (), state.nodes,
                           state.cluster_policies)
    reused = render(CompiledView(changed, previous=first), scope, cache)
    assert same(reused, full(changed))


def test_a_policy_changed_in_place_is_rendered_anew() -> None:
    """The same policy (namespace/name) with another rule: the views it shapes are made
    again, not taken over from the previous view."""
    from netpolicy.dataplane.policy import RenderCache
    from tests.agent.test_enforcer import DENY_B, PORTS_80, labelled

    def local(state: ClusterState) -> ClusterState:
        return ClusterState(state.namespaces.values(),
                            [replace(e, node=NODE) for e in state.endpoints], state.policies)

    before = local(labelled(["a", "b", "c"], DENY_B))
    after_policies = local(labelled(["a", "b", "c"], PORTS_80)).policies
    after = ClusterState(before.namespaces.values(), before.endpoints, after_policies)
    cache = RenderCache()
    first = CompiledView(before)
    scope = NodeScope(local_endpoints(first, NODE), (CIDR,))
    old = render(first, scope, cache)
    reused = render(CompiledView(after, previous=first), scope, cache)
    assert same(reused, full(after)) and not same(reused, old)


def test_a_pod_that_first_resolves_an_egress_named_port_is_not_missed() -> None:
    """An egress rule to a named port that no pod defines yet has no set; when a pod
    defining it appears, the set appears: the update must not keep the old program
    (found by the property test: a Deployment without addresses holding the name)."""
    from tests.engine.test_semantics import cluster, docs, pod, policy

    egress = policy("""  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress: [{ports: [{port: web}]}]
""")
    old = cluster(docs(pod("client", ip="10.1.0.1", labels="{app: client}"), egress))
    new_pod = pod("web", ip="10.1.0.2", labels="{app: web}").replace("name: http", "name: web")
    new = cluster(docs(pod("client", ip="10.1.0.1", labels="{app: client}"), new_pod, egress))
    before = full(old)
    updated = update(before, old, new, before.index.scope, NODE)
    expected = full(new)
    assert any(name.startswith("n4_") for name in expected.sets)
    assert updated is None or same(updated, expected)


def test_counters_exist_only_for_rules_that_are_rendered() -> None:
    """A rule whose peers match no address in any family renders no rule and no counter
    (found by the property test: a counter the incremental path could not account for)."""
    from tests.engine.test_semantics import cluster, docs, pod, policy

    state = cluster(docs(pod("server", ip="10.1.0.1", labels="{app: server}"), policy(
        """  podSelector: {matchLabels: {app: server}}
  ingress: [{from: [{podSelector: {matchLabels: {app: nobody}}}]}]
""")))
    program = full(state)
    used = {name for chain in program.chains.values() for rule in chain.rules
            for name in program.counters if f'"{name}"' in rule}
    assert used == set(program.counters)
