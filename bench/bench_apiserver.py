"""Benchmark of the lab API server: `kubectl get pods` on 500 pods, and watch latency.

    python3 bench/bench_apiserver.py [--pods 500] [--writes 200]

Starts a store and the API server (TLS, in a background thread, as the lab runs it), fills
it with running pods, then prints a table of:
- the server's answer time to the list requests `kubectl get pods` makes (Table and JSON);
- the wall time of the real `kubectl get pods` (process start to exit, with a warm
  discovery cache, as a user sees it);
- the time from a write (in the server's event loop) to its watch event arriving at an HTTP
  watch client, for `--writes` writes.
Only 127.0.0.1 is used; everything stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import shutil
import ssl
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

from netpolicy.lab.apiserver import create_app, kubeconfig, self_signed, serve, write_kubeconfig
from netpolicy.lab.store import Store

T = TypeVar("T")
TOKEN = "bench-token"


class Server:
    def __init__(self, directory: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.store = Store(directory / "state")
        self.certificate = self_signed()
        self.kubeconfig = directory / "kubeconfig"
        self.served = self.call(self._start())

    async def _start(self) -> Any:
        served = await serve(create_app(self.store, TOKEN),
                             ssl_context=self.certificate.server_context())
        write_kubeconfig(self.kubeconfig, kubeconfig(served.url, TOKEN,
                                                     self.certificate.cert_pem))
        return served

    def call(self, coro: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(120)

    def connection(self) -> http.client.HTTPSConnection:
        context = ssl.create_default_context(cadata=self.certificate.cert_pem.decode())
        return http.client.HTTPSConnection("127.0.0.1", self.served.port, context=context)

    def close(self) -> None:
        self.call(self.served.close())
        self.store.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


async def fill(store: Store, count: int) -> None:
    await store.create("namespaces", {"metadata": {"name": "default"}})
    for i in range(count):
        name = f"pod-{i:04d}"
        await store.create("pods", {
            "metadata": {"name": name, "namespace": "default", "labels": {"app": f"a{i % 7}"}},
            "spec": {"containers": [{"name": "main", "image": "nginx:1.27",
                                     "ports": [{"containerPort": 80}]}]}})

        def running(pod: dict[str, Any], i: int = i) -> None:
            pod["status"].update({
                "phase": "Running", "podIP": f"10.0.{i // 250}.{i % 250 + 1}",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "main", "ready": True, "restartCount": 0,
                                       "image": "nginx:1.27", "imageID": "",
                                       "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}}]})

        await store.modify("pods", "default", name, running, subresource="status")


def timed_get(server: Server, path: str, accept: str, runs: int) -> list[float]:
    times = []
    connection = server.connection()
    try:
        for _ in range(runs):
            start = time.perf_counter()
            connection.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}",
                                                     "Accept": accept})
            response = connection.getresponse()
            response.read()
            times.append(time.perf_counter() - start)
            assert response.status == 200
    finally:
        connection.close()
    return times


def kubectl_runs(server: Server, directory: Path, runs: int) -> list[float] | None:
    found = shutil.which("kubectl")
    if found is None:
        return None
    pinned = Path(os.path.realpath(found)).with_name("kubectl.1.32")
    binary = str(pinned) if pinned.exists() else found
    env = {**os.environ, "KUBECONFIG": str(server.kubeconfig), "HOME": str(directory)}
    command = [binary, "--cache-dir", str(directory / "cache"), "get", "pods"]
    subprocess.run(command, env=env, capture_output=True, check=True)  # warm the cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - start)
        assert out.stdout.count("\n") > 1
    return times


def watch_latency(server: Server, writes: int) -> list[float]:
    """Seconds from just before each write to its event being read by the client."""
    connection = server.connection()
    rv = server.store.resource_version
    connection.request("GET", f"/api/v1/namespaces/default/configmaps?watch=true"
                              f"&resourceVersion={rv}&timeoutSeconds=60",
                       headers={"Authorization": f"Bearer {TOKEN}"})
    response = connection.getresponse()
    sent: dict[str, float] = {}
    latencies: list[float] = []

    async def write(i: int) -> None:
        sent[f"cm-{i}"] = time.perf_counter()
        await server.store.create("configmaps", {"metadata": {"name": f"cm-{i}",
                                                              "namespace": "default"}})

    try:
        for i in range(writes):
            server.call(write(i))
            line = response.readline()
            received = time.perf_counter()
            event = json.loads(line)
            latencies.append(received - sent[event["object"]["metadata"]["name"]])
    finally:
        connection.close()
    return latencies


def row(name: str, values: list[float] | None) -> str:
    if not values:
        return f"| {name:<52} | {'n/a':>9} | {'n/a':>9} | {'n/a':>9} |"
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return (f"| {name:<52} | {statistics.median(values) * 1000:8.2f}  "
            f"| {p99 * 1000:8.2f}  | {values[-1] * 1000:8.2f}  |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=500)
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        server = Server(directory)
        try:
            start = time.perf_counter()
            server.call(fill(server.store, args.pods))
            fill_time = time.perf_counter() - start
            table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
            path = "/api/v1/namespaces/default/pods?limit=500"
            rows = [
                row(f"server: GET pods as Table ({args.pods} pods)",
                    timed_get(server, path, table, args.runs)),
                row(f"server: GET pods as JSON ({args.pods} pods)",
                    timed_get(server, path, "application/json", args.runs)),
                row(f"kubectl get pods, wall time ({args.pods} pods)",
                    kubectl_runs(server, directory, args.runs)),
                row(f"watch: write -> event at the client ({args.writes} writes)",
                    watch_latency(server, args.writes)),
            ]
        finally:
            server.close()
    print(f"{args.pods} pods created (create + status update each) in {fill_time:.2f} s "
          f"({fill_time / args.pods * 1000:.2f} ms per pod)")
    print(f"| {'measurement':<52} | {'median ms':>9} | {'p99 ms':>9} | {'max ms':>9} |")
    print(f"|{'-' * 54}|{'-' * 11}|{'-' * 11}|{'-' * 11}|")
    for line in rows:
        print(line)


if __name__ == "__main__":
    main()
