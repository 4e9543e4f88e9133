"""Helpers for the tests that build real network namespaces (dataplane and lab tests):
markers that skip (saying why) without root or a tool, throwaway namespaces and labs removed
even when the test fails, and waiting on a condition with a deadline instead of sleeping."""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from netpolicy.dataplane import netns
from netpolicy.lab.topology import LabConfig, Topology, create_fabric, leftovers, teardown

IS_ROOT = os.geteuid() == 0

needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root: creates network namespaces")


def needs_tools(*tools: str) -> pytest.MarkDecorator:
    missing = [t for t in tools if shutil.which(t) is None]
    return pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)} installed")


def unique_lab_name() -> str:
    """A lab name no other test (or run) uses: 't' and 6 hex digits."""
    return "t" + secrets.token_hex(3)


def wait_until(condition: Callable[[], object], *, timeout: float = 5.0, what: str = "condition") -> object:
    """Poll `condition` until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def make_netns() -> Iterator[Callable[[str], str]]:
    """Create throwaway namespaces `npl-tXXXXXX-<suffix>`; all removed (with any process left
    in them) when the test ends, pass or fail."""
    prefix = f"npl-{unique_lab_name()}-"
    made: list[str] = []

    def make(suffix: str) -> str:
        name = prefix + suffix
        netns.create(name)
        made.append(name)
        return name

    yield make
    for name in made:
        netns.kill_processes(name)
        netns.delete(name)
    assert netns.names(prefix) == []


def free_lab_config() -> LabConfig:
    """A lab config with a unique name and address ranges that overlap none of the host's
    routes — away from the defaults, so a lab someone runs by hand does not collide with the
    tests: pods in 10.100-199.0.0/16, services in another of those, links in 198.19.Z.0/24."""
    taken = [
        ipaddress.IPv4Network(r.dst)
        for r in netns.configure(None, lambda nl: nl.routes())
        if not r.dst.endswith("/0")
    ]

    def free(candidates: list[str]) -> str:
        secrets.SystemRandom().shuffle(candidates)
        for cidr in candidates:
            net = ipaddress.IPv4Network(cidr)
            if not any(net.overlaps(t) for t in taken):
                taken.append(net)
                return cidr
        raise RuntimeError("no free address range for a test lab")

    return LabConfig(
        name=unique_lab_name(),
        pod_cidr=free([f"10.{x}.0.0/16" for x in range(100, 200)]),
        service_cidr=free([f"10.{x}.0.0/16" for x in range(100, 200)]),
        infra_cidr=free([f"198.19.{z}.0/24" for z in range(256)]),
    )


@pytest.fixture
def lab() -> Iterator[Topology]:
    """A fresh lab (fabric, no nodes yet), torn down after the test; nothing may be left."""
    config = free_lab_config()
    topology = create_fabric(config)
    try:
        yield topology
    finally:
        teardown(config)
        assert leftovers(config) == []


F = TypeVar("F", bound=Callable[..., object])


def root_test(*tools: str) -> Callable[[F], F]:
    """Mark a test `root`, and skip it (saying why) without root or without `tools`."""

    def apply(test: F) -> F:
        marked: F = pytest.mark.root(needs_root(needs_tools("ip", *tools)(test)))
        return marked

    return apply
