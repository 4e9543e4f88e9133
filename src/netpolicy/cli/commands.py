"""The `netpol` application: every command group assembled (see `netpolicy.cli`)."""


from __future__ import annotations

import sys

import typer

from netpolicy import __version__
from netpolicy.cli import analyze, conformance, demo, probe
from netpolicy.cli.agent import agent_app
from netpolicy.cli.lab import lab_app

app = typer.Typer(
    rich_markup_mode="markdown",
    name="netpol",
    help="Kubernetes NetworkPolicy: what your policies allow, and why.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)
analyze.register(app)
probe.register(app)
conformance.register(app)
demo.register(app)
app.add_typer(lab_app, name="lab")
app.add_typer(agent_app, name="agent")


@app.command()
def version() -> None:
    """Print netpol's version."""
    typer.echo(f"netpol {__version__}")



def main() -> None:
    """Console entry point."""
    try:
        app()
    except BrokenPipeError:  # `netpol ... | head` is fine
        sys.stderr.close()
        sys.exit(0)
