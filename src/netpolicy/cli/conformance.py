"""`netpol conformance`: the upstream-style NetworkPolicy cases, with real traffic, in the lab."""

from __future__ import annotations

import fnmatch
import json
import os
import sys
import time
from typing import Annotated, Any, Literal

import typer

from netpolicy.cli.common import EXIT_DENIED, EXIT_INVALID


def conformance_cmd(
    lab: Annotated[str, typer.Option("--lab", help="The lab to run in (it must be up, "
                                     "with its agents).")] = "lab",
    case: Annotated[list[str] | None, typer.Option(
        "--case", "-k", help="Only cases whose name matches this glob (repeatable).")] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Leave the model (x, y, z) in place.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per probe.")] = 1.0,
    output: Annotated[Literal["text", "json"], typer.Option("--output", "-o")] = "text",
    list_cases: Annotated[bool, typer.Option("--list", help="List the cases and exit.")] = False,
) -> None:
    """Run the NetworkPolicy and tiered-policy conformance cases in the lab, with real traffic.

    Builds the upstream e2e model (namespaces x, y, z; pods a, b, c serving 80 and 81
    over TCP and UDP), then applies each case and probes: reports per case whether the
    traffic, the engine and the case's expectation agree. Exit code 1 if any case fails."""
    from netpolicy.lab.kubelet import pod_id
    from netpolicy.lab.state import LabPaths
    from netpolicy.probe.cases import CASES
    from netpolicy.probe.conformance import ModelCluster, StepResult, run_suite
    from netpolicy.probe.connect import NetnsConnector
    from netpolicy.probe.tier_cases import TIER_CASES

    cases = [c for c in CASES + TIER_CASES
             if not case or any(fnmatch.fnmatch(c.name, p) for p in case)]
    if list_cases:
        for c in cases:
            typer.echo(f"{c.name} ({len(c.steps)} step{'s' if len(c.steps) > 1 else ''})")
        return
    if os.geteuid() != 0:
        typer.echo("error: conformance probes from inside the lab's pods: it needs root", err=True)
        raise typer.Exit(EXIT_INVALID)
    paths = LabPaths(lab)
    settings = paths.load_settings()
    if settings is None or not paths.ready.exists():
        typer.echo(f"error: lab {lab!r} is not up: run `netpol lab up` first", err=True)
        raise typer.Exit(EXIT_INVALID)
    if not settings.enforce:
        typer.echo(f"error: lab {lab!r} runs without agents (--no-enforce): nothing to test",
                   err=True)
        raise typer.Exit(EXIT_INVALID)
    config = settings.config()
    status_files = [paths.agents / f"{n}.json" for n in settings.node_names()]

    def connector_for(docs: list[Any]) -> NetnsConnector:
        return NetnsConnector({f"{d.obj['metadata']['namespace']}/{d.obj['metadata']['name']}":
                               config.pod_netns(pod_id(d.obj)) for d in docs
                               if d.obj["kind"] == "Pod"})

    started = time.monotonic()
    cluster = ModelCluster(str(paths.kubeconfig))
    cluster.create()
    cluster.wait_ready()
    if any(c.tiered for c in cases) and not cluster.serves_tiers():
        typer.echo("note: not tested: the tiered cases (the cluster does not serve "
                   "network-policy-api's AdminNetworkPolicy, BaselineAdminNetworkPolicy and "
                   "ClusterNetworkPolicy)", err=True)
        cases = [c for c in cases if not c.tiered]

    def show(r: StepResult) -> None:
        if output != "text":
            return
        mark = "PASS" if r.passed else "FAIL"
        step = f" [step {r.step + 1}]" if r.step or _steps(r.case) > 1 else ""
        typer.echo(f"{mark}  {r.case}{step}  ({r.seconds:.1f}s)")
        for line in r.engine_vs_case:
            typer.echo(f"      engine vs case: {line}")
        for line in r.traffic_vs_engine:
            typer.echo(f"      traffic vs engine: {line}")

    def _steps(name: str) -> int:
        return next(len(c.steps) for c in cases if c.name == name)

    try:
        results = run_suite(cluster, connector_for, status_files, cases, timeout=timeout,
                            report=show)
    finally:
        if not keep:
            cluster.delete()
    failed = [r for r in results if not r.passed]
    elapsed = time.monotonic() - started
    if output == "json":
        sys.stdout.write(json.dumps({
            "passed": not failed, "seconds": round(elapsed, 1),
            "results": [{"case": r.case, "step": r.step, "passed": r.passed,
                         "engineVsCase": r.engine_vs_case, "trafficVsEngine": r.traffic_vs_engine,
                         "skipped": r.skipped, "seconds": round(r.seconds, 2)} for r in results],
        }, indent=2) + "\n")
    else:
        skipped = sorted({s for r in results for s in r.skipped})
        for s in skipped:
            typer.echo(f"note: not probed: {s}")
        typer.echo(f"{len(cases)} cases, {len(results)} steps, {len(failed)} failed, "
                   f"in {elapsed:.0f}s")
    if failed:
        raise typer.Exit(EXIT_DENIED)


def register(app: typer.Typer) -> None:
    app.command(name="conformance")(conformance_cmd)
