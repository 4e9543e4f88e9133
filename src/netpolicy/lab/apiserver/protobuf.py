"""Reading `application/vnd.kubernetes.protobuf` request bodies.

Since Kubernetes 1.31, client-go's typed clientsets send protobuf by default, and kubectl
1.32 uses them for `create deployment|namespace|service|configmap...`: a body is the magic
`k8s\\x00` and a `runtime.Unknown` envelope (apiVersion, kind, raw object bytes). We decode
it into the JSON form of the object and then treat it like any JSON body. (Answers stay
JSON: kubectl always accepts `application/json` too.)

The field numbers come from the `generated.proto` descriptors of k8s.io/api, trimmed to the
messages of the kinds we serve, in `proto_messages.py`, which `python -m
netpolicy.lab.apiserver.protobuf KUBECTL_BINARY` regenerates from the gzipped
FileDescriptorProtos that every Go client binary embeds.

Go encodes every non-pointer field, zero or not, so zero scalars are dropped (JSON's
`omitempty`), except the pointer fields where zero means something (`replicas: 0`,
`gracePeriodSeconds: 0`, security contexts); nested messages are kept even when empty
(`emptyDir: {}` selects the volume source), except zero times (null).
"""

from __future__ import annotations

import base64
import json
import re
import struct
import sys
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from netpolicy.lab.store import JSON, BadRequest

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
META = "k8s.io.apimachinery.pkg.apis.meta.v1."
PACKAGES = {
    "v1": "k8s.io.api.core.v1", "apps/v1": "k8s.io.api.apps.v1",
    "networking.k8s.io/v1": "k8s.io.api.networking.v1",
    "discovery.k8s.io/v1": "k8s.io.api.discovery.v1",
    "events.k8s.io/v1": "k8s.io.api.events.v1", "autoscaling/v1": "k8s.io.api.autoscaling.v1",
    "policy/v1": "k8s.io.api.policy.v1", "meta.k8s.io/v1": META.rstrip("."),
}
# Pointer fields whose zero value is meaningful (kept when decoding).
KEEP_ZERO = {
    "replicas", "revisionHistoryLimit", "progressDeadlineSeconds", "gracePeriodSeconds",
    "terminationGracePeriodSeconds", "activeDeadlineSeconds", "automountServiceAccountToken",
    "enableServiceLinks", "immutable", "endPort", "ready", "serving", "terminating",
    "orphanDependents", "hostUsers", "allocateLoadBalancerNodePorts", "optional",
}
KEEP_ZERO_MESSAGES = {"k8s.io.api.core.v1.SecurityContext",
                      "k8s.io.api.core.v1.PodSecurityContext"}
ROOTS = (
    *(f"k8s.io.api.core.v1.{k}" for k in ("Namespace", "Node", "Pod", "Service", "Endpoints",
                                          "ServiceAccount", "ConfigMap", "Event", "Binding")),
    "k8s.io.api.apps.v1.Deployment", "k8s.io.api.apps.v1.ReplicaSet",
    "k8s.io.api.networking.v1.NetworkPolicy", "k8s.io.api.discovery.v1.EndpointSlice",
    "k8s.io.api.events.v1.Event", "k8s.io.api.autoscaling.v1.Scale",
    "k8s.io.api.policy.v1.Eviction", META + "DeleteOptions", META + "Status",
)
SCALAR, MESSAGE, BYTES, STRING, BOOL, SIGNED = "s", "m", "b", "t", "?", "i"


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise ValueError("varint too long")


def fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """The (number, wire type, value) of each field of a protobuf message."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated field")
            value, pos = data[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def decode(body: bytes) -> JSON:
    """The JSON object of a Kubernetes protobuf body (BadRequest if it is not one)."""
    from netpolicy.lab.apiserver.proto_messages import MAP_ENTRIES, MESSAGES

    if not body.startswith(MAGIC):
        raise BadRequest("provided object is not a Kubernetes protobuf message")
    try:
        api_version = kind = ""
        raw = b""
        for number, _, value in fields(body[len(MAGIC):]):
            if number == 1:
                for n, _, v in fields(value):
                    if n == 1:
                        api_version = v.decode()
                    elif n == 2:
                        kind = v.decode()
            elif number == 2:
                raw = value
        name = f"{PACKAGES.get(api_version, '')}.{kind}"
        if name not in MESSAGES:
            raise BadRequest(f"no kind \"{kind}\" is registered for version \"{api_version}\"")
        obj = _message(raw, name, MESSAGES, MAP_ENTRIES)
    except (ValueError, UnicodeDecodeError, struct.error, RecursionError) as exc:
        raise BadRequest(f"unable to decode protobuf body: {exc}") from exc
    result: JSON = {"apiVersion": api_version, "kind": kind}
    result.update(obj)
    return result


def _message(data: bytes, name: str, messages: dict[str, dict[int, tuple[str, str, str, bool]]],
             map_entries: frozenset[str]) -> Any:
    if name == META + "Time" or name == META + "MicroTime":
        seconds = nanos = 0
        for n, _, v in fields(data):
            seconds, nanos = (_signed(v), nanos) if n == 1 else (seconds, v if n == 2 else nanos)
        if not data:
            return None
        when = datetime.fromtimestamp(seconds, UTC)
        if name.endswith("MicroTime"):
            return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{nanos // 1000:06d}Z"
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    if name == "k8s.io.apimachinery.pkg.api.resource.Quantity":
        return next((v.decode() for n, _, v in fields(data) if n == 1), "")
    if name == "k8s.io.apimachinery.pkg.util.intstr.IntOrString":
        is_text, number, text = 0, 0, ""
        for n, _, v in fields(data):
            if n == 1:
                is_text = v
            elif n == 2:
                number = _signed(v)
            elif n == 3:
                text = v.decode()
        return text if is_text == 1 else number
    if name == "k8s.io.apimachinery.pkg.runtime.RawExtension":
        raw = next((v for n, _, v in fields(data) if n == 1), b"")
        return json.loads(raw) if raw else None
    spec = messages.get(name, {})
    keep_zero = name in KEEP_ZERO_MESSAGES
    out: JSON = {}
    for number, wire, value in fields(data):
        if number not in spec:
            continue
        field, kind, type_name, repeated = spec[number]
        if kind == MESSAGE and type_name in map_entries:
            key, item = _map_entry(value, type_name, messages, map_entries)
            out.setdefault(field, {})[key] = item
            continue
        if repeated and wire == 2 and kind in (SCALAR, SIGNED, BOOL):
            items: list[Any] = []
            pos = 0
            while pos < len(value):
                v, pos = _varint(value, pos)
                items.append(_scalar(v, kind))
            out.setdefault(field, []).extend(items)
            continue
        decoded = (_message(value, type_name, messages, map_entries) if kind == MESSAGE
                   else _scalar(value, kind))
        if repeated:
            out.setdefault(field, []).append(decoded)
        elif decoded is not None:
            out[field] = decoded
    return {k: v for k, v in out.items()
            if keep_zero or k in KEEP_ZERO or v not in ("", 0, False, [], None)
            or isinstance(v, dict)}


def _scalar(value: Any, kind: str) -> Any:
    if kind == STRING:
        return value.decode()
    if kind == BYTES:
        return base64.b64encode(value).decode()
    if kind == BOOL:
        return bool(value)
    if kind == SIGNED:
        return _signed(value) if isinstance(value, int) else 0
    return value if isinstance(value, int) else 0


def _map_entry(data: bytes, name: str, messages: dict[str, dict[int, tuple[str, str, str, bool]]],
               map_entries: frozenset[str]) -> tuple[str, Any]:
    spec = messages[name]
    key: Any = ""
    item: Any = None
    for number, _, value in fields(data):
        _, kind, type_name, _ = spec[number]
        decoded = (_message(value, type_name, messages, map_entries) if kind == MESSAGE
                   else _scalar(value, kind))
        if number == 1:
            key = decoded
        else:
            item = decoded
    if item is None:
        value_kind = spec.get(2, ("", STRING, "", False))[1]
        item = "" if value_kind in (STRING, BYTES) else {}
    return str(key), item


# --- regenerating proto_messages.py -----------------------------------------------------------

_KINDS = {1: SCALAR, 2: SCALAR, 3: SIGNED, 4: SCALAR, 5: SIGNED, 6: SCALAR, 7: SCALAR,
          8: BOOL, 9: STRING, 11: MESSAGE, 12: BYTES, 13: SCALAR, 14: SCALAR, 15: SIGNED,
          16: SIGNED, 17: SIGNED, 18: SIGNED}


def _descriptors(binary: bytes) -> Iterator[bytes]:
    for match in re.finditer(rb"\x1f\x8b\x08\x00\x00\x00\x00\x00", binary):
        try:
            # One gzip member; whatever follows it in the binary is ignored.
            out = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(
                binary[match.start():match.start() + 1_000_000])
        except zlib.error:
            continue
        if b"generated.proto" in out[:200]:
            yield out


def _collect(package: str, data: bytes, prefix: str, messages: dict[str, Any],
             maps: set[str]) -> None:
    name, field_list, nested, is_map = "", [], [], False
    for number, _, value in fields(data):
        if number == 1:
            name = value.decode()
        elif number == 2:
            field_list.append(value)
        elif number == 3:
            nested.append(value)
        elif number == 7:
            is_map = any(n == 7 and v for n, _, v in fields(value))
    full = f"{prefix}.{name}"
    spec = {}
    for raw in field_list:
        f = {n: v for n, _, v in fields(raw)}
        type_name = f.get(6, b"").decode().lstrip(".")
        spec[f[3]] = (f[1].decode(), _KINDS.get(f.get(5, 9), SCALAR), type_name, f.get(4) == 3)
    messages[full] = spec
    if is_map:
        maps.add(full)
    for inner in nested:
        _collect(package, inner, full, messages, maps)


def generate(binary_path: str) -> str:
    """The source of `proto_messages.py`, from the descriptors in a Go client binary."""
    messages: dict[str, Any] = {}
    maps: set[str] = set()
    with open(binary_path, "rb") as f:
        binary = f.read()
    for descriptor in _descriptors(binary):
        package = ""
        for number, _, value in fields(descriptor):
            if number == 2:
                package = value.decode()
        for number, _, value in fields(descriptor):
            if number == 4:
                _collect(package, value, package, messages, maps)
    keep: dict[str, Any] = {}
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in keep or name not in messages:
            continue
        keep[name] = messages[name]
        todo.extend(t for _, kind, t, _ in messages[name].values() if kind == MESSAGE)
    lines = ['"""Protobuf field numbers of the Kubernetes messages we decode. Generated by',
             '`python -m netpolicy.lab.apiserver.protobuf KUBECTL_BINARY`; do not edit."""',
             "", "# ruff: noqa: E501", "",
             "MESSAGES: dict[str, dict[int, tuple[str, str, str, bool]]] = {"]
    for name in sorted(keep):
        lines.append(f"    {name!r}: {{")
        for number in sorted(keep[name]):
            lines.append(f"        {number}: {keep[name][number]!r},")
        lines.append("    },")
    lines += ["}", "", "MAP_ENTRIES: frozenset[str] = frozenset({"]
    lines += [f"    {name!r}," for name in sorted(maps & set(keep))]
    lines += ["})", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(generate(sys.argv[1]))
