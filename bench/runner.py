"""Running one measured command in a fresh process: wall time, CPU time, peak memory."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SPAWN = Path(__file__).resolve().parent / "spawn.py"


@dataclass
class Run:
    """A finished (or killed) child process: wall time, CPU time, peak RSS, exit status."""

    seconds: float
    cpu_seconds: float  # user + system
    max_rss_kib: int
    returncode: int | None  # None: killed at the timeout
    stdout: Path
    stderr: Path

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def run_measured(cmd: Sequence[str], stdout: Path, stderr: Path,
                 timeout: float | None = None) -> Run:
    """Run `cmd` in a fresh process through bench/spawn.py, a small launcher, and read
    the command's `ru_maxrss` from `os.wait4` on it (see spawn.py for why not from here)."""
    spec = {"cmd": list(cmd), "stdout": str(stdout), "stderr": str(stderr), "timeout": timeout}
    done = subprocess.run([sys.executable, "-I", "-S", str(SPAWN), json.dumps(spec)],
                          capture_output=True, text=True, check=True)
    report = json.loads(done.stdout)
    return Run(report["seconds"], report["user"] + report["system"], report["max_rss_kib"],
               report["returncode"], stdout, stderr)
