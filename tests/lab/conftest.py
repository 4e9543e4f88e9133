"""Fixtures for the lab API server tests: a live server in a background thread.

`LabServer` runs the store, the API server (TLS, a bearer token) and a `FakePodRuntime` in
its own event loop, with a fake kubelet that "runs" every pod it sees: it binds it to a
node, starts its command as a local process, and reports Running/Ready, then Succeeded or
Failed when the process exits. Tests drive it with the real kubectl (`kubectl()`) or the
official Python client, and reach into it with `call()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pytest

from netpolicy.lab.apiserver import FakePodRuntime, create_app, kubeconfig, self_signed, serve
from netpolicy.lab.apiserver.credentials import new_token, write_kubeconfig
from netpolicy.lab.store import ApiError, Store, now

T = TypeVar("T")
NODE = "lab-node-1"


def kubectl_binary() -> str | None:
    """kubectl 1.32 itself when the installed kubectl is a version dispatcher."""
    found = shutil.which("kubectl")
    if found is None:
        return None
    pinned = Path(os.path.realpath(found)).with_name("kubectl.1.32")
    return str(pinned) if pinned.exists() else found


def wait_until(condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
    """Poll `condition` until it returns something truthy, or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


async def _fake_kubelet(store: Store, runtime: FakePodRuntime) -> None:
    watch = store.watch("pods")
    running: set[tuple[str, str]] = set()
    tasks: set[asyncio.Task[None]] = set()

    async def run(namespace: str, name: str, pod: dict[str, Any]) -> None:
        container = pod["spec"]["containers"][0]
        command = list(container.get("command") or []) + list(container.get("args") or [])
        exit_code = await runtime.start(namespace, name, container["name"],
                                        command or ["sleep", "600"])
        started = now()
        with contextlib.suppress(ApiError):
            await store.modify("pods", namespace, name,
                               lambda p: p["spec"].__setitem__("nodeName", NODE),
                               subresource="binding")

            def running_status(p: dict[str, Any]) -> None:
                p["status"].update({
                    "phase": "Running", "hostIP": "127.0.0.1", "podIP": "127.0.0.1",
                    "podIPs": [{"ip": "127.0.0.1"}], "startTime": started,
                    "conditions": [{"type": t, "status": "True", "lastTransitionTime": started}
                                   for t in ("Initialized", "Ready", "ContainersReady",
                                             "PodScheduled")],
                    "containerStatuses": [{
                        "name": container["name"], "image": container.get("image", ""),
                        "imageID": "", "ready": True, "restartCount": 0, "started": True,
                        "state": {"running": {"startedAt": started}}}]})

            await store.modify("pods", namespace, name, running_status, subresource="status")
        code = await exit_code

        def finished(p: dict[str, Any]) -> None:
            p["status"]["phase"] = "Succeeded" if code == 0 else "Failed"
            p["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
            p["status"]["containerStatuses"][0].update({"ready": False, "started": False, "state": {
                "terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                               "startedAt": started, "finishedAt": now()}}})

        with contextlib.suppress(ApiError, KeyError, IndexError):
            await store.modify("pods", namespace, name, finished, subresource="status")

    async for event in watch:
        pod = event.object
        key = (pod["metadata"].get("namespace", ""), pod["metadata"]["name"])
        if event.type == "ADDED" and key not in running:
            running.add(key)
            task = asyncio.ensure_future(run(*key, pod))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        elif event.type == "DELETED" and key in running:
            running.discard(key)
            await runtime.stop(*key)


class LabServer:
    """The API server on a store in a temporary directory, in its own thread and loop."""

    def __init__(self, directory: Path, *, kubelet: bool = True, history: int = 1000,
                 **options: Any) -> None:
        self.directory = directory
        self.token = new_token()
        self.kubeconfig = directory / "kubeconfig"
        self.cache = directory / "kube-cache"
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.store = Store(directory / "state", history=history)
        self.runtime = FakePodRuntime()
        self._options = options
        self._kubelet: Future[None] | None = None
        self.served = self.call(self._start())
        if kubelet:
            self._kubelet = asyncio.run_coroutine_threadsafe(
                _fake_kubelet(self.store, self.runtime), self.loop)

    async def _start(self) -> Any:
        certificate = self_signed()
        self.ca_pem = certificate.cert_pem
        app = create_app(self.store, self.token, self.runtime, **self._options)
        served = await serve(app, ssl_context=certificate.server_context())
        write_kubeconfig(self.kubeconfig, kubeconfig(served.url, self.token, certificate.cert_pem))
        await self.store.create("namespaces", {"metadata": {"name": "default"}})
        await self.store.create("nodes", {
            "metadata": {"name": NODE, "labels": {"kubernetes.io/hostname": NODE,
                                                  "node-role.kubernetes.io/worker": ""}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                       "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "netpolicy lab",
                                    "kernelVersion": os.uname().release,
                                    "containerRuntimeVersion": "fake://1"}}})
        return served

    @property
    def url(self) -> str:
        return str(self.served.url)

    def call(self, coro: Awaitable[T], timeout: float = 30.0) -> T:
        """Run a coroutine in the server's loop and return its result."""
        async def wrapped() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        binary = kubectl_binary()
        assert binary is not None
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "HOME": str(self.directory)}
        result = subprocess.run([binary, "--cache-dir", str(self.cache), *args], input=input,
                                capture_output=True, text=True, env=env, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def close(self) -> None:
        if self._kubelet is not None:
            self._kubelet.cancel()
        self.call(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    async def _stop(self) -> None:
        await self.served.close()
        await self.runtime.close()
        self.store.close()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    server = LabServer(tmp_path_factory.mktemp("lab"))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def needs_kubectl() -> None:
    if kubectl_binary() is None:
        pytest.skip("kubectl is not installed")
