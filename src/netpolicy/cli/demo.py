"""`netpol demo`: the NetworkPolicy exercise, step by step, in the lab."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from netpolicy.cli.common import EXIT_DENIED, EXIT_INVALID


def _examples() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "examples" / "testweb").is_dir():
            return parent / "examples"
    raise FileNotFoundError("the examples/ directory (run the demo from a clone of netpolicy)")


def demo_cmd(
    lab: Annotated[str, typer.Option("--lab", help="The lab to use (started if it is not up).")] = "lab",
    part: Annotated[str, typer.Option(
        "--part", help="exercise, microservices, admin, or all.")] = "all",
    pause: Annotated[bool, typer.Option("--pause", help="Wait for Enter after each step.")] = False,
) -> None:
    """Run the classic NetworkPolicy exercise in the lab, step by step, with the real kubectl.

    A web server, a deny-all policy, an allow-from-testcurl policy, a Service whose
    backends disagree, port-forward and kubectl proxy; then an app isolated per namespace
    with a public web UI; then an administrator's Deny (ClusterNetworkPolicy) beating a
    NetworkPolicy that allows everything. Exit code 1 if any step does not behave as the
    exercise says."""
    from netpolicy.lab.demo import admin, demo_env, exercise, microservices, run
    from netpolicy.lab.state import LabPaths

    if os.geteuid() != 0:
        typer.echo("error: the lab needs root", err=True)
        raise typer.Exit(EXIT_INVALID)
    examples = _examples()
    steps = []
    if part in ("all", "exercise"):
        steps += exercise(examples)
    if part in ("all", "microservices"):
        steps += microservices(examples)
    if part in ("all", "admin"):
        steps += admin(examples)
    if not steps:
        typer.echo("error: --part is exercise, microservices, admin or all", err=True)
        raise typer.Exit(EXIT_INVALID)
    paths = LabPaths(lab)
    if not paths.ready.exists() or paths.daemon_pid() is None:
        from netpolicy.cli.lab import up

        up(nodes=None, reset=False, pod_cidr=None, service_cidr=None, infra_cidr=None,
           timeout=60, enforce=True, existing=None, name=lab, state_dir=None)
    typer.echo(f"export KUBECONFIG={paths.kubeconfig}")
    def wait() -> None:
        input("  (Enter for the next step) ")

    def settle() -> None:
        from netpolicy.probe.conformance import current_resource_version, wait_for_agents

        settings = paths.load_settings()
        if settings is not None and settings.enforce:
            files = [paths.agents / f"{n}.json" for n in settings.node_names()]
            wait_for_agents(files, current_resource_version(str(paths.kubeconfig)))
    ok = run(steps, demo_env(paths.kubeconfig), typer.echo, wait if pause else None, settle)
    typer.echo("\nEvery step did what the exercise says." if ok else
               "\nSome steps did not do what the exercise says (marked !!).")
    if not ok:
        raise typer.Exit(EXIT_DENIED)


def register(app: typer.Typer) -> None:
    app.command(name="demo")(demo_cmd)
