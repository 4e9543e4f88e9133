"""Services into the dataplane: the proxy's table and the DNS zone follow the API.

One watcher of Services and Endpoints (kube-proxy and CoreDNS both read these) turns
every change into the list of proxied service ports, with their ready endpoints, and the
DNS records of every Service. Bursts of changes are coalesced: the proxy table is
rebuilt at most once per `delay` seconds, always from the latest state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from netpolicy.dataplane.proxy import Endpoint, ServicePort, ServiceProxy
from netpolicy.lab.dns import ClusterZone, EndpointRecord, ServicePortRecord, ServiceRecord
from netpolicy.lab.store import JSON, Store

log = logging.getLogger(__name__)


def service_ports(services: list[JSON], endpoints: dict[tuple[str, str], JSON]) -> list[ServicePort]:
    """Every (ClusterIP, protocol, port) to proxy, with the ready endpoints that serve it."""
    out = []
    for svc in services:
        meta, spec = svc["metadata"], svc.get("spec") or {}
        ip = spec.get("clusterIP")
        if not ip or ip == "None" or ":" in ip:
            continue
        ep = endpoints.get((meta["namespace"], meta["name"])) or {}
        for port in spec.get("ports") or []:
            name, protocol = port.get("name") or "", port.get("protocol", "TCP")
            backends = set()
            for subset in ep.get("subsets") or []:
                numbers = [p["port"] for p in subset.get("ports") or []
                           if (p.get("name") or "") == name and p.get("protocol", "TCP") == protocol]
                for number in numbers:
                    for addr in subset.get("addresses") or []:
                        backends.add(Endpoint(addr["ip"], int(number)))
            out.append(ServicePort(f"{meta['namespace']}/{meta['name']}", ip, protocol,
                                   int(port["port"]), tuple(sorted(backends)), name))
    return out


def service_records(services: list[JSON], endpoints: dict[tuple[str, str], JSON]) -> list[ServiceRecord]:
    out = []
    for svc in services:
        meta, spec = svc["metadata"], svc.get("spec") or {}
        ip = spec.get("clusterIP")
        ep = endpoints.get((meta["namespace"], meta["name"])) or {}
        ready = []
        for subset in ep.get("subsets") or []:
            for addr in subset.get("addresses") or []:
                ready.append(EndpointRecord(addr["ip"], addr.get("hostname")))
        ports = tuple(ServicePortRecord(p.get("name") or "", p.get("protocol", "TCP"), int(p["port"]))
                      for p in spec.get("ports") or [])
        out.append(ServiceRecord(meta["namespace"], meta["name"],
                                 ip if ip and ip != "None" else None, ports,
                                 tuple(dict.fromkeys(ready))))
    return out


class ServiceSync:
    """Keeps `proxy` and `zone` equal to the Services and Endpoints in `store`."""

    def __init__(self, store: Store, proxy: ServiceProxy, zone: ClusterZone,
                 delay: float = 0.02) -> None:
        self.store, self.proxy, self.zone, self.delay = store, proxy, zone, delay
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._watch("services")),
                       loop.create_task(self._watch("endpoints")),
                       loop.create_task(self._apply_loop())]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def _watch(self, resource: str) -> None:
        while True:
            try:
                async with self.store.watch(resource) as w:
                    async for _ in w:
                        self._dirty.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("service sync: watch of %s failed; restarting", resource)
                await asyncio.sleep(0.5)

    async def _apply_loop(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self.delay)
            self._dirty.clear()
            try:
                await self.apply()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("service sync: applying services failed")

    async def apply(self) -> None:
        services, _ = await self.store.list("services")
        eps, _ = await self.store.list("endpoints")
        endpoints = {(e["metadata"]["namespace"], e["metadata"]["name"]): e for e in eps}
        self.zone.update(service_records(services, endpoints))
        ports = service_ports(services, endpoints)
        await asyncio.to_thread(self.proxy.update, ports)
