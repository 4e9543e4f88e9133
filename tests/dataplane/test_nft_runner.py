"""The real runner's translation of nft's failures into NftError, and what it asks of nft,
through its two seams (`execute`: the `nft` command line; `library`: libnftables contexts),
with stand-ins: no root, no nft."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest

from netpolicy.dataplane.libnftables import LibnftablesError
from netpolicy.dataplane.nft import Family, Nft, NftError, Rule, Table, Transaction

NS = "npl-ns"
LISTED = "table inet t {\n}\n"
NO_TABLE = ("Error: No such file or directory; did you mean table 't' in family inet?\n"
            "list table ip t\n           ^\n")


def tx() -> Transaction:
    return Transaction(Family.INET, "t").add(Table()).add(Rule("c", "accept"))


# ---------------------------------------------------------------------------------------------
# The `nft` binary.


@dataclass
class Command:
    """A stand-in `execute`: records each command line and stdin, answers with `answer`
    (a finished process) or raises it (an OSError: the command could not start)."""

    answer: subprocess.CompletedProcess[str] | OSError
    calls: list[tuple[list[str], str | None]] = field(default_factory=list)

    def __call__(self, argv: Sequence[str], stdin: str | None) -> subprocess.CompletedProcess[str]:
        self.calls.append((list(argv), stdin))
        if isinstance(self.answer, OSError):
            raise self.answer
        return self.answer


def exited(code: int, stdout: str = "", stderr: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess([], code, stdout, stderr)


def binary(answer: subprocess.CompletedProcess[str] | OSError, netns: str | None = None,
           path: str = "nft") -> tuple[Nft, Command]:
    command = Command(answer)
    return Nft(netns, binary=path, in_process=False, execute=command), command


Call = Callable[[Nft], object]
RUN: Call = lambda nft: nft.run(tx())  # noqa: E731
CHECK: Call = lambda nft: nft.check(tx())  # noqa: E731
LIST: Call = lambda nft: nft.list_table(Family.IP, "t")  # noqa: E731
COUNTERS: Call = lambda nft: nft.counters(Family.INET, "t")  # noqa: E731


@pytest.mark.parametrize(
    ("call", "netns", "answer", "message"),
    [
        pytest.param(RUN, None, exited(1, stderr="Error: Could not process rule: No such file or "
                                       "directory\n"),
                     "nft -f - failed: Error: Could not process rule: No such file or directory",
                     id="a rejected transaction: nft's stderr, stripped"),
        pytest.param(RUN, NS, exited(1, stderr="Error: syntax error\n"),
                     f"nft -f - in network namespace {NS} failed: Error: syntax error",
                     id="the namespace is named"),
        pytest.param(CHECK, None, exited(1, stderr="Error: x\n"), "nft --check -f - failed: Error: x",
                     id="a check that fails names --check"),
        pytest.param(LIST, None, exited(1, stderr=NO_TABLE),
                     "nft list table ip t failed: " + NO_TABLE.strip(),
                     id="a listing of a missing table"),
        pytest.param(COUNTERS, NS, exited(255), f"nft -j list counters table inet t in network "
                     f"namespace {NS} failed: ", id="any nonzero code fails, even without stderr"),
        pytest.param(RUN, None, exited(0, stderr="Warning: anything\n"), None,
                     id="code 0 succeeds, whatever stderr says"),
    ],
)
def test_the_binary_fails_with_its_command_namespace_and_stderr(
    call: Call, netns: str | None, answer: subprocess.CompletedProcess[str], message: str | None
) -> None:
    nft, _ = binary(answer, netns)
    if message is None:
        call(nft)
        return
    with pytest.raises(NftError) as raised:
        call(nft)
    assert str(raised.value) == message
    assert raised.value.__cause__ is None  # nothing below it but nft's own words


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(FileNotFoundError(2, "No such file or directory", "nft"), id="no binary"),
        pytest.param(PermissionError(13, "Permission denied", "ip"), id="not allowed"),
    ],
)
def test_a_binary_that_cannot_start_is_an_nft_error_caused_by_the_os_error(error: OSError) -> None:
    nft, _ = binary(error)
    with pytest.raises(NftError) as raised:
        nft.run(tx())
    assert str(raised.value) == f"cannot run nft: {error}"
    assert raised.value.__cause__ is error


@pytest.mark.parametrize(
    ("call", "netns", "path", "argv", "stdin"),
    [
        pytest.param(RUN, None, "nft", ["nft", "-f", "-"], tx().render(), id="run: one script on stdin"),
        pytest.param(RUN, NS, "/usr/sbin/nft", ["ip", "netns", "exec", NS, "/usr/sbin/nft", "-f", "-"],
                     tx().render(), id="in a namespace, with another binary"),
        pytest.param(CHECK, NS, "nft", ["ip", "netns", "exec", NS, "nft", "--check", "-f", "-"],
                     tx().render(), id="check"),
        pytest.param(LIST, None, "nft", ["nft", "list", "table", "ip", "t"], None, id="list a table"),
        pytest.param(COUNTERS, None, "nft", ["nft", "-j", "list", "counters", "table", "inet", "t"],
                     None, id="counters, as JSON"),
    ],
)
def test_the_binary_is_asked_one_command_line(
    call: Call, netns: str | None, path: str, argv: list[str], stdin: str | None
) -> None:
    nft, command = binary(exited(0, stdout='{"nftables": []}'), netns, path)
    call(nft)
    assert command.calls == [(argv, stdin)]


def test_an_empty_transaction_does_not_run_nft() -> None:
    nft, command = binary(exited(1, stderr="Error: never asked\n"))
    nft.run(Transaction(Family.INET, "t"))
    assert command.calls == []


def test_what_nft_prints_is_read_back() -> None:
    listed = {"nftables": [{"metainfo": {}},
                           {"counter": {"family": "inet", "table": "t", "name": "a", "packets": 3}},
                           {"counter": {"family": "inet", "table": "t", "name": "b", "packets": 0}}]}
    nft, _ = binary(exited(0, stdout=json.dumps(listed)))
    assert nft.counters(Family.INET, "t") == {"a": 3, "b": 0}
    nft, _ = binary(exited(0, stdout=LISTED))
    assert nft.list_table(Family.INET, "t") == LISTED


# ---------------------------------------------------------------------------------------------
# libnftables, in-process.


@dataclass
class Context:
    """A stand-in libnftables context: records its calls, answers `output` or raises `error`."""

    error: Exception | None = None
    output: str = ""
    calls: list[tuple[str, str, bool, bool]] = field(default_factory=list)  # (how, text, json, dry)
    closed: bool = False

    def run(self, command: str, *, json: bool = False, dry_run: bool = False) -> str:
        return self._answer(("run", command, json, dry_run))

    def run_script(self, script: str, *, dry_run: bool = False) -> str:
        return self._answer(("script", script, False, dry_run))

    def close(self) -> None:
        self.closed = True

    def _answer(self, call: tuple[str, str, bool, bool]) -> str:
        self.calls.append(call)
        if self.error is not None:
            raise self.error
        return self.output


def in_process(netns: str | None = None, error: Exception | None = None,
               output: str = "") -> tuple[Nft, Context, Context]:
    """A runner on two stand-in contexts: the first opened runs transactions, the second
    listings."""
    opened: list[Context] = []

    def library(opener: object) -> Context:
        opened.append(Context(error, output))
        return opened[-1]

    nft = Nft(netns, in_process=True, library=library,
              execute=Command(OSError("the binary is not used in-process")))
    writer, reader = opened
    return nft, writer, reader


@pytest.mark.parametrize(
    ("call", "netns", "message"),
    [
        pytest.param(RUN, None, "nft -f - failed: Error: Could not process rule: No such file or directory",
                     id="a rejected transaction: nft's message"),
        pytest.param(RUN, NS, f"nft -f - in network namespace {NS} failed: Error: Could not process rule: "
                     "No such file or directory", id="the namespace is named"),
        pytest.param(CHECK, None, "nft --check -f - failed: Error: Could not process rule: No such file "
                     "or directory", id="a check names --check"),
        pytest.param(COUNTERS, None, "nft -j list counters table inet t failed: Error: Could not process "
                     "rule: No such file or directory", id="a listing names -j"),
    ],
)
def test_libnftables_fails_as_the_binary_does_and_keeps_its_error_as_the_cause(
    call: Call, netns: str | None, message: str
) -> None:
    error = LibnftablesError("Error: Could not process rule: No such file or directory")
    nft, _, _ = in_process(netns, error)
    with pytest.raises(NftError) as raised:
        call(nft)
    assert str(raised.value) == message
    assert raised.value.__cause__ is error


@pytest.mark.parametrize(
    ("call", "writer_calls", "reader_calls"),
    [
        pytest.param(RUN, [("script", tx().render(), False, False)], [], id="run: the script"),
        pytest.param(CHECK, [("script", tx().render(), False, True)], [], id="check: a dry run"),
        pytest.param(LIST, [], [("run", "list table ip t", False, False)], id="a listing: the reader"),
        pytest.param(COUNTERS, [], [("run", "list counters table inet t", True, False)],
                     id="-j: JSON output"),
    ],
)
def test_transactions_and_listings_have_a_context_each(
    call: Call, writer_calls: list[tuple[str, str, bool, bool]],
    reader_calls: list[tuple[str, str, bool, bool]],
) -> None:
    nft, writer, reader = in_process(output='{"nftables": []}')
    call(nft)
    assert (writer.calls, reader.calls) == (writer_calls, reader_calls)


def test_closing_the_runner_closes_both_contexts() -> None:
    nft, writer, reader = in_process()
    nft.close()
    assert writer.closed and reader.closed


def test_in_process_is_the_default_for_the_callers_own_namespace_only() -> None:
    def library(opener: object) -> Context:
        return Context()

    assert Nft(library=library)._lib is not None
    assert Nft(NS, library=library)._lib is None
    assert Nft(binary="/usr/sbin/nft", library=library)._lib is None
