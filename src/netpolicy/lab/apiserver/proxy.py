"""The `proxy` subresources: HTTP to a pod's port, or to a ready endpoint of a service.

`/api/v1/namespaces/<ns>/pods/<name>[:<port>]/proxy/<path>` and
`.../services/[<scheme>:]<name>[:<port>]/proxy/<path>` (what `kubectl proxy` users and
`kubectl get --raw` reach) forward one HTTP request through `PodRuntime.open_port`, as the
API server does through the node. A service port is picked by name or number, and mapped
to a ready address of the service's Endpoints and that subset's port of the same name.
The request is sent as HTTP/1.1 with `Connection: close` and the response relayed as it
comes (chunked bodies are decoded), so no connection is reused.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from netpolicy.lab.apiserver.streams import PodRuntime
from netpolicy.lab.store import BadRequest, NotFound, ServiceUnavailable, Store

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
               "trailer", "transfer-encoding", "upgrade", "authorization", "host",
               "content-length"}


def split_name(text: str) -> tuple[str, str, str]:
    """`[scheme:]name[:port]` → (scheme, name, port)."""
    parts = text.split(":")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return "", parts[0], ""


def pod_port(pod: Mapping[str, Any], port: str) -> int:
    if not port:
        return 80
    if port.isdigit():
        return int(port)
    for c in (pod.get("spec") or {}).get("containers") or ():
        for p in c.get("ports") or ():
            if p.get("name") == port:
                return int(p["containerPort"])
    raise BadRequest(f"no port named {port!r} in pod {pod['metadata']['name']}")


def service_target(store: Store, namespace: str, name: str, port: str) -> tuple[str, int]:
    """A ready (pod, port) behind a service port."""
    svc = store.get_stored("services", namespace, name).obj
    ports = (svc.get("spec") or {}).get("ports") or []
    chosen = next((p for p in ports if port in (str(p.get("name", "")), str(p.get("port")))),
                  ports[0] if ports and not port else None)
    if chosen is None:
        raise ServiceUnavailable(f'no service port "{port}" found for service "{name}"')
    try:
        ep = store.get_stored("endpoints", namespace, name).obj
    except NotFound as exc:
        raise ServiceUnavailable(f'no endpoints available for service "{name}"') from exc
    for subset in ep.get("subsets") or ():
        sub_port = next((p for p in subset.get("ports") or ()
                         if p.get("name", "") == chosen.get("name", "")), None)
        for address in subset.get("addresses") or ():
            ref = address.get("targetRef") or {}
            if sub_port is not None and ref.get("kind") == "Pod" and ref.get("name"):
                return str(ref["name"]), int(sub_port["port"])
    raise ServiceUnavailable(f'no endpoints available for service "{name}"')


async def forward(request: web.Request, runtime: PodRuntime, namespace: str, pod: str,
                  port: int, path: str) -> web.StreamResponse:
    try:
        reader, writer = await runtime.open_port(namespace, pod, port)
    except OSError as exc:
        raise ServiceUnavailable(f"error trying to reach service: {exc}") from exc
    try:
        target = "/" + path.lstrip("/")
        if request.query_string:
            target += "?" + request.query_string
        body = await request.read()
        head = [f"{request.method} {target} HTTP/1.1", f"Host: {pod}:{port}",
                "Connection: close", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in request.headers.items()
                 if k.lower() not in _HOP_BY_HOP]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        status_line = await reader.readline()
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise ServiceUnavailable("error trying to reach service: malformed HTTP response")
        headers: list[tuple[str, str]] = []
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            key, _, value = line.decode("latin-1").partition(":")
            headers.append((key.strip(), value.strip()))
        chunked = any(k.lower() == "transfer-encoding" and "chunked" in v.lower()
                      for k, v in headers)
        response = web.StreamResponse(status=int(parts[1]),
                                      reason=parts[2].strip() if len(parts) > 2 else None)
        for key, value in headers:
            if key.lower() not in _HOP_BY_HOP:
                response.headers.add(key, value)
        await response.prepare(request)
        if chunked:
            while (size_line := await reader.readline()).strip():
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    break
                await response.write(await reader.readexactly(size))
                await reader.readline()
        else:
            while chunk := await reader.read(65536):
                await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
            await writer.wait_closed()
