"""One measurement, run in a fresh process by `bench_engine.py` (so that its peak memory
is its own): prints one JSON object on stdout.

    python3 bench/measure.py matrix DIR [--port 8080] [--protocol TCP]
    python3 bench/measure.py connectivity DIR
    python3 bench/measure.py explain DIR [--calls 10000] [--seed 1]

`matrix` and `connectivity` time the engine API from the files to the answer, loading
included and rendering excluded, phase by phase: read_paths, build_inventory,
ClusterState, CompiledView, then matrix() or connectivity(). `explain` loads the state
first (timed apart) and then times `verdict()` on random ordered pairs of endpoints,
one call at a time.

`--profile FILE` writes cProfile statistics of the measured part to FILE.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from netpolicy.api.inventory import build_inventory
from netpolicy.api.loading import read_paths
from netpolicy.api.objects import PROTOCOLS, Protocol
from netpolicy.engine import ClusterState, CompiledView, connectivity, matrix, verdict

T = TypeVar("T")
EXPLAIN_PORTS: tuple[tuple[Protocol, int], ...] = (
    ("TCP", 80), ("TCP", 443), ("TCP", 8080), ("TCP", 5432), ("TCP", 9090), ("UDP", 53),
    ("TCP", 50051), ("TCP", 8050), ("SCTP", 7000),
)


class Phases:
    """Wall-clock and CPU time (this process's) of consecutive named phases."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}

    def run(self, name: str, fn: Callable[[], T]) -> T:
        start, cpu = time.perf_counter(), time.process_time()
        out = fn()
        self.seconds[name] = time.perf_counter() - start
        self.cpu_seconds[name] = time.process_time() - cpu
        return out

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    def report(self) -> dict[str, Any]:
        return {"seconds": self.total, "cpu_seconds": sum(self.cpu_seconds.values()),
                "phases": self.seconds}


def load(directory: str, phases: Phases) -> ClusterState:
    docs = phases.run("read_paths", lambda: read_paths([directory]))
    inv = phases.run("build_inventory", lambda: build_inventory(docs))
    return phases.run("ClusterState", lambda: ClusterState(
        inv.namespaces, inv.endpoints, inv.policies, inv.services, inv.nodes,
        inv.cluster_policies))


def run_matrix(directory: str, port: int, protocol: Protocol) -> dict[str, Any]:
    phases = Phases()
    state = load(directory, phases)
    view = phases.run("CompiledView", lambda: CompiledView(state))
    m = phases.run("matrix", lambda: matrix(view, port, protocol))
    return {**phases.report(), "endpoints": len(state.endpoints),
            "policies": len(state.policies), "allowed_pairs": int(m.allowed.sum())}


def run_connectivity(directory: str) -> dict[str, Any]:
    phases = Phases()
    state = load(directory, phases)
    view = phases.run("CompiledView", lambda: CompiledView(state))
    conn = phases.run("connectivity", lambda: connectivity(view))
    empty = [i for i, ps in enumerate(conn.port_sets) if ps.is_empty]
    some = int(conn.cell.size - sum(int((conn.cell == i).sum()) for i in empty))
    return {**phases.report(), "endpoints": len(state.endpoints),
            "policies": len(state.policies), "distinct_port_sets": len(conn.port_sets),
            "pairs_with_some_port": some}


def run_explain(directory: str, calls: int, seed: int) -> dict[str, Any]:
    phases = Phases()
    state = load(directory, phases)
    rng = random.Random(seed)
    keys = [e.key for e in state.endpoints]
    cases = [(rng.choice(keys), rng.choice(keys), *rng.choice(EXPLAIN_PORTS)) for _ in range(calls)]
    per_call: list[float] = []
    allowed = 0
    clock = time.perf_counter_ns
    for source, destination, protocol, port in cases:
        start = clock()
        v = verdict(state, source, destination, port, protocol)
        per_call.append((clock() - start) / 1e6)
        allowed += v.allowed
    per_call.sort()
    return {"load_seconds": phases.total, "phases": phases.seconds, "calls": calls,
            "endpoints": len(state.endpoints), "policies": len(state.policies),
            "median_ms": statistics.median(per_call),
            "p99_ms": per_call[min(len(per_call) - 1, int(len(per_call) * 0.99))],
            "max_ms": per_call[-1], "total_seconds": sum(per_call) / 1000,
            "allowed": allowed}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("matrix", "connectivity", "explain"))
    parser.add_argument("directory")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--protocol", choices=PROTOCOLS, default="TCP")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", type=Path, help="write cProfile statistics here")
    args = parser.parse_args(argv)

    def work() -> dict[str, Any]:
        if args.what == "matrix":
            return run_matrix(args.directory, args.port, args.protocol)
        if args.what == "connectivity":
            return run_connectivity(args.directory)
        return run_explain(args.directory, args.calls, args.seed)

    if args.profile:
        profiler = cProfile.Profile()
        result = profiler.runcall(work)
        profiler.dump_stats(str(args.profile))
    else:
        result = work()
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
