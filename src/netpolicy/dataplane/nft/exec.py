"""How a command reaches nftables: the two seams of the real runner (knftables' exec.go).

- `Execute` runs a command line, the `nft` binary's (`ip netns exec NS nft ...`), and
  returns what it exited with and printed; it raises OSError when the command cannot start.
- `OpenLibrary` opens a libnftables context (`dataplane.libnftables`) through an opener
  that creates it in the right network namespace; a context raises LibnftablesError, with
  nft's error text, when a command fails.

`runner.Nft` takes both, so that its translation of failures into NftError is tested with
stand-ins, without root (tests/dataplane/test_nft_runner.py).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from typing import Protocol

from netpolicy.dataplane.libnftables import Libnftables

Execute = Callable[[Sequence[str], str | None], "subprocess.CompletedProcess[str]"]
Opener = Callable[[Callable[[], int]], int]


def run_command(argv: Sequence[str], stdin: str | None) -> subprocess.CompletedProcess[str]:
    """The real `Execute`: run `argv` with `stdin`, capturing its output as text."""
    return subprocess.run(list(argv), input=stdin, capture_output=True, text=True, check=False)


class Library(Protocol):
    """One libnftables context (`dataplane.libnftables.Libnftables`)."""

    def run(self, command: str, *, json: bool = False, dry_run: bool = False) -> str: ...
    def run_script(self, script: str, *, dry_run: bool = False) -> str: ...
    def close(self) -> None: ...


OpenLibrary = Callable[[Opener | None], Library]


def open_library(opener: Opener | None) -> Library:
    """The real `OpenLibrary`."""
    return Libnftables(opener)
