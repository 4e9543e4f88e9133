"""The lab API server defaults a NetworkPolicy's `policyTypes` as the real one does
(point 2), with the rule the engine reads: Ingress always, Egress only with egress rules;
types that are given stay as given."""

from __future__ import annotations

from typing import Any

import pytest

from netpolicy.lab.apiserver.defaults import network_policy


@pytest.mark.parametrize(("spec", "types"), [
    ({}, ["Ingress"]),
    ({"egress": []}, ["Ingress"]),
    ({"policyTypes": [], "egress": [{}]}, ["Ingress", "Egress"]),
    ({"ingress": [{}], "egress": [{"to": [{"podSelector": {}}]}]}, ["Ingress", "Egress"]),
    ({"policyTypes": ["Egress"], "ingress": [{}]}, ["Egress"]),
])
def test_policy_types_are_defaulted_as_the_api_server_does(spec: dict[str, Any],
                                                           types: list[str]) -> None:
    obj: dict[str, Any] = {"metadata": {"name": "p", "namespace": "x"}, "spec": spec}
    network_policy(obj)
    assert obj["spec"]["policyTypes"] == types
    assert obj["spec"]["podSelector"] == {}
