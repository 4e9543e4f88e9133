"""Keep one node's nftables program equal to what the engine says.

`Enforcer.sync(snapshot)` compiles the cluster state, renders the node's program
(`netpolicy.dataplane.policy`), and applies the difference from the program in place as
one atomic transaction (`netpolicy.dataplane.program.transition`). Then, with
`existing="cut"`, it deletes the conntrack entries of established connections the new
rules deny (the default, `keep`, lets them run until they end, as most plugins do).

It also keeps the counters: every allow rule and every isolation drop counts the first
packets of new connections; chains that a change removes have their counts folded into
running totals first, so nothing is lost across changes.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from netpolicy.agent.conntrack import Conntrack, Flow
from netpolicy.agent.snapshot import Snapshot
from netpolicy.api.loading import gc_paused
from netpolicy.dataplane.incremental import update
from netpolicy.dataplane.nft import NftRunner
from netpolicy.dataplane.policy import NodeScope, RenderCache, local_endpoints, render
from netpolicy.dataplane.program import Program, transition
from netpolicy.engine import ClusterState, CompiledView, verdict

log = logging.getLogger(__name__)
Existing = Literal["keep", "cut"]
VERIFY_EVERY = 100
"""After this many incremental syncs, the next one renders in full (and cross-checks)."""


@dataclass
class SyncReport:
    generation: int
    duration: float
    operations: int
    elements: int
    rules: int
    local_pods: int
    cut: int = 0
    incremental: bool = False


@dataclass
class Enforcer:
    node: str
    runner: NftRunner
    existing: Existing = "keep"
    conntrack: Conntrack | None = None
    program: Program | None = None
    state: ClusterState | None = None
    view: CompiledView | None = None
    render_cache: RenderCache = field(default_factory=RenderCache)
    fast_syncs: int = 0
    notes: dict[str, str] = field(default_factory=dict)
    totals: Counter[str] = field(default_factory=Counter)

    def sync(self, snapshot: Snapshot, generation: int = 0) -> SyncReport:
        # A sync allocates many short-lived, acyclic objects; a full collection of the
        # agent's long-lived ones in the middle would only delay the change.
        with gc_paused():
            return self._sync(snapshot, generation)

    def _sync(self, snapshot: Snapshot, generation: int) -> SyncReport:
        started = time.perf_counter()
        state = snapshot.state
        cidrs = tuple(ipaddress.ip_network(c) for c in snapshot.pod_cidrs.get(self.node, []))
        new = None
        if self.program is not None and self.state is not None and \
                self.fast_syncs < VERIFY_EVERY:
            new = update(self.program, self.state, state, NodeScope(frozenset(), cidrs),
                         self.node)
        incremental = new is not None
        if new is None:
            view = CompiledView(state, previous=self.view)
            new = render(view, NodeScope(local_endpoints(view, self.node), cidrs),
                         self.render_cache)
            self.view = view
            if self.program is not None and self.state is not None and \
                    self.fast_syncs >= VERIFY_EVERY:
                self._verify(state, cidrs, new)
            self.fast_syncs = 0
        else:
            self.fast_syncs += 1
        local = frozenset(i for i, e in enumerate(state.endpoints)
                          if e.node == self.node and e.is_pod)
        tx = transition(self.program, new)
        gone = set(self.program.counters) - set(new.counters) if self.program else set()
        # The counts of counters this change removes are read first, and kept only once
        # the change is in: a failed transaction changes nothing.
        last_counts = {k: v for k, v in self._counts().items() if k in gone} if gone else {}
        if len(tx):
            self.runner.run(tx)
        self.totals.update(last_counts)
        self.program, self.state = new, state
        self.notes.update(new.notes)
        cut = 0
        if self.existing == "cut" and self.conntrack is not None and len(tx):
            cut = self._cut(state, {str(ip) for i in local for ip in state.endpoints[i].ips})
        return SyncReport(generation, time.perf_counter() - started, len(tx), new.element_count,
                          new.rule_count, len(local), cut, incremental)

    def _verify(self, state: ClusterState, cidrs: tuple[Any, ...], full: Program) -> None:
        """Every so often the full render is also compared with what the incremental path
        gives: they must agree (the tests say so; this says so on a live node)."""
        assert self.program is not None and self.state is not None
        fast = update(self.program, self.state, state, NodeScope(frozenset(), cidrs), self.node)
        if fast is not None and (fast.sets, fast.maps, fast.chains) != (full.sets, full.maps,
                                                                         full.chains):
            log.error("the incremental program differs from the full render; using the full "
                      "render (please report this)")

    # --- established connections ------------------------------------------------------

    def _cut(self, state: Any, local_ips: set[str]) -> int:
        """Delete the conntrack entries of connections the new rules would not admit."""
        assert self.conntrack is not None
        denied: list[Flow] = []
        for flow in self.conntrack.flows():
            if flow.source not in local_ips and flow.destination not in local_ips:
                continue
            try:
                v = verdict(state, flow.source, flow.destination, flow.port, flow.protocol)
            except Exception:  # an address the engine cannot place: leave the flow be
                continue
            if not v.allowed:
                denied.append(flow)
        for flow in denied:
            self.conntrack.delete(flow)
        return len(denied)

    # --- counters ------------------------------------------------------------------------

    def read_counters(self) -> Counter[str]:
        """Packets counted per counter name (the program's `notes` say what each stands
        for), including those of counters a change has since removed."""
        current = Counter(self.totals)
        current.update(self._counts())
        return current

    def _counts(self) -> dict[str, int]:
        reader = getattr(self.runner, "counters", None)
        if self.program is None or reader is None:
            return {}
        try:
            counts: dict[str, int] = reader(self.program.family, self.program.table)
        except Exception as exc:
            log.warning("reading counters failed: %s", exc)
            return {}
        return counts
