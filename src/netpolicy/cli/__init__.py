"""`netpol` (also `kubectl-netpol`): a thin command line over the library.

Exit codes, for scripts (README.md has the table):
    0  done (for `explain`, whatever the verdict, unless --exit-code)
    1  denied with `explain --exit-code`; a disagreement or failed step (probe,
       conformance, demo); an agent reporting errors
    2  bad input: unreadable or invalid manifests, unknown endpoint, bad usage, not root
    3  the live cluster could not be read
    4  the lab is not running, or failed to start
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """`app` and `main` load the whole command line on first use, so that importing one
    command module (the agent's `python -m netpolicy.agent`) stays cheap."""
    if name in ("app", "main"):
        import importlib

        return getattr(importlib.import_module("netpolicy.cli.commands"), name)
    raise AttributeError(name)
