"""The analysis commands: connectivity, matrix, explain, validate."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from netpolicy.api.protocols import Protocol
from netpolicy.cli.common import EXIT_DENIED, EXIT_INVALID, run_guarded
from netpolicy.errors import InvalidObjectsError

if TYPE_CHECKING:
    from netpolicy.cli.inputs import Source

# The object model, the engine and the reports (numpy among them) are imported by the
# commands that use them, so that `netpol lab ...`, `version` and `--help` start fast.

Files = Annotated[list[str] | None, typer.Option(
    "--filename", "-f", help="Manifest file or directory (recursive), or - for stdin. "
    "Repeatable. Without -f, the live cluster of the kubeconfig is read.")]
Namespace = Annotated[str | None, typer.Option(
    "--namespace", "-n", help="Namespace of objects that name none (default: default); "
    "the report then covers this namespace only.")]
AllNamespaces = Annotated[bool, typer.Option(
    "--all-namespaces", "-A", help="Report on every namespace (the default without -n).")]
Kubeconfig = Annotated[str | None, typer.Option(
    "--kubeconfig", help="Read a live cluster with this kubeconfig (default: $KUBECONFIG, "
    "then ~/.kube/config).")]
Context = Annotated[str | None, typer.Option("--context", help="The kubeconfig context to use.")]
Protocol_ = Annotated[Protocol, typer.Option(
    "--protocol", help="TCP, UDP or SCTP.", case_sensitive=False)]
Port = Annotated[int, typer.Option("--port", "-p", help="Destination port.", min=1, max=65535)]


def _source(files: list[str] | None, namespace: str | None, all_namespaces: bool,
            kubeconfig: str | None, context: str | None) -> Source:
    from netpolicy.cli.inputs import Source

    return Source(tuple(files or ()), namespace, all_namespaces, kubeconfig, context)


@contextlib.contextmanager
def _progress(message: str) -> Iterator[None]:
    """A spinner on stderr while long work runs, only when a person is watching."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


def register(app: typer.Typer) -> None:
    app.command(name="connectivity")(connectivity_cmd)
    app.command(name="matrix")(matrix_cmd)
    app.command()(explain)
    app.command()(validate)


def connectivity_cmd(
    files: Files = None,
    namespace: Namespace = None,
    all_namespaces: AllNamespaces = False,
    from_: Annotated[list[str] | None, typer.Option(
        "--from", help="Only these sources: namespace/name, globs allowed (x/*). Repeatable.")] = None,
    to: Annotated[list[str] | None, typer.Option(
        "--to", help="Only these destinations, like --from.")] = None,
    output: Annotated[Literal["text", "json", "csv", "md", "dot"], typer.Option(
        "--output", "-o",
        help="text, json, csv, md, or dot (Graphviz: pipe to `dot -Tsvg`).")] = "text",
    kubeconfig: Kubeconfig = None,
    context: Context = None,
) -> None:
    """For every ordered pair of endpoints, the ports a new connection may use."""
    from netpolicy.cli.inputs import pick
    from netpolicy.engine import CompiledView, connectivity
    from netpolicy.report import connectivity as connectivity_report

    src = _source(files, namespace, all_namespaces, kubeconfig, context)

    def run() -> str:
        with _progress("computing connectivity"):
            state = src.state()
            scope = src.in_scope(state)
            sources, dests = pick(state, scope, from_ or [], "--from"), pick(state, scope, to or [], "--to")
            conn = connectivity(CompiledView(state))
            return connectivity_report.render(conn, output, sources, dests)

    sys.stdout.write(run_guarded(run))


def matrix_cmd(
    port: Port,
    protocol: Protocol_ = "TCP",
    files: Files = None,
    namespace: Namespace = None,
    all_namespaces: AllNamespaces = False,
    from_: Annotated[list[str] | None, typer.Option(
        "--from", help="Only these sources (rows): namespace/name or globs. Repeatable.")] = None,
    to: Annotated[list[str] | None, typer.Option(
        "--to", help="Only these destinations (columns), like --from.")] = None,
    output: Annotated[Literal["text", "json", "csv", "md"], typer.Option(
        "--output", "-o",
        help="text (a grid: . allowed, X denied), json, csv, or md.")] = "text",
    kubeconfig: Kubeconfig = None,
    context: Context = None,
) -> None:
    """The truth table for one port: which endpoint may open a new connection to which."""
    from netpolicy.cli.inputs import pick
    from netpolicy.engine import CompiledView, matrix
    from netpolicy.report import matrix as matrix_report

    src = _source(files, namespace, all_namespaces, kubeconfig, context)
    proto: Protocol = protocol.upper()  # type: ignore[assignment]  # case-insensitive choice

    def run() -> str:
        with _progress("computing the matrix"):
            state = src.state()
            scope = src.in_scope(state)
            sources, dests = pick(state, scope, from_ or [], "--from"), pick(state, scope, to or [], "--to")
            m = matrix(CompiledView(state), port, proto)
            return matrix_report.render(m, output, sources, dests)

    sys.stdout.write(run_guarded(run))


def explain(
    from_: Annotated[str, typer.Option(
        "--from", help="The client: namespace/name of a pod or workload, or an IP address.")],
    port: Port,
    to: Annotated[str | None, typer.Option("--to", help="The server, like --from.")] = None,
    service: Annotated[str | None, typer.Option(
        "--service", help="Instead of --to: a Service (namespace/name) and its --port; "
        "one verdict per backend.")] = None,
    protocol: Protocol_ = "TCP",
    files: Files = None,
    namespace: Namespace = None,
    output: Annotated[Literal["text", "json"], typer.Option(
        "--output", "-o",
        help="text, or json (\"allowed\" is the verdict).")] = "text",
    exit_code: Annotated[bool, typer.Option(
        "--exit-code", help="Exit with 1 when the connection is denied (through a "
        "Service: by any backend).")] = False,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
) -> None:
    """Is a new connection allowed, and why.

    Shows the policies that isolate each side and the rule that lets the connection
    through, or the fact that none does."""
    if (to is None) == (service is None):
        typer.echo("error: give exactly one of --to and --service", err=True)
        raise typer.Exit(EXIT_INVALID)
    from netpolicy.engine import service_verdicts, verdict
    from netpolicy.report import explain as explain_report

    src = _source(files, namespace, False, kubeconfig, context)
    proto: Protocol = protocol.upper()  # type: ignore[assignment]  # case-insensitive choice

    def run() -> tuple[str, bool]:
        state = src.state()
        if service is not None:
            backends = service_verdicts(state, from_, service, port, proto)
            source = state.party(from_).key
            allowed = bool(backends) and all(b.allowed for b in backends)
            if output == "json":
                return explain_report.service_json(source, service, proto, port, backends), allowed
            return (explain_report.service_text(state, source, service, proto, port, backends),
                    allowed)
        assert to is not None
        v = verdict(state, from_, to, port, proto)
        text = (explain_report.render_json(v) if output == "json"
                else explain_report.render_text(state, v))
        return text, v.allowed

    text, allowed = run_guarded(run)
    sys.stdout.write(text)
    if exit_code and not allowed:
        raise typer.Exit(EXIT_DENIED)


def validate(
    files: Annotated[list[str], typer.Option(
        "--filename", "-f", help="Manifest file or directory (recursive), or - for stdin. Repeatable.")],
    namespace: Namespace = None,
    output: Annotated[Literal["text", "json"], typer.Option(
        "--output", "-o", help="text or json.")] = "text",
) -> None:
    """Check manifests with the API server's rules.

    Prints every error of every object, as the API server words them. Exit code 2 when
    any object is invalid."""
    from netpolicy.report.formats import to_json

    src = _source(files, namespace, True, None, None)

    def run() -> tuple[list[Any], int]:
        try:
            inv = src.inventory()
        except InvalidObjectsError as exc:
            return list(exc.objects), sum(1 for _ in exc.objects)
        counts = (len(inv.namespaces), len(inv.endpoints), len(inv.policies),
                  len(inv.cluster_policies), len(inv.services))
        return [counts], 0

    results, invalid = run_guarded(run)
    if output == "json":
        if invalid:
            data: dict[str, Any] = {"valid": False, "objects": [
                {"kind": o.kind, "namespace": o.namespace, "name": o.name, "message": str(o),
                 "errors": [{"type": e.type, "field": e.path, "reason": e.reason,
                             "value": _jsonable(e.value)} for e in o.errors]}
                for o in results]}
        else:
            data = {"valid": True}
        sys.stdout.write(to_json(data))
    elif invalid:
        for o in results:
            typer.echo(f"error: {o}", err=True)
    else:
        ns, eps, pols, tiered, svcs = results[0]
        tiers = f"{_count(tiered, 'tiered cluster policy', 'tiered cluster policies')}, " \
            if tiered else ""
        typer.echo(f"valid: {_count(pols, 'NetworkPolicy', 'NetworkPolicies')}, {tiers}"
                   f"{_count(eps, 'endpoint')}, {_count(ns, 'namespace')}, {_count(svcs, 'service')}")
    if invalid:
        raise typer.Exit(EXIT_INVALID)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)
