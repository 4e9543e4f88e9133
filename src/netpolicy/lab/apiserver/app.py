"""The aiohttp application: routes, bearer-token authentication, errors as `Status`.

`create_app(store, token, runtime)` builds the application (and installs the API
server's admission chain on the store); `serve(app)` binds it to 127.0.0.1 and returns
the port. When the application starts, it installs the CRDs its `crds` provider gives
(`netpolicy.lab.crds.default_crds`: the network-policy-api kinds).

Every error leaves as a Kubernetes `Status` with its code: an `ApiError` as
itself, anything unexpected as a 500 `InternalError` whose message names the exception
(never a traceback), so no input can crash the server or leak its internals.

Serve it over TLS (`credentials.self_signed().server_context()`): kubectl sends no
credentials to an `http://` server, so with plain HTTP every kubectl request is a 401.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import ssl
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from netpolicy.lab.apiserver import discovery, openapi
from netpolicy.lab.apiserver.admission import install_admission
from netpolicy.lab.apiserver.rest import RestApi, json_response
from netpolicy.lab.apiserver.streams import PodRuntime
from netpolicy.lab.crds import CrdProvider, default_crds, install_crds
from netpolicy.lab.store import (
    ApiError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    Store,
    Unauthorized,
)

log = logging.getLogger(__name__)

API = web.AppKey("netpolicy.lab.api", RestApi)
TRANSPORTS = web.AppKey("netpolicy.lab.transports", weakref.WeakSet[asyncio.BaseTransport])
PUBLIC_PATHS = frozenset({"/version", "/healthz", "/livez", "/readyz"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


def _status(error: ApiError) -> web.Response:
    return json_response(error.status(), error.code)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.transport is not None:
        request.app[TRANSPORTS].add(request.transport)
    try:
        return await handler(request)
    except ApiError as exc:
        return _status(exc)
    except web.HTTPException as exc:
        if exc.status == 404:
            return _status(NotFound("the server could not find the requested resource", {}))
        if exc.status == 405:
            return _status(MethodNotAllowed("the server does not allow this method on the "
                                            "requested resource", {}))
        if exc.status >= 400:
            error = ApiError(exc.reason or "request failed")
            error.code, error.reason = exc.status, exc.reason.replace(" ", "")
            return _status(error)
        raise
    except Exception as exc:
        log.exception("internal error serving %s %s", request.method, request.path)
        return _status(InternalError(f"Internal error occurred: {type(exc).__name__}: {exc}"))


def _auth(token: str) -> Middleware:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in PUBLIC_PATHS:
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                raise Unauthorized("Unauthorized")
        return await handler(request)

    return check


def create_app(store: Store, token: str, runtime: PodRuntime | None = None, *,
               bookmark_interval: float = 60.0,
               crds: CrdProvider = default_crds) -> web.Application:
    """The API server for `store`, requiring `Authorization: Bearer <token>`; `runtime`
    serves exec/attach/logs/port-forward/proxy (without one they answer 400).
    `bookmark_interval`: seconds of quiet after which a watch that allows bookmarks gets
    one (the real server: about a minute). `crds`: the CustomResourceDefinitions to
    install (create or replace) when the server starts."""
    install_admission(store)
    middlewares: list[Middleware] = [_errors, _auth(token)]
    app = web.Application(middlewares=middlewares,  # type: ignore[arg-type]
                          client_max_size=16 * 2**20)
    api = RestApi(store, runtime, bookmark_interval=bookmark_interval)
    app[API] = api
    app[TRANSPORTS] = weakref.WeakSet()

    async def shutdown(_: web.Application) -> None:
        await api.shutdown()

    async def install(_: web.Application) -> None:
        await install_crds(store, crds())

    app.on_startup.append(install)
    app.on_shutdown.append(shutdown)
    r = app.router
    r.add_get("/version", _version)
    for path in ("/healthz", "/livez", "/readyz"):
        r.add_get(path, _ok)
    r.add_get("/api", _api)
    r.add_get("/api/", _api)
    r.add_get("/apis", _apis)
    r.add_get("/apis/", _apis)
    r.add_get("/api/{version}", _resource_list)
    r.add_get("/apis/{group}", _group)
    r.add_get("/apis/{group}/{version}", _resource_list)
    r.add_get("/openapi/v3", _openapi_index)
    r.add_get("/openapi/v3/{path:.+}", _openapi_document)
    r.add_route("*", "/api/{version}/{tail:.+}", api.handle)
    r.add_route("*", "/apis/{group}/{version}/{tail:.+}", api.handle)
    return app


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _version(request: web.Request) -> web.Response:
    return json_response(discovery.VERSION)


def _aggregated(request: web.Request, core: bool) -> web.Response | None:
    media = discovery.wants_aggregated(request.headers.get("Accept", ""))
    if not media:
        return None
    response = json_response(discovery.aggregated(request.app[API].store.registry, core,
                                                  media))
    response.headers["Content-Type"] = media
    return response


async def _api(request: web.Request) -> web.Response:
    aggregated = _aggregated(request, core=True)
    if aggregated is not None:
        return aggregated
    host = request.host or "127.0.0.1"
    return json_response(discovery.api_versions(host))


async def _apis(request: web.Request) -> web.Response:
    return _aggregated(request, core=False) or json_response(
        discovery.api_group_list(request.app[API].store.registry))


async def _group(request: web.Request) -> web.Response:
    body = discovery.api_group(request.app[API].store.registry, request.match_info["group"])
    if body is None:
        raise NotFound("the server could not find the requested resource", {})
    return json_response(body)


async def _resource_list(request: web.Request) -> web.Response:
    group = request.match_info.get("group", "")
    if not group and request.path.startswith("/apis/"):
        raise NotFound("the server could not find the requested resource", {})
    body = discovery.api_resource_list(request.app[API].store.registry, group,
                                       request.match_info["version"])
    if body is None:
        raise NotFound("the server could not find the requested resource", {})
    return json_response(body)


async def _openapi_index(request: web.Request) -> web.Response:
    return json_response(openapi.index(request.app[API].store.registry))


async def _openapi_document(request: web.Request) -> web.Response:
    doc = openapi.document_for_path(request.app[API].store.registry, request.match_info["path"])
    if doc is None:
        raise NotFound("the server could not find the requested resource", {})
    return json_response(doc)


@dataclass
class Served:
    """A running server: its port, and how to stop it."""

    runner: web.AppRunner
    host: str
    port: int
    tls: bool

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    async def close(self) -> None:
        """Stop serving: in-flight requests get a second, then every connection is cut
        (a TLS connection would otherwise wait up to 30 s for its peer's close_notify)."""
        tracked: weakref.WeakSet[asyncio.BaseTransport] = self.runner.app[TRANSPORTS]
        transports = list(tracked)
        await self.runner.cleanup()
        for transport in transports:
            if isinstance(transport, asyncio.Transport):
                transport.abort()
        for _ in range(3):  # let the aborted transports report connection_lost
            await asyncio.sleep(0)


async def serve(app: web.Application, host: str = "127.0.0.1", port: int = 0, *,
                ssl_context: ssl.SSLContext | None = None) -> Served:
    """Start `app` on host:port (0: any free port) and return where it listens."""
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None,
                           shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    return Served(runner, host, int(runner.addresses[0][1]), ssl_context is not None)
