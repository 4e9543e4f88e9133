"""What the agent knows of the cluster: list + watch through the official client.

One thread per resource (`RESOURCES`: Pods, Namespaces, NetworkPolicies, Nodes, and the
tiered cluster policies) runs the informer loop every Kubernetes client runs: list (which
gives a resourceVersion), then watch from it with bookmarks; on `410 Gone` (the server no
longer has that version) list again; on any other failure reconnect with a doubling
back-off. Every change lands in one thread-safe `ClusterCache` and wakes the agent's
loop. The raw JSON is kept (`_preload_content=False`): no model classes, no copies.

The tiered policies are custom resources: a cluster without their CRD answers 404, which
means it has none of them (the kind counts as synced and empty, and is listed again now
and then, so a CRD installed later is picked up). Any other error is an error.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netpolicy.api.tiers import API_VERSIONS, PLURALS

log = logging.getLogger(__name__)
JSON = dict[str, Any]


@dataclass(frozen=True)
class Resource:
    """How to list (and watch) one kind across namespaces: a method of a typed client
    class, or, for a custom resource (`custom`: group, version, plural), of the
    custom-objects API. `optional`: a cluster may not serve it (no CRD: 404)."""

    api: str
    method: str
    custom: tuple[str, str, str] | None = None
    optional: bool = False

    def lister(self, api_client: Any) -> Callable[..., Any]:
        from kubernetes import client

        call = getattr(getattr(client, self.api)(api_client), self.method)
        if self.custom is None:
            return call  # type: ignore[no-any-return]
        group, version, plural = self.custom
        return functools.partial(call, group, version, plural)


RESOURCES: dict[str, Resource] = {
    "Pod": Resource("CoreV1Api", "list_pod_for_all_namespaces"),
    "Namespace": Resource("CoreV1Api", "list_namespace"),
    "NetworkPolicy": Resource("NetworkingV1Api", "list_network_policy_for_all_namespaces"),
    "Node": Resource("CoreV1Api", "list_node"),
    **{kind: Resource("CustomObjectsApi", "list_cluster_custom_object",
                      (*API_VERSIONS[kind].split("/"), PLURALS[kind]), optional=True)  # type: ignore[arg-type]
       for kind in API_VERSIONS},
}
UNSERVED_RECHECK = 30.0
"""Seconds between lists of a kind the cluster does not serve (a CRD may come)."""


def object_key(obj: JSON) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


@dataclass
class ClusterCache:
    """The latest objects of every watched kind, and a counter of changes."""

    objects: dict[str, dict[tuple[str, str], JSON]] = field(
        default_factory=lambda: {k: {} for k in RESOURCES})
    synced: set[str] = field(default_factory=set)
    generation: int = 0
    versions: dict[str, int] = field(default_factory=dict)
    """Per kind, the newest resourceVersion its list, events or bookmarks carried."""
    unserved: set[str] = field(default_factory=set)
    """Optional kinds the cluster does not serve (no CRD): synced, and empty."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _seen(self, kind: str, rv: Any) -> None:
        with contextlib.suppress(TypeError, ValueError):  # opaque versions: nothing to compare
            self.versions[kind] = max(self.versions.get(kind, 0), int(rv))

    def seen(self, kind: str, rv: Any) -> None:
        with self.lock:
            self._seen(kind, rv)

    @property
    def resource_version(self) -> int:
        """The resourceVersion up to which every kind's changes have all arrived (the
        slowest watch decides; bookmarks move an idle watch forward)."""
        with self.lock:
            served = set(RESOURCES) - self.unserved
            if not served <= set(self.versions):
                return 0
            return min(self.versions[k] for k in served)

    def replace(self, kind: str, items: list[JSON], rv: str = "") -> None:
        with self.lock:
            self.unserved.discard(kind)
            self._seen(kind, rv)
            self.objects[kind] = {object_key(o): o for o in items}
            self.synced.add(kind)
            self.generation += 1

    def not_served(self, kind: str) -> None:
        """The cluster does not serve `kind`: it has none (what it had is gone)."""
        with self.lock:
            changed = bool(self.objects[kind]) or kind not in self.synced
            self.unserved.add(kind)
            self.objects[kind] = {}
            self.synced.add(kind)
            self.versions.pop(kind, None)
            if changed:
                self.generation += 1

    def apply(self, kind: str, event_type: str, obj: JSON) -> None:
        with self.lock:
            self._seen(kind, (obj.get("metadata") or {}).get("resourceVersion"))
            if event_type == "DELETED":
                self.objects[kind].pop(object_key(obj), None)
            else:
                self.objects[kind][object_key(obj)] = obj
            self.generation += 1

    def snapshot(self) -> tuple[int, int, dict[str, list[JSON]]]:
        """(generation, the resourceVersion it is complete up to, objects by kind)."""
        rv = self.resource_version
        with self.lock:
            return self.generation, rv, {k: list(v.values()) for k, v in self.objects.items()}

    @property
    def ready(self) -> bool:
        return self.synced >= set(RESOURCES)


class Gone(Exception):
    """The watch's resourceVersion is too old (HTTP 410): list again."""


class NotServed(Exception):
    """The cluster does not serve an optional kind (HTTP 404 on its list or watch)."""


class Informer(threading.Thread):
    """List + watch one kind into the cache, forever (until `stop`)."""

    def __init__(self, api_client: Any, kind: str, cache: ClusterCache,
                 changed: Callable[[], None], *, watch_timeout: int = 300) -> None:
        super().__init__(name=f"informer-{kind}", daemon=True)
        self.resource = RESOURCES[kind]
        self.list = self.resource.lister(api_client)
        self.kind, self.cache, self.changed = kind, cache, changed
        self.recheck = UNSERVED_RECHECK
        self.watch_timeout = watch_timeout
        self._stop_event = threading.Event()
        self.errors = 0

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        backoff = 0.2
        rv: str | None = None
        while not self._stop_event.is_set():
            try:
                if rv is None:
                    rv = self._list()
                rv = self._watch(rv)
                backoff = 0.2
            except Gone:
                log.info("%s: resourceVersion %s expired; listing again", self.kind, rv)
                rv = None
            except NotServed:
                log.info("%s: not served by this cluster (no CRD); none to enforce", self.kind)
                self.cache.not_served(self.kind)
                self.changed()
                rv = None
                self._stop_event.wait(self.recheck)
            except Exception as exc:
                self.errors += 1
                log.warning("%s: list/watch failed (%s); retrying in %.1fs", self.kind, exc, backoff)
                self._stop_event.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _call(self, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return self.list(_preload_content=False, **kwargs)
        except ApiException as exc:
            if exc.status == 404 and self.resource.optional:
                raise NotServed() from exc
            raise

    def _list(self) -> str:
        resp = self._call(_request_timeout=30)
        body: JSON = json.loads(resp.data)
        items = body.get("items") or []
        for item in items:
            item.setdefault("kind", self.kind)
        rv = str((body.get("metadata") or {}).get("resourceVersion", ""))
        self.cache.replace(self.kind, items, rv)
        self.changed()
        return rv

    def _watch(self, rv: str) -> str:
        resp = self._call(
            watch=True, resource_version=rv, allow_watch_bookmarks=True,
            timeout_seconds=self.watch_timeout, _request_timeout=(10, self.watch_timeout + 30))
        try:
            buffer = b""
            for chunk in resp.stream(amt=65536, decode_content=False):
                if self._stop_event.is_set():
                    return rv
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        rv = self._event(json.loads(line), rv)
        finally:
            resp.release_conn()
        return rv

    def _event(self, event: JSON, rv: str) -> str:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Gone()
            if obj.get("code") == 404 and self.resource.optional:
                raise NotServed()  # the CRD was deleted
            raise RuntimeError(f"watch error: {obj.get('message', obj)}")
        new_rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
        if kind == "BOOKMARK":
            self.cache.seen(self.kind, new_rv)
            self.changed()
            return new_rv
        obj.setdefault("kind", self.kind)
        self.cache.apply(self.kind, str(kind), obj)
        self.changed()
        return new_rv


def start_informers(api_client: Any, cache: ClusterCache,
                    changed: Callable[[], None]) -> list[Informer]:
    informers = [Informer(api_client, kind, cache, changed) for kind in RESOURCES]
    for i in informers:
        i.start()
    return informers


def wait_synced(cache: ClusterCache, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not cache.ready:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
