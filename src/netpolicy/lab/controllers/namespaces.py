"""What every cluster starts with, and what every namespace gets.

`bootstrap` creates the system namespaces and the `kubernetes` Service; the
service-account controller gives every namespace its `default` ServiceAccount (pods
name it, and kubectl expects it), as kube-controller-manager does.
"""

from __future__ import annotations

from collections.abc import Iterable

from netpolicy.lab.controllers.base import Controller, Key
from netpolicy.lab.store import JSON, AlreadyExists, NotFound, Store

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


async def ensure(store: Store, resource: str, obj: JSON) -> JSON:
    """Create `obj` unless an object of that name exists; return what is stored."""
    meta = obj["metadata"]
    try:
        return await store.get(resource, meta.get("namespace"), meta["name"])
    except NotFound:
        pass
    try:
        return await store.create(resource, obj)
    except AlreadyExists:
        return await store.get(resource, meta.get("namespace"), meta["name"])


async def bootstrap(store: Store) -> None:
    for name in SYSTEM_NAMESPACES:
        await ensure(store, "namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                           "metadata": {"name": name}})
    await ensure(store, "services", {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP",
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                            "targetPort": 6443}]},
    })


class ServiceAccountController(Controller):
    name = "serviceaccount-controller"
    watches = ("namespaces",)

    def keys_for(self, resource: str, obj: JSON) -> Iterable[Key]:
        return [(obj["metadata"]["name"], "default")]

    async def reconcile(self, key: Key) -> None:
        ns, name = key
        try:
            namespace = await self.store.get("namespaces", None, ns)
        except NotFound:
            return
        if (namespace.get("status") or {}).get("phase") == "Terminating":
            return
        await ensure(self.store, "serviceaccounts", {
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": ns}})
