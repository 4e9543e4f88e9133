"""Where a lab keeps its state, and how the CLI finds a running lab.

    <state dir>/             $NETPOL_LAB_DIR, else /var/lib/netpolicy/labs/<name>
        lab.json             the settings it was started with (nodes, ranges, port)
        store/               the API objects (SQLite): they survive `lab down`
        token, tls.crt, tls.key
        kubeconfig           for kubectl (mode 0600: it holds the token)
        daemon.pid           the running lab process
        daemon.log           its log
        logs/                container logs, one file per start
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from netpolicy.lab.topology import LabConfig

DEFAULT_ROOT = Path("/var/lib/netpolicy/labs")
RUN_DIR = Path("/run/netpolicy")
"""Host-wide: which lab of each name runs, and where its state is. Lab names are host-wide
(the network namespaces are named after them), whatever state directory a lab uses."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a recycled pid is not a lab
        return b"netpolicy.lab" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def running_lab(name: str) -> tuple[int, str] | None:
    """(pid, state dir) of the running lab called `name`, from any state directory."""
    try:
        data = json.loads((RUN_DIR / f"lab-{name}.json").read_text())
        pid, root = int(data["pid"]), str(data["stateDir"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (pid, root) if _alive(pid) else None


def register_running(name: str, root: Path) -> None:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    (RUN_DIR / f"lab-{name}.json").write_text(
        json.dumps({"pid": os.getpid(), "stateDir": str(root)}) + "\n")


def unregister_running(name: str) -> None:
    path = RUN_DIR / f"lab-{name}.json"
    try:
        if int(json.loads(path.read_text())["pid"]) == os.getpid():
            path.unlink()
    except (OSError, ValueError, KeyError, TypeError):
        pass


def registered_labs() -> list[str]:
    """Names of the labs with a host-wide entry (running or killed)."""
    try:
        return sorted(p.name[4:-5] for p in RUN_DIR.glob("lab-*.json"))
    except OSError:
        return []


def forget_dead(name: str) -> None:
    """Remove the entry of the lab called `name` if its process is gone."""
    if running_lab(name) is None:
        (RUN_DIR / f"lab-{name}.json").unlink(missing_ok=True)


def forget_stopped(name: str, root: Path) -> None:
    """Remove the entry of a lab of this state directory whose process is gone (killed:
    it could not unregister itself)."""
    path = RUN_DIR / f"lab-{name}.json"
    try:
        data = json.loads(path.read_text())
        if str(data["stateDir"]) == str(root) and not _alive(int(data["pid"])):
            path.unlink()
    except (OSError, ValueError, KeyError, TypeError):
        pass


@dataclass(frozen=True)
class LabSettings:
    """What `lab up` was asked for; persisted so a restart rebuilds the same lab."""

    name: str = "lab"
    nodes: int = 2
    pod_cidr: str = "10.244.0.0/16"
    service_cidr: str = "10.96.0.0/16"
    infra_cidr: str = "198.18.0.0/16"
    port: int = 0
    enforce: bool = True
    """Run a node agent on every node (NetworkPolicy enforced)."""
    existing: str = "keep"
    """The agents' `--existing`: keep or cut established connections a change denies."""

    def config(self) -> LabConfig:
        return LabConfig(name=self.name, pod_cidr=self.pod_cidr, service_cidr=self.service_cidr,
                         infra_cidr=self.infra_cidr)

    def node_names(self) -> list[str]:
        return [f"{self.name}-node-{i + 1}" for i in range(self.nodes)]


class LabPaths:
    def __init__(self, name: str = "lab", root: str | Path | None = None) -> None:
        base = root or os.environ.get("NETPOL_LAB_DIR")
        self.root = Path(base) if base else DEFAULT_ROOT / name
        self.settings = self.root / "lab.json"
        self.store = self.root / "store"
        self.token = self.root / "token"
        self.cert = self.root / "tls.crt"
        self.key = self.root / "tls.key"
        self.kubeconfig = self.root / "kubeconfig"
        self.pid = self.root / "daemon.pid"
        self.log = self.root / "daemon.log"
        self.logs = self.root / "logs"
        self.ready = self.root / "ready"
        self.agents = self.root / "agents"
        self.agent_kubeconfig = self.root / "agent-kubeconfig"

    def save_settings(self, settings: LabSettings) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.settings.write_text(json.dumps(asdict(settings), indent=2) + "\n")

    def load_settings(self) -> LabSettings | None:
        try:
            data: dict[str, Any] = json.loads(self.settings.read_text())
        except (OSError, ValueError):
            return None
        return LabSettings(**{k: v for k, v in data.items() if k in LabSettings.__annotations__})

    def daemon_pid(self) -> int | None:
        """The pid of the running lab process, or None (a stale pid file is ignored)."""
        try:
            pid = int(self.pid.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def stop_daemon(self, timeout: float = 20.0) -> bool:
        """SIGTERM the lab process and wait for it; SIGKILL if it does not go. True if one ran."""
        import time

        pid = self.daemon_pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.daemon_pid() is None:
                return True
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        return True

    def reset(self) -> None:
        """Forget the objects (the store) and logs; keep credentials and settings."""
        for path in (self.store, self.logs):
            shutil.rmtree(path, ignore_errors=True)
