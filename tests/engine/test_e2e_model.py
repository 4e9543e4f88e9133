"""The conformance cases (netpolicy.probe.cases, modelled on the upstream e2e suite) against
the engine alone: after every step of every case, both the matrix path and the
single-verdict path must give the case's truth table. (`netpol conformance` runs the
same cases in the lab with real traffic.)"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from netpolicy.probe.cases import CASES, KEYS, Case, Reachability, substitute
from netpolicy.probe.tier_cases import TIER_CASES
from tests.builders import assert_reachability, model_ip, policies, tiered
from tests.builders import model as build_model

ADDRESSES = {k: model_ip(*k.split("/")) for k in KEYS}


def run_case(case: Case) -> None:
    docs: dict[str, tuple[str, dict[str, Any]]] = {}  # ns/name -> (namespace, document)
    tier_docs: dict[str, dict[str, Any]] = {}  # Kind/name -> document
    pod_labels: dict[str, dict[str, str]] = {}
    ns_labels: dict[str, dict[str, str]] = {}
    for number, step in enumerate(case.steps):
        for key, labels in step.pod_labels.items():
            _relabel(pod_labels.setdefault(key, {}), labels)
        for key, labels in step.ns_labels.items():
            _relabel(ns_labels.setdefault(key, {}), labels)
        for key in step.delete:
            docs.pop(key)
        for key in step.delete_tiered:
            tier_docs.pop(key)
        for doc in yaml.safe_load_all(substitute(step.tiered, ADDRESSES)):
            if doc:
                tier_docs[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
        for doc in yaml.safe_load_all(substitute(step.policies, ADDRESSES)):
            if doc:
                ns = doc.get("metadata", {}).get("namespace", case.namespace)
                docs[f"{ns}/{doc['metadata']['name']}"] = (ns, doc)
        state = build_model(pod_labels=pod_labels, ns_labels=ns_labels)
        pols = [p for ns, doc in docs.values() for p in policies(yaml.safe_dump(doc), ns)]
        from netpolicy.engine import ClusterState

        tiers = tiered(yaml.safe_dump_all(list(tier_docs.values()))) if tier_docs else []
        state = ClusterState(state.namespaces.values(), state.endpoints, pols, (), (), tiers)
        for (protocol, port), expected in step.expect.items():
            assert_reachability(state, expected, port, protocol, f"step {number}")


def _relabel(target: dict[str, str], labels: Any) -> None:
    for k, v in labels.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = v


@pytest.mark.parametrize("case", CASES + TIER_CASES, ids=[c.name for c in CASES + TIER_CASES])
def test_conformance_case_on_the_engine(case: Case) -> None:
    run_case(case)


def test_no_policies_allow_everything() -> None:
    assert_reachability(build_model(), Reachability(True), 80)
