"""The patch formats of the Kubernetes API, applied to plain JSON objects.

- `application/merge-patch+json`: RFC 7386 (a null deletes a key; lists are replaced).
- `application/json-patch+json`: RFC 6902 (add, remove, replace, move, copy, test).
- `application/strategic-merge-patch+json`: as apimachinery's `strategicpatch`, driven by
  the `x-kubernetes-patch-strategy` / `x-kubernetes-patch-merge-key` of our schemas: lists
  with the `merge` strategy merge element-wise by their merge key (or as sets, for
  primitives); directives `$patch` (replace, delete, merge), `$retainKeys`,
  `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>` — what kubectl's
  three-way patches (apply, edit, label, scale) send.
- `application/apply-patch+yaml` (server-side apply) is served as a strategic merge of the
  applied configuration into the live object: no managed fields, no conflicts.

Failures raise the API's errors: a patch that cannot be read is a BadRequest, one that
cannot be applied (a JSON patch `test` that fails, a path that does not exist) is Invalid.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from netpolicy.lab.apiserver import schemas
from netpolicy.lab.store import JSON, BadRequest, Invalid, UnsupportedMediaType

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
APPLY_CBOR = "application/apply-patch+cbor"
PATCH_TYPES = (JSON_PATCH, MERGE, STRATEGIC, APPLY)


def apply_patch(obj: Mapping[str, Any], patch: Any, patch_type: str) -> JSON:
    """`obj` patched (a new object; `obj` is left alone)."""
    original = copy.deepcopy(dict(obj))
    if patch_type == MERGE:
        if not isinstance(patch, Mapping):
            raise BadRequest("json: cannot unmarshal array into Go value of type "
                             "map[string]interface {}")
        result = merge_patch(original, patch)
    elif patch_type == JSON_PATCH:
        result = json_patch(original, patch)
    elif patch_type in (STRATEGIC, APPLY):
        if not isinstance(patch, Mapping):
            raise BadRequest("json: cannot unmarshal array into Go value of type "
                             "map[string]interface {}")
        schema = schemas.for_kind(str(obj.get("apiVersion")), str(obj.get("kind")))
        result = strategic_merge(original, patch, schema)
    else:
        raise UnsupportedMediaType(
            "the body of the request was in an unknown format - accepted media types "
            "include: " + ", ".join(PATCH_TYPES))
    if not isinstance(result, dict):
        raise Invalid("the patch produced an object that is not a JSON object", {})
    return result


# --- RFC 7386 --------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- RFC 6902 --------------------------------------------------------------------------------


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise BadRequest(f"invalid JSON pointer: {path!r}")
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], path: str) -> tuple[Any, str]:
    cur = doc
    for part in parts[:-1]:
        cur = _child(cur, part, path)
    return cur, parts[-1]


def _child(node: Any, part: str, path: str) -> Any:
    if isinstance(node, dict):
        if part not in node:
            raise Invalid(f"jsonpatch: doc is missing path: {path}", {})
        return node[part]
    if isinstance(node, list):
        return node[_index(node, part, path)]
    raise Invalid(f"jsonpatch: doc is missing path: {path}", {})


def _index(node: list[Any], part: str, path: str, *, allow_end: bool = False) -> int:
    if allow_end and part == "-":
        return len(node)
    if not part.isdigit():
        raise Invalid(f"jsonpatch: invalid array index {part!r} in {path}", {})
    i = int(part)
    if i > len(node) or (i == len(node) and not allow_end):
        raise Invalid(f"jsonpatch: array index out of bounds in {path}", {})
    return i


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return copy.deepcopy(value)
    parent, last = _parent(doc, parts, path)
    if isinstance(parent, dict):
        parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, path, allow_end=True), copy.deepcopy(value))
    else:
        raise Invalid(f"jsonpatch add operation does not apply: doc is missing path: {path}", {})
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    parts = _pointer(path)
    if not parts:
        raise Invalid("jsonpatch: cannot remove the whole document", {})
    parent, last = _parent(doc, parts, path)
    if isinstance(parent, dict):
        if last not in parent:
            raise Invalid(f"jsonpatch remove operation does not apply: doc is missing path: "
                          f"{path}", {})
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, path))
    raise Invalid(f"jsonpatch remove operation does not apply: doc is missing path: {path}", {})


def json_patch(doc: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise BadRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    for op in ops:
        if not isinstance(op, Mapping) or not isinstance(op.get("op"), str):
            raise BadRequest("json patch operation is not an object with an \"op\"")
        kind, path = op["op"], op.get("path")
        if not isinstance(path, str):
            raise BadRequest(f"json patch operation {kind!r} has no path")
        if kind == "add":
            doc = _add(doc, path, op.get("value"))
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind == "replace":
            doc, _ = _remove(doc, path)
            doc = _add(doc, path, op.get("value"))
        elif kind in ("move", "copy"):
            source = op.get("from")
            if not isinstance(source, str):
                raise BadRequest(f"json patch operation {kind!r} has no from")
            if kind == "move":
                doc, value = _remove(doc, source)
            else:
                value = _get(doc, source)
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise Invalid(f"testing value {path} failed: test failed", {})
        else:
            raise BadRequest(f"Unexpected kind: {kind}")
    return doc


def _get(doc: Any, path: str) -> Any:
    cur = doc
    for part in _pointer(path):
        cur = _child(cur, part, path)
    return copy.deepcopy(cur)


# --- strategic merge patch --------------------------------------------------------------------

_DELETE = object()
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"
_ORDER = "$setElementOrder/"


def _prop(schema: schemas.Schema | None, key: str) -> schemas.Schema | None:
    if schema is None:
        return None
    node = schemas.resolve(schema)
    props = node.get("properties")
    if isinstance(props, dict) and key in props:
        return dict(props[key])
    extra = node.get("additionalProperties")
    return dict(extra) if isinstance(extra, dict) else None


def _strip(value: Any) -> Any:
    """The patch value without directives, for places it replaces the original."""
    if isinstance(value, Mapping):
        if value.get("$patch") == "delete":
            return _DELETE
        out = {}
        for k, v in value.items():
            if not k.startswith("$"):
                stripped = _strip(v)
                if stripped is not _DELETE and stripped is not None:
                    out[k] = stripped
        return out
    if isinstance(value, list):
        return [s for s in (_strip(v) for v in value) if s is not _DELETE]
    return value


def strategic_merge(original: Any, patch: Mapping[str, Any],
                    schema: schemas.Schema | None) -> Any:
    result = _merge_map(original if isinstance(original, Mapping) else {}, patch, schema)
    return {} if result is _DELETE else result


def _merge_map(original: Mapping[str, Any], patch: Mapping[str, Any],
               schema: schemas.Schema | None) -> Any:
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip({k: v for k, v in patch.items() if k != "$patch"})
    if directive == "delete":
        return _DELETE
    if directive not in (None, "merge"):
        raise BadRequest(f"Unknown patch type: {directive}")
    result = dict(original)
    orders: dict[str, list[Any]] = {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith(_DELETE_PRIMITIVE):
            name = key[len(_DELETE_PRIMITIVE):]
            if isinstance(result.get(name), list) and isinstance(value, list):
                result[name] = [v for v in result[name] if v not in value]
            continue
        if key.startswith(_ORDER):
            if isinstance(value, list):
                orders[key[len(_ORDER):]] = value
            continue
        if key.startswith("$"):
            continue
        sub = _prop(schema, key)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping):
            base = result.get(key)
            merged = _merge_map(base if isinstance(base, Mapping) else {}, value, sub)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list) and sub is not None and _merges(sub):
            base = result.get(key)
            result[key] = _merge_list(base if isinstance(base, list) else [], value, sub)
        else:
            stripped = _strip(value)
            if stripped is _DELETE:
                result.pop(key, None)
            else:
                result[key] = stripped
    for name, order in orders.items():
        if isinstance(result.get(name), list):
            result[name] = _reorder(result[name], order, _prop(schema, name))
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merges(schema: schemas.Schema) -> bool:
    return "merge" in str(schema.get("x-kubernetes-patch-strategy", "")).split(",")


def _merge_list(original: list[Any], patch: list[Any], schema: schemas.Schema) -> list[Any]:
    if any(isinstance(p, Mapping) and p.get("$patch") == "replace" for p in patch):
        return [s for s in (_strip(p) for p in patch
                            if not (isinstance(p, Mapping) and set(p) == {"$patch"}))
                if s is not _DELETE]
    key = schema.get("x-kubernetes-patch-merge-key")
    items = schema.get("items") if isinstance(schema.get("items"), dict) else None
    if not key:
        return list(original) + [p for p in patch if p not in original]
    result = [copy.deepcopy(o) for o in original]
    for item in patch:
        if not isinstance(item, Mapping):
            raise BadRequest(f"unable to find api field in struct for the merge key {key}")
        if key not in item:
            raise BadRequest(f"map: {dict(item)} does not contain declared merge key: {key}")
        idx = next((i for i, o in enumerate(result)
                    if isinstance(o, Mapping) and o.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                result.pop(idx)
            continue
        merged = _merge_map(result[idx] if idx is not None else {}, item, items)
        if merged is _DELETE:
            if idx is not None:
                result.pop(idx)
        elif idx is not None:
            result[idx] = merged
        else:
            result.append(merged)
    return result


def _reorder(items: list[Any], order: list[Any], schema: schemas.Schema | None) -> list[Any]:
    key = schema.get("x-kubernetes-patch-merge-key") if schema else None

    def ident(value: Any) -> Any:
        return value.get(key) if key and isinstance(value, Mapping) else value

    wanted = [ident(o) for o in order]
    ranked = [i for w in wanted for i in items if ident(i) == w]
    return ranked + [i for i in items if ident(i) not in wanted]
