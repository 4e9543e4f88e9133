"""Reading request bodies as the API server's decoder does.

A body is JSON, YAML or Kubernetes protobuf (by `Content-Type`); YAML timestamps stay
strings and keys become strings, as the YAML-to-JSON step upstream. The object is then
checked against the kind's schema, which is what decoding into Go structs does upstream:

- a value of the wrong JSON type is a 400 (`json: cannot unmarshal string into Go struct
  field DeploymentSpec.spec.replicas of type int32`);
- an unknown field is dropped, and reported as `fieldValidation` asks: `Strict` fails with
  `strict decoding error: unknown field "spec.foo"`, `Warn` (the default) returns the
  warnings the server sends as `Warning: 299` headers, `Ignore` says nothing;
- `null` fields are dropped (Go's zero values are omitted when encoded).

A custom resource has no Go struct: its body is pruned by its CRD's structural schema
(`structural.prune`, unknown fields reported the same way), and its types are checked later,
by admission, as 422 errors.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from netpolicy.lab.apiserver import protobuf, schemas, structural
from netpolicy.lab.resources import Resource
from netpolicy.lab.store import JSON, BadRequest, UnsupportedMediaType

FieldValidation = Literal["Strict", "Warn", "Ignore"]


class _Loader(yaml.SafeLoader):
    """YAML as JSON sees it: no timestamps (they stay strings)."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_body(body: bytes, content_type: str) -> Any:
    """The JSON value of a request body; BadRequest when it does not parse."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in ("", "application/json", "*/*") or media.endswith("+json"):
        try:
            return _jsonable(json.loads(body or b"null", parse_constant=_reject_constant))
        except (ValueError, RecursionError) as exc:
            raise BadRequest(f"couldn't get version/kind; json parse error: {exc}") from exc
    if media in ("application/yaml", "text/yaml", "application/x-yaml") or media.endswith(
            "+yaml"):
        try:
            return _jsonable(yaml.load(body.decode("utf-8", "replace"), Loader=_Loader))
        except (yaml.YAMLError, RecursionError, ValueError) as exc:
            raise BadRequest(f"error converting YAML to JSON: {exc}") from exc
    if media == protobuf.CONTENT_TYPE:
        return protobuf.decode(body)
    raise UnsupportedMediaType(
        f'the body of the request was in an unknown format - accepted media types include: '
        f'application/json, application/yaml, {protobuf.CONTENT_TYPE} (got "{media}")')


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {_key(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("json: unsupported value: NaN or Inf")
    if isinstance(value, str):
        return _unicode(value)
    if value is None or isinstance(value, int | float | bool):
        return value
    return str(value)


def _unicode(text: str) -> str:
    """Text as Go decodes it: an escaped surrogate pair (`\\ud800\\udc00`, which PyYAML
    leaves as two code points) is one character, a lone surrogate is U+FFFD, so every
    string can be encoded as UTF-8 again."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return _unicode(str(key))


@dataclass(frozen=True, slots=True)
class Decoded:
    obj: JSON
    warnings: tuple[str, ...] = ()


def decode_object(value: Any, resource: Resource, validation: FieldValidation = "Warn", *,
                  kind: str = "", api_version: str = "",
                  custom_schema: Mapping[str, Any] | None = None) -> Decoded:
    """Check and prune `value` as an object of `resource` (or of `api_version`/`kind`,
    for subresources such as Scale); `custom_schema`: the structural schema of a custom
    resource."""
    kind = kind or resource.kind
    api_version = api_version or resource.api_version
    version = api_version.rsplit("/", 1)[-1]
    prefix = f'{kind} in version "{version}" cannot be handled as a {kind}: '
    if not isinstance(value, dict):
        raise BadRequest(prefix + f"json: cannot unmarshal {_json_type(value)} into Go value "
                         f"of type struct")
    got_kind, got_version = value.get("kind"), value.get("apiVersion")
    if got_kind not in (None, "") and got_kind != kind:
        raise BadRequest(f"the kind of the object ({got_kind}) does not match the kind of the "
                         f"resource ({kind})")
    if got_version not in (None, "") and got_version != api_version:
        raise BadRequest(f"the API version in the data ({got_version}) does not match the "
                         f"expected API version ({api_version})")
    if custom_schema is not None:
        obj, paths = structural.prune(value, custom_schema)
    else:
        schema = schemas.for_kind(api_version, kind)
        if schema is None:
            return Decoded(value)
        walker = _Walker(prefix)
        obj = walker.walk(value, schema, "", kind)
        paths = walker.unknown
    unknown = [f'unknown field "{p}"' for p in paths]
    if unknown and validation == "Strict":
        raise BadRequest(prefix + "strict decoding error: " + ", ".join(unknown))
    return Decoded(obj, tuple(unknown) if validation == "Warn" else ())


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "object"


class _Walker:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.unknown: list[str] = []

    def fail(self, value: Any, owner: str, path: str, go_type: str) -> BadRequest:
        return BadRequest(self.prefix + f"json: cannot unmarshal {_json_type(value)} into Go "
                          f"struct field {owner}.{_no_index(path)} of type {go_type}")

    def walk(self, value: Any, schema: schemas.Schema, path: str, owner: str) -> Any:
        name = _ref_name(schema)
        node = schemas.resolve(schema)
        if name:
            owner = name.rsplit(".", 1)[-1]
        if name == schemas.QUANTITY:
            if isinstance(value, str) or (isinstance(value, int | float)
                                          and not isinstance(value, bool)):
                return value
            raise self.fail(value, owner, path, "resource.Quantity")
        fmt, kind = node.get("format"), node.get("type")
        if fmt == "int-or-string":
            if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise self.fail(value, owner, path, "intstr.IntOrString")
        if kind == "string":
            if isinstance(value, str):
                return value
            raise self.fail(value, owner, path, "string")
        if kind == "integer":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise self.fail(value, owner, path, str(fmt or "int64"))
        if kind == "number":
            if isinstance(value, int | float) and not isinstance(value, bool):
                return value
            raise self.fail(value, owner, path, "float64")
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            raise self.fail(value, owner, path, "bool")
        if kind == "array":
            if not isinstance(value, list):
                raise self.fail(value, owner, path, "[]" + _go_name(node.get("items", {})))
            items = node.get("items", {})
            return [self.walk(v, items, f"{path}[{i}]", owner)
                    for i, v in enumerate(value) if v is not None]
        if kind == "object":
            if not isinstance(value, Mapping):
                raise self.fail(value, owner, path, _go_name(schema))
            return self._object(value, node, path, owner)
        return value

    def _object(self, value: Mapping[str, Any], node: schemas.Schema, path: str,
                owner: str) -> JSON:
        props = node.get("properties") or {}
        extra = node.get("additionalProperties")
        keep = bool(node.get("x-kubernetes-preserve-unknown-fields"))
        out: JSON = {}
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            if item is None:
                continue
            if key in props:
                out[key] = self.walk(item, props[key], child, owner)
            elif isinstance(extra, dict):
                out[key] = self.walk(item, extra, child, owner)
            elif keep or (path == "" and key in ("apiVersion", "kind")):
                out[key] = item
            else:
                self.unknown.append(child)
        return out


def _no_index(path: str) -> str:
    out, depth = [], 0
    for ch in path:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def _ref_name(schema: schemas.Schema) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[1]
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and "$ref" in all_of[0]:
        return str(all_of[0]["$ref"]).rsplit("/", 1)[1]
    return ""


def _go_name(schema: schemas.Schema) -> str:
    name = _ref_name(schema)
    if name:
        return "v1." + name.rsplit(".", 1)[-1]
    node = schemas.resolve(schema)
    if node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict):
        return "map[string]string"
    return {"string": "string", "integer": "int32", "boolean": "bool"}.get(
        str(node.get("type")), "struct")
