"""The node agent's main loop: watch the API, keep the node's nftables program current.

    informers (threads) --changes--> cache --wake--> loop: snapshot -> Enforcer.sync
                                                           -> status file, metrics

Every wake-up takes the latest state of everything (changes arriving meanwhile fold
into the next pass), so the program always converges on the newest objects. Until the
first full list of every kind has arrived nothing is programmed: a partial view would
open or close the wrong pods.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netpolicy.agent.conntrack import Conntrack
from netpolicy.agent.enforcer import Enforcer, Existing
from netpolicy.agent.snapshot import Converter
from netpolicy.agent.source import ClusterCache, start_informers
from netpolicy.agent.status import AgentStatus
from netpolicy.api.loading import gc_paused
from netpolicy.dataplane.nft import Nft, NftError

log = logging.getLogger("netpolicy.agent")


@dataclass(frozen=True)
class AgentOptions:
    node: str
    kubeconfig: str | None = None
    context: str | None = None
    existing: Existing = "keep"
    status_file: Path | None = None
    metrics_port: int | None = None
    status_interval: float = 2.0


def api_client(kubeconfig: str | None, context: str | None) -> Any:
    """A client from a kubeconfig, or the in-cluster service account (a DaemonSet)."""
    from kubernetes import config

    if kubeconfig is None and context is None:
        with contextlib.suppress(config.ConfigException):
            config.load_incluster_config()  # type: ignore[no-untyped-call]
            from kubernetes import client

            return client.ApiClient()
    return config.new_client_from_config(config_file=kubeconfig, context=context)  # type: ignore[no-untyped-call]


class Agent:
    """`runner` (nftables) and `client` (the API client) are injected in tests; by default
    the node's nft and a client from the options' kubeconfig (or the service account)."""

    def __init__(self, options: AgentOptions, runner: Any | None = None,
                 client: Any | None = None) -> None:
        self.options = options
        self.client = client
        self.cache = ClusterCache()
        self.wake = asyncio.Event()
        self.stopping = asyncio.Event()
        self.enforcer = Enforcer(options.node, runner or Nft(), options.existing, Conntrack())
        self.converter = Converter()
        self.status = AgentStatus(options.node, options.existing)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        client = self.client or api_client(self.options.kubeconfig, self.options.context)

        def changed() -> None:
            loop.call_soon_threadsafe(self.wake.set)
        informers = start_informers(client, self.cache, changed)
        tasks = [loop.create_task(self._report_loop())]
        if self.options.metrics_port is not None:
            tasks.append(loop.create_task(self._serve_metrics(self.options.metrics_port)))
        try:
            await self._sync_loop()
        finally:
            for t in tasks:
                t.cancel()
            for i in informers:
                i.stop()
            self._write_status()

    async def _sync_loop(self) -> None:
        last = -1
        while not self.stopping.is_set():
            waker = asyncio.ensure_future(self.wake.wait())
            stopper = asyncio.ensure_future(self.stopping.wait())
            await asyncio.wait([waker, stopper], return_when=asyncio.FIRST_COMPLETED)
            waker.cancel()
            stopper.cancel()
            self.wake.clear()
            if self.stopping.is_set() or not self.cache.ready:
                continue
            generation, rv, objects = self.cache.snapshot()
            if generation == last:
                if rv > self.status.resource_version:  # a bookmark: nothing new, but current
                    self.status.resource_version = rv
                    self._write_status(counters=False)
                continue
            try:
                with gc_paused():
                    snapshot = self.converter.snapshot(objects)
                report = self.enforcer.sync(snapshot, generation)
            except NftError as exc:
                log.error("applying the program failed (nothing changed): %s", exc)
                self.status.errors = [f"nftables: {exc}"]
                await asyncio.sleep(0.5)
                self.wake.set()
                continue
            except Exception:
                log.exception("sync failed")
                await asyncio.sleep(0.5)
                self.wake.set()
                continue
            last = generation
            self.status.record_sync(report, snapshot.errors)
            self.status.resource_version = rv
            for error in snapshot.errors:
                log.error("cannot enforce as written: %s", error)
            log.info("programmed generation %d: %d local pods, %d elements, %d operations in "
                     "%.1f ms", generation, report.local_pods, report.elements, report.operations,
                     report.duration * 1000)
            self._write_status(counters=False)  # counters: every few seconds, off the loop

    def _write_status(self, counters: bool = True) -> None:
        if counters:
            self.status.record_counters(self.enforcer.read_counters(), self.enforcer.notes)
        if self.options.status_file is not None:
            try:
                self.status.write(self.options.status_file)
            except OSError as exc:
                log.warning("cannot write status to %s: %s", self.options.status_file, exc)

    async def _report_loop(self) -> None:
        """Counters every few seconds: reading them from the kernel is slow, so it happens
        in a thread, never between an event and its sync."""
        while True:
            await asyncio.sleep(self.options.status_interval)
            counts = await asyncio.to_thread(self._read_counters_politely)
            self.status.record_counters(counts, self.enforcer.notes)
            self._write_status(counters=False)

    def _read_counters_politely(self) -> Counter[str]:
        """Read the counters at the lowest CPU priority: on a busy node, a sync that an
        event starts meanwhile gets the CPU first (the read takes tens of ms of CPU)."""
        thread = threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, thread)
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, thread, 19)
        try:
            return self.enforcer.read_counters()
        finally:
            with contextlib.suppress(OSError):  # raising it back needs CAP_SYS_NICE
                os.setpriority(os.PRIO_PROCESS, thread, before)

    async def _serve_metrics(self, port: int) -> None:
        from aiohttp import web

        async def metrics(_: web.Request) -> web.Response:
            return web.Response(text=self.status.prometheus(), content_type="text/plain")

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "0.0.0.0", port).start()
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()
