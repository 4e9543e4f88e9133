"""`netpol probe`: real connections between pods, compared with what the engine says."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Annotated, Any, Literal

import typer

from netpolicy.api.protocols import PROTOCOLS, Protocol
from netpolicy.cli.common import EXIT_DENIED, run_guarded
from netpolicy.errors import LookupFailure


def parse_port(text: str) -> tuple[Protocol, int]:
    """`80`, `tcp/80`, `UDP/53`."""
    protocol, _, number = text.rpartition("/")
    proto: Any = (protocol or "TCP").upper()
    if proto not in PROTOCOLS or not number.isdigit() or not 1 <= int(number) <= 65535:
        raise LookupFailure(f"--port {text!r}: write PORT or PROTOCOL/PORT, e.g. 80 or udp/53")
    return proto, int(number)


def probe_cmd(
    namespace: Annotated[list[str] | None, typer.Option(
        "--namespace", "-n", help="Probe the pods of these namespaces (default: all but "
        "kube-system). Repeatable.")] = None,
    port: Annotated[list[str] | None, typer.Option(
        "--port", "-p", help="80 or udp/53 (repeatable; default: the pods' container ports).")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per probe.")] = 1.0,
    lab: Annotated[str | None, typer.Option(
        "--lab", help="Probe from inside the pods' network namespaces of this lab (fast; "
        "default when the kubeconfig is a lab's).")] = None,
    use_exec: Annotated[bool, typer.Option(
        "--exec", help="Probe with `kubectl exec POD -- /agnhost connect ...` (real clusters; "
        "the pods must run agnhost).")] = False,
    parallel: Annotated[int, typer.Option("--parallel", help="Probes at once.")] = 200,
    output: Annotated[Literal["text", "json"], typer.Option("--output", "-o")] = "text",
    kubeconfig: Annotated[str | None, typer.Option("--kubeconfig")] = None,
    context: Annotated[str | None, typer.Option("--context")] = None,
) -> None:
    """Open real connections between every pair of pods and compare with the engine.

    TCP and UDP, on the given ports or the pods' container ports; prints the observed
    truth table next to the engine's, marking every disagreement. Exit code 1 on any."""
    from netpolicy.api.inventory import build_inventory
    from netpolicy.api.live import read_cluster
    from netpolicy.engine import ClusterState
    from netpolicy.probe.connect import Connector, ExecConnector, NetnsConnector
    from netpolicy.probe.runner import default_ports, probe, probe_targets
    from netpolicy.report.probe import render_json, render_text

    def run() -> Any:
        docs = read_cluster(kubeconfig, context)
        inv = build_inventory(docs, strict_ip=False)
        state = ClusterState(inv.namespaces, inv.endpoints, inv.policies, inv.services, inv.nodes,
                            inv.cluster_policies)
        pods = probe_targets(state, namespace)
        if not pods:
            raise LookupFailure("no running pods with an address to probe")
        ports = [parse_port(p) for p in port] if port else default_ports(pods)
        if not ports:
            raise LookupFailure("the pods declare no TCP or UDP container ports: give --port")
        connector: Connector
        lab_name = lab if lab is not None else _lab_of(kubeconfig)
        if use_exec or lab_name is None:
            cmd = ["kubectl", *(["--kubeconfig", kubeconfig] if kubeconfig else []),
                   *(["--context", context] if context else [])]
            connector = ExecConnector(cmd)
        else:
            connector = NetnsConnector(_lab_netns(lab_name, docs))
        show = sys.stderr.isatty() and output == "text"

        def progress(done: int, total: int) -> None:
            if show:
                print(f"\rprobing {done}/{total}", end="", file=sys.stderr, flush=True)
        import asyncio

        report = asyncio.run(probe(state, pods, ports, connector, timeout=timeout,
                                   parallel=parallel, progress=progress))
        if show:
            print(file=sys.stderr)
        return report

    report = run_guarded(run)
    sys.stdout.write(render_json(report) if output == "json" else render_text(report))
    if report.disagreements:
        raise typer.Exit(EXIT_DENIED)


def _lab_of(kubeconfig: str | None) -> str | None:
    """The lab whose kubeconfig this is, if any (its current context is `netpol-<lab>`)."""
    import yaml

    path = kubeconfig or os.environ.get("KUBECONFIG", os.path.expanduser("~/.kube/config"))
    try:
        with open(path.split(os.pathsep)[0]) as f:
            current = str((yaml.safe_load(f) or {}).get("current-context", ""))
    except OSError:
        return None
    if current.startswith("netpol-") and shutil.which("ip") and os.geteuid() == 0:
        return current.removeprefix("netpol-")
    return None


def _lab_netns(lab: str, docs: list[Any]) -> dict[str, str]:
    """namespace/name -> the pod's network namespace in the lab."""
    from netpolicy.lab.kubelet import pod_id
    from netpolicy.lab.state import LabPaths

    settings = LabPaths(lab).load_settings()
    if settings is None:
        raise LookupFailure(f"no lab named {lab!r} on this machine (or give --exec)")
    config = settings.config()
    out = {}
    for d in docs:
        obj = d.obj
        if obj["kind"] == "Pod":
            meta = obj["metadata"]
            out[f"{meta['namespace']}/{meta['name']}"] = config.pod_netns(pod_id(obj))
    return out


def register(app: typer.Typer) -> None:
    app.command(name="probe")(probe_cmd)
