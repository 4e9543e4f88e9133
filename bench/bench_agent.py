"""The node agent's figures, measured on this machine with the real `nft`, printed as a table.

    python3 bench/bench_agent.py [--quick] [--pods 1000 --policies 500] [--only program,change,connect]

Run as root. Three measurements, each in throwaway network namespaces named
`npl-<id>-...` (`--id`, random by default), all removed at the end, also on failure or
Ctrl-C / SIGTERM:

Every part's cluster also holds `--cluster-policies` (`--connect-cluster-policies` in part 3)
ClusterNetworkPolicies of both tiers (bench/generate_tiers.py; 100 by default).

1. **program** - programming a node from scratch: a generated cluster (bench/generate.py's
   policy mix) whose pods all run on one node, with addresses in that node's pod CIDR;
   `Enforcer.sync` against a real `Nft(netns)` from an empty namespace. Total time, and the
   split (convert raw objects, compile, render, transition, nft apply: each phase re-run alone
   on a fresh snapshot), the program's element and rule counts, and their growth over four
   sizes (elements / (pods + policy rules), tiered rules counted), from 500 pods up: the
   generator's smaller clusters hold only a few of its 12 teams, so many tiered policies
   select no pod there and their counted rules render nothing.
2. **change** - one change, end to end: the real agent (`netpolicy.agent.run.Agent`, in a child
   process, as the lab runs it) against the lab's API server (TLS, a Store preloaded with the
   cluster), then, repeated, (a) a pod gets its IP on the node (create, then the status write
   with `podIP`, timed from the status write), (b) a policy rule's port changes, (c) a
   ClusterNetworkPolicy rule's port changes (an Admin-tier policy that selects pods of the
   node). Latency from
   the write to the moment `nft -f` of the agent's transaction has returned (the kernel has
   committed it), then confirmed by `nft list set`; with the phases in between (watch event
   in the agent's cache, start of `Enforcer.sync`, start of `nft -f`) and the number of nft
   operations of each transaction (what "rewriting only what changed" means).
3. **connect** - TCP connection set-up latency between two pods of one node (the lab's
   topology: a fabric, a node namespace routing for two pod namespaces) in four modes: no
   nftables table, a table that only tracks connections, the agent's program for the same
   pods with no policy ("none"), and with `--connect-policies` policies over
   `--connect-pods` pods (the server and the client are the pods with the longest chains
   that no tiered rule decides, so each walks every tiered rule of its side first, and the
   two policies that admit the client sort last: the worst case). All programs
   stay loaded in tables of their own; a mode hooks one (adds its base chains), so the
   modes alternate every few dozen connections (`--rounds`) from one client process, and
   meet the machine in the same state: here the median of 50 connections moves between
   30 and 80 µs from one moment to the next, whatever the mode. The target compares the
   policies with none, median over the rounds of the difference within each round. Also
   the throughput of one established TCP stream.

A final table says PASS/FAIL against the targets. `--json FILE` writes the raw figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import ipaddress
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import generate
import generate_tiers
from benchkit import Verdict, median, percentile, sigterm_as_interrupt, summary, table
from netpolicy.agent.enforcer import Enforcer, SyncReport
from netpolicy.agent.snapshot import Converter, Snapshot
from netpolicy.agent.source import ClusterCache
from netpolicy.agent.status import AgentStatus
from netpolicy.dataplane import netns
from netpolicy.dataplane.nft import (
    Chain,
    ChainType,
    Family,
    Hook,
    Nft,
    Priority,
    Set,
    Transaction,
)
from netpolicy.dataplane.policy import TABLE, NodeScope, local_endpoints, render
from netpolicy.dataplane.program import ChainSpec, Program, transition
from netpolicy.engine import ClusterState, CompiledView, verdict
from netpolicy.lab.topology import LabConfig, create_fabric, teardown

JSON = dict[str, Any]
T = TypeVar("T")
NODE = "bench-node"
TIER_RESOURCES = {  # the stored custom resources (group resources) the lab's CRDs define
    "AdminNetworkPolicy": "adminnetworkpolicies.policy.networking.k8s.io",
    "BaselineAdminNetworkPolicy": "baselineadminnetworkpolicies.policy.networking.k8s.io",
    "ClusterNetworkPolicy": "clusternetworkpolicies.policy.networking.k8s.io"}
TOKEN_BYTES = 16

# --- small helpers ---------------------------------------------------------------------------




def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"



def nft_text(namespace: str, *args: str) -> str:
    done = subprocess.run(["ip", "netns", "exec", namespace, "nft", *args], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"nft {' '.join(args)} in {namespace}: {done.stderr.strip()}")
    return done.stdout


def count_elements(namespace: str, set_name: str) -> int:
    data = json.loads(nft_text(namespace, "-j", "list", "set", "inet", TABLE, set_name))
    return sum(len(item["set"].get("elem", ())) for item in data["nftables"] if "set" in item)


class Namespaces:
    """Network namespaces `npl-<id>-<suffix>`, removed (with their processes) by `close`."""

    def __init__(self, ident: str) -> None:
        self.prefix = f"npl-{ident}-"
        self.made: list[str] = []

    def make(self, suffix: str) -> str:
        name = self.prefix + suffix
        netns.create(name)
        self.made.append(name)
        return name

    def remove(self, name: str) -> None:
        netns.kill_processes(name)
        netns.delete(name)
        if name in self.made:
            self.made.remove(name)

    def close(self) -> None:
        for name in list(self.made):
            self.remove(name)


# --- synthetic clusters on one node ----------------------------------------------------------


@dataclass
class Objects:
    """Raw API objects by kind, as the agent's informers keep them."""

    namespaces: list[JSON]
    pods: list[JSON]
    policies: list[JSON]
    nodes: list[JSON]
    cluster_policies: list[JSON] = field(default_factory=list)
    """ClusterNetworkPolicies (bench/generate_tiers.py), both tiers."""

    def by_kind(self) -> dict[str, list[JSON]]:
        out = {"Namespace": self.namespaces, "Pod": self.pods, "NetworkPolicy": self.policies,
               "Node": self.nodes}
        for policy in self.cluster_policies:
            out.setdefault(policy["kind"], []).append(policy)
        return out

    @property
    def policy_rules(self) -> int:
        """Rules of every policy, NetworkPolicies and tiered ones."""
        return sum(len(p["spec"].get("ingress") or ()) + len(p["spec"].get("egress") or ())
                   for p in self.policies + self.cluster_policies)


def node_object(name: str, cidr: str, ip: str | None = None) -> JSON:
    status: JSON = {"conditions": [{"type": "Ready", "status": "True"}]}
    if ip is not None:
        status["addresses"] = [{"type": "InternalIP", "address": ip}]
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {"podCIDR": cidr, "podCIDRs": [cidr]}, "status": status}


def one_node_cluster(pods: int, policies: int, seed: int, node: str, cidr: str,
                     first_offset: int = 2, cluster_policies: int = 0) -> Objects:
    """bench/generate.py's cluster with every pod on `node`, addressed from `cidr` (the
    `first_offset`-th address on), and `cluster_policies` ClusterNetworkPolicies of both
    tiers. The generator spreads pods over nodes of 10.64.0.0/10; here they share one node,
    as the agent of that node sees them. Policies are unchanged (their ipBlocks and
    networks keep naming the generator's ranges)."""
    cluster = generate.generate(pods, policies, seed)
    tiered = generate_tiers.tiered_policies(cluster.namespaces, cluster_policies, seed,
                                            generate_tiers.CLUSTER_KINDS)
    network = ipaddress.ip_network(cidr)
    if first_offset + len(cluster.pods) >= network.num_addresses:
        raise ValueError(f"{len(cluster.pods)} pods do not fit in {cidr}")
    for i, pod in enumerate(cluster.pods):
        ip = str(network[first_offset + i])
        pod["spec"]["nodeName"] = node
        pod["status"]["podIP"] = ip
        pod["status"]["podIPs"] = [{"ip": ip}]
    return Objects(cluster.namespaces, cluster.pods, cluster.policies, [node_object(node, cidr)],
                   tiered)


# --- 1. programming a node from scratch --------------------------------------------------------


class TimedNft(Nft):
    """The real runner (in-process libnftables, as the agent runs it in its node),
    remembering when its last transaction started and returned and what it held. Close
    it before removing its namespace."""

    def __init__(self, namespace: str | None) -> None:
        super().__init__(namespace, in_process=True)
        self.last: tuple[float, float] | None = None
        self.summary: dict[str, int] = {}
        self.added_sets: list[str] = []
        self.added_chains: list[str] = []

    def run(self, tx: Transaction) -> None:
        started = time.perf_counter()
        super().run(tx)
        self.last = (started, time.perf_counter())
        kinds: Counter[str] = Counter(f"{op.verb} {type(op.obj).__name__.lower()}"
                                      for op in tx.operations)
        self.summary = dict(sorted(kinds.items()))
        self.added_sets = [op.obj.name for op in tx.operations
                           if op.verb == "add" and isinstance(op.obj, Set)]
        self.added_chains = [op.obj.name for op in tx.operations
                             if op.verb == "add" and isinstance(op.obj, Chain)]


@dataclass
class ProgramFigures:
    pods: int
    policies: int
    policy_rules: int
    elements: int
    nft_rules: int
    chains: int
    sets: int
    operations: int
    peer_elements: int
    peer_elements_distinct: int
    """Elements of the per-rule peer sets, and what they would be with one set per distinct
    content (many rules select the same peers)."""
    convert: float
    compile: float
    render: float
    transition: float
    apply: float
    sync: float
    """`Enforcer.sync` as a whole (compile + render + transition + nft apply)."""
    in_kernel: int
    """Elements of `known_pods4` read back from the kernel."""

    @property
    def ratio(self) -> float:
        return self.elements / (self.pods + self.policy_rules)


def measure_program(objects: Objects, namespace: str) -> ProgramFigures:
    started = time.perf_counter()
    snapshot = Converter().snapshot(objects.by_kind())
    convert = time.perf_counter() - started
    if snapshot.errors:
        raise RuntimeError(f"the generated cluster does not validate: {snapshot.errors[:3]}")
    runner = TimedNft(namespace)
    enforcer = Enforcer(NODE, runner)
    try:
        report = enforcer.sync(snapshot)
    finally:
        runner.close()
    assert runner.last is not None and enforcer.program is not None
    apply = runner.last[1] - runner.last[0]
    # The same phases alone, on a fresh snapshot (nothing cached from the run above).
    fresh = Converter().snapshot(objects.by_kind())
    t0 = time.perf_counter()
    view = CompiledView(fresh.state)
    t1 = time.perf_counter()
    cidrs = tuple(ipaddress.ip_network(c) for c in fresh.pod_cidrs.get(NODE, []))
    program = render(view, NodeScope(local_endpoints(view, NODE), cidrs))
    t2 = time.perf_counter()
    tx = transition(None, program)
    t3 = time.perf_counter()
    if program != enforcer.program:
        raise RuntimeError("rendering twice gave two programs")
    peers = [s.elements for name, s in program.sets.items() if name[:3] in ("p4_", "p6_")]
    return ProgramFigures(
        pods=len(objects.pods), policies=len(objects.policies), policy_rules=objects.policy_rules,
        elements=report.elements, nft_rules=report.rules, chains=len(program.chains),
        sets=len(program.sets) + len(program.maps), operations=len(tx),
        peer_elements=sum(len(p) for p in peers),
        peer_elements_distinct=sum(len(p) for p in set(peers)),
        convert=convert, compile=t1 - t0, render=t2 - t1, transition=t3 - t2, apply=apply,
        sync=report.duration, in_kernel=count_elements(namespace, "known_pods4"))


def run_program(args: argparse.Namespace, spaces: Namespaces) -> dict[str, Any]:
    print(f"\n## 1. Programming a node from scratch ({args.pods} pods, {args.policies} policies, "
          f"{args.cluster_policies} ClusterNetworkPolicies)\n", flush=True)
    main_runs: list[ProgramFigures] = []
    for run in range(args.program_runs):
        objects = one_node_cluster(args.pods, args.policies, args.seed, NODE, args.node_cidr,
                                   cluster_policies=args.cluster_policies)
        namespace = spaces.make(f"prog{run}")
        try:
            main_runs.append(measure_program(objects, namespace))
        finally:
            spaces.remove(namespace)
    growth: list[ProgramFigures] = []
    by_sync = sorted(main_runs, key=lambda f: f.sync)
    for pods, policies in args.growth:
        if (pods, policies) == (args.pods, args.policies):
            growth.append(by_sync[len(by_sync) // 2])  # the median run
            continue
        objects = one_node_cluster(pods, policies, args.seed, NODE, args.node_cidr,
                                   cluster_policies=args.cluster_policies)
        namespace = spaces.make(f"grow{pods}")
        try:
            growth.append(measure_program(objects, namespace))
        finally:
            spaces.remove(namespace)

    def med(attr: str) -> float:
        return median([getattr(f, attr) for f in main_runs])

    first = main_runs[0]
    rows = [[f"run {i + 1}", ms(f.sync), ms(f.compile), ms(f.render), ms(f.transition), ms(f.apply),
             ms(f.convert)] for i, f in enumerate(main_runs)]
    rows.append(["median", *(ms(med(a)) for a in ("sync", "compile", "render", "transition", "apply",
                                                  "convert"))])
    print(table(["", "Enforcer.sync ms", "compile ms", "render ms", "transition ms",
                 "nft apply ms", "(convert objects ms)"], rows))
    print(f"\nprogram: {first.elements} elements, {first.nft_rules} rules in {first.chains} chains, "
          f"{first.sets} sets and maps; {first.operations} operations in the transaction; "
          f"known_pods4 read back from the kernel: {first.in_kernel} elements.")
    print("The phases are re-run alone on a fresh snapshot; 'nft apply' is the runner inside "
          "Enforcer.sync (script rendering + libnftables, in-process).\n")
    grow_rows = [[str(f.pods), str(f.policies), str(f.policy_rules), str(f.elements), str(f.nft_rules),
                  f"{f.ratio:.1f}", f"{f.peer_elements}", f"{f.peer_elements_distinct}", ms(f.sync)]
                 for f in growth]
    print(table(["pods", "policies", "policy rules", "elements", "nft rules",
                 "elements/(pods+policy rules)", "peer-set elements", "…if one set per distinct "
                 "peer content", "sync ms"], grow_rows))
    ratios = [f.ratio for f in growth]
    return {
        "runs": [asdict(f) for f in main_runs], "growth": [asdict(f) for f in growth],
        "sync": med("sync"), "elements": first.elements, "rules": first.nft_rules,
        "ratio_spread": max(ratios) / min(ratios) if ratios else float("nan"),
        "in_kernel_ok": all(f.in_kernel == f.pods for f in main_runs),
    }


# --- 2. one change, end to end ------------------------------------------------------------------


class ApiServer:
    """The lab's API server on a Store, TLS and a bearer token, in its own thread and loop
    (as tests/lab/conftest.py runs it), with bookmarks every 0.1 s as the lab daemon has."""

    def __init__(self, directory: Path) -> None:
        from netpolicy.lab.apiserver import FakePodRuntime, create_app, kubeconfig, self_signed, serve
        from netpolicy.lab.apiserver.credentials import write_kubeconfig
        from netpolicy.lab.store import Store

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="apiserver", daemon=True)
        self.thread.start()
        self.store = Store(directory / "state")
        self.kubeconfig = directory / "kubeconfig"
        token = secrets.token_hex(TOKEN_BYTES)
        certificate = self_signed()
        runtime = FakePodRuntime()

        async def start() -> Any:
            app = create_app(self.store, token, runtime, bookmark_interval=0.1)
            served = await serve(app, ssl_context=certificate.server_context())
            write_kubeconfig(self.kubeconfig, kubeconfig(served.url, token, certificate.cert_pem))
            return served

        self.served = self.call(start())

    def call(self, coro: Awaitable[T], timeout: float = 300) -> T:
        async def wrapped() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call(self.served.close(), timeout=10)
        self.store.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


async def preload(store: Any, objects: Objects) -> None:
    from netpolicy.lab.crds import default_crds, install_crds
    from netpolicy.lab.store import AlreadyExists

    await install_crds(store, default_crds())  # the network-policy-api kinds, as at lab start
    for ns in objects.namespaces:
        with contextlib.suppress(AlreadyExists):
            await store.create("namespaces", ns)
    for node in objects.nodes:
        await store.create("nodes", node)
    for pod in objects.pods:
        await create_pod(store, pod)
    for policy in objects.policies:
        await store.create("networkpolicies", policy)
    for policy in objects.cluster_policies:
        await store.create(TIER_RESOURCES[policy["kind"]], policy)


async def create_pod(store: Any, pod: JSON, with_status: bool = True) -> int:
    """Create a pod (the store drops `status` on create, as the API server does), then write
    its status; returns the resourceVersion of the last write."""
    meta = pod["metadata"]
    created = await store.create("pods", {k: v for k, v in pod.items() if k != "status"})
    if not with_status:
        return int(created["metadata"]["resourceVersion"])
    return await set_pod_status(store, meta["namespace"], meta["name"], pod["status"])


async def set_pod_status(store: Any, namespace: str, name: str, status: JSON) -> int:
    def change(obj: JSON) -> None:
        obj["status"] = {**obj.get("status", {}), **status,
                         "conditions": [{"type": "Ready", "status": "True"}]}

    written = await store.modify("pods", namespace, name, change, subresource="status")
    return int(written["metadata"]["resourceVersion"])


class AgentEvents:
    """The JSON lines the agent child prints, collected by a reader thread."""

    def __init__(self, stream: Any) -> None:
        self.events: list[JSON] = []
        self.cond = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with self.cond:
                self.events.append(event)
                self.cond.notify_all()
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def wait(self, predicate: Callable[[JSON], bool], timeout: float, what: str) -> JSON:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise RuntimeError(f"the agent did not report {what} within {timeout:.0f}s"
                                       + (" (it exited)" if self.closed else ""))
                self.cond.wait(left)

    def find_all(self, kind: str) -> list[JSON]:
        with self.cond:
            return [e for e in self.events if e["ev"] == kind]

    def find(self, predicate: Callable[[JSON], bool]) -> JSON | None:
        with self.cond:
            return next((e for e in self.events if predicate(e)), None)


@dataclass
class ChangeSample:
    latency: float
    """Write -> `nft -f` returned (the kernel committed the agent's transaction)."""
    watch: float
    """Write -> the watch event is in the agent's cache."""
    to_sync: float
    """Write -> Enforcer.sync starts."""
    to_nft: float
    """Write -> `nft -f` starts."""
    nft: float
    sync: float
    operations: int
    summary: dict[str, int]
    status: float
    """Write -> the status file says the agent is at this resourceVersion."""


@dataclass
class ChangeFigures:
    preload: float
    first_sync: float
    pod_added: list[ChangeSample] = field(default_factory=list)
    pod_created_sync: list[float] = field(default_factory=list)
    """Enforcer.sync of the pod's creation (no IP yet: nothing to change in nft)."""
    policy_changed: list[ChangeSample] = field(default_factory=list)
    admin_changed: list[ChangeSample] = field(default_factory=list)
    """A ClusterNetworkPolicy's rule port changed."""
    offline_pod_ops: int = 0
    offline_pod_summary: dict[str, int] = field(default_factory=dict)
    counters: list[float] = field(default_factory=list)
    """Durations of the agent's counter reads (every 2 s, in a thread)."""


def _pick_template(objects: Objects) -> JSON:
    """A pod that many policies talk about: an `api` pod of a team namespace."""
    for pod in objects.pods:
        if pod["metadata"]["labels"].get("app") == "api":
            return pod
    return objects.pods[-1]


def _pick_policy(objects: Objects) -> tuple[JSON, int]:
    """A policy whose first ingress rule's first port is a plain TCP number; and its index."""
    for policy in objects.policies:
        rules = policy["spec"].get("ingress") or []
        ports = (rules[0].get("ports") or []) if rules else []
        if (ports and isinstance(ports[0].get("port"), int) and "endPort" not in ports[0]
                and ports[0].get("protocol", "TCP") == "TCP"):
            return policy, 0
    raise RuntimeError("no policy with a numeric TCP port in the generated cluster")


def _pick_cluster_policy(objects: Objects) -> tuple[JSON, str, int, int] | None:
    """A ClusterNetworkPolicy of the Admin tier with a rule whose protocols hold a TCP port
    number, and the policy selects a pod (so the node renders it): (policy, direction, rule
    index, protocol index)."""
    snapshot = Converter().snapshot(objects.by_kind())
    view = CompiledView(snapshot.state)
    for policy in objects.cluster_policies:
        if policy["spec"].get("tier") != "Admin":
            continue
        for direction in ("ingress", "egress"):
            sides = view.ingress if direction == "ingress" else view.egress
            if not any(f"ClusterNetworkPolicy/{policy['metadata']['name']}" in side.tiered_by
                       for side in sides):
                continue
            for r, rule in enumerate(policy["spec"].get(direction) or []):
                for q, proto in enumerate(rule.get("protocols") or []):
                    if "number" in ((proto.get("tcp") or {}).get("destinationPort") or {}):
                        return policy, direction, r, q
    return None


def offline_pod_transaction(objects: Objects, pod: JSON) -> Transaction:
    """The transaction for one pod added, computed without the agent (transition of two
    programs), to count what it touches."""
    converter = Converter()
    before = converter.snapshot(objects.by_kind())
    after = converter.snapshot({**objects.by_kind(), "Pod": [*objects.pods, pod]})

    def program(snapshot: Snapshot) -> Program:
        view = CompiledView(snapshot.state)
        cidrs = tuple(ipaddress.ip_network(c) for c in snapshot.pod_cidrs.get(NODE, []))
        return render(view, NodeScope(local_endpoints(view, NODE), cidrs))

    return transition(program(before), program(after))


def check_port_in_kernel(namespace: str, sync: JSON, port: int) -> None:
    """The port a change wrote is in the kernel: inline in one of the chains the agent's
    transaction added, or in one of the port sets it added."""
    listed = "".join(nft_text(namespace, "list", "set", "inet", TABLE, name)
                     for name in sync["added_sets"] if name.startswith("t_"))
    listed += "".join(nft_text(namespace, "list", "chain", "inet", TABLE, name)
                      for name in sync["added_chains"])
    if f"tcp . {port}" not in listed and f"tcp dport {port} " not in listed:
        raise RuntimeError(f"port {port} is in neither the new chains "
                           f"{sync['added_chains']} nor the new port sets {sync['added_sets']}")


def run_change(args: argparse.Namespace, spaces: Namespaces, directory: Path) -> ChangeFigures:
    print(f"\n## 2. One change, end to end from the API write ({args.pods} pods, "
          f"{args.policies} policies, {args.cluster_policies} ClusterNetworkPolicies, "
          f"{args.repeat} repetitions)\n", flush=True)
    objects = one_node_cluster(args.pods, args.policies, args.seed, NODE, args.node_cidr,
                               cluster_policies=args.cluster_policies)
    network = ipaddress.ip_network(args.node_cidr)
    namespace = spaces.make("agent")
    server = ApiServer(directory)
    child: subprocess.Popen[str] | None = None
    try:
        started = time.perf_counter()
        server.call(preload(server.store, objects))
        figures = ChangeFigures(preload=time.perf_counter() - started, first_sync=0.0)
        status_file = directory / "agent-status.json"
        log_file = directory / "agent.log"
        command = [sys.executable, str(Path(__file__).resolve()), "--agent-child",
                   "--node", NODE, "--kubeconfig", str(server.kubeconfig), "--netns", namespace,
                   "--status-file", str(status_file)]
        with open(log_file, "w") as log:
            child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True,
                                     bufsize=1)
        events = AgentEvents(child.stdout)
        first = events.wait(lambda e: e["ev"] == "sync" and e["ops"] > 0, 120, "its first sync")
        figures.first_sync = first["t1"] - first["t0"]
        events.wait(lambda e: e["ev"] == "status" and e["t"] > first["t1"], 60, "its status")

        def settle(after: float) -> None:
            """Wait until the agent has written its status after the last sync (it reads
            the rule counters first), and a little more."""
            events.wait(lambda e: e["ev"] == "status" and e["t"] > after, 60, "its status")
            time.sleep(0.05)

        def sample(written: float, rv: int, what: str) -> tuple[ChangeSample, JSON]:
            sync = events.wait(lambda e: e["ev"] == "sync" and e["rv"] >= rv, 60, what)
            cached = events.find(lambda e: e["ev"] == "event" and e["rv"] == rv)
            status = events.wait(lambda e: e["ev"] == "status" and e["rv"] >= rv
                                 and e["t"] >= sync["t1"], 60, f"its status after {what}")
            if not sync["ops"]:
                raise RuntimeError(f"{what}: the agent's transaction was empty")
            return ChangeSample(
                latency=sync["nft1"] - written,
                watch=(cached["t"] - written) if cached else float("nan"),
                to_sync=sync["t0"] - written, to_nft=sync["nft0"] - written,
                nft=sync["nft1"] - sync["nft0"], sync=sync["t1"] - sync["t0"],
                operations=sync["ops"], summary=sync["summary"], status=status["t"] - written,
            ), sync

        # (a) one pod added: created (no IP yet), then its IP written by "the kubelet".
        template = _pick_template(objects)
        for i in range(args.repeat):
            pod = copy.deepcopy(template)
            pod["metadata"] = {"name": f"bench-add-{i}", "namespace": template["metadata"]["namespace"],
                               "labels": dict(template["metadata"]["labels"])}
            ip = str(network[2 + len(objects.pods) + i])
            create_rv = server.call(create_pod(server.store, pod, with_status=False))
            created = events.wait(lambda e, rv=create_rv: e["ev"] == "sync" and e["rv"] >= rv, 60,
                                  "the pod's creation")
            figures.pod_created_sync.append(created["t1"] - created["t0"])
            settle(created["t1"])

            async def give_ip(pod: JSON = pod, ip: str = ip) -> tuple[float, int]:
                written = time.perf_counter()
                rv = await set_pod_status(server.store, pod["metadata"]["namespace"],
                                          pod["metadata"]["name"],
                                          {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]})
                return written, rv

            written, rv = server.call(give_ip())
            result, sync = sample(written, rv, f"pod {i}'s IP")
            if ip not in nft_text(namespace, "list", "set", "inet", TABLE, "known_pods4"):
                raise RuntimeError(f"{ip} is not in known_pods4 after the agent's sync")
            figures.pod_added.append(result)
            settle(sync["t1"])

        # (b) one policy changed: its first ingress rule's first port, to a new number.
        policy, _ = _pick_policy(objects)
        meta = policy["metadata"]
        for i in range(args.repeat):
            port = 20000 + i

            async def change_port(port: int = port) -> tuple[float, int]:
                def edit(obj: JSON) -> None:
                    obj["spec"]["ingress"][0]["ports"][0]["port"] = port

                written = time.perf_counter()
                done = await server.store.modify("networkpolicies", meta["namespace"], meta["name"],
                                                 edit)
                return written, int(done["metadata"]["resourceVersion"])

            written, rv = server.call(change_port())
            result, sync = sample(written, rv, f"policy change {i}")
            check_port_in_kernel(namespace, sync, port)
            figures.policy_changed.append(result)
            settle(sync["t1"])

        # (c) one admin policy changed: a ClusterNetworkPolicy rule's TCP port.
        picked = _pick_cluster_policy(objects)
        if picked is None and objects.cluster_policies:
            raise RuntimeError("no Admin-tier ClusterNetworkPolicy with a TCP port selects a pod")
        for i in range(args.repeat if picked else 0):
            assert picked is not None
            port = 21000 + i

            async def change_admin(port: int = port,
                                   picked: tuple[JSON, str, int, int] = picked) -> tuple[float, int]:
                cnp, direction, r, q = picked

                def edit(obj: JSON) -> None:
                    obj["spec"][direction][r]["protocols"][q]["tcp"]["destinationPort"] = {
                        "number": port}

                written = time.perf_counter()
                done = await server.store.modify(TIER_RESOURCES["ClusterNetworkPolicy"], None,
                                                 cnp["metadata"]["name"], edit)
                return written, int(done["metadata"]["resourceVersion"])

            written, rv = server.call(change_admin())
            result, sync = sample(written, rv, f"admin policy change {i}")
            check_port_in_kernel(namespace, sync, port)
            figures.admin_changed.append(result)
            settle(sync["t1"])

        figures.counters = [e["t1"] - e["t0"] for e in events.find_all("counters")]
        pod = copy.deepcopy(template)
        pod["metadata"]["name"] = "bench-offline"
        ip = str(network[2 + len(objects.pods) + args.repeat])
        pod["status"].update({"podIP": ip, "podIPs": [{"ip": ip}]})
        tx = offline_pod_transaction(objects, pod)
        figures.offline_pod_ops = len(tx)
        figures.offline_pod_summary = dict(Counter(f"{op.verb} {type(op.obj).__name__.lower()}"
                                                   for op in tx.operations))
    finally:
        if child is not None:
            stop_process(child)
        server.close()
        spaces.remove(namespace)
    print_change(figures)
    return figures


def stop_process(process: subprocess.Popen[Any], timeout: float = 10) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def print_change(f: ChangeFigures) -> None:
    print(f"preloaded the store in {f.preload:.1f} s; the agent's first sync took "
          f"{f.first_sync * 1000:.0f} ms\n")
    headers = ["change", "n", "write→in kernel median ms", "p95 ms", "→watch event", "→sync start",
               "→nft start", "nft -f ms", "Enforcer.sync ms", "→status file", "nft ops"]
    rows = []
    for name, samples in (("(a) pod gets its IP", f.pod_added), ("(b) policy port changed",
                                                                  f.policy_changed),
                          ("(c) admin policy port changed", f.admin_changed)):
        if not samples:
            continue

        def med(attr: str, samples: list[ChangeSample] = samples) -> str:
            return ms(median([getattr(s, attr) for s in samples]))

        ops = sorted({s.operations for s in samples})
        rows.append([name, str(len(samples)), med("latency"),
                     ms(percentile([s.latency for s in samples], 95)), med("watch"), med("to_sync"),
                     med("to_nft"), med("nft"), med("sync"), med("status"),
                     "/".join(str(o) for o in ops)])
    print(table(headers, rows))
    print("(→x: median ms from the write to x; 'nft -f' and 'Enforcer.sync': their own durations)")
    if f.pod_created_sync:
        print(f"\nthe pod's creation before its IP (no nft change) cost an Enforcer.sync of "
              f"{median(f.pod_created_sync) * 1000:.0f} ms (median)")
    if f.pod_added:
        print(f"one pod added, the agent's transaction: {f.pod_added[0].summary}")
    if f.policy_changed:
        print(f"one policy port changed, the agent's transaction: {f.policy_changed[0].summary}")
    if f.admin_changed:
        print(f"one ClusterNetworkPolicy port changed, the agent's transaction: "
              f"{f.admin_changed[0].summary}")
    print(f"one pod added, transition(old, new) computed offline: {f.offline_pod_ops} operations "
          f"{f.offline_pod_summary}")
    if f.counters:
        print(f"every 2 s the agent reads its counters, off the event loop "
              f"(`nft -j list counters`): {len(f.counters)} reads, median "
              f"{median(f.counters) * 1000:.0f} ms, max {max(f.counters) * 1000:.0f} ms")


# --- the agent, as a child process ------------------------------------------------------------


class _Emitter:
    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __call__(self, **fields: Any) -> None:
        with self.lock:
            sys.stdout.write(json.dumps(fields) + "\n")
            sys.stdout.flush()


class TimedCache(ClusterCache):
    """The agent's cache, reporting when each watch event lands, and which resourceVersion
    every snapshot includes at least."""

    def __init__(self, emit: _Emitter) -> None:
        super().__init__()
        self.emit = emit
        self.max_rv = 0
        self.snapshot_rv = 0

    def replace(self, kind: str, items: list[JSON], rv: str = "") -> None:
        super().replace(kind, items, rv)
        with contextlib.suppress(ValueError):
            self.max_rv = max(self.max_rv, int(rv))

    def apply(self, kind: str, event_type: str, obj: JSON) -> None:
        super().apply(kind, event_type, obj)
        at = time.perf_counter()
        rv = int((obj.get("metadata") or {}).get("resourceVersion") or 0)
        self.max_rv = max(self.max_rv, rv)
        self.emit(ev="event", kind=kind, type=event_type, rv=rv, t=at)

    def snapshot(self) -> tuple[int, int, dict[str, list[JSON]]]:
        self.snapshot_rv = self.max_rv  # read first: the snapshot holds at least this much
        return super().snapshot()


class TimedEnforcer(Enforcer):
    def __init__(self, node: str, runner: TimedNft, cache: TimedCache, emit: _Emitter) -> None:
        super().__init__(node, runner)
        self.timed_runner, self.cache, self.emit = runner, cache, emit

    def sync(self, snapshot: Snapshot, generation: int = 0) -> SyncReport:
        rv = self.cache.snapshot_rv
        self.timed_runner.last = None
        started = time.perf_counter()
        report = super().sync(snapshot, generation)
        ended = time.perf_counter()
        nft = self.timed_runner.last or (float("nan"), float("nan"))
        self.emit(ev="sync", rv=rv, t0=started, t1=ended, nft0=nft[0], nft1=nft[1],
                  ops=report.operations, elements=report.elements,
                  summary=self.timed_runner.summary if report.operations else {},
                  added_sets=self.timed_runner.added_sets if report.operations else [],
                  added_chains=self.timed_runner.added_chains if report.operations else [])
        return report

    def read_counters(self) -> Counter[str]:
        started = time.perf_counter()
        counters = super().read_counters()
        self.emit(ev="counters", t0=started, t1=time.perf_counter())
        return counters


class TimedStatus(AgentStatus):
    emit: _Emitter | None = None

    def write(self, path: Path) -> None:
        super().write(path)
        if self.emit is not None:
            self.emit(ev="status", rv=self.resource_version, t=time.perf_counter())


def agent_child(args: argparse.Namespace) -> int:
    """Run the real agent with timed parts; JSON lines on stdout, its log on stderr."""
    from netpolicy.agent.run import Agent, AgentOptions

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    emit = _Emitter()
    runner = TimedNft(args.netns)
    options = AgentOptions(node=args.node, kubeconfig=args.kubeconfig,
                           status_file=Path(args.status_file))
    agent = Agent(options, runner=runner)
    cache = TimedCache(emit)
    agent.cache = cache
    agent.enforcer = TimedEnforcer(args.node, runner, cache, emit)
    status = TimedStatus(args.node, options.existing)
    status.emit = emit
    agent.status = status

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, agent.stopping.set)
        await agent.run()

    asyncio.run(main())
    return 0


# --- 3. connection set-up latency ---------------------------------------------------------------

# Client and server each stay on one CPU (the last two): where the scheduler puts them
# otherwise changes from round to round and moves the medians by ±10 %, more than the
# rules do.
SERVER = r"""
import os, socket, sys, threading
os.sched_setaffinity(0, {os.cpu_count() - 1})

def serve(port, stream):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(4096)
    while True:
        c, _ = s.accept()
        if stream:
            n = 0
            while True:
                b = c.recv(1 << 20)
                if not b:
                    break
                n += len(b)
            c.sendall(str(n).encode())
        c.close()

port = int(sys.argv[1])
threading.Thread(target=serve, args=(port, False), daemon=True).start()
threading.Thread(target=serve, args=(port + 1, True), daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""

CLIENT = r"""
import json, os, socket, struct, sys, time
os.sched_setaffinity(0, {max(0, os.cpu_count() - 2)})

mode, host, port, arg = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
linger = struct.pack("ii", 1, 0)

def connects(n):
    out = []
    for _ in range(n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        t0 = time.perf_counter_ns()
        s.connect((host, port))
        out.append(time.perf_counter_ns() - t0)
        s.close()
    return out

if mode == "connect":
    print(json.dumps(connects(int(arg))))
elif mode == "batches":  # one process for every round: "N" on stdin -> N latencies
    print("ready", flush=True)
    for line in sys.stdin:
        print(json.dumps(connects(int(line))), flush=True)
elif mode == "stream":
    s = socket.create_connection((host, port))
    buf = bytes(65536)
    sent = 0
    t0 = time.perf_counter()
    end = t0 + arg
    while time.perf_counter() < end:
        s.sendall(buf)
        sent += len(buf)
    s.shutdown(socket.SHUT_WR)
    got = int(s.recv(64))
    print(json.dumps({"bytes": sent, "received": got, "seconds": time.perf_counter() - t0}))
else:
    s = socket.socket()
    s.settimeout(arg)
    try:
        s.connect((host, port))
        print(json.dumps("connected"))
    except TimeoutError:
        print(json.dumps("timeout"))
    except ConnectionRefusedError:
        print(json.dumps("refused"))
"""


def pod_python(namespace: str, script: str, *args: str, timeout: float = 300) -> Any:
    done = subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-I", "-S", "-c", script,
                           *args], capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"client in {namespace} failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


@dataclass
class ConnectFigures:
    none: list[float] = field(default_factory=list)
    conntrack: list[float] = field(default_factory=list)
    """Connect latencies (s) with a table that only tracks connections."""
    empty: list[float] = field(default_factory=list)
    """... with the agent's program for the same pods and no policy at all."""
    program: list[float] = field(default_factory=list)
    stream_none: list[float] = field(default_factory=list)
    stream_conntrack: list[float] = field(default_factory=list)
    stream_empty: list[float] = field(default_factory=list)
    stream_program: list[float] = field(default_factory=list)
    """Gbit/s of each stream."""
    pods: int = 0
    policies: int = 0
    elements: int = 0
    rules: int = 0
    server_chain: int = 0
    client_chain: int = 0
    cluster_policies: int = 0
    server_admin: int = 0
    client_admin: int = 0
    """Admin and baseline decisions (tiered rules) the server's ingress and the client's
    egress walk, none of which decides the connection."""
    denied_probe: str = ""
    allow_packets: int = 0
    server_pod: str = ""
    client_pod: str = ""
    round_medians: dict[str, list[float]] = field(default_factory=dict)
    """Each mode's median of each round (the rounds alternate the modes)."""

    def diff(self, q: float, mode: str = "program", base: str = "none") -> float:
        a, b = percentile(getattr(self, base), q), percentile(getattr(self, mode), q)
        return (b - a) / a * 100

    def paired(self, mode: str = "program", base: str = "empty") -> float:
        """The median over rounds of `mode`'s round median against `base`'s in the same round:
        the machine's drift from round to round (±15 % here) cancels out."""
        pairs = zip(self.round_medians.get(mode, []), self.round_medians.get(base, []),
                    strict=True)
        return median([(m - b) / b * 100 for m, b in pairs]) if self.round_medians else float("nan")


def _connect_state(objects: Objects, server: tuple[str, str], client: tuple[str, str],
                   port: int) -> tuple[Objects, JSON, JSON]:
    """Two generated pods become the real server and client (their addresses, a label), and
    two policies admit the client to the server on `port` and `port`+1 (the stream). The
    server is a pod isolated for ingress with the most rules to walk (admin decisions and
    allowances), the client one isolated for egress with the most: the longest chains of
    the program, among the pairs that no admin rule decides (each side walks every admin
    rule, none matching or a Pass, then NetworkPolicy decides). The policies are named to
    sort last, so their rules come last in those chains: the worst case, where a new
    connection walks past every other rule, admin ones first, before one allows it."""
    snapshot = Converter().snapshot(objects.by_kind())
    view = CompiledView(snapshot.state)
    endpoints = snapshot.state.endpoints

    def length(side: Any) -> tuple[bool, int]:
        return side.isolated, len(side.admin) + len(side.allowances) + len(side.baseline)

    servers = sorted(range(len(endpoints)), key=lambda i: length(view.ingress[i]), reverse=True)
    clients = sorted(range(len(endpoints)), key=lambda i: length(view.egress[i]), reverse=True)
    for s_i in servers:
        for c_i in clients[:50]:
            if s_i == c_i:
                continue
            before = verdict(snapshot.state, endpoints[c_i].key, endpoints[s_i].key, port)
            if not (before.egress.decided_by == before.ingress.decided_by == "networkpolicy"):
                continue  # an admin rule decides the pair: it would not walk the whole chain
            candidate = copy.deepcopy(objects)
            out = _admit(candidate, endpoints[s_i].key, endpoints[c_i].key, server, client, port)
            state = Converter().snapshot(candidate.by_kind()).state
            if (verdict(state, client[0], server[0], port).allowed
                    and not verdict(state, client[0], server[0], port + 2).allowed):
                return out  # a port the policies do not admit checks the enforcement
    raise RuntimeError("no pair of long-chained pods that the admin tier lets through")


def _admit(objects: Objects, server_key: str, client_key: str, server: tuple[str, str],
           client: tuple[str, str], port: int) -> tuple[Objects, JSON, JSON]:
    by_key = {f"{p['metadata']['namespace']}/{p['metadata']['name']}": p for p in objects.pods}
    server_pod, client_pod = by_key[server_key], by_key[client_key]
    for pod, (ip, role) in ((server_pod, server), (client_pod, client)):
        pod["status"]["podIP"] = ip
        pod["status"]["podIPs"] = [{"ip": ip}]
        pod["metadata"]["labels"]["bench-role"] = role
    ports = [{"protocol": "TCP", "port": port, "endPort": port + 1}]

    def peer(pod: JSON, role: str) -> JSON:
        return {"namespaceSelector": {"matchLabels": {
                    generate.NAME_LABEL: pod["metadata"]["namespace"]}},
                "podSelector": {"matchLabels": {"bench-role": role}}}

    allow_in = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "zz-bench-allow-client",
                             "namespace": server_pod["metadata"]["namespace"]},
                "spec": {"podSelector": {"matchLabels": {"bench-role": "server"}},
                         "policyTypes": ["Ingress"],
                         "ingress": [{"from": [peer(client_pod, "client")], "ports": ports}]}}
    allow_out = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                 "metadata": {"name": "zz-bench-allow-server",
                              "namespace": client_pod["metadata"]["namespace"]},
                 "spec": {"podSelector": {"matchLabels": {"bench-role": "client"}},
                          "policyTypes": ["Egress"],
                          "egress": [{"to": [peer(server_pod, "server")], "ports": ports}]}}
    objects.policies.extend([allow_in, allow_out])
    return objects, server_pod, client_pod


def free_ranges(wanted: tuple[str, str, str]) -> tuple[str, str, str]:
    """`wanted` (pods, services, links) if none overlaps a route of the host, else ranges
    that do not (another lab or test may be running with the same ones)."""
    taken = [ipaddress.ip_network(r.dst) for r in netns.configure(None, lambda nl: nl.routes())
             if not r.dst.endswith("/0")]

    def free(cidr: str) -> bool:
        net = ipaddress.ip_network(cidr)
        return not any(net.overlaps(t) for t in taken)

    if all(free(c) for c in wanted):
        return wanted
    rng = secrets.SystemRandom()
    sixteens = [f"10.{b}.0.0/16" for b in range(100, 250) if free(f"10.{b}.0.0/16")]
    links = [f"198.19.{c}.0/24" for c in range(256) if free(f"198.19.{c}.0/24")]
    if len(sixteens) < 2 or not links:
        raise RuntimeError("no free address ranges for the benchmark's topology")
    pods, services = rng.sample(sixteens, 2)
    chosen = (pods, services, rng.choice(links))
    print(f"(the ranges {', '.join(wanted)} clash with a host route; using {', '.join(chosen)})")
    return chosen


def run_connect(args: argparse.Namespace, ident: str) -> ConnectFigures:
    print(f"\n## 3. Connection set-up latency and stream throughput, {args.connect_policies} policies "
          f"+ {args.connect_cluster_policies} ClusterNetworkPolicies vs none ({args.connections} "
          f"connections, {args.rounds} alternating rounds)\n", flush=True)
    pod_cidr, service_cidr, infra_cidr = free_ranges((args.pod_cidr, args.service_cidr,
                                                      args.infra_cidr))
    config = LabConfig(name=ident, pod_cidr=pod_cidr, node_prefix_len=20,
                       service_cidr=service_cidr, infra_cidr=infra_cidr)
    figures = ConnectFigures()
    port = 18080
    server_process: subprocess.Popen[str] | None = None
    runner: Nft | None = None
    topology = create_fabric(config)
    try:
        node = topology.add_node("n1")
        server = topology.add_pod("n1", "server", namespace="bench", hostname="server")
        client = topology.add_pod("n1", "client", namespace="bench", hostname="client")
        objects = one_node_cluster(args.connect_pods, args.connect_policies - 2, args.seed, "n1",
                                   node.pod_cidr, first_offset=16,
                                   cluster_policies=args.connect_cluster_policies)
        objects.nodes = [node_object("n1", node.pod_cidr, node.ip)]
        objects, server_pod, client_pod = _connect_state(objects, (server.ip, "server"),
                                                         (client.ip, "client"), port)
        figures.pods, figures.policies = len(objects.pods), len(objects.policies)
        figures.cluster_policies = len(objects.cluster_policies)
        figures.server_pod = "{namespace}/{name}".format(**server_pod["metadata"])
        figures.client_pod = "{namespace}/{name}".format(**client_pod["metadata"])
        snapshot = Converter().snapshot(objects.by_kind())
        if snapshot.errors:
            raise RuntimeError(f"the cluster does not validate: {snapshot.errors[:3]}")
        state = snapshot.state
        sides = CompiledView(state)
        index = {e.key: i for i, e in enumerate(state.endpoints)}
        s_view = sides.ingress[index[figures.server_pod]]
        c_view = sides.egress[index[figures.client_pod]]
        figures.server_admin = len(s_view.admin) + len(s_view.baseline)
        figures.client_admin = len(c_view.admin) + len(c_view.baseline)
        if not verdict(state, client.ip, server.ip, port).allowed:
            raise RuntimeError("the engine does not admit the client: the benchmark is wrong")
        denied = next((p for p in (port + 2, 47, 1) if not verdict(state, client.ip, server.ip, p).allowed),
                      None)
        runner = Nft(node.netns, in_process=True)
        enforcer = Enforcer("n1", runner)
        enforcer.sync(snapshot)
        assert enforcer.program is not None
        program = enforcer.program
        figures.elements, figures.rules = program.element_count, program.rule_count

        def chain_length(map_name: str, ip: str) -> int:
            target = program.maps[map_name].entries.get(ip, "")
            chain = program.chains.get(target.removeprefix("jump "))
            return len(chain.rules) if chain else 0

        figures.server_chain = chain_length("ingress_pods4", server.ip)
        figures.client_chain = chain_length("egress_pods4", client.ip)
        server_process = subprocess.Popen(
            ["ip", "netns", "exec", server.netns, sys.executable, "-I", "-S", "-c", SERVER, str(port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert server_process.stdout is not None
        if server_process.stdout.readline().strip() != "ready":
            raise RuntimeError("the server pod's process did not start")
        if denied is not None:
            figures.denied_probe = f"port {denied}: " + str(
                pod_python(client.netns, CLIENT, "probe", server.ip, str(denied), "0.5"))

        empty_state = ClusterState(state.namespaces.values(), state.endpoints, ())
        empty_view = CompiledView(empty_state)
        empty_program = render(empty_view, NodeScope(local_endpoints(empty_view, "n1"),
                                                     (ipaddress.ip_network(node.pod_cidr),)))
        conntrack_program = Program(Family.INET, "netpol_ct", chains={"forward": ChainSpec(
            Chain("forward", ChainType.FILTER, Hook.FORWARD, Priority.FILTER, "accept"),
            ("ct state established,related accept",))})
        # Every program stays loaded, in a table of its own, for the whole measurement;
        # a mode hooks one of them (adds its base chains) and unhooks the others. A switch
        # is a transaction of a few rules, so the modes alternate every few dozen
        # connections and meet the machine in the same state.
        tables: dict[str, Program] = {"conntrack": conntrack_program,
                                      "empty": replace(empty_program, table="netpol_empty"),
                                      "program": program}
        parked = {m: replace(p, chains={n: c for n, c in p.chains.items() if c.chain.hook is None})
                  for m, p in tables.items()}  # loaded, but without their base chains
        for p in parked.values():
            runner.run(transition(None, p))
        hooked: list[str] = []

        def hook(mode: str) -> Callable[[], None]:
            def switch() -> None:
                for current in hooked:
                    runner.run(transition(tables[current], parked[current]))
                hooked.clear()
                if mode in tables:
                    runner.run(transition(parked[mode], tables[mode]))
                    hooked.append(mode)
            return switch

        modes: dict[str, Callable[[], None]] = {m: hook(m) for m in ("none", "conntrack", "empty",
                                                                    "program")}
        with_program = modes["program"]
        names = list(modes)

        def order(r: int) -> list[str]:
            return names[r % len(names):] + names[:r % len(names)]

        per_round = max(1, args.connections // args.rounds)
        # One client process for all rounds: a process started per round lands in a
        # different state each time (round medians from 30 to 85 µs here), which buries
        # the microseconds the rules cost.
        batches = subprocess.Popen(
            ["ip", "netns", "exec", client.netns, sys.executable, "-I", "-S", "-c", CLIENT,
             "batches", server.ip, str(port), "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert batches.stdin is not None and batches.stdout is not None

        def batch(n: int) -> list[int]:
            assert batches.stdin is not None and batches.stdout is not None
            batches.stdin.write(f"{n}\n")
            batches.stdin.flush()
            line = batches.stdout.readline()
            if not line:
                raise RuntimeError("the client process ended")
            return list(json.loads(line))

        try:
            if batches.stdout.readline().strip() != "ready":
                raise RuntimeError("the client pod's process did not start")
            for r in range(args.rounds):
                for mode in order(r):
                    modes[mode]()
                    batch(args.warmup)
                    latencies = [ns / 1e9 for ns in batch(per_round)]
                    getattr(figures, mode).extend(latencies)
                    figures.round_medians.setdefault(mode, []).append(median(latencies))
        finally:
            batches.stdin.close()
            stop_process(batches)
        for r in range(args.stream_rounds):
            for mode in order(r):
                modes[mode]()
                result = pod_python(client.netns, CLIENT, "stream", server.ip, str(port + 1),
                                    str(args.stream_seconds))
                if result["received"] != result["bytes"]:
                    raise RuntimeError(f"the stream lost bytes: {result}")
                getattr(figures, f"stream_{mode}").append(result["bytes"] * 8 / result["seconds"] / 1e9)
        with_program()
        pod_python(client.netns, CLIENT, "connect", server.ip, str(port), "10")
        counters = runner.counters(Family.INET, TABLE)
        figures.allow_packets = sum(packets for name, packets in counters.items()
                                    if "bench-allow" in program.notes.get(name, name))
    finally:
        if server_process is not None:
            if server_process.stdin is not None:
                with contextlib.suppress(OSError):
                    server_process.stdin.close()
            stop_process(server_process)
        if runner is not None:
            runner.close()  # its open context would keep the node's namespace alive
        teardown(config)
    print_connect(figures)
    return figures


def print_connect(f: ConnectFigures) -> None:
    print(f"state: {f.pods} pods on the node, {f.policies} NetworkPolicies (2 of them admit the "
          f"client), {f.cluster_policies} ClusterNetworkPolicies; program: {f.elements} elements, "
          f"{f.rules} rules; the client ({f.client_pod}) has an egress chain of {f.client_chain} "
          f"rules after {f.client_admin} tiered rules, the server ({f.server_pod}) an ingress "
          f"chain of {f.server_chain} after {f.server_admin}")
    print(f"enforcement check with the program, a port no policy admits: {f.denied_probe or 'n/a'}; "
          f"packets counted by the bench-allow rules: {f.allow_packets}\n")
    rows = []
    for name, mode in (("no nftables table", "none"), ("conntrack only", "conntrack"),
                       ("agent, no policies", "empty"), ("agent, the policies", "program")):
        values = getattr(f, mode)
        rows.append([name, str(len(values)), f"{median(values) * 1e6:.1f}",
                     f"{percentile(values, 99) * 1e6:.1f}", f"{min(values) * 1e6:.1f}" if values else "n/a",
                     f"{f.diff(50, mode):+.1f} %", f"{f.diff(99, mode):+.1f} %"])
    print(table(["connect()", "n", "median µs", "p99 µs", "min µs", "median vs none",
                 "p99 vs none"], rows))
    print(f"{f.policies} policies vs none (the agent's program both times): median of all "
          f"connections {f.diff(50, 'program', 'empty'):+.1f} %, p99 "
          f"{f.diff(99, 'program', 'empty'):+.1f} %; median over the "
          f"{len(f.round_medians.get('program', []))} rounds of the difference within a round "
          f"{f.paired():+.1f} %\n")
    rows = [[name, ", ".join(f"{v:.2f}" for v in values), f"{median(values):.2f}"]
            for name, values in (("no nftables table", f.stream_none),
                                 ("conntrack only", f.stream_conntrack),
                                 ("agent, no policies", f.stream_empty),
                                 ("agent, the policies", f.stream_program))]
    print(table(["one TCP stream", "Gbit/s per run", "median Gbit/s"], rows))


# --- main ---------------------------------------------------------------------------------------


def _size(text: str) -> tuple[int, int]:
    pods, _, policies = text.partition("x")
    return int(pods), int(policies)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="See the module docstring for what each part measures.")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and few repetitions (the smoke test: well under 30 s)")
    parser.add_argument("--only", default="program,change,connect",
                        help="comma-separated parts to run (program, change, connect)")
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--policies", type=int, default=500)
    parser.add_argument("--cluster-policies", type=int, default=100,
                        help="ClusterNetworkPolicies (both tiers) next to the NetworkPolicies "
                        "in parts 1 and 2, the same number at every growth size (default 100)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--program-runs", type=int, default=3,
                        help="repetitions of programming from scratch at the main size")
    parser.add_argument("--growth", type=_size, nargs="*",
                        default=[(500, 250), (1000, 500), (2000, 1000), (4000, 2000)],
                        help="sizes PODSxPOLICIES for the growth table")
    parser.add_argument("--repeat", type=int, default=20, help="repetitions of each change")
    parser.add_argument("--connect-pods", type=int, default=1000)
    parser.add_argument("--connect-policies", type=int, default=1000)
    parser.add_argument("--connect-cluster-policies", type=int, default=100,
                        help="ClusterNetworkPolicies (both tiers) in part 3's program")
    parser.add_argument("--connections", type=int, default=20000,
                        help="timed connections per mode (split over the rounds)")
    parser.add_argument("--rounds", type=int, default=400,
                        help="rounds, each running the three modes in a rotating order")
    parser.add_argument("--warmup", type=int, default=10,
                        help="untimed connections after each switch of mode")
    parser.add_argument("--stream-seconds", type=float, default=2.0)
    parser.add_argument("--stream-rounds", type=int, default=3)
    parser.add_argument("--node-cidr", default="10.250.0.0/20",
                        help="the pod CIDR of the synthetic node (parts 1 and 2)")
    parser.add_argument("--pod-cidr", default="10.250.0.0/16", help="part 3's lab topology")
    parser.add_argument("--service-cidr", default="10.249.0.0/16", help="part 3's lab topology")
    parser.add_argument("--infra-cidr", default="198.19.192.0/18", help="part 3's lab topology")
    parser.add_argument("--id", default=None,
                        help="names: namespaces are npl-ID-* (default: 'ba' + 6 random hex digits)")
    parser.add_argument("--json", type=Path, default=None, help="write the raw figures here")
    parser.add_argument("--agent-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--node", help=argparse.SUPPRESS)
    parser.add_argument("--kubeconfig", help=argparse.SUPPRESS)
    parser.add_argument("--netns", help=argparse.SUPPRESS)
    parser.add_argument("--status-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.pods, args.policies, args.program_runs = 200, 100, 1
        args.cluster_policies = min(args.cluster_policies, 20)
        args.growth = [(100, 50), (200, 100)]
        args.repeat = 3
        args.connect_pods, args.connect_policies = 200, 100
        args.connect_cluster_policies = min(args.connect_cluster_policies, 20)
        args.connections, args.rounds, args.warmup = 300, 3, 20
        args.stream_seconds, args.stream_rounds = 0.3, 1
    args.id = args.id or "ba" + secrets.token_hex(3)
    return args



def verdicts(program: dict[str, Any] | None, change: ChangeFigures | None,
             connect: ConnectFigures | None) -> list[Verdict]:
    out = []
    if program is not None:
        out.append(Verdict("program a node from scratch (Enforcer.sync, median)",
                           f"{program['sync']:.2f} s", "< 2 s", program["sync"] < 2))
        out.append(Verdict("program in the kernel (known_pods4 read back)",
                           "all pods" if program["in_kernel_ok"] else "MISSING", "all pods",
                           program["in_kernel_ok"]))
        spread = program["ratio_spread"]
        out.append(Verdict("elements/(pods+policy rules), largest/smallest size", f"{spread:.2f}x",
                           "≤ 1.5x (linear)", spread <= 1.5))
    if change is not None:
        for name, samples in (("(a) pod gets its IP: write → in kernel", change.pod_added),
                              ("(b) policy changed: write → in kernel", change.policy_changed),
                              ("(c) admin policy changed: write → in kernel", change.admin_changed)):
            values = [s.latency for s in samples]
            out.append(Verdict(name + " (median / p95)",
                               f"{ms(median(values))} / {ms(percentile(values, 95))} ms", "< 100 ms",
                               bool(values) and percentile(values, 95) < 0.1))
        if change.pod_added:
            ops = max(s.operations for s in change.pod_added)
            rewrites = sum(n for kind, n in change.pod_added[0].summary.items()
                           if kind.startswith("flush") or kind.startswith("delete table"))
            out.append(Verdict("one pod added: nft operations (flushes)", f"{ops} ({rewrites})",
                               "elements only", rewrites == 0))
    if connect is not None:
        policies_vs_none = connect.paired()
        out.append(Verdict("connect latency, the policies vs none (median, paired by round)",
                           f"{policies_vs_none:+.1f} %", "within 10 %", policies_vs_none <= 10))
        out.append(Verdict("connect latency, the policies vs none (median of all)",
                           f"{connect.diff(50, 'program', 'empty'):+.1f} %", "(info)", None))
        out.append(Verdict("connect latency, the policies vs none (p99)",
                           f"{connect.diff(99, 'program', 'empty'):+.1f} %", "(info)", None))
        out.append(Verdict("connect latency, the agent vs no nftables table (median)",
                           f"{connect.diff(50):+.1f} %", "(info: conntrack's cost)", None))
        lows = [min(v) if v else float("nan") for v in (connect.none, connect.conntrack, connect.program)]
        out.append(Verdict("connect latency, fastest of each: none / conntrack only / program",
                           " / ".join(f"{v * 1e6:.1f}" for v in lows) + " µs", "(info)", None))
        out.append(Verdict("connect latency, program vs conntrack only (median)",
                           f"{connect.diff(50, 'program', 'conntrack'):+.1f} %", "(info)", None))
        a, b = median(connect.stream_none), median(connect.stream_program)
        out.append(Verdict("one TCP stream, program vs none", f"{a:.2f} → {b:.2f} Gbit/s "
                           f"({(b - a) / a * 100:+.1f} %)", "(info)", None))
        out.append(Verdict("the program enforces (a port no policy admits)", connect.denied_probe or "n/a",
                           "timeout", "timeout" in connect.denied_probe if connect.denied_probe else None))
    return out



def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.agent_child:
        return agent_child(args)
    if os.geteuid() != 0:
        print("bench_agent.py needs root: it creates network namespaces and nftables tables",
              file=sys.stderr)
        return 2
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    spaces = Namespaces(args.id)
    print(f"# netpolicy node agent benchmark ({'quick' if args.quick else 'full'}; "
          f"namespaces {spaces.prefix}*; nft {nft_version()}; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.2f})")
    program = change = connect = None
    started = time.perf_counter()
    try:
        with sigterm_as_interrupt(), tempfile.TemporaryDirectory(prefix="bench-agent-") as tmp:
            if "program" in parts:
                program = run_program(args, spaces)
            if "change" in parts:
                change = run_change(args, spaces, Path(tmp))
            if "connect" in parts:
                connect = run_connect(args, args.id)
    except KeyboardInterrupt as exc:
        print(f"\ninterrupted ({str(exc) or 'Ctrl-C'}): cleaning up", file=sys.stderr)
        return 130
    finally:
        spaces.close()
        teardown(LabConfig(name=args.id))  # anything npl-<id>-*, also after a failure
        left = netns.names(spaces.prefix)
        print(f"\ncleanup: namespaces left with prefix {spaces.prefix}: {', '.join(left) or 'none'}")
    results = verdicts(program, change, connect)
    print("\n## Summary\n")
    print(summary(results))
    print(f"\n(total {time.perf_counter() - started:.0f} s; load average now "
          f"{os.getloadavg()[0]:.2f})")
    if args.json is not None:
        args.json.write_text(json.dumps({
            "program": program, "change": asdict(change) if change else None,
            "connect": asdict(connect) if connect else None,
            "summary": [asdict(v) for v in results]}, indent=2, default=str))
    return 0


def nft_version() -> str:
    done = subprocess.run(["nft", "--version"], capture_output=True, text=True, check=False)
    return done.stdout.split()[1] if done.returncode == 0 and done.stdout else "?"


if __name__ == "__main__":
    sys.exit(main())
