"""Benchmarks of the netpolicy engine, side by side with network-config-analyzer.

    python3 bench/bench_engine.py                  # default sizes, no nca
    python3 bench/bench_engine.py --nca            # also run nca and compare its answers
    python3 bench/bench_engine.py --quick          # small sizes only, no nca (smoke test)
    python3 bench/bench_engine.py --sizes 100x30 1000x300 --nca

For each size (endpoints x policies) a seeded cluster is generated as manifest files in a
temporary directory (bench/generate.py); the same files feed both tools. Every
measurement runs in a fresh child process; its time is wall-clock and its peak memory is
the child's `ru_maxrss` (read with `os.wait4` on that child, as
`getrusage(RUSAGE_CHILDREN)` would report it), so it includes the interpreter itself:

* matrix       - engine API: read_paths + build_inventory + ClusterState + CompiledView +
                 matrix() for one port (TCP/8080), rendering excluded; timed inside the child;
* connectivity - the same, with connectivity();
* cli          - `netpol connectivity -f DIR -o json` end to end (start-up and rendering
                 included), timed from outside;
* explain      - `verdict()` on random ordered pairs and ports, state already loaded,
                 one call at a time: median and p99 per call;
* nca          - `nca --connectivity ... -o txt_no_fw_rules` end to end, with a timeout;
                 its allowed pairs are compared with ours (bench/nca_compare.py).

The figures the engine must reach are printed as PASS/FAIL next to the measured values.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

import generate
import nca_compare
import runner
from netpolicy.api.inventory import build_inventory
from netpolicy.api.loading import read_paths
from netpolicy.engine import ClusterState

HERE = Path(__file__).resolve().parent
MEASURE = HERE / "measure.py"
DEFAULT_SIZES = ((100, 30), (500, 150), (1000, 300), (2000, 500), (10000, 2000))
QUICK_SIZES = ((100, 30), (500, 150))
MIB = 1024
GIB = 1024 * 1024

# The figures to reach.
MATRIX_SIZE, MATRIX_SECONDS, MATRIX_KIB = (10000, 2000), 10.0, 2 * GIB
VERSUS_NCA_SIZE, VERSUS_NCA_RATIO = (500, 150), 100.0
EXPLAIN_SIZE, EXPLAIN_MEDIAN_MS = (1000, 300), 1.0
TIERED_RATIO = 2.0  # the matrix with the tiered policies: under 2x the time without them


@dataclass
class Row:
    size: str
    what: str
    time: str
    cpu: str = ""
    memory: str = ""
    detail: str = ""
    target: str = ""
    result: str = ""


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    comparisons: dict[str, nca_compare.Comparison] = field(default_factory=dict)


def size_label(size: tuple[int, int], tiered: int = 0) -> str:
    """endpoints/NetworkPolicies, and +N tiered policies where there are some."""
    return f"{size[0]}/{size[1]}" + (f"+{tiered}" if tiered else "")


def parse_size(text: str) -> tuple[int, int]:
    try:
        endpoints, policies = text.lower().split("x")
        return int(endpoints), int(policies)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r}: write ENDPOINTSxPOLICIES, e.g. 500x150") from None


def mib(kib: int) -> str:
    return f"{kib / MIB:.0f} MiB"


def secs(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 100 else f"{seconds:.0f} s"


def netpol_command() -> list[str]:
    """The `netpol` console script of this interpreter (no shell shims in between)."""
    script = Path(sys.executable).parent / "netpol"
    if script.exists():
        return [sys.executable, str(script)]
    return [sys.executable, "-c", "import sys; sys.argv[0] = 'netpol'; "
            "from netpolicy.cli import main; main()"]


def child(args: Sequence[str], work: Path, name: str, timeout: float | None = None
          ) -> tuple[runner.Run, dict[str, Any] | None]:
    """Run a measurement child; its JSON answer (None if it failed or timed out)."""
    run = runner.run_measured(args, work / f"{name}.out", work / f"{name}.err", timeout)
    if run.returncode != 0:
        return run, None
    text = run.stdout.read_text().strip().splitlines()
    return run, json.loads(text[-1]) if text else None


def failure(run: runner.Run) -> str:
    if run.timed_out:
        return "timeout"
    tail = run.stderr.read_text(errors="replace").strip().splitlines()[-1:]
    return f"failed (exit {run.returncode}): {' '.join(tail)}"[:120]


def _seconds(run: tuple[runner.Run, Any]) -> float:
    """What a run measured: the time the child reports, else its whole life."""
    data = run[1]
    return float(data["seconds"]) if data and "seconds" in data else run[0].seconds


def median_run(runs: Sequence[tuple[runner.Run, Any]]) -> tuple[runner.Run, Any]:
    """The run of median time (the upper one of an even count); a failed run wins, so
    that repeats never hide a failure."""
    for run in runs:
        if run[0].returncode != 0 or run[1] is None:
            return run
    return sorted(runs, key=_seconds)[len(runs) // 2]


def spread(runs: Sequence[tuple[runner.Run, Any]]) -> str:
    if len(runs) < 2:
        return ""
    times = sorted(map(_seconds, runs))
    return f"; median of {len(runs)} runs ({times[0]:.2f}-{times[-1]:.2f} s)"


def phases(data: dict[str, Any]) -> str:
    names = {"read_paths": "yaml", "build_inventory": "inventory", "ClusterState": "state",
             "CompiledView": "view", "matrix": "matrix", "connectivity": "conn"}
    return " ".join(f"{names.get(k, k)} {v:.2f}" for k, v in data["phases"].items())


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.results = Results()
        self.nca: Path | None = None
        self.nca_seconds: dict[tuple[int, int], tuple[float, float]] = {}  # wall, CPU
        self.nca_stopped = False

    def add(self, row: Row) -> None:
        self.results.rows.append(row)
        if self.args.verbose:
            print(f"  {row.size:>11}  {row.what:<32} {row.time:>12} {row.cpu:>9} {row.memory:>9}",
                  file=sys.stderr, flush=True)

    # --- one size ---------------------------------------------------------------------------

    def directory(self, size: tuple[int, int], tiered: int = 0) -> Path:
        """The generated cluster; with `tiered`, the same one plus Nodes and that many
        tiered policies (bench/generate_tiers.py)."""
        path = self.work / (f"cluster-{size[0]}x{size[1]}" + (f"+{tiered}t" if tiered else ""))
        if not path.exists():
            start = time.perf_counter()
            generate.write(generate.generate(size[0], size[1], self.args.seed, tiered), path,
                           self.args.format)
            self.results.raw[f"generate {size_label(size, tiered)}"] = time.perf_counter() - start
        return path

    def repeats(self, size: tuple[int, int]) -> int:
        """How many times a measurement runs: the figure against nca is a ratio of a few
        tenths of a second, which this VM moves by 20 % from one run to the next, so at its
        size the median of several runs is kept."""
        return self.args.repeat if size == VERSUS_NCA_SIZE else 1

    def engine(self, size: tuple[int, int], what: str, tiered: int = 0) -> dict[str, Any] | None:
        label = size_label(size, tiered)
        cmd = [sys.executable, str(MEASURE), what, str(self.directory(size, tiered))]
        if what == "matrix":
            cmd += ["--port", str(self.args.port)]
        runs = [child(cmd, self.work, f"{what}-{size[0]}") for _ in range(self.repeats(size))]
        run, data = median_run(runs)
        title = (f"matrix TCP/{self.args.port} (API)" if what == "matrix"
                 else "connectivity (API)")
        if data is None:
            self.add(Row(label, title, failure(run), mib(run.max_rss_kib)))
            return None
        data["max_rss_kib"] = run.max_rss_kib
        self.results.raw[f"{what} {label}"] = data
        row = Row(label, title, secs(data["seconds"]), secs(data["cpu_seconds"]),
                  mib(run.max_rss_kib), phases(data) + spread(runs))
        if what == "matrix" and size == MATRIX_SIZE and not tiered:
            ok = data["seconds"] < MATRIX_SECONDS and run.max_rss_kib < MATRIX_KIB
            row.target = f"< {MATRIX_SECONDS:.0f} s and < 2 GiB"
            row.result = "PASS" if ok else "FAIL"
        self.add(row)
        return data

    def tiered_matrix(self, size: tuple[int, int], without: dict[str, Any] | None) -> None:
        """The same cluster with the tiered policies: the figure is under 2x the time
        without them and under 2 GiB, at the matrix size."""
        tiered = self.args.tiered
        data = self.engine(size, "matrix", tiered)
        if data is None or without is None:
            return
        ratio = data["seconds"] / without["seconds"]
        ok = ratio < TIERED_RATIO and data["max_rss_kib"] < MATRIX_KIB
        figure = size == MATRIX_SIZE
        self.add(Row(size_label(size, tiered), f"matrix: +{tiered} tiered vs without",
                     f"{ratio:.2f}x", f"{data['cpu_seconds'] / without['cpu_seconds']:.2f}x",
                     mib(data["max_rss_kib"]),
                     f"{data['seconds']:.2f} / {without['seconds']:.2f} s; allowed pairs "
                     f"{data['allowed_pairs']} / {without['allowed_pairs']}",
                     f"< {TIERED_RATIO:g}x and < 2 GiB" if figure else "",
                     ("PASS" if ok else "FAIL") if figure else ""))

    def cli(self, size: tuple[int, int]) -> None:
        label = size_label(size)
        cmd = [*netpol_command(), "connectivity", "-f", str(self.directory(size)), "-o", "json"]
        out = self.work / f"cli-{size[0]}.json"
        runs = [(runner.run_measured(cmd, out, self.work / f"cli-{size[0]}.err"), {})
                for _ in range(self.repeats(size))]
        run = median_run(runs)[0]
        if run.returncode != 0:
            self.add(Row(label, "netpol connectivity -o json", failure(run), mib(run.max_rss_kib)))
            return
        size_mb = out.stat().st_size / 1e6
        out.unlink()
        self.results.raw[f"cli {label}"] = {"seconds": run.seconds, "cpu_seconds": run.cpu_seconds,
                                             "max_rss_kib": run.max_rss_kib, "output_mb": size_mb}
        self.add(Row(label, "netpol connectivity -o json", secs(run.seconds),
                     secs(run.cpu_seconds), mib(run.max_rss_kib),
                     f"end to end, {size_mb:.0f} MB of JSON" + spread(runs)))

    def explain(self, size: tuple[int, int], calls: int, tiered: int = 0) -> None:
        label = size_label(size, tiered)
        cmd = [sys.executable, str(MEASURE), "explain", str(self.directory(size, tiered)),
               "--calls", str(calls), "--seed", str(self.args.seed)]
        run, data = child(cmd, self.work, f"explain-{size[0]}")
        title = f"explain: {calls} verdict() calls"
        if data is None:
            self.add(Row(label, title, failure(run), mib(run.max_rss_kib)))
            return
        self.results.raw[f"explain {label}"] = data
        ok = data["median_ms"] < EXPLAIN_MEDIAN_MS
        note = "" if size == EXPLAIN_SIZE else f" (figure is for {size_label(EXPLAIN_SIZE)})"
        self.add(Row(label, title, f"{data['median_ms']:.3f} ms", "", mib(run.max_rss_kib),
                     f"median per call; p99 {data['p99_ms']:.3f} ms, max {data['max_ms']:.2f} ms; "
                     f"load {data['load_seconds']:.2f} s; {data['allowed']} allowed",
                     f"median < {EXPLAIN_MEDIAN_MS:g} ms{note}", "PASS" if ok else "FAIL"))

    def run_nca(self, size: tuple[int, int]) -> None:
        label = size_label(size)
        assert self.nca is not None
        if self.nca_stopped:
            self.add(Row(label, "nca --connectivity", "not run",
                         detail="a smaller size already timed out"))
            return
        directory = self.directory(size)
        run = runner.run_measured(nca_compare.nca_command(self.nca, directory),
                                  self.work / f"nca-{size[0]}.txt",
                                  self.work / f"nca-{size[0]}.err", self.args.nca_timeout)
        if run.returncode != 0:
            self.nca_stopped = run.timed_out
            text = (f"timeout ({self.args.nca_timeout:.0f} s)" if run.timed_out
                    else f"failed (exit {run.returncode})")
            detail = "" if run.timed_out else failure(run)
            if not run.timed_out and size[0] >= nca_compare.NCA_MAX_PEERS - 10:
                detail = (f"nca holds at most {nca_compare.NCA_MAX_PEERS} peers, its own "
                          "added ones included (nca/CoreDS/Peer.py, max_num_of_pods)")
            self.add(Row(label, "nca --connectivity", text, secs(run.cpu_seconds),
                         mib(run.max_rss_kib), detail))
            return
        self.nca_seconds[size] = (run.seconds, run.cpu_seconds)
        self.results.raw[f"nca {label}"] = {"seconds": run.seconds, "cpu_seconds": run.cpu_seconds,
                                            "max_rss_kib": run.max_rss_kib}
        docs = read_paths([str(directory)])
        inv = build_inventory(docs)
        state = ClusterState(inv.namespaces, inv.endpoints, inv.policies, inv.services, inv.nodes,
                            inv.cluster_policies)
        pairs, count = nca_compare.parse_output(run.stdout.read_text(),
                                                [e.key for e in state.endpoints])
        cmp = nca_compare.compare(state, inv, docs, pairs, count)
        self.results.comparisons[label] = cmp
        agree = "same pairs" if cmp.exact_diff == 0 else (
            f"{cmp.exact_diff} pairs differ, {cmp.unexplained} unexplained")
        self.add(Row(label, "nca --connectivity", secs(run.seconds), secs(run.cpu_seconds),
                     mib(run.max_rss_kib), f"end to end; {agree}"))

    def versus_nca(self) -> None:
        """The figure: connectivity at least 100x faster than nca, with the same pairs."""
        size = VERSUS_NCA_SIZE
        label = size_label(size)
        ours = self.results.raw.get(f"connectivity {label}")
        cli = self.results.raw.get(f"cli {label}")
        theirs = self.nca_seconds.get(size)
        cmp = self.results.comparisons.get(label)
        target = f">= {VERSUS_NCA_RATIO:.0f}x faster than nca, same pairs"
        if ours is None or theirs is None or cmp is None:
            why = "run with --nca" if not self.args.nca else "nca or netpolicy did not finish"
            self.add(Row(label, "connectivity vs nca", "n/a", detail=why, target=target,
                         result="n/a"))
            return
        wall, cpu = theirs[0] / ours["seconds"], theirs[1] / ours["cpu_seconds"]
        detail = (f"nca / connectivity (API): wall {theirs[0]:.1f} / {ours['seconds']:.2f} s, "
                  f"CPU {theirs[1]:.1f} / {ours['cpu_seconds']:.2f} s")
        if cli is not None:
            detail += (f"; nca / CLI: wall {theirs[0] / cli['seconds']:.1f}x, "
                       f"CPU {theirs[1] / cli['cpu_seconds']:.1f}x")
        ok = min(wall, cpu) >= VERSUS_NCA_RATIO
        self.add(Row(label, "speed: connectivity vs nca", f"{wall:.1f}x", f"{cpu:.1f}x",
                     detail=detail, target=f">= {VERSUS_NCA_RATIO:.0f}x (wall and CPU)",
                     result="PASS" if ok else "FAIL"))
        same = cmp.unexplained == 0 and cmp.unaffected_diff == 0
        self.add(Row(label, "pairs: connectivity vs nca",
                     f"{cmp.pairs - cmp.exact_diff}/{cmp.pairs}",
                     detail=(f"{cmp.exact_diff} differ, all on known nca misreadings; "
                             f"{cmp.unexplained} unexplained" if same else
                             f"{cmp.exact_diff} differ, {cmp.unexplained} unexplained"),
                     target="same pairs (known differences aside)",
                     result="PASS" if same else "FAIL"))

    # --- all of it --------------------------------------------------------------------------

    def run(self) -> Results:
        args = self.args
        sizes: list[tuple[int, int]] = sorted(args.sizes)
        if args.nca:
            self.nca = nca_compare.ensure_nca(args.nca_venv)
            self.results.raw["nca_version"] = nca_compare.nca_version(self.nca)
        for size in sizes:
            without = self.engine(size, "matrix")
            if args.tiered:
                self.tiered_matrix(size, without)
            if size[0] <= args.connectivity_max:
                self.engine(size, "connectivity")
            if size[0] <= args.cli_max:
                self.cli(size)
            if args.nca:
                self.run_nca(size)
        explain_size = EXPLAIN_SIZE if EXPLAIN_SIZE in sizes else min(
            sizes, key=lambda s: abs(s[0] - EXPLAIN_SIZE[0]))
        self.explain(explain_size, args.explain_calls)
        if args.tiered:
            self.explain(explain_size, args.explain_calls, args.tiered)
        if VERSUS_NCA_SIZE in sizes:
            self.versus_nca()
        if MATRIX_SIZE not in sizes:
            self.add(Row(size_label(MATRIX_SIZE), f"matrix TCP/{args.port} (API)", "not run",
                         target=f"< {MATRIX_SECONDS:.0f} s and < 2 GiB", result="n/a"))
        return self.results


# --- printing -------------------------------------------------------------------------------

HEADER = ("SIZE", "MEASUREMENT", "TIME", "CPU", "PEAK RSS", "TARGET", "RESULT", "DETAIL")
RIGHT = (2, 3, 4)  # right-aligned columns


def table(rows: Sequence[Row]) -> str:
    cells = [HEADER] + [(r.size, r.what, r.time, r.cpu, r.memory, r.target, r.result, r.detail)
                        for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER) - 1)]
    lines = []
    for c in cells:
        left = "  ".join(c[i].rjust(widths[i]) if i in RIGHT else c[i].ljust(widths[i])
                         for i in range(len(widths)))
        lines.append(f"{left}  {c[-1]}".rstrip())
    return "\n".join(lines)


def environment(args: argparse.Namespace, results: Results) -> str:
    libyaml = "with libyaml" if getattr(yaml, "__with_libyaml__", False) else "pure Python"
    nca = results.raw.get("nca_version")
    return "\n".join([
        "netpolicy benchmarks "
        f"(seed {args.seed}; sizes are endpoints/policies; {time.strftime('%Y-%m-%d %H:%M')})",
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Linux {platform.release()}; "
        f"Python {platform.python_version()}, numpy {np.__version__}, "
        f"PyYAML {yaml.__version__} {libyaml}"
        + (f"; network-config-analyzer {nca}" if nca else ""),
        "TIME: wall clock; CPU: user + system. API rows: measured inside a fresh child "
        "process around read_paths..matrix()/connectivity() (imports and rendering excluded; "
        "DETAIL: wall time of each phase in s). CLI and nca rows: the whole child process, "
        "start-up included.",
        "PEAK RSS: ru_maxrss of that child process, from os.wait4 in a small launcher "
        "(bench/spawn.py; what getrusage(RUSAGE_CHILDREN) reports for one child), "
        "interpreter included.",
    ])


def comparison_report(results: Results) -> str:
    if not results.comparisons:
        return ""
    lines = ["", "Agreement with network-config-analyzer (ordered pairs of distinct pods; "
             "self pairs are always allowed and nca does not list them):"]
    for label, c in results.comparisons.items():
        lines.append(
            f"  {label}: {c.pairs} pairs; allowed on some port: netpolicy {c.ours_some}, "
            f"nca {c.nca_some}; (src, dst, protocol, port ranges) differ on {c.exact_diff}, "
            f"(src, dst) on {c.some_diff}; nca counts {c.nca_endpoints} endpoints, we {c.endpoints}")
        lines.append("      per port: " + ", ".join(f"{p} {n}" for p, n in c.port_diff.items())
                     + " pairs differ")
        lines.append("      pairs whose answer a known nca misreading changes: " + ", ".join(
            f"{name}: {n}" for name, n in c.affected.items()))
        lines.append(f"      on the {c.unaffected_pairs} pairs no known difference touches: "
                     f"{c.unaffected_diff} disagreements; against netpolicy under nca's reading: "
                     f"{c.unexplained} disagreements (unexplained)")
        for example in c.examples:
            lines.append(f"      e.g. {example}")
        for example in c.unexplained_examples:
            lines.append(f"      UNEXPLAINED {example}")
    lines.append("  Known differences and which tool the API reference proves right: "
                 "bench/README.md.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=parse_size, metavar="ExP",
                        help="sizes as ENDPOINTSxPOLICIES (default: "
                        + " ".join(f"{e}x{p}" for e, p in DEFAULT_SIZES) + ")")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes only, no nca, 1000 explain calls (a smoke test)")
    parser.add_argument("--nca", action="store_true",
                        help="also run network-config-analyzer and compare its pairs")
    parser.add_argument("--nca-timeout", type=float, default=300.0, metavar="S")
    parser.add_argument("--nca-venv", type=Path, default=nca_compare.DEFAULT_VENV)
    parser.add_argument("--format", choices=("yaml", "json"), default="yaml",
                        help="manifest files both tools read: YAML, or JSON Lists as "
                             "kubectl get -o json prints (default yaml)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, default=8080, help="port of the matrix (TCP)")
    parser.add_argument("--cli-max", type=int, default=1000, metavar="N",
                        help="run the CLI for sizes up to N endpoints (its JSON grows as N^2)")
    parser.add_argument("--connectivity-max", type=int, default=2000, metavar="N",
                        help="run connectivity() for sizes up to N endpoints")
    parser.add_argument("--explain-calls", type=int, default=10_000)
    parser.add_argument("--tiered", type=int, default=200, metavar="N",
                        help="also measure the matrix and explain with N tiered policies added "
                        "(AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy; "
                        "0 to skip; default 200)")
    parser.add_argument("--repeat", type=int, default=5, metavar="N",
                        help=f"runs of the API and CLI measurements at {size_label(VERSUS_NCA_SIZE)}, "
                        "the size of the figure against nca (the median is kept; default 5)")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="generate into DIR and keep it (default: a temporary directory)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write raw results here")
    parser.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = args.sizes or list(QUICK_SIZES)
        args.nca = False
        args.explain_calls = min(args.explain_calls, 1000)
        args.repeat = 1
        args.cli_max = min(args.cli_max, 100)
    args.sizes = args.sizes or list(DEFAULT_SIZES)

    work = args.keep or Path(tempfile.mkdtemp(prefix="netpol-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        results = Bench(args, work).run()
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(environment(args, results))
    print()
    print(table(results.rows))
    report = comparison_report(results)
    if report:
        print(report)
    if args.json:
        args.json.write_text(json.dumps({
            "rows": [asdict(r) for r in results.rows], "raw": results.raw,
            "comparisons": {k: asdict(v) for k, v in results.comparisons.items()}}, indent=2))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
