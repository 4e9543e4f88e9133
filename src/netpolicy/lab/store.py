"""The lab's object store: what etcd and the API server's registry are to a real cluster.

Objects are JSON documents keyed by (resource, namespace, name). The store keeps all of
them in memory — a dict per resource holding the parsed object and its serialized bytes —
and writes every change through to one SQLite table in the state directory, so a restart
finds the same objects and a `resourceVersion` counter that never goes back. The bytes are
kept because most reads are HTTP lists and watches, which then cost a join, not an encode.

Every write gets the next resourceVersion (one counter for all resources, as etcd's
revision) and appends a change to a bounded per-resource history. Watches replay that
history from the resourceVersion they ask for — or answer `Expired` (HTTP 410) when it is
older than what the history still holds — and then receive live changes through a queue
filled synchronously by the write, so a watcher sees every change in order and a write
reaches it within one event-loop turn.

The store owns the rules the registry applies to every kind: names (and `generateName`),
scope, the namespace's existence, uid/creationTimestamp/resourceVersion/generation,
optimistic concurrency, status written only through the status subresource, finalizers,
and cascading deletion by ownerReferences (the garbage collector, run synchronously:
`Background` deletes the owner then its dependents, `Foreground` the dependents first,
`Orphan` removes the ownerReferences). Kind-specific defaulting and validation are
admission hooks (`add_admission`); the API server installs its own set. Errors are
`ApiError`s, each carrying the `Status` the API server would answer.

All methods must be called from one event loop; they never block on anything but SQLite.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import contextlib
import copy
import json
import re
import secrets
import sqlite3
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from netpolicy.api.labels import LabelSelector, Requirement
from netpolicy.errors import NetpolError
from netpolicy.lab.crds import Registry
from netpolicy.lab.resources import CRDS, Resource

JSON = dict[str, Any]
Dependents = list[tuple[Resource, "StoredObject"]]
EventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]
Propagation = Literal["Background", "Foreground", "Orphan"]
Operation = Literal["CREATE", "UPDATE"]

DB_FILE = "store.sqlite3"
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


# --- errors: the API's vocabulary ----------------------------------------------------------


class ApiError(NetpolError):
    """An error the API server answers with a `Status`; `status()` is that body."""

    code = 500
    reason = "InternalError"

    def __init__(self, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = dict(details) if details is not None else None

    def status(self) -> JSON:
        body: JSON = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                      "status": "Failure", "message": self.message, "reason": self.reason}
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


class BadRequest(ApiError):
    code, reason = 400, "BadRequest"


class Unauthorized(ApiError):
    code, reason = 401, "Unauthorized"


class Forbidden(ApiError):
    code, reason = 403, "Forbidden"


class NotFound(ApiError):
    code, reason = 404, "NotFound"

    @classmethod
    def of(cls, resource: Resource | str, name: str) -> NotFound:
        """`pods "x" not found`, with the details kubectl prints from."""
        return cls(f'{_gr(resource)} "{name}" not found', _details(resource, name))


class MethodNotAllowed(ApiError):
    code, reason = 405, "MethodNotAllowed"


class NotAcceptable(ApiError):
    code, reason = 406, "NotAcceptable"


class AlreadyExists(ApiError):
    code, reason = 409, "AlreadyExists"

    @classmethod
    def of(cls, resource: Resource, name: str) -> AlreadyExists:
        return cls(f'{resource.group_resource} "{name}" already exists',
                   _details(resource, name))


class Conflict(ApiError):
    code, reason = 409, "Conflict"

    @classmethod
    def of(cls, resource: Resource, name: str, why: str) -> Conflict:
        return cls(f'Operation cannot be fulfilled on {resource.group_resource} "{name}": {why}',
                   _details(resource, name))


class Expired(ApiError):
    code, reason = 410, "Expired"


class UnsupportedMediaType(ApiError):
    code, reason = 415, "UnsupportedMediaType"


class Invalid(ApiError):
    code, reason = 422, "Invalid"

    @classmethod
    def of(cls, resource: Resource, name: str, errors: Sequence[Any]) -> Invalid:
        """From `netpolicy.api.validation.FieldError`s: the 422 `errors.NewInvalid` builds."""
        from netpolicy.api.validation import ObjectErrors

        message = str(ObjectErrors(resource.kind, name, None, resource.group, tuple(errors)))
        causes = [{"reason": e.type, "message": e.body, "field": e.path} for e in errors]
        details: JSON = {"name": name}
        if resource.group:
            details["group"] = resource.group
        details["kind"] = resource.kind
        details["causes"] = causes
        return cls(message, details)


class InternalError(ApiError):
    code, reason = 500, "InternalError"


class ServiceUnavailable(ApiError):
    code, reason = 503, "ServiceUnavailable"


def _gr(resource: Resource | str) -> str:
    return resource if isinstance(resource, str) else resource.group_resource


def _details(resource: Resource | str, name: str) -> JSON:
    if isinstance(resource, str):
        plural, _, group = resource.partition(".")
    else:
        plural, group = resource.plural, resource.group
    details: JSON = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = plural
    return details


# --- selectors ------------------------------------------------------------------------------

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"[-A-Za-z0-9_.]*"
_EXISTS = re.compile(rf"\s*(!?)\s*({_KEY})\s*")
_EQUALITY = re.compile(rf"\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*")
_SET = re.compile(rf"\s*({_KEY})\s+(in|notin)\s*\(([^()]*)\)\s*")


def parse_label_selector(text: str) -> LabelSelector:
    """The `labelSelector` query form: `a=b,c!=d,e in (f,g),h notin (i),j,!k`.

    `!=` and `notin` match objects without the label, as upstream."""
    reqs: list[Requirement] = []
    for part in _split(text):
        if not part.strip():
            if text.strip():
                raise BadRequest(f"unable to parse requirement: found '', in {text!r}")
            continue
        if m := _SET.fullmatch(part):
            values = [v.strip() for v in m[3].split(",")]
            if any(not re.fullmatch(_VALUE, v) for v in values):
                raise BadRequest(f"unable to parse requirement: invalid values in {part!r}")
            op: Literal["In", "NotIn"] = "In" if m[2] == "in" else "NotIn"
            reqs.append(Requirement(m[1], op, tuple(sorted(set(values)))))
        elif m := _EQUALITY.fullmatch(part):
            reqs.append(Requirement(m[1], "NotIn" if m[2] == "!=" else "In", (m[3],)))
        elif m := _EXISTS.fullmatch(part):
            reqs.append(Requirement(m[2], "DoesNotExist" if m[1] else "Exists"))
        else:
            raise BadRequest(f"unable to parse requirement: invalid label selector {part!r}")
    return LabelSelector(tuple(reqs))


def _split(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    path: str
    value: str
    equal: bool


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """`fieldSelector`: `path=value` / `path==value` / `path!=value` terms, all ANDed."""

    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all((field_value(obj, r.path) == r.value) == r.equal for r in self.requirements)


def parse_field_selector(text: str, resource: Resource) -> FieldSelector:
    """Parse and check a field selector against the labels `resource` supports."""
    allowed = {"metadata.name", "metadata.namespace", *resource.field_labels}
    reqs = []
    for term in _split_unescaped(text, ","):
        if not term:
            continue
        for op in ("!=", "==", "="):
            idx = _find_unescaped(term, op)
            if idx >= 0:
                path, value = term[:idx].strip(), _unescape(term[idx + len(op):])
                break
        else:
            raise BadRequest(f"invalid selector: '{text}'; can't understand '{term}'")
        if path not in allowed:
            raise BadRequest(f'field label not supported: {path}')
        reqs.append(FieldRequirement(path, value, op != "!="))
    return FieldSelector(tuple(reqs))


def _find_unescaped(text: str, token: str) -> int:
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(token, i):
            return i
        i += 1
    return -1


def _split_unescaped(text: str, sep: str) -> list[str]:
    out, cur, i = [], "", 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            cur += text[i:i + 2]
            i += 2
            continue
        if text[i] == sep:
            out.append(cur)
            cur = ""
        else:
            cur += text[i]
        i += 1
    out.append(cur)
    return out


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """A field selector's view of `path`: strings as is, booleans as `true`/`false`,
    missing as the empty string (as the API server's field sets)."""
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, Mapping) else None
    if path == "source" and cur is None:
        cur = (obj.get("source") or {}).get("component")
    if isinstance(cur, bool):
        return "true" if cur else "false"
    if isinstance(cur, Mapping):
        cur = cur.get("component")
    return "" if cur is None else str(cur)


@dataclass(frozen=True, slots=True)
class Query:
    """Which objects of one resource a list or watch is about."""

    namespace: str | None = None
    labels: LabelSelector = field(default_factory=LabelSelector)
    fields: FieldSelector = field(default_factory=FieldSelector)

    def matches(self, namespace: str, obj: Mapping[str, Any]) -> bool:
        if self.namespace and namespace != self.namespace:
            return False
        if self.labels.requirements:
            labels = (obj.get("metadata") or {}).get("labels") or {}
            if not self.labels.matches(labels):
                return False
        return not self.fields.requirements or self.fields.matches(obj)


# --- stored objects, events, admission ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One object as stored: `obj` must not be modified (it is shared); `raw` is its JSON."""

    obj: Mapping[str, Any]
    raw: bytes
    rv: int


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One watch event; `raw` is the object's JSON (a bare object for BOOKMARK, a Status
    for ERROR), `object` a fresh copy of it."""

    type: EventType
    raw: bytes
    resource_version: int

    @property
    def object(self) -> JSON:
        result: JSON = json.loads(self.raw)
        return result


@dataclass(slots=True)
class Admission:
    """A write on its way in. Hooks may change `obj` (defaulting) or raise an ApiError."""

    operation: Operation
    resource: Resource
    subresource: str
    obj: JSON
    old: Mapping[str, Any] | None
    dry_run: bool = False


AdmissionHook = Callable[[Admission], None]


@dataclass(slots=True)
class _Change:
    rv: int
    type: EventType
    namespace: str
    obj: Mapping[str, Any]
    raw: bytes
    prev: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class ListResult:
    items: list[StoredObject]
    resource_version: int
    continue_token: str = ""
    remaining: int | None = None


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def loads(raw: bytes | str) -> JSON:
    """Parse a JSON object (the caller knows it is one)."""
    result: JSON = json.loads(raw)
    return result


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


class Watch:
    """A live watch: iterate it for `WatchEvent`s; `close()` ends it (iteration stops).

    Slow consumers are not waited for: past `limit` queued events the watch ends, as the
    API server drops a watcher that cannot keep up; the client lists and watches again."""

    def __init__(self, store: Store, resource: Resource, query: Query, *,
                 bookmarks: bool, bookmark_interval: float, limit: int = 100_000) -> None:
        self._store = store
        self.resource = resource
        self.query = query
        self._queue: asyncio.Queue[WatchEvent | None] = asyncio.Queue()
        self._bookmarks = bookmarks
        self._interval = bookmark_interval
        self._limit = limit
        self._closed = False
        self.last_rv = 0

    def _put(self, event: WatchEvent | None) -> None:
        if self._closed:
            return
        if event is not None and self._queue.qsize() >= self._limit:
            self.close()
            return
        self._queue.put_nowait(event)

    def _deliver(self, change: _Change) -> None:
        query = self.query
        now_match = query.matches(change.namespace, change.obj)
        if change.type == "DELETED":
            if now_match:
                self._put(WatchEvent("DELETED", change.raw, change.rv))
            return
        was = change.prev is not None and query.matches(change.namespace, change.prev)
        if now_match:
            self._put(WatchEvent("MODIFIED" if was else "ADDED", change.raw, change.rv))
        elif was and change.prev is not None:
            # Left the selection: DELETED with the previous content at the new version.
            prev = copy.deepcopy(dict(change.prev))
            prev.setdefault("metadata", {})["resourceVersion"] = str(change.rv)
            self._put(WatchEvent("DELETED", dumps(prev), change.rv))

    def bookmark(self, *, initial_events_end: bool = False) -> WatchEvent:
        rv = self._store.resource_version
        meta: JSON = {"resourceVersion": str(rv)}
        if initial_events_end:
            meta["annotations"] = {INITIAL_EVENTS_END: "true"}
        stub = {"kind": self.resource.kind, "apiVersion": self.resource.api_version,
                "metadata": meta}
        return WatchEvent("BOOKMARK", dumps(stub), rv)

    def close(self) -> None:
        if not self._closed:
            self._queue.put_nowait(None)
            self._closed = True
            self._store._unregister(self)

    def __aiter__(self) -> AsyncIterator[WatchEvent]:
        return self

    async def __anext__(self) -> WatchEvent:
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        try:
            if self._bookmarks and self._queue.empty():
                event = await asyncio.wait_for(self._queue.get(), self._interval)
            else:
                event = await self._queue.get()
        except TimeoutError:
            return self.bookmark()
        if event is None:
            raise StopAsyncIteration
        self.last_rv = max(self.last_rv, event.resource_version)
        return event

    async def __aenter__(self) -> Watch:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


# --- the store ------------------------------------------------------------------------------


class Store:
    """Objects of every resource of `registry` (the built-in ones, and the custom ones of
    the stored CustomResourceDefinitions), persisted under `path` (a state directory;
    `None` keeps everything in memory). See the module docstring."""

    def __init__(self, path: str | Path | None = None, *, history: int = 1000) -> None:
        if path is None:
            target = ":memory:"
        else:
            Path(path).mkdir(parents=True, exist_ok=True)
            target = str(Path(path) / DB_FILE)
        self._db = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS objects (resource TEXT NOT NULL, "
                         "namespace TEXT NOT NULL, name TEXT NOT NULL, data BLOB NOT NULL, "
                         "PRIMARY KEY (resource, namespace, name)) WITHOUT ROWID")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self.registry = Registry()
        self._objects: dict[str, dict[tuple[str, str], StoredObject]] = {
            r.storage_name: {} for r in self.registry.stored_resources()}
        self._rv = 0
        for res, ns, name, data in self._db.execute("SELECT * FROM objects"):
            obj = json.loads(data)
            rv = int(_meta(obj).get("resourceVersion") or 0)
            self._objects.setdefault(res, {})[(ns, name)] = StoredObject(obj, bytes(data), rv)
            self._rv = max(self._rv, rv)
        for crd in self._objects[CRDS].values():
            self.registry.define(crd.obj)
        row = self._db.execute("SELECT value FROM meta WHERE key='resourceVersion'").fetchone()
        self._rv = max(self._rv, int(row[0]) if row else 0)
        self._history_size = history
        self._history: dict[str, deque[_Change]] = {}
        # Changes at or below the floor may be gone from the history: watching from an
        # older resourceVersion is Expired. A restart loses the history: the floor is now.
        self._floor: dict[str, int] = {}
        self._start_rv = self._rv
        self._watchers: dict[str, set[Watch]] = {}
        self._admission: list[AdmissionHook] = []
        self._hook_names: set[str] = set()

    # -- plumbing --

    @property
    def resource_version(self) -> int:
        """The resourceVersion of the latest write (of any resource)."""
        return self._rv

    def add_admission(self, hook: AdmissionHook, *, name: str | None = None) -> None:
        """Run `hook` on every create and update, after the store's own defaulting of
        metadata and before the object is checked and written; hooks run in the order
        they were added. A named hook is added once, however often it is added."""
        if name is not None:
            if name in self._hook_names:
                return
            self._hook_names.add(name)
        self._admission.append(hook)

    def close(self) -> None:
        for watchers in list(self._watchers.values()):
            for w in list(watchers):
                w.close()
        self._db.close()

    def resource(self, name: str | Resource) -> Resource:
        """The stored resource of `name` (a plural or custom group resource) or of a
        resource (the stored one of a view)."""
        try:
            return self.registry.stored(name.storage_name if isinstance(name, Resource)
                                        else name)
        except KeyError as exc:
            raise NotFound("the server could not find the requested resource", {}) from exc

    def _table(self, resource: Resource) -> dict[tuple[str, str], StoredObject]:
        return self._objects.setdefault(resource.storage_name, {})

    def _key(self, resource: Resource, namespace: str | None, name: str) -> tuple[str, str]:
        return ((namespace or "") if resource.namespaced else "", name)

    def _commit(self, resource: Resource, namespace: str, name: str, obj: JSON | None,
                event: EventType, prev: Mapping[str, Any] | None) -> StoredObject:
        """Write one change: next resourceVersion, SQLite, memory, history, watchers."""
        self._rv += 1
        rv = self._rv
        key = resource.storage_name
        table = self._table(resource)
        if obj is None:  # a delete: the event carries the last state at the new version
            assert prev is not None
            obj = copy.deepcopy(dict(prev))
        obj.setdefault("metadata", {})["resourceVersion"] = str(rv)
        raw = dumps(obj)
        stored = StoredObject(obj, raw, rv)
        db = self._db
        db.execute("BEGIN")
        try:
            if event == "DELETED":
                db.execute("DELETE FROM objects WHERE resource=? AND namespace=? AND name=?",
                           (key, namespace, name))
            else:
                db.execute("INSERT OR REPLACE INTO objects VALUES (?,?,?,?)",
                           (key, namespace, name, raw))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('resourceVersion', ?)", (str(rv),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._rv -= 1
            raise
        if event == "DELETED":
            table.pop((namespace, name), None)
        else:
            table[(namespace, name)] = stored
        change = _Change(rv, event, namespace, obj, raw, prev)
        history = self._history.setdefault(key, deque())
        if len(history) >= self._history_size:
            self._floor[key] = history.popleft().rv
        history.append(change)
        for watcher in list(self._watchers.get(key, ())):
            watcher._deliver(change)
        if resource.plural == CRDS and not resource.custom:
            self._defined(obj, event)
        return stored

    def _defined(self, crd: JSON, event: EventType) -> None:
        """Keep the registry in step with a CRD just written: a custom resource is served
        from its CRD's first write, and forgotten (its history too) with the CRD."""
        if event != "DELETED":
            self._table(self.registry.define(crd).stored)
            return
        gone = self.registry.forget(str(_meta(crd).get("name")))
        if gone is not None:
            key = gone.stored.storage_name
            for watcher in list(self._watchers.pop(key, ())):
                watcher.close()
            self._objects.pop(key, None)
            self._history.pop(key, None)
            self._floor[key] = self._rv

    def _unregister(self, watch: Watch) -> None:
        self._watchers.get(watch.resource.storage_name, set()).discard(watch)

    def _entry(self, resource: Resource, namespace: str | None, name: str) -> StoredObject:
        entry = self._table(resource).get(self._key(resource, namespace, name))
        if entry is None:
            raise NotFound.of(resource, name)
        return entry

    # -- reads --

    async def get(self, resource: str | Resource, namespace: str | None, name: str) -> JSON:
        """A copy of one object; NotFound if absent."""
        result: JSON = json.loads(self.get_stored(resource, namespace, name).raw)
        return result

    def get_stored(self, resource: str | Resource, namespace: str | None,
                   name: str) -> StoredObject:
        """The stored object itself (shared: read, never modify)."""
        return self._entry(self.resource(resource), namespace, name)

    async def list(self, resource: str | Resource, namespace: str | None = None, *,
                   label_selector: str | None = None,
                   field_selector: str | None = None) -> tuple[list[JSON], str]:
        """Copies of the matching objects, sorted by namespace and name, and the
        resourceVersion of the list."""
        result = self.select(resource, self.query(resource, namespace, label_selector,
                                                  field_selector))
        return [json.loads(e.raw) for e in result.items], str(result.resource_version)

    def query(self, resource: str | Resource, namespace: str | None = None,
              label_selector: str | None = None, field_selector: str | None = None) -> Query:
        res = self.resource(resource) if isinstance(resource, str) else resource
        return Query(namespace or None,
                     parse_label_selector(label_selector) if label_selector else LabelSelector(),
                     parse_field_selector(field_selector, res) if field_selector
                     else FieldSelector())

    def select(self, resource: str | Resource, query: Query, *, limit: int | None = None,
               continue_token: str | None = None) -> ListResult:
        """The stored objects a query matches (shared, read-only), in key order, with
        `limit`/`continue` paging."""
        res = self.resource(resource)
        table = self._table(res)
        start: tuple[str, str] | None = None
        rv = self._rv
        if continue_token:
            try:
                token = json.loads(base64.urlsafe_b64decode(continue_token.encode()))
                start = (str(token["start"][0]), str(token["start"][1]))
            except (ValueError, KeyError, TypeError, IndexError) as exc:
                raise BadRequest("continue key is not valid: incorrect encoded start "
                                 "resourceVersion (version meta.k8s.io/v1)") from exc
        keys = sorted(table)
        if query.namespace:
            keys = [k for k in keys if k[0] == query.namespace]
        items: list[StoredObject] = []
        next_key: tuple[str, str] | None = None
        remaining = 0
        for key in keys:
            if start is not None and key <= start:
                continue
            entry = table[key]
            if not query.matches(key[0], entry.obj):
                continue
            if limit and len(items) >= limit:
                remaining += 1
                continue
            items.append(entry)
            next_key = key
        if limit and remaining and next_key is not None:
            token_text = dumps({"rv": rv, "start": list(next_key)})
            return ListResult(items, rv, base64.urlsafe_b64encode(token_text).decode(),
                              remaining)
        return ListResult(items, rv)

    def namespaces_exist(self, name: str) -> bool:
        return ("", name) in self._objects["namespaces"]

    # -- writes --

    async def create(self, resource: str | Resource, obj: Mapping[str, Any], *,
                     namespace: str | None = None, dry_run: bool = False) -> JSON:
        """Create `obj`; `namespace` defaults to `metadata.namespace`. Returns the stored
        object (with uid, resourceVersion, defaults)."""
        res = self.resource(resource)
        new: JSON = json.loads(dumps(obj))
        if not isinstance(new, dict):
            raise BadRequest("the object provided is unrecognized")
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            meta = new["metadata"] = {}
        new["apiVersion"], new["kind"] = res.api_version, res.kind
        if res.namespaced:
            ns = namespace or meta.get("namespace") or ""
            if namespace and meta.get("namespace") and meta["namespace"] != namespace:
                raise BadRequest("the namespace of the provided object does not match the "
                                 "namespace sent on the request")
            if not ns:
                raise BadRequest("a namespace is required to create "
                                 f"{res.group_resource}")
            meta["namespace"] = ns
        else:
            ns = ""
            meta.pop("namespace", None)
        if meta.get("resourceVersion"):
            raise BadRequest("resourceVersion should not be set on objects to be created")
        if not meta.get("name") and isinstance(meta.get("generateName"), str):
            meta["name"] = meta["generateName"] + "".join(
                secrets.choice(_NAME_CHARS) for _ in range(5))
        for server_owned in ("uid", "deletionTimestamp", "deletionGracePeriodSeconds",
                             "selfLink"):
            meta.pop(server_owned, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        if res.has_generation:
            meta["generation"] = 1
        if res.custom and res.has_status:
            new.pop("status", None)  # upstream drops it; an empty one would fail `required`
        elif res.has_status and not res.create_with_status:
            new["status"] = {}
        if res.namespaced:
            self._check_namespace(ns)
        self._admit(Admission("CREATE", res, "", new, None, dry_run))
        name = new["metadata"].get("name")
        if not isinstance(name, str) or not name:
            from netpolicy.api.validation import FieldError
            raise Invalid.of(res, "", [FieldError("FieldValueRequired", "metadata.name",
                                                  "name or generateName is required")])
        if (ns, name) in self._table(res):
            raise AlreadyExists.of(res, name)
        if dry_run:
            new["metadata"]["resourceVersion"] = str(self._rv)
            return new
        return loads(self._commit(res, ns, name, new, "ADDED", None).raw)

    def _check_namespace(self, namespace: str) -> None:
        entry = self._objects["namespaces"].get(("", namespace))
        if entry is None:
            raise NotFound.of("namespaces", namespace)
        if _meta(entry.obj).get("deletionTimestamp"):
            raise Forbidden(f"{namespace!s} is being terminated",
                            {"name": namespace, "kind": "namespaces"})

    def _admit(self, admission: Admission) -> None:
        for hook in self._admission:
            hook(admission)

    async def update(self, resource: str | Resource, obj: Mapping[str, Any], *,
                     namespace: str | None = None, subresource: str = "",
                     dry_run: bool = False) -> JSON:
        """Replace an object (PUT). A `metadata.resourceVersion` in `obj` must be the
        current one (else Conflict); none means "whatever is there". For resources with a
        status subresource, the main resource keeps its status and `subresource="status"`
        changes only the status."""
        res = self.resource(resource)
        new: JSON = json.loads(dumps(obj))
        if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
            raise BadRequest("the object provided is unrecognized")
        meta = new["metadata"]
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            raise BadRequest("name is required")
        ns = (namespace or meta.get("namespace") or "") if res.namespaced else ""
        current = self._entry(res, ns, name)
        return self._update(res, current, new, subresource, dry_run)

    async def update_status(self, resource: str | Resource, obj: Mapping[str, Any], *,
                            dry_run: bool = False) -> JSON:
        """`update(..., subresource="status")`: only `.status` changes."""
        return await self.update(resource, obj, subresource="status", dry_run=dry_run)

    async def patch(self, resource: str | Resource, namespace: str | None, name: str,
                    patch: Any, *, patch_type: str = "application/merge-patch+json",
                    subresource: str = "", dry_run: bool = False) -> JSON:
        """Patch an object with a merge, strategic-merge or JSON patch (the content types
        of the API), as the API server does: read, patch, update."""
        from netpolicy.lab.apiserver.patch import apply_patch

        res = self.resource(resource)
        current = self._entry(res, namespace, name)
        patched = apply_patch(current.obj, patch, patch_type)
        return self._update(res, current, patched, subresource, dry_run)

    async def modify(self, resource: str | Resource, namespace: str | None, name: str,
                     change: Callable[[JSON], JSON | None], *, subresource: str = "") -> JSON:
        """Read-modify-write: `change` gets a copy of the object and edits it in place (or
        returns a new one). For controllers; no conflict is possible in one event loop."""
        res = self.resource(resource)
        current = self._entry(res, namespace, name)
        obj: JSON = json.loads(current.raw)
        result = change(obj)
        return self._update(res, current, result if result is not None else obj,
                            subresource, False)

    def _update(self, res: Resource, current: StoredObject, new: JSON, subresource: str,
                dry_run: bool) -> JSON:
        old = current.obj
        old_meta = _meta(old)
        name, ns = old_meta["name"], old_meta.get("namespace", "")
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            meta = new["metadata"] = {}
        rv = meta.get("resourceVersion")
        if rv not in (None, "") and str(rv) != old_meta.get("resourceVersion"):
            raise Conflict.of(res, name, "the object has been modified; please apply your "
                              "changes to the latest version and try again")
        uid = meta.get("uid")
        if uid and uid != old_meta.get("uid"):
            raise Conflict.of(res, name, f"Precondition failed: UID in precondition: {uid}, "
                              f"UID in object meta: {old_meta.get('uid')}")
        if meta.get("name", name) != name:
            raise BadRequest(f"the name of the object ({meta.get('name')}) does not match "
                             f"the name on the URL ({name})")
        if res.namespaced and meta.get("namespace", ns) != ns:
            raise BadRequest("the namespace of the provided object does not match the "
                             "namespace sent on the request")
        new["apiVersion"], new["kind"] = res.api_version, res.kind
        if subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(dict(old))
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
            meta = new["metadata"]
        elif res.has_status:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        # Fields the server owns.
        for key in ("uid", "creationTimestamp", "deletionTimestamp",
                    "deletionGracePeriodSeconds"):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        meta["name"] = name
        if res.namespaced:
            meta["namespace"] = ns
        meta["resourceVersion"] = old_meta.get("resourceVersion")
        if res.has_generation:
            meta["generation"] = old_meta.get("generation", 1)
        self._admit(Admission("UPDATE", res, subresource, new, old, dry_run))
        if res.has_generation and subresource != "status" and _spec_changed(old, new):
            # After defaulting, which may fill what the request left out.
            new["metadata"]["generation"] = int(old_meta.get("generation") or 1) + 1
        if new == old:
            return loads(current.raw)  # a no-op writes nothing and keeps the version
        if dry_run:
            return new
        if old_meta.get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            self._commit(res, ns, name, new, "MODIFIED", old)
            return loads(self._remove(res, ns, name).raw)
        return loads(self._commit(res, ns, name, new, "MODIFIED", old).raw)

    async def delete(self, resource: str | Resource, namespace: str | None, name: str, *,
                     propagation: Propagation | None = None, uid: str | None = None,
                     resource_version: str | None = None, dry_run: bool = False) -> JSON:
        """Delete an object and, by `propagation` (default Background), its dependents.
        Returns the object's last state; an object with finalizers is only marked (its
        `deletionTimestamp` set) until they are removed. `uid`/`resource_version` are
        preconditions."""
        res = self.resource(resource)
        entry = self._entry(res, namespace, name)
        meta = _meta(entry.obj)
        if uid and uid != meta.get("uid"):
            raise Conflict.of(res, name, f"Precondition failed: UID in precondition: {uid}, "
                              f"UID in object meta: {meta.get('uid')}")
        if resource_version and resource_version != meta.get("resourceVersion"):
            raise Conflict.of(res, name, "Precondition failed: ResourceVersion in "
                              f"precondition: {resource_version}, ResourceVersion in object "
                              f"meta: {meta.get('resourceVersion')}")
        if dry_run:
            return loads(entry.raw)
        return loads(self._delete(res, entry, propagation or "Background").raw)

    def _delete(self, res: Resource, entry: StoredObject, propagation: Propagation,
                ) -> StoredObject:
        meta = _meta(entry.obj)
        name, ns = meta["name"], meta.get("namespace", "")
        if meta.get("deletionTimestamp"):
            return entry  # already on its way out
        if res.plural == "namespaces" and not res.custom:
            return self._delete_namespace(entry)
        if res.plural == CRDS and not res.custom:
            return self._delete_definition(entry)
        dependents = self._dependents(res, entry)
        if propagation == "Orphan":
            for dep_res, dep in dependents:
                self._orphan(dep_res, dep, meta["uid"])
        elif propagation == "Foreground" and dependents:
            marked = self._mark_deleted(res, entry, ["foregroundDeletion"])
            for dep_res, dep in dependents:
                self._delete(dep_res, dep, "Foreground")
            entry = self._commit(res, ns, name, copy.deepcopy(dict(marked.obj)), "MODIFIED",
                                 marked.obj)
            return self._remove(res, ns, name)
        if meta.get("finalizers"):
            return self._mark_deleted(res, entry, None)
        removed = self._remove(res, ns, name)
        if propagation == "Background":
            for dep_res, dep in dependents:
                current = self._table(dep_res).get(
                    self._key(dep_res, _meta(dep.obj).get("namespace"), _meta(dep.obj)["name"]))
                if current is not None:
                    self._delete(dep_res, current, "Background")
        return removed

    def _remove(self, res: Resource, namespace: str, name: str) -> StoredObject:
        entry = self._table(res)[(namespace, name)]
        return self._commit(res, namespace, name, None, "DELETED", entry.obj)

    def _mark_deleted(self, res: Resource, entry: StoredObject,
                      extra_finalizers: builtins.list[str] | None) -> StoredObject:
        obj = copy.deepcopy(dict(entry.obj))
        meta = obj["metadata"]
        meta["deletionTimestamp"] = now()
        meta["deletionGracePeriodSeconds"] = 0
        if extra_finalizers:
            meta["finalizers"] = list(meta.get("finalizers") or []) + extra_finalizers
        return self._commit(res, meta.get("namespace", ""), meta["name"], obj, "MODIFIED",
                            entry.obj)

    def _delete_namespace(self, entry: StoredObject) -> StoredObject:
        """Namespace deletion: Terminating, then everything in it, then the namespace."""
        res = self.resource("namespaces")
        name = _meta(entry.obj)["name"]
        obj = copy.deepcopy(dict(entry.obj))
        obj["metadata"]["deletionTimestamp"] = now()
        obj["metadata"]["deletionGracePeriodSeconds"] = 0
        obj.setdefault("status", {})["phase"] = "Terminating"
        self._commit(res, "", name, obj, "MODIFIED", entry.obj)
        for r in list(self.registry.stored_resources()):
            if r.namespaced:
                table = self._table(r)
                for key in [k for k in table if k[0] == name]:
                    if key in table:
                        self._remove(r, *key)
        return self._remove(res, "", name)

    def _delete_definition(self, entry: StoredObject) -> StoredObject:
        """CRD deletion: every object of the custom resource, then the CRD (upstream's
        `customresourcecleanup` finalizer does the same, in the background)."""
        name = _meta(entry.obj)["name"]
        defined = next((d for d in self.registry.definitions() if d.name == name), None)
        if defined is not None:
            table = self._table(defined.stored)
            for key in sorted(table):
                if key in table:
                    self._remove(defined.stored, *key)
        return self._remove(self.resource(CRDS), "", name)

    def _dependents(self, res: Resource, entry: StoredObject,
                    ) -> Dependents:
        uid = _meta(entry.obj).get("uid")
        ns = _meta(entry.obj).get("namespace", "")
        found = []
        for r in list(self.registry.stored_resources()):
            for key, dep in self._table(r).items():
                if res.namespaced and key[0] != ns:
                    continue
                refs = _meta(dep.obj).get("ownerReferences") or ()
                if any(isinstance(ref, Mapping) and ref.get("uid") == uid for ref in refs):
                    found.append((r, dep))
        return found

    def _orphan(self, res: Resource, entry: StoredObject, owner_uid: str) -> None:
        obj = copy.deepcopy(dict(entry.obj))
        meta = obj["metadata"]
        refs = [r for r in meta.get("ownerReferences") or () if r.get("uid") != owner_uid]
        if refs:
            meta["ownerReferences"] = refs
        else:
            meta.pop("ownerReferences", None)
        self._commit(res, meta.get("namespace", ""), meta["name"], obj, "MODIFIED", entry.obj)

    async def delete_collection(self, resource: str | Resource, namespace: str | None = None,
                                *, label_selector: str | None = None,
                                field_selector: str | None = None,
                                propagation: Propagation | None = None,
                                dry_run: bool = False) -> Sequence[JSON]:
        """Delete every object a query matches; returns their last states."""
        res = self.resource(resource)
        query = self.query(res, namespace, label_selector, field_selector)
        deleted: builtins.list[JSON] = []
        for entry in self.select(res, query).items:
            meta = _meta(entry.obj)
            with contextlib.suppress(NotFound):
                deleted.append(await self.delete(res, meta.get("namespace"), meta["name"],
                                                 propagation=propagation, dry_run=dry_run))
        return deleted

    # -- watch --

    def watch(self, resource: str | Resource, namespace: str | None = None, *,
              resource_version: str | int | None = None, label_selector: str | None = None,
              field_selector: str | None = None, send_initial_events: bool | None = None,
              bookmarks: bool = False, bookmark_interval: float = 60.0) -> Watch:
        """Watch one resource, as the API server's watch cache does:

        - `resource_version` unset or "0": ADDED events for the current objects, then
          every change;
        - a resourceVersion N: every change after N, from the history (`Expired` if N is
          older than the history holds);
        - `send_initial_events=True`: the current objects, then a BOOKMARK annotated
          `k8s.io/initial-events-end`, then changes (the WatchList protocol);
        - `bookmarks`: a BOOKMARK with the latest resourceVersion whenever nothing happened
          for `bookmark_interval` seconds."""
        res = self.resource(resource)
        query = self.query(res, namespace, label_selector, field_selector)
        return self.watch_query(res, query, resource_version=resource_version,
                                send_initial_events=send_initial_events, bookmarks=bookmarks,
                                bookmark_interval=bookmark_interval)

    def watch_query(self, resource: Resource, query: Query, *,
                    resource_version: str | int | None = None,
                    send_initial_events: bool | None = None, bookmarks: bool = False,
                    bookmark_interval: float = 60.0) -> Watch:
        res = self.resource(resource)
        rv_text = str(resource_version) if resource_version is not None else ""
        try:
            rv = int(rv_text) if rv_text else 0
        except ValueError as exc:
            raise BadRequest(f'invalid resource version "{rv_text}"') from exc
        watch = Watch(self, res, query, bookmarks=bookmarks,
                      bookmark_interval=bookmark_interval)
        initial = send_initial_events if send_initial_events is not None else rv == 0
        if initial:
            for entry in self.select(res, query).items:
                watch._put(WatchEvent("ADDED", entry.raw, entry.rv))
            if send_initial_events:
                watch._put(watch.bookmark(initial_events_end=True))
        else:
            floor = max(self._floor.get(res.storage_name, 0), self._start_rv)
            if rv < floor:
                raise Expired(f"too old resource version: {rv} ({floor + 1})")
            for change in self._history.get(res.storage_name, ()):
                if change.rv > rv:
                    watch._deliver(change)
        self._watchers.setdefault(res.storage_name, set()).add(watch)
        return watch


def _spec_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    ignore = {"metadata", "status", "apiVersion", "kind"}
    return {k: v for k, v in old.items() if k not in ignore} != {
        k: v for k, v in new.items() if k not in ignore}
