"""`Nft`: the real nftables, in a network namespace, through the `nft` binary or
libnftables in-process (the seams are in `exec.py`). A failure of either becomes NftError,
naming the command, the namespace and nft's own message."""

from __future__ import annotations

from collections.abc import Callable

from netpolicy.dataplane.libnftables import LibnftablesError
from netpolicy.dataplane.libnftables import available as libnftables_available
from netpolicy.dataplane.nft import listing
from netpolicy.dataplane.nft.exec import Execute, Library, OpenLibrary, open_library, run_command
from netpolicy.dataplane.nft.state import dump
from netpolicy.dataplane.nft.transaction import Transaction
from netpolicy.dataplane.nft.types import Family, NftError


class Nft:
    """Runs the real nftables in a network namespace (None: the caller's own): the `nft`
    tool's library in-process where it can (`dataplane.libnftables`: a change costs the
    kernel's commit, not a process), else the `nft` binary. In-process is the default for
    the caller's own namespace only, as an open context keeps its namespace alive.

    `execute` runs the binary's command lines and `library` opens the in-process contexts
    (given one, it is taken as installed); both default to the real thing."""

    def __init__(self, netns: str | None = None, *, binary: str = "nft",
                 in_process: bool | None = None, execute: Execute = run_command,
                 library: OpenLibrary | None = None) -> None:
        self.netns = netns
        self.binary = binary
        self._execute = execute
        wanted = in_process if in_process is not None else netns is None and binary == "nft"
        self._lib: Library | None = None
        self._reader: Library | None = None
        if wanted and (library is not None or libnftables_available()):
            opened = library or open_library
            opener = None
            if netns is not None:
                from netpolicy.dataplane.netns import run_in  # pyroute2: 0.2 s to import

                def opener(create: Callable[[], int]) -> int:
                    return run_in(netns, create)
            self._lib = opened(opener)
            # Listings (counters: tens of ms on a big table) have a context of their own,
            # so a transaction never waits for one to finish.
            self._reader = opened(opener)

    def close(self) -> None:
        """Release the in-process contexts (before deleting their namespace)."""
        for lib in (self._lib, self._reader):
            if lib is not None:
                lib.close()

    def _command(self, *args: str) -> list[str]:
        prefix = ["ip", "netns", "exec", self.netns] if self.netns is not None else []
        return [*prefix, self.binary, *args]

    def _failed(self, args: tuple[str, ...], why: str) -> NftError:
        where = f" in network namespace {self.netns}" if self.netns else ""
        return NftError(f"nft {' '.join(args)}{where} failed: {why}")

    def _nft(self, *args: str, stdin: str | None = None) -> str:
        if self._lib is not None:
            words = [a for a in args if a not in ("-j", "--check")]
            try:
                if words == ["-f", "-"]:
                    return self._lib.run_script(stdin or "", dry_run="--check" in args)
                lib = self._reader if words[0] == "list" and self._reader else self._lib
                return lib.run(" ".join(words), json="-j" in args, dry_run="--check" in args)
            except LibnftablesError as exc:
                raise self._failed(args, str(exc)) from exc
        try:
            done = self._execute(self._command(*args), stdin)
        except OSError as exc:
            raise NftError(f"cannot run nft: {exc}") from exc
        if done.returncode != 0:
            raise self._failed(args, done.stderr.strip())
        return done.stdout

    def run(self, tx: Transaction) -> None:
        if len(tx):
            self._nft("-f", "-", stdin=tx.render())

    def check(self, tx: Transaction) -> None:
        """Let nft validate `tx` without applying it (`nft --check`)."""
        self._nft("--check", "-f", "-", stdin=tx.render())

    def list_table(self, family: Family, table: str) -> str:
        """`nft list table` as nft prints it."""
        return self._nft("list", "table", str(family), table)

    def counters(self, family: Family, table: str) -> dict[str, int]:
        """Packets counted by each named counter of `table` (cheap: no rules, no sets)."""
        return listing.counters(self._nft("-j", "list", "counters", "table", str(family), table))

    def rule_counters(self, family: Family, table: str,
                      chains: list[str] | None = None) -> list[tuple[str, str, int]]:
        """(chain, comment, packets) of every commented rule with a counter in `table`, or
        in the given `chains` only (listing a chain skips the sets: much cheaper)."""
        if chains is None:
            items = listing.items(self._nft("-j", "list", "table", str(family), table))
        else:
            items = [item for chain in chains for item in listing.items(
                self._nft("-j", "list", "chain", str(family), table, chain))]
        return listing.rule_counters(items)

    def dump(self) -> str:
        json_text = self._nft("-j", "list", "ruleset")
        return dump(listing.read_ruleset(json_text, self._nft("list", "ruleset")))
