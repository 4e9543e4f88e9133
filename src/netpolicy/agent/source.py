"""What the agent knows of the cluster: list + watch through the official client.

One thread per resource (Pods, Namespaces, NetworkPolicies, Nodes) runs the informer
loop every Kubernetes client runs: list (which gives a resourceVersion), then watch
from it with bookmarks; on `410 Gone` (the server no longer has that version) list
again; on any other failure reconnect with a doubling back-off. Every change lands in
one thread-safe `ClusterCache` and wakes the agent's loop. The raw JSON is kept
(`_preload_content=False`): no model classes, no copies.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)
JSON = dict[str, Any]

# kind -> (typed client class, list method across namespaces)
RESOURCES = {
    "Pod": ("CoreV1Api", "list_pod_for_all_namespaces"),
    "Namespace": ("CoreV1Api", "list_namespace"),
    "NetworkPolicy": ("NetworkingV1Api", "list_network_policy_for_all_namespaces"),
    "Node": ("CoreV1Api", "list_node"),
}


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
            if set(self.versions) < set(RESOURCES):
                return 0
            return min(self.versions.values())

    def replace(self, kind: str, items: list[JSON], rv: str = "") -> None:
        with self.lock:
            self._seen(kind, rv)
            self.objects[kind] = {object_key(o): o for o in items}
            self.synced.add(kind)
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


class Informer(threading.Thread):
    """List + watch one kind into the cache, forever (until `stop`)."""

    def __init__(self, api_client: Any, kind: str, cache: ClusterCache,
                 changed: Callable[[], None], *, watch_timeout: int = 300) -> None:
        super().__init__(name=f"informer-{kind}", daemon=True)
        from kubernetes import client

        api_name, self.method = RESOURCES[kind]
        self.api = getattr(client, api_name)(api_client)
        self.kind, self.cache, self.changed = kind, cache, changed
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
            except Exception as exc:
                self.errors += 1
                log.warning("%s: list/watch failed (%s); retrying in %.1fs", self.kind, exc, backoff)
                self._stop_event.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _list(self) -> str:
        resp = getattr(self.api, self.method)(_preload_content=False, _request_timeout=30)
        body: JSON = json.loads(resp.data)
        items = body.get("items") or []
        for item in items:
            item.setdefault("kind", self.kind)
        rv = str((body.get("metadata") or {}).get("resourceVersion", ""))
        self.cache.replace(self.kind, items, rv)
        self.changed()
        return rv

    def _watch(self, rv: str) -> str:
        resp = getattr(self.api, self.method)(
            watch=True, resource_version=rv, allow_watch_bookmarks=True,
            timeout_seconds=self.watch_timeout, _preload_content=False,
            _request_timeout=(10, self.watch_timeout + 30))
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
