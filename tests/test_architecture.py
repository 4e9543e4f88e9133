"""The folders are the architecture (STYLE.md): checked, not hoped for."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import netpolicy.engine

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold() -> None:
    """pyproject.toml's import-linter contracts: the engine imports only the API objects,
    does no I/O, and the layers above it only look down."""
    if not shutil.which("lint-imports"):
        pytest.skip("import-linter is not installed (pip install -e .[dev])")
    result = subprocess.run(["lint-imports"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_engine_exports_exactly_its_public_api() -> None:
    assert sorted(netpolicy.engine.__all__) == [
        "ALL", "Allowance", "BackendVerdict", "ClusterState", "CompiledView", "Connectivity",
        "Decision", "DirectionView", "External", "Matrix", "NONE", "Party", "PeerSet", "PortSet", "Reason",
        "RuleId", "RuleRef", "SideVerdict", "TierMatch", "TierVerdict", "Verdict", "connectivity",
        "matrix",
        "service_verdicts", "verdict",
    ]
    for name in netpolicy.engine.__all__:
        assert hasattr(netpolicy.engine, name)


def test_every_example_is_valid_and_analysed() -> None:
    """Every file under examples/ is exercised: it validates and the engine reads it."""
    from netpolicy.api.inventory import build_inventory
    from netpolicy.api.loading import read_paths

    for path in sorted((ROOT / "examples").rglob("*.yaml")):
        build_inventory(read_paths([str(path)]))
