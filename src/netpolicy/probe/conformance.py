"""The conformance suite: the cases of `netpolicy.probe.cases`, with real traffic.

It builds the model (namespaces x, y, z; pods a, b, c running `netpol/echo` on 80 and 81,
TCP and UDP, named `serve-80-tcp` ...) in a cluster whose nodes run the agent, then for
every step of every case: resets the model (no policies, the model's labels), applies the
step, waits until every agent has programmed a state that includes the change, probes
every pair on the step's ports, and checks three tables against each other: the case's
expectation, the engine's verdicts on the live objects, and the observed traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from netpolicy.api.inventory import build_inventory
from netpolicy.api.live import read_cluster
from netpolicy.api.tiers import API_VERSIONS, PLURALS
from netpolicy.engine import ClusterState
from netpolicy.probe.cases import CASES, KEYS, NAMESPACES, PODS, Case, Step, substitute
from netpolicy.probe.connect import Connector
from netpolicy.probe.runner import probe, probe_targets

PORTS = (("serve-80-tcp", 80, "TCP"), ("serve-81-tcp", 81, "TCP"),
         ("serve-80-udp", 80, "UDP"), ("serve-81-udp", 81, "UDP"))


@dataclass
class StepResult:
    case: str
    step: int
    engine_vs_case: list[str] = field(default_factory=list)
    traffic_vs_engine: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.engine_vs_case and not self.traffic_vs_engine


class ModelCluster:
    """The model, created and reset through the official client."""

    def __init__(self, kubeconfig: str | None, context: str | None = None) -> None:
        from kubernetes import client, config

        self.kubeconfig, self.context = kubeconfig, context
        self.api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context)
        self.core = client.CoreV1Api(self.api_client)
        self.net = client.NetworkingV1Api(self.api_client)
        self.custom = client.CustomObjectsApi(self.api_client)
        self.rv = 0

    def serves_tiers(self) -> bool:
        """Does the cluster serve all three tiered kinds (network-policy-api's CRDs)?"""
        from kubernetes.client.exceptions import ApiException

        for kind in API_VERSIONS:
            group, version = API_VERSIONS[kind].split("/")
            try:
                self.custom.list_cluster_custom_object(group, version, PLURALS[kind], limit=1,
                                                       _preload_content=False)
            except ApiException as exc:
                if exc.status == 404:
                    return False
                raise
        return True

    def _tier_api(self, kind: str) -> tuple[str, str, str]:
        group, version = API_VERSIONS[kind].split("/")
        return group, version, PLURALS[kind]

    def _reset_tiers(self) -> None:
        from kubernetes.client.exceptions import ApiException

        for kind in API_VERSIONS:
            try:
                body = self._seen(self.custom.list_cluster_custom_object(
                    *self._tier_api(kind), _preload_content=False))
            except ApiException as exc:
                if exc.status == 404:
                    continue  # not served
                raise
            for item in body.get("items") or []:
                self._seen(self.custom.delete_cluster_custom_object(
                    *self._tier_api(kind), item["metadata"]["name"], _preload_content=False))

    def _apply_tiered(self, doc: dict[str, Any]) -> None:
        """Create a tiered policy, or replace the one of that kind and name."""
        from kubernetes.client.exceptions import ApiException

        api, name = self._tier_api(doc["kind"]), doc["metadata"]["name"]
        try:
            self._seen(self.custom.create_cluster_custom_object(*api, doc,
                                                                _preload_content=False))
        except ApiException as exc:
            if exc.status != 409:
                raise
            current = self._seen(self.custom.get_cluster_custom_object(
                *api, name, _preload_content=False))
            body = {**doc, "metadata": {**doc["metadata"],
                                        "resourceVersion": current["metadata"]["resourceVersion"]}}
            self._seen(self.custom.replace_cluster_custom_object(*api, name, body,
                                                                 _preload_content=False))

    def _seen(self, resp: Any) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(resp.data) if resp.data else {}
        with contextlib.suppress(TypeError, ValueError):
            self.rv = max(self.rv, int((body.get("metadata") or {}).get("resourceVersion", 0)))
        return body

    def create(self) -> None:
        from kubernetes.client.exceptions import ApiException

        for ns in NAMESPACES:
            try:
                namespace: Any = {"metadata": {"name": ns, "labels": {"ns": ns}}}
                self._seen(self.core.create_namespace(namespace, _preload_content=False))
            except ApiException as exc:
                if exc.status != 409:
                    raise
            for pod in PODS:
                body: Any = {"metadata": {"name": pod, "labels": {"pod": pod}},
                        "spec": {"containers": [{
                            "name": "serve", "image": "netpol/echo",
                            "ports": [{"name": n, "containerPort": p, "protocol": proto}
                                      for n, p, proto in PORTS]}]}}
                try:
                    self._seen(self.core.create_namespaced_pod(ns, body, _preload_content=False))
                except ApiException as exc:
                    if exc.status != 409:
                        raise

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            pods = [d.obj for d in read_cluster(self.kubeconfig, self.context)
                    if d.obj["kind"] == "Pod" and d.obj["metadata"]["namespace"] in NAMESPACES]
            ready = [p for p in pods if any(c.get("type") == "Ready" and c.get("status") == "True"
                                            for c in (p.get("status") or {}).get("conditions") or [])]
            if len(ready) == len(NAMESPACES) * len(PODS):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"model pods not ready after {timeout:.0f}s "
                                   f"({len(ready)} of {len(NAMESPACES) * len(PODS)})")
            time.sleep(0.1)

    def reset(self) -> None:
        """No policies (tiered ones included); every pod and namespace with exactly the
        model's labels."""
        self._reset_tiers()
        for ns in NAMESPACES:
            self._seen(self.net.delete_collection_namespaced_network_policy(
                ns, _preload_content=False))
            current = self._seen(self.core.read_namespace(ns, _preload_content=False))
            labels = {k: None for k in (current["metadata"].get("labels") or {})
                      if k not in ("ns", "kubernetes.io/metadata.name")}
            if labels:
                self._seen(self.core.patch_namespace(
                    ns, {"metadata": {"labels": labels}}, _preload_content=False))
            for pod in PODS:
                current = self._seen(self.core.read_namespaced_pod(pod, ns, _preload_content=False))
                extra = {k: None for k in (current["metadata"].get("labels") or {}) if k != "pod"}
                if extra:
                    self._seen(self.core.patch_namespaced_pod(
                        pod, ns, {"metadata": {"labels": extra}}, _preload_content=False))

    def apply(self, case: Case, step: Step, addresses: dict[str, str]) -> None:
        from kubernetes.client.exceptions import ApiException

        for key, labels in step.ns_labels.items():
            self._seen(self.core.patch_namespace(key, {"metadata": {"labels": dict(labels)}},
                                                 _preload_content=False))
        for key, labels in step.pod_labels.items():
            ns, pod = key.split("/")
            self._seen(self.core.patch_namespaced_pod(pod, ns, {"metadata": {"labels": dict(labels)}},
                                                      _preload_content=False))
        for key in step.delete:
            ns, name = key.split("/")
            self._seen(self.net.delete_namespaced_network_policy(name, ns, _preload_content=False))
        for key in step.delete_tiered:
            kind, name = key.split("/")
            self._seen(self.custom.delete_cluster_custom_object(*self._tier_api(kind), name,
                                                                _preload_content=False))
        for doc in yaml.safe_load_all(substitute(step.tiered, addresses)):
            if doc:
                self._apply_tiered(doc)
        for doc in yaml.safe_load_all(substitute(step.policies, addresses)):
            if not doc:
                continue
            ns = doc.get("metadata", {}).get("namespace", case.namespace)
            body: Any = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", **doc}
            try:
                self._seen(self.net.create_namespaced_network_policy(ns, body,
                                                                     _preload_content=False))
            except ApiException as exc:
                if exc.status != 409:
                    raise
                self._seen(self.net.replace_namespaced_network_policy(
                    doc["metadata"]["name"], ns, body, _preload_content=False))

    def delete(self) -> None:
        for ns in NAMESPACES:
            with contextlib.suppress(Exception):
                self.core.delete_namespace(ns, _preload_content=False)

    def state(self) -> tuple[ClusterState, list[Any]]:
        docs = read_cluster(self.kubeconfig, self.context)
        inv = build_inventory(docs, strict_ip=False)
        return ClusterState(inv.namespaces, inv.endpoints, inv.policies, inv.services,
                            inv.nodes, inv.cluster_policies), docs


def current_resource_version(kubeconfig: str | None, context: str | None = None) -> int:
    """The cluster's newest resourceVersion (from a cheap list)."""
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=kubeconfig,  # type: ignore[no-untyped-call]
                                               context=context)
    with api_client:
        resp: Any = client.CoreV1Api(api_client).list_namespace(limit=1, _preload_content=False)
        return int(json.loads(resp.data)["metadata"]["resourceVersion"])


def wait_for_agents(status_files: Sequence[Path], rv: int, timeout: float = 30) -> None:
    """Until every agent has programmed a state at least as new as `rv`."""
    deadline = time.monotonic() + timeout
    pending = list(status_files)
    while pending:
        still = []
        for path in pending:
            try:
                status = json.loads(path.read_text())
            except (OSError, ValueError):
                still.append(path)
                continue
            if int(status.get("resourceVersion", 0)) < rv:
                still.append(path)
        pending = still
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"agents did not catch up with resourceVersion {rv} within "
                               f"{timeout:.0f}s: {', '.join(p.stem for p in pending)}")
        if pending:
            time.sleep(0.01)


def run_suite(cluster: ModelCluster, connector_for: Callable[[list[Any]], Connector],
              status_files: Sequence[Path], cases: Sequence[Case] = CASES, *,
              timeout: float = 1.0, report: Callable[[StepResult], None] | None = None,
              ) -> list[StepResult]:
    results = []
    for case in cases:
        cluster.reset()
        for number, step in enumerate(case.steps):
            started = time.monotonic()
            state, docs = cluster.state()
            addresses = {e.key: str(e.ips[0]) for e in state.endpoints if e.key in KEYS and e.ips}
            cluster.apply(case, step, addresses)
            wait_for_agents(status_files, cluster.rv)
            state, docs = cluster.state()
            result = StepResult(case.name, number)
            pods = [e for e in probe_targets(state, NAMESPACES)]
            ports = [(p, n) for (p, n) in step.expect if p != "SCTP"]
            result.skipped = [f"{p}/{n}: SCTP cannot be sent on this kernel"
                              for (p, n) in step.expect if p == "SCTP"]
            outcome = asyncio.run(probe(state, pods, ports, connector_for(docs), timeout=timeout))
            for table in outcome.tables:
                expected = step.expect[(table.protocol, table.port)].table
                for pair, want in sorted(table.expected.items()):
                    if expected[pair] != want:
                        result.engine_vs_case.append(
                            f"{pair[0]} -> {pair[1]} {table.protocol}/{table.port}: case expects "
                            f"{'allowed' if expected[pair] else 'denied'}, engine says "
                            f"{'allowed' if want else 'denied'}")
                result.traffic_vs_engine += [str(d) for d in table.disagreements()]
            result.seconds = time.monotonic() - started
            results.append(result)
            if report is not None:
                report(result)
    cluster.reset()
    return results
