"""`netpol agent run|status`: the node agent that enforces NetworkPolicies with nftables."""

from __future__ import annotations

import json
import logging
import signal
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from netpolicy.cli.common import EXIT_INVALID

agent_app = typer.Typer(name="agent", rich_markup_mode="markdown", no_args_is_help=True,
                        help="The node agent: NetworkPolicy enforced with nftables and conntrack.")


@agent_app.command()
def run(
    node: Annotated[str | None, typer.Option(
        "--node", envvar="NODE_NAME", help="This node's name (a DaemonSet passes it as NODE_NAME).")] = None,
    kubeconfig: Annotated[str | None, typer.Option(
        "--kubeconfig", help="Default: in-cluster service account, else $KUBECONFIG.")] = None,
    context: Annotated[str | None, typer.Option("--context")] = None,
    existing: Annotated[Literal["keep", "cut"], typer.Option(
        "--existing", help="Established connections a policy change denies: keep them until "
        "they end (most plugins), or cut them (delete their conntrack entries).")] = "keep",
    status_file: Annotated[Path | None, typer.Option(
        "--status-file", help="Where to write the status (default /run/netpol-agent/status.json).")] = None,
    metrics_port: Annotated[int | None, typer.Option(
        "--metrics-port", help="Serve Prometheus metrics on this port.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Watch the API and keep this node's nftables program equal to what the engine says."""
    import asyncio

    from netpolicy.agent.run import Agent, AgentOptions

    if not node:
        typer.echo("error: give --node or set NODE_NAME", err=True)
        raise typer.Exit(EXIT_INVALID)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = AgentOptions(node, kubeconfig, context, existing,
                           status_file or Path("/run/netpol-agent/status.json"), metrics_port)

    async def main() -> None:
        agent = Agent(options)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, agent.stopping.set)
        await agent.run()

    asyncio.run(main())


@agent_app.command()
def status(
    status_file: Annotated[list[Path] | None, typer.Option(
        "--status-file", help="Status file(s) to read (default: the lab's agents, else "
        "/run/netpol-agent/status.json).")] = None,
    lab: Annotated[str, typer.Option("--lab", help="Read the agents of this lab.")] = "lab",
    output: Annotated[Literal["text", "json"], typer.Option("--output", "-o")] = "text",
) -> None:
    """What each node agent enforces, how fresh it is, and its counters.

    Per agent: pods, program size, last sync, errors; per policy, the packets of new
    connections it let through; per set of isolating policies, those dropped; per rule of
    a tiered policy, those it accepted, denied or passed on. Exit code 1
    when an agent reports errors (something it could not enforce as written)."""
    from netpolicy.agent.status import read_status
    from netpolicy.lab.state import LabPaths

    files = list(status_file or [])
    if not files:
        agents = LabPaths(lab).agents
        files = sorted(agents.glob("*.json")) if agents.exists() else []
        if not files and Path("/run/netpol-agent/status.json").exists():
            files = [Path("/run/netpol-agent/status.json")]
    if not files:
        typer.echo("error: no agent status found (is the lab up, or give --status-file)", err=True)
        raise typer.Exit(EXIT_INVALID)
    statuses: list[dict[str, Any]] = [read_status(f) for f in files]
    if output == "json":
        typer.echo(json.dumps(statuses, indent=2))
        return
    for s in statuses:
        state = "ready" if s["ready"] else "starting"
        typer.echo(f"node {s['node']}: {state}, {s['localPods']} pods, {s['elements']} elements, "
                   f"{s['rules']} rules, last sync {s['lastSyncMs']} ms "
                   f"(generation {s['generation']}, {s['syncs']} syncs), existing={s['existing']}")
        for e in s["errors"]:
            typer.echo(f"  error: {e}")
        for policy, n in s["allowed"].items():
            typer.echo(f"  allowed  {n:>8}  {policy}")
        for why, n in s["dropped"].items():
            typer.echo(f"  dropped  {n:>8}  {why}")
        for text, n in s.get("tiered", {}).items():
            rule, action = text.rsplit(" ", 1)
            word = {"Accept": "accepted", "Deny": "denied", "Pass": "passed"}[action]
            typer.echo(f"  {word:<8} {n:>8}  {rule}")
    if any(s["errors"] for s in statuses):
        raise typer.Exit(1)
