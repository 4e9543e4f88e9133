"""Enforcement end to end, in a lab with its node agents: the exercise (`netpol demo`,
whose every step checks itself) and the conformance suite (`netpol conformance`), both
with real traffic; then `netpol probe` on what they leave. Needs root."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]
RANGES = ["--pod-cidr", "10.253.0.0/16", "--service-cidr", "10.254.0.0/16",
          "--infra-cidr", "198.19.128.0/17"]


class Lab:
    def __init__(self, name: str, state: Path) -> None:
        self.name = name
        self.env = {**os.environ, "NETPOL_LAB_DIR": str(state),
                    "KUBECONFIG": str(state / "kubeconfig")}

    def netpol(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["netpol", *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab("e" + secrets.token_hex(3), tmp_path_factory.mktemp("lab"))
    try:
        up = lab.netpol("lab", "up", "--name", lab.name, *RANGES)
        assert up.returncode == 0, up.stderr
        yield lab
    finally:
        down = lab.netpol("lab", "down", "--name", lab.name)
        assert down.returncode == 0, down.stderr


def test_the_exercise_runs_verbatim(lab: Lab) -> None:
    result = lab.netpol("demo", "--lab", lab.name)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Every step did what the exercise says." in result.stdout
    assert "!!" not in result.stdout


def test_conformance_suite_passes_with_real_traffic(lab: Lab) -> None:
    result = lab.netpol("conformance", "--lab", lab.name, "-o", "json")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    data = json.loads(result.stdout)
    assert data["passed"] and len(data["results"]) >= 50
    assert all(r["passed"] for r in data["results"])


def agent_statuses(lab: Lab) -> list[dict[str, Any]]:
    result = lab.netpol("agent", "status", "--lab", lab.name, "-o", "json")
    assert result.returncode == 0, result.stderr
    statuses: list[dict[str, Any]] = json.loads(result.stdout)
    return statuses


def counted(lab: Lab) -> tuple[int, int]:
    """Connections let through by policies and dropped by isolation, over all nodes."""
    statuses = agent_statuses(lab)
    return (sum(n for s in statuses for n in s["allowed"].values()),
            sum(n for s in statuses for n in s["dropped"].values()))


def test_agent_status_reports_ready_agents_and_no_errors(lab: Lab) -> None:
    statuses = agent_statuses(lab)
    assert len(statuses) == 2 and all(s["ready"] and not s["errors"] for s in statuses)


def test_probe_agrees_with_the_engine_and_the_counters_count_it(lab: Lab,
                                                                tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("""
apiVersion: v1
kind: Namespace
metadata: {name: probed}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-from-a, namespace: probed}
spec:
  podSelector: {matchLabels: {app: b}}
  ingress: [{from: [{podSelector: {matchLabels: {app: a}}}], ports: [{port: 80}]}]
""")
    env = lab.env
    subprocess.run(["kubectl", "apply", "-f", str(policy)], env=env, check=True,
                   capture_output=True)
    for app in ("a", "b", "c"):  # agnhost, as upstream's probes use (`--exec` needs it)
        subprocess.run(["kubectl", "-n", "probed", "run", app,
                        "--image=registry.k8s.io/e2e-test-images/agnhost:2.45",
                        f"--labels=app={app}", "--port=80", "--", "netexec",
                        "--http-port=80"], env=env, check=True, capture_output=True)
    subprocess.run(["kubectl", "-n", "probed", "wait", "--for=condition=ready", "pod", "--all",
                    "--timeout=60s"], env=env, check=True, capture_output=True)
    before = counted(lab)
    for mode in ("--lab", "--exec"):
        args = ["--lab", lab.name] if mode == "--lab" else ["--exec"]
        result = lab.netpol("probe", "-n", "probed", *args, "-o", "json")
        assert result.returncode == 0, mode + result.stdout + result.stderr
        data = json.loads(result.stdout)
        assert data["agree"] and data["probes"] == 9
        observed = data["ports"][0]["observed"]
        assert observed["probed/a"] == ["probed/a", "probed/b", "probed/c"], mode
        assert observed["probed/c"] == ["probed/a", "probed/c"], mode
    # a -> b was let through by only-from-a and c -> b dropped by isolation; the agents
    # read their counters every 2 s.
    deadline = time.monotonic() + 15
    while (after := counted(lab)) and not (after[0] > before[0] and after[1] > before[1]):
        assert time.monotonic() < deadline, (before, after)
        time.sleep(0.5)
    subprocess.run(["kubectl", "delete", "namespace", "probed"], env=env, check=True,
                   capture_output=True)
