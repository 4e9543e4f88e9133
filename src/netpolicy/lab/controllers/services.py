"""Services: ClusterIP allocation, and Endpoints/EndpointSlices from ready pods.

* Allocation is an admission hook, as in the API server: a Service created without a
  `clusterIP` gets the lowest free address of the service CIDR (`.1` is the
  `kubernetes` Service's and `.10` the DNS Service's); one asking for a taken or
  out-of-range address is refused with the API server's words.
* The endpoints controller keeps, for every Service with a selector, an Endpoints
  object and one EndpointSlice listing the pods its selector matches that have an
  address: ready ones as addresses, the others as not ready. A named `targetPort` is
  looked up on each pod, so pods may serve it on different numbers.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterable
from typing import Any

from netpolicy.lab.controllers.base import Controller, Key
from netpolicy.lab.controllers.workloads import is_ready, is_terminating, owner_ref
from netpolicy.lab.store import JSON, Admission, AlreadyExists, Invalid, NotFound, Store

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"


class ClusterIPAllocator:
    """Admission hook allocating ClusterIPs from `cidr` (reserved: the first address for
    `default/kubernetes`, the tenth for `kube-system/kube-dns`)."""

    def __init__(self, store: Store, cidr: str) -> None:
        self.store = store
        self.network = ipaddress.ip_network(cidr)
        hosts = self.network.hosts()
        self.kubernetes_ip = str(next(hosts))
        self.dns_ip = str(self.network.network_address + 10)

    def used(self, meta: dict[str, Any]) -> set[str]:
        """ClusterIPs of every Service but this one (a create of an existing name is the
        store's AlreadyExists to report, not a clash of addresses)."""
        me = (meta.get("namespace"), meta.get("name"))
        query = self.store.query("services")
        return {ip for e in self.store.select("services", query).items
                if (e.obj["metadata"].get("namespace"), e.obj["metadata"].get("name")) != me
                for ip in (e.obj.get("spec") or {}).get("clusterIPs") or
                [(e.obj.get("spec") or {}).get("clusterIP")] if ip}

    def __call__(self, request: Admission) -> None:
        if request.resource.plural != "services" or request.operation != "CREATE":
            return
        spec = request.obj.setdefault("spec", {})
        if spec.get("type") == "ExternalName":
            return
        meta = request.obj["metadata"]
        wanted = spec.get("clusterIP")
        if wanted == "None":
            return
        used = self.used(meta)
        if not wanted:
            wanted = self._reserved(meta) or self._next_free(used, meta)
        else:
            self._check(wanted, used, meta)
        spec["clusterIP"] = wanted
        spec["clusterIPs"] = [wanted]

    def _reserved(self, meta: dict[str, Any]) -> str | None:
        key = (meta.get("namespace"), meta.get("name"))
        if key == ("default", "kubernetes"):
            return self.kubernetes_ip
        if key == ("kube-system", "kube-dns"):
            return self.dns_ip
        return None

    def _next_free(self, used: set[str], meta: dict[str, Any]) -> str:
        reserved = {self.kubernetes_ip, self.dns_ip}
        for ip in self.network.hosts():
            text = str(ip)
            if text not in used and text not in reserved:
                return text
        raise Invalid.of(self.store.resource("services"), meta.get("name", ""), [
            _error("spec.clusterIPs", "failed to allocate IP: range is full", None)])

    def _check(self, wanted: str, used: set[str], meta: dict[str, Any]) -> None:
        name = meta.get("name", "")
        try:
            ip = ipaddress.ip_address(wanted)
        except ValueError:
            return  # the API server's validation reports the syntax
        if ip not in self.network:
            raise Invalid.of(self.store.resource("services"), name, [_error(
                "spec.clusterIPs", f"failed to allocate IP {wanted}: the provided IP "
                f"({wanted}) is not in the valid range. The range of valid IPs is "
                f"{self.network}", [wanted])])
        if wanted in used:
            raise Invalid.of(self.store.resource("services"), name, [_error(
                "spec.clusterIPs", f"failed to allocate IP {wanted}: provided IP is already "
                "allocated", [wanted])])


def _error(path: str, reason: str, value: Any) -> Any:
    from netpolicy.api.validation import FieldError

    return FieldError("FieldValueInvalid", path, reason, value)


def _selected(service: JSON, pod: JSON) -> bool:
    selector = (service.get("spec") or {}).get("selector") or {}
    labels = pod["metadata"].get("labels") or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _target(port: JSON, pod: JSON) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = port.get("protocol", "TCP")
    for container in pod["spec"].get("containers") or []:
        for cp in container.get("ports") or []:
            if cp.get("name") == target and cp.get("protocol", "TCP") == protocol:
                return int(cp["containerPort"])
    return None


class EndpointsController(Controller):
    name = "endpoint-controller"
    watches = ("services", "pods")

    def keys_for(self, resource: str, obj: JSON) -> Iterable[Key]:
        ns = obj["metadata"]["namespace"]
        if resource == "services":
            return [(ns, obj["metadata"]["name"])]
        services = self.store.select("services", self.store.query("services", ns)).items
        return [(ns, s.obj["metadata"]["name"]) for s in services]

    async def reconcile(self, key: Key) -> None:
        ns, name = key
        try:
            svc = await self.store.get("services", ns, name)
        except NotFound:  # its slice is owned by it (garbage collected); Endpoints are not
            with contextlib.suppress(NotFound):
                await self.store.delete("endpoints", ns, name)
            return
        if not (svc.get("spec") or {}).get("selector"):
            return  # endpoints of a selector-less Service are the user's
        pods, _ = await self.store.list("pods", ns)
        backends = [p for p in pods if _selected(svc, p) and (p.get("status") or {}).get("podIP")
                    and not is_terminating(p)
                    and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        await self._endpoints(svc, backends)
        await self._slice(svc, backends)

    async def _put(self, resource: str, obj: JSON) -> None:
        meta = obj["metadata"]
        try:
            current = await self.store.get(resource, meta["namespace"], meta["name"])
        except NotFound:
            with contextlib.suppress(AlreadyExists):
                await self.store.create(resource, obj)
            return
        fields = [k for k in obj if k not in ("metadata", "apiVersion", "kind")]
        if all(current.get(k) == obj.get(k) for k in fields) and \
                current["metadata"].get("labels") == meta.get("labels"):
            return

        def change(existing: JSON) -> None:
            for k in fields:
                existing[k] = obj[k]
            for k in [k for k in existing
                      if k not in obj and k not in ("metadata", "apiVersion", "kind")]:
                existing.pop(k)
            existing["metadata"]["labels"] = meta.get("labels") or {}
        await self.store.modify(resource, meta["namespace"], meta["name"], change)

    @staticmethod
    def _address(pod: JSON) -> JSON:
        meta = pod["metadata"]
        addr: JSON = {"ip": pod["status"]["podIP"],
                      "targetRef": {"kind": "Pod", "namespace": meta["namespace"],
                                    "name": meta["name"], "uid": meta.get("uid")}}
        if pod["spec"].get("nodeName"):
            addr["nodeName"] = pod["spec"]["nodeName"]
        return addr

    async def _endpoints(self, svc: JSON, backends: list[JSON]) -> None:
        # Pods that resolve the ports to the same numbers share a subset.
        subsets: dict[tuple[tuple[str, int, str], ...], JSON] = {}
        for pod in backends:
            ports = []
            for p in svc["spec"].get("ports") or []:
                number = _target(p, pod)
                if number is not None:
                    ports.append((p.get("name") or "", number, p.get("protocol", "TCP")))
            key = tuple(ports)
            if not key:
                continue
            subset = subsets.setdefault(key, {
                "ports": [{**({"name": n} if n else {}), "port": num, "protocol": proto}
                          for n, num, proto in key]})
            bucket = "addresses" if is_ready(pod) else "notReadyAddresses"
            subset.setdefault(bucket, []).append(self._address(pod))
        meta = svc["metadata"]
        obj: JSON = {"apiVersion": "v1", "kind": "Endpoints",
                     "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                                  "labels": dict(meta.get("labels") or {})},
                     "subsets": [subsets[k] for k in sorted(subsets)]}
        if not obj["subsets"]:
            del obj["subsets"]
        await self._put("endpoints", obj)

    async def _slice(self, svc: JSON, backends: list[JSON]) -> None:
        meta = svc["metadata"]
        ports = []
        for p in svc["spec"].get("ports") or []:
            numbers = [n for pod in backends if (n := _target(p, pod)) is not None]
            number = min(numbers) if numbers else None  # one slice: the common case
            ports.append({**({"name": p["name"]} if p.get("name") else {"name": ""}),
                          "port": number, "protocol": p.get("protocol", "TCP")})
        endpoints = []
        for pod in backends:
            ready = is_ready(pod)
            ep: JSON = {"addresses": [pod["status"]["podIP"]],
                        "conditions": {"ready": ready, "serving": ready, "terminating": False},
                        "targetRef": self._address(pod)["targetRef"]}
            if pod["spec"].get("nodeName"):
                ep["nodeName"] = pod["spec"]["nodeName"]
            endpoints.append(ep)
        obj: JSON = {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{meta['name']}-slice", "namespace": meta["namespace"],
                         "labels": {SERVICE_NAME_LABEL: meta["name"],
                                    MANAGED_BY: "endpointslice-controller.k8s.io"},
                         "ownerReferences": [owner_ref(svc) | {"blockOwnerDeletion": True}]},
            "addressType": "IPv4", "endpoints": endpoints, "ports": ports,
        }
        await self._put("endpointslices", obj)
