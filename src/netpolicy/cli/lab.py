"""`netpol lab up|down|status|kubeconfig`: a single-machine Kubernetes for policies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Annotated, Any, Literal

import typer

from netpolicy.cli.common import EXIT_INVALID

lab_app = typer.Typer(
    rich_markup_mode="markdown",
    name="lab", no_args_is_help=True,
    help="A single-machine Kubernetes driven by the real kubectl: pods are network "
         "namespaces running real processes. Needs root.",
)

Name = Annotated[str, typer.Option("--name", help="Which lab (1-9 lowercase letters/digits).")]
StateDir = Annotated[str | None, typer.Option(
    "--state-dir", help="Where the lab keeps its state (default: $NETPOL_LAB_DIR, else "
    "/var/lib/netpolicy/labs/NAME).")]
EXIT_LAB = 4


def _paths(name: str, state_dir: str | None) -> Any:
    from netpolicy.lab.state import LabPaths

    return LabPaths(name, state_dir)


def _need_root() -> None:
    if os.geteuid() != 0:
        typer.echo("error: the lab needs root: it creates network namespaces, veths, routes "
                   "and nftables tables", err=True)
        raise typer.Exit(EXIT_INVALID)


def _export_line(paths: Any) -> str:
    return f"export KUBECONFIG={paths.kubeconfig}"


@lab_app.command()
def up(
    nodes: Annotated[int | None, typer.Option("--nodes", min=1, max=50,
                                              help="Number of nodes (default 2, or as before).")] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Start from an empty cluster "
                                        "(forget the objects of the previous run).")] = False,
    pod_cidr: Annotated[str | None, typer.Option("--pod-cidr", help="Pod addresses "
                                                 "(default 10.244.0.0/16).")] = None,
    service_cidr: Annotated[str | None, typer.Option("--service-cidr", help="ClusterIPs "
                                                     "(default 10.96.0.0/16).")] = None,
    infra_cidr: Annotated[str | None, typer.Option(
        "--infra-cidr", help="Links between the host, the fabric and the nodes "
        "(default 198.18.0.0/16).")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the lab.")] = 60,
    enforce: Annotated[bool | None, typer.Option(
        "--enforce/--no-enforce", help="Run the node agent on every node, so NetworkPolicies "
        "are enforced (default: on, or as before).")] = None,
    existing: Annotated[Literal["keep", "cut"] | None, typer.Option(
        "--existing", help="What the agents do with established connections a policy change "
        "denies: keep (default) or cut.")] = None,
    name: Name = "lab",
    state_dir: StateDir = None,
) -> None:
    """Start the lab (or report that it runs) and print the KUBECONFIG line to use."""
    _need_root()
    from netpolicy.lab.state import LabSettings
    from netpolicy.lab.topology import leftovers, teardown

    paths = _paths(name, state_dir)
    _refuse_other_lab(name, paths)
    saved = paths.load_settings()
    if paths.daemon_pid() is not None:
        if nodes is not None and saved is not None and saved.nodes != nodes:
            typer.echo(f"error: lab {name!r} is running with {saved.nodes} nodes; "
                       "run `netpol lab down` first", err=True)
            raise typer.Exit(EXIT_INVALID)
        typer.echo(f"lab {name!r} is already running\n{_export_line(paths)}")
        return
    base = saved or LabSettings(name=name)
    settings = LabSettings(
        name=name, nodes=nodes or base.nodes, pod_cidr=pod_cidr or base.pod_cidr,
        service_cidr=service_cidr or base.service_cidr, infra_cidr=infra_cidr or base.infra_cidr,
        port=base.port, enforce=base.enforce if enforce is None else enforce,
        existing=existing or base.existing)
    try:
        config = settings.config()
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None  # as in run_guarded: handled, Exit is a code
    left = leftovers(config)
    if left:
        typer.echo(f"recovering: removing what a previous lab {name!r} left behind: "
                   + ", ".join(left), err=True)
        teardown(config)
    if reset:
        paths.reset()
    paths.save_settings(settings)
    paths.ready.unlink(missing_ok=True)
    started = time.monotonic()
    with open(paths.log, "ab") as logfile:
        process = subprocess.Popen(
            [sys.executable, "-m", "netpolicy.lab.daemon", "--state-dir", str(paths.root)],
            stdin=subprocess.DEVNULL, stdout=logfile, stderr=logfile, start_new_session=True)
    while not paths.ready.exists():
        if process.poll() is not None:
            typer.echo(f"error: the lab failed to start; its log ({paths.log}) ends with:\n"
                       + _tail(paths.log), err=True)
            teardown(config)
            raise typer.Exit(EXIT_LAB)
        if time.monotonic() - started > timeout:
            process.terminate()
            typer.echo(f"error: the lab did not come up within {timeout:.0f}s; see {paths.log}",
                       err=True)
            raise typer.Exit(EXIT_LAB)
        time.sleep(0.05)
    typer.echo(f"lab {name!r} is up: {settings.nodes} nodes, pods {settings.pod_cidr}, "
               f"services {settings.service_cidr} ({time.monotonic() - started:.1f}s)\n"
               f"{_export_line(paths)}")


def _refuse_other_lab(name: str, paths: Any) -> None:
    """A lab of this name running from another state directory owns the names we would
    create or remove: never touch it."""
    from netpolicy.lab.state import running_lab

    other = running_lab(name)
    if other is not None and os.path.realpath(other[1]) != os.path.realpath(paths.root):
        typer.echo(f"error: a lab named {name!r} is running (pid {other[0]}) with its state in "
                   f"{other[1]}; use another --name, or that state directory", err=True)
        raise typer.Exit(EXIT_INVALID)


def _tail(path: Any, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@lab_app.command()
def down(
    reset: Annotated[bool, typer.Option("--reset", help="Also forget the cluster's objects.")] = False,
    name: Name = "lab",
    state_dir: StateDir = None,
) -> None:
    """Stop the lab and remove everything it added to the host (also after a crash)."""
    _need_root()
    from netpolicy.lab.state import LabSettings, forget_stopped
    from netpolicy.lab.topology import leftovers, teardown

    paths = _paths(name, state_dir)
    _refuse_other_lab(name, paths)
    was_running = paths.stop_daemon()
    forget_stopped(name, paths.root)
    config = (paths.load_settings() or LabSettings(name=name)).config()
    left = leftovers(config)
    if left:
        teardown(config)
    remaining = leftovers(config)
    paths.ready.unlink(missing_ok=True)
    paths.pid.unlink(missing_ok=True)
    if reset:
        paths.reset()
    if remaining:
        typer.echo("error: could not remove: " + ", ".join(remaining), err=True)
        raise typer.Exit(EXIT_LAB)
    state = "stopped" if was_running else "was not running"
    extra = f"; removed leftovers: {', '.join(left)}" if left else ""
    typer.echo(f"lab {name!r} {state}{extra}")


@lab_app.command()
def prune() -> None:
    """Remove what every lab whose process is gone left on the host (any name, any state
    directory); running labs are never touched."""
    _need_root()
    from netpolicy.lab.state import LabSettings, forget_dead, registered_labs, running_lab
    from netpolicy.lab.topology import labs_on_host, leftovers, teardown

    removed = 0
    for lab in sorted(set(labs_on_host()) | set(registered_labs())):
        if running_lab(lab) is not None:
            continue
        config = LabSettings(name=lab).config()  # the names depend on the lab's name only
        left = leftovers(config)
        teardown(config)
        forget_dead(lab)
        if left:
            removed += 1
            typer.echo(f"lab {lab!r}: removed {', '.join(left)}")
    remaining = [lab for lab in labs_on_host() if running_lab(lab) is None]
    if remaining:
        typer.echo("error: could not remove what these labs left: " + ", ".join(remaining),
                   err=True)
        raise typer.Exit(EXIT_LAB)
    if not removed:
        typer.echo("nothing left behind by stopped labs")


@lab_app.command()
def status(
    output: Annotated[Literal["text", "json"], typer.Option("--output", "-o")] = "text",
    name: Name = "lab",
    state_dir: StateDir = None,
) -> None:
    """Is the lab running; its API, nodes and pods. Exit code 4 when it is not running."""
    from netpolicy.lab.state import LabSettings
    from netpolicy.lab.topology import leftovers

    paths = _paths(name, state_dir)
    settings = paths.load_settings() or LabSettings(name=name)
    pid = paths.daemon_pid()
    info: dict[str, Any] = {"name": name, "running": pid is not None and paths.ready.exists(),
                            "pid": pid, "stateDir": str(paths.root)}
    if info["running"]:
        info["server"] = paths.ready.read_text().strip()
        info["kubeconfig"] = str(paths.kubeconfig)
        info.update(_cluster_summary(str(paths.kubeconfig)))
    else:
        info["leftovers"] = leftovers(settings.config()) if os.geteuid() == 0 else []
    if output == "json":
        typer.echo(json.dumps(info, indent=2))
    elif info["running"]:
        typer.echo(f"lab {name!r}: running (pid {pid}), API {info['server']}")
        for n in info.get("nodes", []):
            typer.echo(f"  node {n['name']}: {n['status']}, {n['ip']}, pods {n['podCIDR']}, "
                       f"{n['pods']} pods")
        typer.echo(_export_line(paths))
    else:
        extra = (f"; left behind: {', '.join(info['leftovers'])} (run `netpol lab down`)"
                 if info["leftovers"] else "")
        typer.echo(f"lab {name!r}: not running{extra}")
    if not info["running"]:
        raise typer.Exit(EXIT_LAB)


def _cluster_summary(kubeconfig_path: str) -> dict[str, Any]:
    from netpolicy.api.live import read_cluster
    from netpolicy.errors import ClusterError

    try:
        docs = [d.obj for d in read_cluster(kubeconfig_path)]
    except ClusterError as exc:  # the API is not answering: say so, do not crash
        return {"error": str(exc)}
    pods = [d for d in docs if d["kind"] == "Pod"]
    out = []
    for n in (d for d in docs if d["kind"] == "Node"):
        status, name = n.get("status") or {}, n["metadata"]["name"]
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in status.get("conditions") or [])
        ip = next((a["address"] for a in status.get("addresses") or []
                   if a.get("type") == "InternalIP"), "")
        count = sum(1 for p in pods if (p.get("spec") or {}).get("nodeName") == name)
        out.append({"name": name, "status": "Ready" if ready else "NotReady", "ip": ip,
                    "podCIDR": (n.get("spec") or {}).get("podCIDR", ""), "pods": count})
    return {"nodes": out, "pods": len(pods)}


@lab_app.command(name="kubeconfig")
def kubeconfig_cmd(
    path: Annotated[bool, typer.Option("--path", help="Print the file's path instead of "
                                       "its content.")] = False,
    name: Name = "lab",
    state_dir: StateDir = None,
) -> None:
    """Print the lab's kubeconfig (or, with --path, where it is)."""
    paths = _paths(name, state_dir)
    if not paths.kubeconfig.exists():
        typer.echo(f"error: lab {name!r} has no kubeconfig yet: run `netpol lab up`", err=True)
        raise typer.Exit(EXIT_LAB)
    typer.echo(str(paths.kubeconfig) if path else paths.kubeconfig.read_text().rstrip())
