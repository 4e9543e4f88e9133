"""What every command shares: exit codes and turning errors into messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import typer

from netpolicy.errors import ClusterError, InvalidObjectsError, LoadError, LookupFailure

EXIT_DENIED, EXIT_INVALID, EXIT_CLUSTER = 1, 2, 3
T = TypeVar("T")


def run_guarded(fn: Callable[[], T]) -> T:
    """Turn netpolicy's errors into a message on stderr and the documented exit code.

    The causes are dropped on purpose (`from None`): the error is handled here, its message
    is what the user sees, and `typer.Exit` is an exit code, not an error with a cause."""
    try:
        return fn()
    except InvalidObjectsError as exc:
        for obj in exc.objects:
            typer.echo(f"error: {obj}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except (LoadError, LookupFailure) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except ClusterError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_CLUSTER) from None


