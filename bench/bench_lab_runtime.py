"""How fast the lab starts pods: N nginx pods on 2 nodes, from nothing to all serving.

Run as root: `python bench/bench_lab_runtime.py [N ...]` (default 10 25 50). For each N it
builds a fresh lab (fabric + 2 nodes), then times three phases and prints a table:

- network: the pods' namespaces, veths, addresses, routes and /etc/netns files, created
  concurrently (the kubelet's way: `asyncio.to_thread` per pod);
- spawn: starting the N nginx containers (`ip netns exec … python -I -S nginx.py`);
- serving: until every pod answers HTTP from the host (the container's own startup).

The lab uses ranges away from the defaults (pods 10.250.0.0/16, services 10.251.0.0/16,
links 198.19.250.0/24), and is torn down after each size.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from netpolicy.lab.runtime import ContainerSpec, ProcessRuntime
from netpolicy.lab.topology import LabConfig, create_fabric, teardown

CONFIG = LabConfig(
    name="bench",
    pod_cidr="10.250.0.0/16",
    service_cidr="10.251.0.0/16",
    infra_cidr="198.19.250.0/24",
)


async def _serves(ip: str, deadline: float) -> None:
    request = f"GET / HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n".encode()
    while True:
        try:
            reader, writer = await asyncio.open_connection(ip, 80)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.01)
            continue
        writer.write(request)
        body = await reader.read()
        writer.close()
        if b"Welcome to nginx!" not in body:
            raise RuntimeError(f"{ip} answered something else")
        return


async def run(count: int) -> tuple[float, float, float]:
    teardown(CONFIG)
    topology = create_fabric(CONFIG)
    try:
        topology.add_node("a")
        topology.add_node("b")
        with tempfile.TemporaryDirectory() as logs:
            runtime = ProcessRuntime(Path(logs))
            try:
                start = time.perf_counter()
                pods = await asyncio.gather(
                    *(
                        asyncio.to_thread(
                            topology.add_pod, "ab"[i % 2], f"web-{i}", namespace="default",
                            hostname=f"web-{i}",
                        )
                        for i in range(count)
                    )
                )  # fmt: skip
                networked = time.perf_counter()
                for pod in pods:
                    await runtime.start(pod, ContainerSpec("nginx", "nginx"))
                spawned = time.perf_counter()
                deadline = time.monotonic() + 60
                await asyncio.gather(*(_serves(pod.ip, deadline) for pod in pods))
                serving = time.perf_counter()
            finally:
                await runtime.close(grace=1)
        return networked - start, spawned - networked, serving - spawned
    finally:
        topology.teardown()


def main(argv: list[str]) -> int:
    if os.geteuid() != 0:
        print("bench_lab_runtime: needs root (it creates network namespaces)", file=sys.stderr)
        return 2
    sizes = [int(a) for a in argv] or [10, 25, 50]
    print(f"{'pods':>5} {'network s':>10} {'spawn s':>8} {'serving s':>10} {'total s':>8} "
          f"{'ms/pod':>7}")  # fmt: skip
    for count in sizes:
        network, spawn, serving = asyncio.run(run(count))
        total = network + spawn + serving
        print(
            f"{count:>5} {network:>10.2f} {spawn:>8.2f} {serving:>10.2f} {total:>8.2f} "
            f"{1000 * total / count:>7.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
