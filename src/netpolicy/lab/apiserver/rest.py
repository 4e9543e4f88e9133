"""The REST handlers: `/api/v1/...` and `/apis/<group>/<version>/...` on a `Store`.

A request path names a resource, maybe a namespace, a name and a subresource (`Target`);
the method picks the verb (get, list, watch, create, update, patch, delete,
deletecollection). Bodies go through `decode.py` (JSON or YAML, types, unknown fields per
`fieldValidation`); answers are JSON, or a `meta.k8s.io/v1` Table or
PartialObjectMetadata when the `Accept` header asks for one. Lists are joined from the
stored bytes, and watches stream the store's events as JSON lines.

events.k8s.io/v1 events are a view of the stored core v1 events: converted on the way out
and in (`_to_view` / `_from_view`), field selectors included. So are the versions of a
custom resource other than its storage version (only `apiVersion` differs). Resources are
looked up in the store's registry, so custom resources are served as soon as their CRD is
written; they are printed with their CRD's columns, and take no strategic merge patch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web

from netpolicy.lab.apiserver import decode, patch, proxy, spdy, streams, tables
from netpolicy.lab.apiserver.streams import PodRuntime
from netpolicy.lab.crds import Registry
from netpolicy.lab.resources import Resource
from netpolicy.lab.store import (
    JSON,
    ApiError,
    BadRequest,
    Conflict,
    Expired,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    Propagation,
    Query,
    Store,
    StoredObject,
    Watch,
    WatchEvent,
    dumps,
)

NO_RESOURCE = NotFound("the server could not find the requested resource", {})
RETURNS_DELETED_OBJECT = ("pods", "services", "namespaces")
CUSTOM_PATCH_TYPES = (patch.JSON_PATCH, patch.MERGE, patch.APPLY)
DEFAULT_WATCH_TIMEOUT = 1800.0


@dataclass(frozen=True, slots=True)
class Target:
    resource: Resource
    namespace: str
    name: str
    subresource: str
    rest: str


def parse_target(registry: Registry, group: str, version: str, path: str) -> Target:
    segments = path.split("/")
    namespace = ""
    if (len(segments) >= 3 and segments[0] == "namespaces"
            and segments[2] not in ("status", "finalize")):
        namespace, segments = segments[1], segments[2:]
    resource = registry.lookup(group, version, segments[0]) if segments else None
    if resource is None or (namespace and not resource.namespaced):
        raise NO_RESOURCE
    name = segments[1] if len(segments) > 1 else ""
    sub = segments[2] if len(segments) > 2 else ""
    if sub and resource.subresource(sub) is None:
        raise NO_RESOURCE
    if resource.namespaced and name and not namespace:
        raise NO_RESOURCE
    return Target(resource, namespace, name, sub, "/".join(segments[3:]))


def _wants(accept: str) -> str:
    """"table", "meta" or "json", in the client's order of preference."""
    for part in (accept or "application/json").split(","):
        media, *raw = [p.strip() for p in part.split(";")]
        params = dict(p.split("=", 1) for p in raw if "=" in p)
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            return "table"
        if params.get("as", "").startswith("PartialObjectMetadata") and params.get(
                "g") == "meta.k8s.io":
            return "meta"
        if not params.get("as") and media in ("application/json", "*/*", "application/*",
                                              "application/yaml", "text/plain", ""):
            return "json"
    raise NotAcceptable("only the following media types are accepted: application/json, "
                        "application/json;as=Table;v=v1;g=meta.k8s.io")


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1", "")


def _warnings(response: web.StreamResponse, warnings: Sequence[str]) -> None:
    """`Warning: 299 - "<text>"` headers; the text is quoted as Go's strconv.Quote would
    (printable ASCII as is, anything else escaped), so no input can break a header."""
    for text in warnings:
        response.headers.add("Warning", "299 - " + json.dumps(text))


def json_response(body: bytes | JSON, status: int = 200,
                  warnings: Sequence[str] = ()) -> web.Response:
    raw = body if isinstance(body, bytes) else dumps(body)
    response = web.Response(body=raw, status=status, content_type="application/json")
    _warnings(response, warnings)
    return response


# --- events.k8s.io/v1 as a view of core v1 events --------------------------------------------

_VIEW_FIELDS = (("regarding", "involvedObject"), ("note", "message"),
                ("reportingController", "reportingComponent"),
                ("deprecatedSource", "source"), ("deprecatedFirstTimestamp", "firstTimestamp"),
                ("deprecatedLastTimestamp", "lastTimestamp"), ("deprecatedCount", "count"))
_SAME_FIELDS = ("metadata", "eventTime", "series", "reportingInstance", "action", "reason",
                "related", "type")


def _to_view(res: Resource, obj: Mapping[str, Any]) -> JSON:
    if not res.storage:
        return dict(obj)
    if res.custom:
        return {**obj, "apiVersion": res.api_version}
    out: JSON = {"kind": res.kind, "apiVersion": res.api_version}
    out.update({k: obj[k] for k in _SAME_FIELDS if k in obj})
    out.update({view: obj[core] for view, core in _VIEW_FIELDS if core in obj})
    return out


def _from_view(res: Resource, obj: JSON) -> JSON:
    if not res.storage or res.custom:  # the store sets a custom resource's apiVersion
        return obj
    out: JSON = {"kind": "Event", "apiVersion": "v1"}
    out.update({k: obj[k] for k in _SAME_FIELDS if k in obj})
    out.update({core: obj[view] for view, core in _VIEW_FIELDS if view in obj})
    return out


def _view_selector(res: Resource, selector: str | None) -> str | None:
    if not res.storage or res.custom or not selector:
        return selector
    for view, core in (("regarding.", "involvedObject."),
                       ("reportingController", "reportingComponent")):
        selector = selector.replace(view, core)
    return selector


# --- the handlers -----------------------------------------------------------------------------


class RestApi:
    """Request handlers over one store and (optionally) one pod runtime."""

    def __init__(self, store: Store, runtime: PodRuntime | None, *,
                 bookmark_interval: float) -> None:
        self.store = store
        self.runtime = runtime
        self.bookmark_interval = bookmark_interval
        self._watches: weakref.WeakSet[Watch] = weakref.WeakSet()
        self._sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()

    async def shutdown(self) -> None:
        for watch in list(self._watches):
            watch.close()
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        info = request.match_info
        target = parse_target(self.store.registry, info.get("group", ""), info["version"],
                              info["tail"])
        if target.subresource:
            return await self._subresource(request, target)
        method = request.method
        if not target.name:
            if method == "GET":
                if _flag(request.query.get("watch")) and "watch" in request.query:
                    return await self._watch(request, target)
                return await self._list(request, target)
            if method == "POST" and (target.namespace or not target.resource.namespaced):
                return await self._create(request, target)
            if method == "DELETE" and "deletecollection" in target.resource.verbs:
                return await self._delete_collection(request, target)
        else:
            if method == "GET":
                return await self._get(request, target)
            if method == "PUT":
                return await self._update(request, target)
            if method == "PATCH":
                return await self._patch(request, target)
            if method == "DELETE":
                return await self._delete(request, target)
        raise MethodNotAllowed("the server does not allow this method on the requested "
                               "resource", {})

    # -- rendering --

    def _printer(self, res: Resource) -> tables.Printer | None:
        version = self.store.registry.version(res) if res.custom else None
        return tables.custom_printer(version.columns) if version is not None else None

    def _schema(self, res: Resource) -> Mapping[str, Any] | None:
        version = self.store.registry.version(res) if res.custom else None
        return version.schema if version is not None else None

    def _render(self, request: web.Request, res: Resource, obj: Mapping[str, Any],
                raw: bytes | None = None, status: int = 200,
                warnings: Sequence[str] = ()) -> web.Response:
        wants = _wants(request.headers.get("Accept", ""))
        view = _to_view(res, obj) if res.storage else obj
        if wants == "table":
            rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
            body: bytes | JSON = tables.table(
                res.plural, [view], rv, include_object=request.query.get("includeObject",
                                                                         "Metadata"),
                printer=self._printer(res))
        elif wants == "meta":
            body = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                    "metadata": view.get("metadata") or {}}
        else:
            body = raw if raw is not None and not res.storage else dict(view)
        return json_response(body, status, warnings)

    def _query(self, request: web.Request, target: Target) -> Query:
        res = target.resource
        return self.store.query(res.storage_name, target.namespace or None,
                                request.query.get("labelSelector") or None,
                                _view_selector(res, request.query.get("fieldSelector")) or None)

    # -- verbs --

    async def _get(self, request: web.Request, target: Target) -> web.Response:
        entry = self._entry(target)
        return self._render(request, target.resource, entry.obj, entry.raw)

    def _entry(self, target: Target) -> StoredObject:
        try:
            return self.store.get_stored(target.resource.storage_name, target.namespace or None,
                                         target.name)
        except NotFound as exc:
            raise NotFound.of(target.resource, target.name) from exc

    async def _list(self, request: web.Request, target: Target) -> web.Response:
        res = target.resource
        wants = _wants(request.headers.get("Accept", ""))
        limit_text = request.query.get("limit")
        try:
            limit = int(limit_text) if limit_text else None
        except ValueError as exc:
            raise BadRequest(f"invalid limit: {limit_text!r}") from exc
        result = self.store.select(res.storage_name, self._query(request, target), limit=limit,
                                   continue_token=request.query.get("continue") or None)
        rv = str(result.resource_version)
        if wants == "table":
            objects = [_to_view(res, e.obj) for e in result.items]
            return json_response(tables.table(
                res.plural, objects, rv, continue_token=result.continue_token,
                include_object=request.query.get("includeObject", "Metadata"),
                printer=self._printer(res)))
        meta: JSON = {"resourceVersion": rv}
        if result.continue_token:
            meta["continue"] = result.continue_token
            meta["remainingItemCount"] = result.remaining
        if wants == "meta":
            return json_response({
                "kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                "metadata": meta,
                "items": [{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                           "metadata": e.obj.get("metadata") or {}} for e in result.items]})
        head = dumps({"kind": res.kind + "List", "apiVersion": res.api_version,
                      "metadata": meta})[:-1]
        if res.storage:
            items = b",".join(dumps(_to_view(res, e.obj)) for e in result.items)
        else:
            items = b",".join(e.raw for e in result.items)
        return json_response(head + b',"items":[' + items + b"]}")

    async def _watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        res = target.resource
        wants = _wants(request.headers.get("Accept", ""))
        query = request.query
        try:
            timeout = float(query.get("timeoutSeconds") or DEFAULT_WATCH_TIMEOUT)
        except ValueError as exc:
            raise BadRequest("invalid timeoutSeconds") from exc
        bookmarks = _flag(query.get("allowWatchBookmarks")) and "allowWatchBookmarks" in query
        initial = query.get("sendInitialEvents")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        try:
            watch = self.store.watch_query(
                self.store.resource(res), self._query(request, target),
                resource_version=query.get("resourceVersion") or None,
                send_initial_events=None if initial is None else _flag(initial),
                bookmarks=bookmarks, bookmark_interval=self.bookmark_interval)
        except Expired as exc:
            await response.prepare(request)
            await response.write(b'{"type":"ERROR","object":' + dumps(exc.status()) + b"}\n")
            await response.write_eof()
            return response
        self._watches.add(watch)
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        headers = True
        pending: asyncio.Future[WatchEvent] | None = None
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    if bookmarks:
                        await response.write(self._event(res, watch.bookmark(), wants, False))
                    break
                if pending is None:
                    pending = asyncio.ensure_future(watch.__anext__())
                done, _ = await asyncio.wait({pending}, timeout=min(remaining, 1.0))
                if not done:
                    if request.transport is None or request.transport.is_closing():
                        break
                    continue
                try:
                    event = pending.result()
                except StopAsyncIteration:
                    break
                finally:
                    pending = None
                await response.write(self._event(res, event, wants, headers))
                headers = headers and event.type == "BOOKMARK"
        except (ConnectionError, RuntimeError):
            return response
        finally:
            if pending is not None:
                pending.cancel()
            watch.close()
        with contextlib.suppress(ConnectionError, RuntimeError):
            await response.write_eof()
        return response

    def _event(self, res: Resource, event: WatchEvent, wants: str, headers: bool) -> bytes:
        if event.type in ("BOOKMARK", "ERROR"):
            if res.storage and event.type == "BOOKMARK":
                stub = event.object
                stub["kind"], stub["apiVersion"] = res.kind, res.api_version
                return b'{"type":"BOOKMARK","object":' + dumps(stub) + b"}\n"
            return b'{"type":"' + event.type.encode() + b'","object":' + event.raw + b"}\n"
        if wants == "table":
            obj = _to_view(res, event.object)
            rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
            raw = dumps(tables.table(res.plural, [obj], rv, headers=headers,
                                     printer=self._printer(res)))
        elif wants == "meta":
            raw = dumps({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                         "metadata": event.object.get("metadata") or {}})
        elif res.storage:
            raw = dumps(_to_view(res, event.object))
        else:
            raw = event.raw
        return b'{"type":"' + event.type.encode() + b'","object":' + raw + b"}\n"

    async def _body(self, request: web.Request, target: Target, *, kind: str = "",
                    api_version: str = "") -> decode.Decoded:
        value = decode.parse_body(await request.read(), request.headers.get("Content-Type", ""))
        return decode.decode_object(value, target.resource, _validation(request), kind=kind,
                                    api_version=api_version,
                                    custom_schema=self._schema(target.resource))

    async def _create(self, request: web.Request, target: Target) -> web.Response:
        res = target.resource
        decoded = await self._body(request, target)
        created = await self.store.create(res.storage_name, _from_view(res, decoded.obj),
                                          namespace=target.namespace or None,
                                          dry_run=_dry_run(request))
        return self._render(request, res, created, status=201, warnings=decoded.warnings)

    async def _update(self, request: web.Request, target: Target,
                      subresource: str = "") -> web.Response:
        res = target.resource
        decoded = await self._body(request, target)
        obj = _from_view(res, decoded.obj)
        meta = obj.setdefault("metadata", {})
        if isinstance(meta, dict) and meta.get("name", target.name) != target.name:
            raise BadRequest(f"the name of the object ({meta.get('name')}) does not match the "
                             f"name on the URL ({target.name})")
        if isinstance(meta, dict):
            meta.setdefault("name", target.name)
        self._entry(target)
        updated = await self.store.update(res.storage_name, obj,
                                          namespace=target.namespace or None,
                                          subresource=subresource, dry_run=_dry_run(request))
        return self._render(request, res, updated, warnings=decoded.warnings)

    def _patched(self, target: Target, current: Mapping[str, Any], content_type: str,
                 body: Any, validation: decode.FieldValidation) -> tuple[JSON, tuple[str, ...]]:
        res = target.resource
        patched = patch.apply_patch(_to_view(res, current), body, content_type)
        decoded = decode.decode_object(patched, res, validation,
                                       custom_schema=self._schema(res))
        return _from_view(res, decoded.obj), decoded.warnings

    async def _patch(self, request: web.Request, target: Target,
                     subresource: str = "") -> web.Response:
        res = target.resource
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type not in patch.PATCH_TYPES or (res.custom
                                                     and content_type == patch.STRATEGIC):
            raise _unsupported_patch(content_type, res)
        raw = await request.read()
        try:
            current = self._entry(target)
        except NotFound:
            if content_type == patch.APPLY:
                return await self._apply_create(request, target)
            raise
        body = decode.parse_body(raw, "application/yaml" if content_type == patch.APPLY
                                 else "application/json")
        # Read, patch and update with no await in between: as the API server's retried
        # update, a patch that names no resourceVersion never conflicts with a concurrent
        # writer (a kubelet updating the status).
        obj, warnings = self._patched(target, current.obj, content_type, body,
                                      _validation(request))
        updated = await self.store.update(res.storage_name, obj,
                                          namespace=target.namespace or None,
                                          subresource=subresource, dry_run=_dry_run(request))
        return self._render(request, res, updated, warnings=warnings)

    async def _apply_create(self, request: web.Request, target: Target) -> web.Response:
        res = target.resource
        value = decode.parse_body(await request.read(), "application/yaml")
        decoded = decode.decode_object(value, res, _validation(request),
                                       custom_schema=self._schema(res))
        obj = _from_view(res, decoded.obj)
        obj.setdefault("metadata", {}).setdefault("name", target.name)
        created = await self.store.create(res.storage_name, obj,
                                          namespace=target.namespace or None,
                                          dry_run=_dry_run(request))
        return self._render(request, res, created, status=201, warnings=decoded.warnings)

    async def _delete_options(self, request: web.Request) -> JSON:
        options: JSON = {}
        if request.can_read_body:
            raw = await request.read()
            if raw.strip():
                value = decode.parse_body(raw, request.headers.get("Content-Type", ""))
                if not isinstance(value, dict):
                    raise BadRequest("DeleteOptions must be an object")
                options = value
        for key in ("propagationPolicy", "orphanDependents", "gracePeriodSeconds", "dryRun"):
            if key in request.query:
                options[key] = request.query[key]
        return options

    def _propagation(self, options: Mapping[str, Any]) -> Propagation | None:
        policy = options.get("propagationPolicy")
        if policy is None and str(options.get("orphanDependents")).lower() == "true":
            return "Orphan"
        if policy in (None, ""):
            return None
        if policy not in ("Background", "Foreground", "Orphan"):
            raise BadRequest(f'invalid propagationPolicy: "{policy}"')
        return cast(Propagation, policy)

    async def _delete(self, request: web.Request, target: Target) -> web.Response:
        res = target.resource
        options = await self._delete_options(request)
        pre = options.get("preconditions") or {}
        self._entry(target)
        deleted = await self.store.delete(
            res.storage_name, target.namespace or None, target.name,
            propagation=self._propagation(options),
            uid=pre.get("uid") if isinstance(pre, dict) else None,
            resource_version=pre.get("resourceVersion") if isinstance(pre, dict) else None,
            dry_run=bool(options.get("dryRun")) or _dry_run(request))
        if res.plural in RETURNS_DELETED_OBJECT and not res.custom:
            return self._render(request, res, deleted)
        meta = deleted.get("metadata") or {}
        details: JSON = {"name": target.name}
        if res.group:
            details["group"] = res.group
        details["kind"], details["uid"] = res.plural, meta.get("uid")
        return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Success", "details": details})

    async def _delete_collection(self, request: web.Request, target: Target) -> web.Response:
        res = target.resource
        options = await self._delete_options(request)
        deleted = await self.store.delete_collection(
            res.storage_name, target.namespace or None,
            label_selector=request.query.get("labelSelector") or None,
            field_selector=_view_selector(res, request.query.get("fieldSelector")) or None,
            propagation=self._propagation(options),
            dry_run=bool(options.get("dryRun")) or _dry_run(request))
        items = [_to_view(res, d) for d in deleted]
        return json_response({"kind": res.kind + "List", "apiVersion": res.api_version,
                              "metadata": {"resourceVersion": str(self.store.resource_version)},
                              "items": items})

    # -- subresources --

    async def _subresource(self, request: web.Request, target: Target) -> web.StreamResponse:
        sub, method = target.subresource, request.method
        if sub == "status":
            if method == "GET":
                return await self._get(request, target)
            if method == "PUT":
                return await self._update(request, target, "status")
            if method == "PATCH":
                return await self._patch(request, target, "status")
        elif sub == "scale" and method in ("GET", "PUT", "PATCH"):
            return await self._scale(request, target)
        elif sub == "finalize" and method == "PUT":
            return await self._update(request, target)
        elif sub == "binding" and method == "POST":
            return await self._binding(request, target)
        elif sub == "eviction" and method == "POST":
            self._entry(target)
            await self.store.delete("pods", target.namespace, target.name)
            return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                  "status": "Success"}, 201)
        elif sub == "log" and method == "GET":
            return await self._log(request, target)
        elif sub in ("exec", "attach") and method in ("GET", "POST"):
            return await self._remote_command(request, target)
        elif sub == "portforward" and method in ("GET", "POST"):
            return await self._port_forward(request, target)
        elif sub == "proxy":
            return await self._proxy(request, target)
        raise MethodNotAllowed("the server does not allow this method on the requested "
                               "resource", {})

    def _scale_of(self, res: Resource, obj: Mapping[str, Any]) -> JSON:
        meta = obj.get("metadata") or {}
        selector = tables.format_label_selector((obj.get("spec") or {}).get("selector"))
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: meta[k] for k in ("name", "namespace", "uid",
                                                  "resourceVersion", "creationTimestamp")
                             if k in meta},
                "spec": {"replicas": int((obj.get("spec") or {}).get("replicas") or 0)},
                "status": {"replicas": int((obj.get("status") or {}).get("replicas") or 0),
                           "selector": "" if selector == "<none>" else selector}}

    async def _scale(self, request: web.Request, target: Target) -> web.Response:
        res = target.resource
        entry = self._entry(target)
        current = self._scale_of(res, entry.obj)
        if request.method == "GET":
            return json_response(current)
        if request.method == "PUT":
            decoded = await self._body(request, target, kind="Scale",
                                       api_version="autoscaling/v1")
            scale = decoded.obj
        else:
            content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
            if content_type not in patch.PATCH_TYPES:
                raise _unsupported_patch(content_type)
            body = decode.parse_body(await request.read(), "application/yaml"
                                     if content_type == patch.APPLY else "application/json")
            scale = decode.decode_object(patch.apply_patch(current, body, content_type), res,
                                         _validation(request), kind="Scale",
                                         api_version="autoscaling/v1").obj
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        if rv and rv != (entry.obj.get("metadata") or {}).get("resourceVersion"):
            raise Conflict.of(res, target.name, "the object has been modified; please apply "
                              "your changes to the latest version and try again")
        replicas = (scale.get("spec") or {}).get("replicas", 0)

        def set_replicas(obj: JSON) -> None:
            obj.setdefault("spec", {})["replicas"] = replicas

        updated = await self.store.modify(res.storage_name, target.namespace, target.name,
                                          set_replicas)
        return json_response(self._scale_of(res, updated))

    async def _binding(self, request: web.Request, target: Target) -> web.Response:
        body = decode.parse_body(await request.read(), request.headers.get("Content-Type", ""))
        node = (body.get("target") or {}).get("name") if isinstance(body, dict) else None
        if not node:
            raise BadRequest("a binding needs a target node name")
        entry = self._entry(target)
        current = (entry.obj.get("spec") or {}).get("nodeName")
        if current:
            raise Conflict.of(target.resource, target.name,
                              f"pod {target.name} is already assigned to node \"{current}\"")

        def bind(obj: JSON) -> None:
            obj.setdefault("spec", {})["nodeName"] = node

        await self.store.modify("pods", target.namespace, target.name, bind,
                                subresource="binding")
        return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Success", "code": 201}, 201)

    def _runtime(self, target: Target) -> PodRuntime:
        if self.runtime is None:
            raise BadRequest(f"pod {target.name} does not have a host assigned")
        return self.runtime

    def _container(self, pod: Mapping[str, Any], requested: str | None) -> str:
        spec = pod.get("spec") or {}
        names = [str(c.get("name")) for c in (spec.get("containers") or [])
                 + (spec.get("initContainers") or []) if isinstance(c, Mapping)]
        name = (pod.get("metadata") or {}).get("name")
        if requested:
            if requested not in names:
                raise BadRequest(f"container {requested} is not valid for pod {name}")
            return requested
        main = [str(c.get("name")) for c in spec.get("containers") or []]
        if len(main) == 1:
            return main[0]
        raise BadRequest(f"a container name must be specified for pod {name}, choose one of: "
                         f"[{' '.join(main)}]")

    async def _log(self, request: web.Request, target: Target) -> web.StreamResponse:
        pod = self._entry(target).obj
        container = self._container(pod, request.query.get("container"))
        runtime = self._runtime(target)
        tail_text, limit_text = request.query.get("tailLines"), request.query.get("limitBytes")
        try:
            tail = int(tail_text) if tail_text else None
            limit = int(limit_text) if limit_text else None
        except ValueError as exc:
            raise BadRequest("tailLines and limitBytes must be integers") from exc
        chunks = runtime.logs(target.namespace, target.name, container,
                              follow=_flag(request.query.get("follow"))
                              and "follow" in request.query, tail=tail)
        return await streams.stream_logs(request, chunks, limit)

    async def _remote_command(self, request: web.Request, target: Target) -> web.StreamResponse:
        pod = self._entry(target).obj
        query = request.query
        container = self._container(pod, query.get("container"))
        runtime = self._runtime(target)
        if request.headers.get("Upgrade", "").lower() != "websocket":
            raise BadRequest("Upgrade request required: this server speaks the remote command "
                             "protocol over WebSockets (v5.channel.k8s.io)")
        stdin, tty = _flag(query.get("stdin")) and "stdin" in query, query.get("tty") == "true"
        stdout = _flag(query.get("stdout")) and "stdout" in query
        stderr = _flag(query.get("stderr")) and "stderr" in query
        if target.subresource == "exec":
            command = query.getall("command", [])
            if not command:
                raise BadRequest("you must specify at least 1 command")

            async def open_exec() -> streams.Attachment:
                return await runtime.exec(target.namespace, target.name, container, command,
                                          tty=tty, stdin=stdin)

            opener = open_exec
        else:
            command = None

            async def open_attach() -> streams.Attachment:
                return await runtime.attach(target.namespace, target.name, container,
                                            stdin=stdin)

            opener = open_attach
        ws_task = streams.relay(request, opener, stdin=stdin, stdout=stdout, stderr=stderr,
                                command=command)
        return await ws_task

    async def _port_forward(self, request: web.Request, target: Target) -> web.StreamResponse:
        self._entry(target)
        runtime = self._runtime(target)
        if request.headers.get("Upgrade", "").lower() != "websocket":
            raise BadRequest("Upgrade request required: port forwarding is served as SPDY "
                             "tunnelled over WebSockets (SPDY/3.1+portforward.k8s.io)")

        async def open_port(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await runtime.open_port(target.namespace, target.name, port)

        return await spdy.port_forward(request, open_port)

    async def _proxy(self, request: web.Request, target: Target) -> web.StreamResponse:
        runtime = self._runtime(target)
        _, name, port = proxy.split_name(target.name)
        if target.resource.plural == "pods":
            pod = self.store.get_stored("pods", target.namespace, name).obj
            return await proxy.forward(request, runtime, target.namespace, name,
                                       proxy.pod_port(pod, port), target.rest)
        if target.resource.plural == "services":
            pod_name, pod_port = proxy.service_target(self.store, target.namespace, name, port)
            return await proxy.forward(request, runtime, target.namespace, pod_name, pod_port,
                                       target.rest)
        raise MethodNotAllowed("the server does not allow this method on the requested "
                               "resource", {})


def _validation(request: web.Request) -> decode.FieldValidation:
    value = request.query.get("fieldValidation") or "Warn"
    if value not in ("Strict", "Warn", "Ignore"):
        raise BadRequest(f"fieldValidation parameter unsupported: {value}")
    return cast(decode.FieldValidation, value)


def _dry_run(request: web.Request) -> bool:
    values = request.query.getall("dryRun", [])
    if any(v != "All" for v in values):
        raise BadRequest(f"unsupported dry run value: {values}")
    return bool(values)


def _unsupported_patch(content_type: str, res: Resource | None = None) -> ApiError:
    from netpolicy.lab.store import UnsupportedMediaType

    accepted = patch.PATCH_TYPES if res is None or not res.custom else CUSTOM_PATCH_TYPES
    return UnsupportedMediaType(
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(accepted)}" + (f' (got "{content_type}")' if content_type else ""))
