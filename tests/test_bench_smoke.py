"""Smoke run of the node agent benchmark (bench/bench_agent.py --quick): it measures its
three parts with the real nft in throwaway namespaces, prints the summary table, and
removes every namespace it made."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from netpolicy.dataplane import netns

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_agent.py"

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0,
                       reason="needs root: the benchmark creates network namespaces and nftables tables"),
    pytest.mark.skipif(any(shutil.which(t) is None for t in ("nft", "ip")),
                       reason="needs nft and ip (iproute2) installed"),
]


def test_quick_agent_benchmark_prints_its_table_and_cleans_up() -> None:
    ident = "bt" + secrets.token_hex(3)
    done = subprocess.run([sys.executable, str(BENCH), "--quick", "--id", ident],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for heading in ("## 1. Programming a node from scratch", "## 2. One change, end to end",
                    "## 3. Connection set-up latency", "## Summary"):
        assert heading in out, out
    summary = out.split("## Summary", 1)[1]
    assert "| measurement" in summary
    for row in ("program a node from scratch", "(a) pod gets its IP", "(b) policy changed",
                "(c) admin policy changed",
                "connect latency, the policies vs none (median, paired by round)"):
        assert row in summary, summary
    assert summary.count("PASS") + summary.count("FAIL") >= 6, summary
    assert f"namespaces left with prefix npl-{ident}-: none" in out
    assert netns.names(f"npl-{ident}-") == []
