"""The shape every lab controller has: level-triggered reconciliation of keys.

A controller watches some resources; every event maps to the keys (namespace, name) of
the objects it manages, which go on a de-duplicating queue; a worker reconciles one
key at a time by reading the *current* state from the store and writing what differs.
So a missed or repeated event is harmless, and a reconcile that fails is retried with
backoff. All of it runs on the store's event loop, in the lab process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from netpolicy.lab.store import ApiError, NotFound, Store

log = logging.getLogger(__name__)
Key = tuple[str, str]


class Controller:
    """Subclasses set `watches` and implement `keys_for` and `reconcile`."""

    name = "controller"
    watches: tuple[str, ...] = ()
    max_backoff = 5.0

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._pending: set[Key] = set()
        self._failures: dict[Key, int] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def keys_for(self, resource: str, obj: dict[str, Any]) -> Iterable[Key]:
        """The keys to reconcile after a change of `obj` (a `resource`)."""
        meta = obj.get("metadata") or {}
        return [(meta.get("namespace", ""), meta.get("name", ""))]

    async def reconcile(self, key: Key) -> None:
        raise NotImplementedError

    def enqueue(self, key: Key) -> None:
        if key not in self._pending:
            self._pending.add(key)
            self._queue.put_nowait(key)

    def start(self) -> list[asyncio.Task[None]]:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._watch(r), name=f"{self.name}-watch-{r}")
                       for r in self.watches]
        self._tasks.append(loop.create_task(self._work(), name=f"{self.name}-worker"))
        return self._tasks

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def _watch(self, resource: str) -> None:
        while True:
            try:
                async with self.store.watch(resource) as watch:
                    async for event in watch:
                        if event.type in ("ADDED", "MODIFIED", "DELETED"):
                            for key in self.keys_for(resource, event.object):
                                self.enqueue(key)
            except asyncio.CancelledError:
                raise
            except Exception:  # an expired watch, or a bug: start over from a fresh list
                log.exception("%s: watch of %s failed; restarting", self.name, resource)
                await asyncio.sleep(0.5)

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._pending.discard(key)
            try:
                await self.reconcile(key)
                self._failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except NotFound:
                self._failures.pop(key, None)  # gone meanwhile: nothing to do
            except Exception as exc:
                n = self._failures[key] = self._failures.get(key, 0) + 1
                delay = min(self.max_backoff, 0.05 * 2 ** n)
                level = logging.INFO if isinstance(exc, ApiError) else logging.ERROR
                log.log(level, "%s: reconciling %s/%s failed (retry in %.2fs): %s",
                        self.name, key[0], key[1], delay, exc, exc_info=level == logging.ERROR)
                asyncio.get_running_loop().call_later(delay, self.enqueue, key)
