"""Real traffic against the engine: probe every pair, compare with the expected verdicts.

For each (protocol, port) the prober opens a new connection from every source pod to
every destination pod's address, all concurrently (bounded), each with a short timeout,
and sets the observed truth table beside the engine's matrix for the same objects.
A pair where they differ is a *disagreement*: either the dataplane or the engine is
wrong, and either way the user would be misled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from netpolicy.api.objects import Endpoint, Protocol
from netpolicy.engine import ClusterState, CompiledView, matrix
from netpolicy.probe.connect import Connector, Probe, Result

Port = tuple[Protocol, int]


@dataclass(frozen=True)
class Disagreement:
    source: str
    destination: str
    protocol: Protocol
    port: int
    expected: bool
    observed: Result

    def __str__(self) -> str:
        want = "allowed" if self.expected else "denied"
        got = self.observed.outcome + (f" ({self.observed.detail})" if self.observed.detail else "")
        return (f"{self.source} -> {self.destination} {self.protocol}/{self.port}: "
                f"engine says {want}, traffic was {got}")


@dataclass
class PortTable:
    protocol: Protocol
    port: int
    pods: list[str]
    expected: dict[tuple[str, str], bool] = field(default_factory=dict)
    observed: dict[tuple[str, str], Result] = field(default_factory=dict)

    def disagreements(self) -> list[Disagreement]:
        out = []
        for pair, want in sorted(self.expected.items()):
            result = self.observed.get(pair)
            if result is not None and (result.outcome == "error" or result.reached != want):
                out.append(Disagreement(pair[0], pair[1], self.protocol, self.port, want, result))
        return out


@dataclass
class ProbeReport:
    tables: list[PortTable]
    duration: float = 0.0

    @property
    def disagreements(self) -> list[Disagreement]:
        return [d for t in self.tables for d in t.disagreements()]

    @property
    def probes(self) -> int:
        return sum(len(t.observed) for t in self.tables)


def default_ports(pods: Sequence[Endpoint]) -> list[Port]:
    """Every (protocol, port) some pod declares as a container port."""
    return sorted({(cp.protocol, cp.port) for e in pods for cp in e.ports
                   if cp.protocol != "SCTP"})


async def probe(state: ClusterState, pods: Sequence[Endpoint], ports: Sequence[Port],
                connector: Connector, *, timeout: float = 1.0, parallel: int = 200,
                progress: Callable[[int, int], None] | None = None) -> ProbeReport:
    """Probe every ordered pair of `pods` on every port; expected verdicts from `state`."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    view = CompiledView(state)
    keys = [p.key for p in pods]
    tables = []
    for protocol, port in ports:
        m = matrix(view, port, protocol)
        index = {k: i for i, k in enumerate(m.endpoints)}
        table = PortTable(protocol, port, keys)
        for s in keys:
            for d in keys:
                table.expected[(s, d)] = bool(m.allowed[index[s], index[d]])
        tables.append(table)
    address = {p.key: str(p.ips[0]) for p in pods}
    work = [(t, Probe(s, d, address[d], t.port, t.protocol)) for t in tables
            for s in keys for d in keys]
    gate = asyncio.Semaphore(parallel)
    done = 0

    async def one(table: PortTable, p: Probe) -> None:
        nonlocal done
        async with gate:
            table.observed[(p.source, p.destination)] = await connector.connect(p, timeout)
        done += 1
        if progress is not None:
            progress(done, len(work))

    await asyncio.gather(*(one(t, p) for t, p in work))
    return ProbeReport(tables, loop.time() - started)


def probe_targets(state: ClusterState, namespaces: Sequence[str] | None,
                  exclude_namespaces: Sequence[str] = ("kube-system",)) -> list[Endpoint]:
    """Running pods with an address (not hostNetwork), in `namespaces` (None: all but
    `exclude_namespaces`)."""
    out = []
    for e in state.endpoints:
        if not e.is_pod or not e.ips or e.host_network:
            continue
        if namespaces is not None and e.namespace not in namespaces:
            continue
        if namespaces is None and e.namespace in exclude_namespaces:
            continue
        out.append(e)
    return out
