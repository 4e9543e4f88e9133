"""Validation of AdminNetworkPolicy, BaselineAdminNetworkPolicy and ClusterNetworkPolicy
objects as the API server validates a custom resource against its CRD.

The API server does it in steps, and so do we, in the same order:

1. decoding: fields the schema does not declare are pruned (with `fieldValidation=Strict`
   each is an `unknown field "<path>"` error instead, sorted); nulls of fields that are not
   nullable are dropped, or replaced by the field's default; defaults are applied
   (a v1alpha1 port's `protocol` is TCP). On create, `status` is dropped;
2. `apiVersion` must be the kind's version, and metadata is ValidateObjectMeta's (the name a
   DNS subdomain; these kinds are cluster-scoped, so a namespace is cleared, not checked);
3. the structural schema (kube-openapi's validator) — at each value: its type, then string
   bounds and pattern, number bounds, list items and bounds, enum, object bounds, fields,
   required fields;
4. `x-kubernetes-list-type: set` lists hold no duplicates;
5. the CEL rules (`x-kubernetes-validations`), each a Python predicate keyed by its rule
   id — unless step 3 or 4 left an error that blocks them (a wrong type, a missing field,
   an unsupported value, too many items, too long), which the API server reports with one
   `<nil>` error instead.

The schema of each kind is the data in `tier_schemas`; this module holds no field list of its
own. Messages are apiextensions-apiserver's (`kubeOpenAPIResultToFieldErrors`) over
kube-openapi's: `spec.priority: Invalid value: 1001: spec.priority in body should be less
than or equal to 1000`, `spec.subject: Too many: 2: must have at most 1 item`,
`spec.ingress[0].name: Too long: may not be more than 100 bytes` (the length is counted in
characters all the same), `spec.ingress[0].action: Unsupported value: "Pass": supported
values: "Allow", "Deny"`. Where upstream iterates a Go map (an object's fields), the order of
the errors is the API server's at random; ours follows the schema's (sorted) field order.

CEL failures print as Kubernetes v1.34 does, the value being the schema type:
`spec.egress[0]: Invalid value: "object": <message>`, and `<nil>` for a rule on the whole
object. (From v1.35 the value of an object is omitted and a scalar's own value is printed:
`_cel_value` is the one place to change.)

Ours, not the API server's (`selectors=True`, the default): each label selector is also
checked with ValidateLabelSelector's rules (a known operator, values given exactly when the
operator needs them, valid label keys and values). The CRD schema accepts any strings there,
but a selector that fails them cannot be evaluated (`LabelSelectorAsSelector` fails in an
implementation), and we refuse to guess what it selects. These errors come last, and, like
the CEL rules, only when no blocking error came before.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from netpolicy.api.tier_schemas import (
    ADMIN_EGRESS_NAMED_PORTS,
    BASELINE_EGRESS_NAMED_PORTS,
    BASELINE_SINGLETON,
    CIDR_FORMAT,
    CLUSTER_EGRESS_NAMED_PORTS,
    PORT_RANGE_ORDER,
    RULES,
    SCHEMAS,
    CelRule,
    Schema,
)
from netpolicy.api.tiers import API_VERSIONS, BASELINE_NAME
from netpolicy.api.validation import (
    ErrorType,
    FieldError,
    validate_label_selector,
    validate_object_meta,
)

NIL_PATH = "<nil>"
"""How a nil `field.Path` prints: errors of the whole object, or of no field at all."""
BLOCKED_RULES = ("some validation rules were not checked because the object was invalid; "
                 "correct the existing errors to complete validation")
_BLOCKING: frozenset[ErrorType] = frozenset({
    "FieldValueNotSupported", "FieldValueRequired", "FieldValueTooLong", "FieldValueTooMany",
    "FieldValueTypeInvalid"})
"""The error types that stop the CEL rules from running (`hasBlockingErr`)."""
_ROOT_META = frozenset({"apiVersion", "kind", "metadata"})
_OBJECT_META_FIELDS = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields"})
_UNKNOWN = 'unknown field "{}"'


# --- JSON values -----------------------------------------------------------------------------


def _json_like(value: Any) -> Any:
    """`value` as it reaches the API server: string keys, integral floats as integers (what
    kubectl sends for `80.0`), YAML timestamps as strings; a new structure."""
    if isinstance(value, Mapping):
        return {_key(k): _json_like(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_like(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 63:
        return int(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return key if isinstance(key, str) else str(key)


def _json_type(value: Any) -> str:
    """kube-openapi's name for the type of a decoded JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _go_format(value: Any) -> str:
    """The Go format kube-openapi infers from a decoded value (JSON integers are int64)."""
    return {"integer": "int64", "number": "float64"}.get(_json_type(value), "")


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def _children(value: Any, node: Schema, path: str) -> Iterator[tuple[Any, Schema, str]]:
    """The values under `value` that `node` has a schema for, with theirs and their paths."""
    if isinstance(value, dict):
        props: Mapping[str, Schema] = node.get("properties") or {}
        extra: Schema | None = node.get("additionalProperties")
        for name, sub in props.items():
            if name in value:
                yield value[name], sub, _child(path, name)
        if extra is not None:
            for name, sub_value in value.items():
                if name not in props:
                    yield sub_value, extra, _child(path, name)
    elif isinstance(value, list) and node.get("items") is not None:
        for i, item in enumerate(value):
            yield item, node["items"], _index(path, i)


# --- 1. decoding: pruning, nulls, defaults ---------------------------------------------------


def _prune(value: Any, node: Schema | None, path: str, unknown: list[str]) -> None:
    """Drop what `node` does not declare (recording each path), then drop non-nullable
    nulls that have no default and apply defaults (structural pruning and defaulting)."""
    if isinstance(value, dict):
        props: Mapping[str, Schema] = (node or {}).get("properties") or {}
        extra: Schema | None = (node or {}).get("additionalProperties")
        for name in list(value):
            sub = props.get(name, extra)
            if not path and name in _ROOT_META:
                if value[name] is None:
                    del value[name]  # their schemas are not nullable either
                continue  # the API server reads these itself, without pruning
            if sub is None:
                unknown.append(_child(path, name))
                del value[name]
                continue
            if value[name] is None and not sub.get("nullable"):
                if "default" in sub:
                    value[name] = sub["default"]
                else:
                    del value[name]
                    continue
            _prune(value[name], sub, _child(path, name), unknown)
        for name, sub in props.items():
            if name not in value and "default" in sub:
                value[name] = sub["default"]
    elif isinstance(value, list):
        items = (node or {}).get("items")
        for i, item in enumerate(value):
            if item is None and items is not None and "default" in items:
                value[i] = items["default"]
            _prune(value[i], items, _index(path, i), unknown)


def _metadata_unknown(meta: Any) -> list[str]:
    if not isinstance(meta, dict):
        return []
    return [f"metadata.{_key(k)}" for k in meta if _key(k) not in _OBJECT_META_FIELDS]


# --- 3. the structural schema ----------------------------------------------------------------


def _go_pattern(pattern: str) -> re.Pattern[str]:
    # Go's `$` (no multiline flag) matches only at the end of the text; Python's also before
    # a final newline.
    return re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))


_PATTERNS: dict[str, re.Pattern[str]] = {}


class _SchemaWalk:
    """kube-openapi's SchemaValidator over one value, its errors converted to field errors
    as apiextensions-apiserver does."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, type_: ErrorType, path: str, reason: str = "", value: Any = None) -> None:
        self.errors.append(FieldError(type_, path, reason, value))

    def check(self, value: Any, node: Schema, path: str) -> None:
        expected = node.get("type", "")
        if value is None:
            if expected and not node.get("nullable"):
                self.type_error(path, expected, "null")
            self.enum(value, node, path)
            return
        self.type(value, node, path, expected)
        if isinstance(value, str):
            self.string(value, node, path)
        if isinstance(value, int | float) and not isinstance(value, bool):
            self.number(value, node, path, expected)
        if isinstance(value, list):
            self.array(value, node, path)
        self.enum(value, node, path)
        if isinstance(value, dict):
            self.object(value, node, path)

    def type_error(self, path: str, expected: str, got: str) -> None:
        self.add("FieldValueTypeInvalid", path, f'{path} in body must be of type {expected}: '
                 f'"{got}"', got)

    def type(self, value: Any, node: Schema, path: str, expected: str) -> None:
        got = _json_type(value)
        fmt = node.get("format", "")
        if (fmt and got not in ("string", "array") and got != expected
                and _go_format(value) != fmt):
            self.type_error(path, fmt, _go_format(value))
        elif expected and got != expected:
            self.type_error(path, expected, got)

    def string(self, value: str, node: Schema, path: str) -> None:
        # One error at most: the first of maxLength, minLength, pattern that fails.
        if "maxLength" in node and len(value) > node["maxLength"]:
            n = node["maxLength"]
            self.add("FieldValueTooLong", path,
                     f"may not be more than {n} {'byte' if n == 1 else 'bytes'}")
        elif "minLength" in node and len(value) < node["minLength"]:
            self.add("FieldValueInvalid", path,
                     f"{path} in body should be at least {node['minLength']} chars long", value)
        elif "pattern" in node:
            pattern = node["pattern"]
            compiled = _PATTERNS.get(pattern) or _PATTERNS.setdefault(
                pattern, _go_pattern(pattern))
            if compiled.search(value) is None:
                self.add("FieldValueInvalid", path, f"{path} in body should match '{pattern}'",
                         value)

    def number(self, value: float, node: Schema, path: str, expected: str) -> None:
        if expected == "integer" and node.get("format") == "int32" and not (
                isinstance(value, int) and -2 ** 31 <= value < 2 ** 31):
            # Not a kube-openapi Validation error: the API server reports it at no path.
            self.add("FieldValueInvalid", NIL_PATH,
                     f"Checked value must be of type integer with format int32 in {path}", "")
        if "minimum" in node and value < node["minimum"]:
            self.add("FieldValueInvalid", path, f"{path} in body should be greater than or "
                     f"equal to {node['minimum']}", value)
        if "maximum" in node and value > node["maximum"]:
            self.add("FieldValueInvalid", path, f"{path} in body should be less than or "
                     f"equal to {node['maximum']}", value)

    def array(self, value: list[Any], node: Schema, path: str) -> None:
        for item, sub, sub_path in _children(value, node, path):
            self.check(item, sub, sub_path)
        if "minItems" in node and len(value) < node["minItems"]:
            self.add("FieldValueInvalid", path, f"{path} in body should have at least "
                     f"{node['minItems']} items", len(value))
        if "maxItems" in node and len(value) > node["maxItems"]:
            self.too_many(path, len(value), node["maxItems"])

    def enum(self, value: Any, node: Schema, path: str) -> None:
        allowed = node.get("enum")
        if allowed and not any(type(value) is type(a) and value == a for a in allowed):
            self.add("FieldValueNotSupported", path,
                     "supported values: " + ", ".join(f'"{a}"' for a in allowed), value)

    def object(self, value: dict[str, Any], node: Schema, path: str) -> None:
        count = len(value)
        if "minProperties" in node and count < node["minProperties"]:
            self.add("FieldValueInvalid", path, f"{path} in body should have at least "
                     f"{node['minProperties']} properties", count)
        if "maxProperties" in node and count > node["maxProperties"]:
            self.too_many(path, count, node["maxProperties"])
        for sub_value, sub, sub_path in _children(value, node, path):
            self.check(sub_value, sub, sub_path)
        for name in node.get("required", ()):
            if name not in value:
                self.add("FieldValueRequired", _child(path, name))

    def too_many(self, path: str, count: int, most: int) -> None:
        self.add("FieldValueTooMany", path,
                 f"must have at most {most} {'item' if most == 1 else 'items'}", count)


# --- 4. sets ---------------------------------------------------------------------------------


def _set_duplicates(value: Any, node: Schema, path: str, out: list[FieldError]) -> None:
    """ValidateListSetsAndMaps: each value repeated in a set, once, at its second index."""
    if isinstance(value, list) and node.get("x-kubernetes-list-type") == "set":
        seen: dict[tuple[str, str], int] = {}
        for i, item in enumerate(value):
            key = (_json_type(item), repr(item))
            seen[key] = seen.get(key, 0) + 1
            if seen[key] == 2:
                out.append(FieldError("FieldValueDuplicate", _index(path, i), "", item))
    for sub_value, sub, sub_path in _children(value, node, path):
        _set_duplicates(sub_value, sub, sub_path, out)


# --- 5. CEL rules ----------------------------------------------------------------------------


def _is_cidr(text: Any) -> bool:
    """CEL's `isCIDR`: Go's netip.ParsePrefix (strict: no leading zeros, no zone, host bits
    allowed), and no IPv4-mapped IPv6 address."""
    if not isinstance(text, str):
        return False
    addr, slash, bits = text.rpartition("/")
    if not slash or "%" in addr or not bits.isascii() or not bits.isdigit():
        return False
    if len(bits) > 1 and bits[0] == "0":
        return False
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return False
    return int(bits) <= ip.max_prefixlen


def _named_ports_with(peer_kinds: tuple[str, ...], ports_key: str, named_key: str,
                      ) -> Callable[[Any], bool]:
    """A rule's named ports may not be used with peers that have no named ports."""
    def holds(rule: Any) -> bool:
        peers = rule.get("to") or []
        no_names = any(isinstance(p, dict) and any(k in p for k in peer_kinds) for p in peers)
        named = ports_key in rule and any(
            isinstance(q, dict) and named_key in q for q in rule[ports_key])
        return not (no_names and named)
    return holds


_PREDICATES: dict[str, Callable[[Any], bool]] = {
    ADMIN_EGRESS_NAMED_PORTS.id: _named_ports_with(("networks", "nodes", "domainNames"),
                                                   "ports", "namedPort"),
    BASELINE_EGRESS_NAMED_PORTS.id: _named_ports_with(("networks", "nodes"), "ports",
                                                      "namedPort"),
    CLUSTER_EGRESS_NAMED_PORTS.id: _named_ports_with(("networks", "nodes", "domainNames"),
                                                     "protocols", "destinationNamedPort"),
    PORT_RANGE_ORDER.id: lambda r: r["start"] < r["end"],
    CIDR_FORMAT.id: _is_cidr,
    # Without a name (a Required error blocks the rules), the API server has generated one
    # from generateName, which is never "default" (a random suffix follows).
    BASELINE_SINGLETON.id: lambda obj: obj["metadata"].get("name") == BASELINE_NAME,
}
assert set(_PREDICATES) == {r.id for r in RULES}, "every CEL rule has its predicate"


_IDS_BY_RULE = {r.rule: r.id for r in RULES}


def _predicate(rule: CelRule | Mapping[str, str]) -> Callable[[Any], bool]:
    """The predicate of a rule: a `CelRule`, or a rule as a CRD manifest writes it (found by
    its CEL text; a rule we do not know is an error, never a pass)."""
    if isinstance(rule, CelRule):
        return _PREDICATES[rule.id]
    try:
        return _PREDICATES[_IDS_BY_RULE[rule["rule"]]]
    except KeyError as exc:
        raise ValueError(f"no predicate for the CEL rule {rule.get('rule')!r}") from exc


def _message(rule: CelRule | Mapping[str, str]) -> str:
    # ruleMessageOrDefault
    text = (rule.message if isinstance(rule, CelRule) else rule.get("message", "")).strip()
    return text or f"failed rule: {_rule_text(rule).strip()}"


def _rule_text(rule: CelRule | Mapping[str, str]) -> str:
    return rule.rule if isinstance(rule, CelRule) else rule.get("rule", "")


def _cel_value(node: Schema, value: Any) -> Any:
    """The bad value a failed rule prints: the schema type, as Kubernetes v1.34 does. (v1.35
    and later: omitted for objects and arrays, the value itself for scalars.)"""
    del value
    return node.get("type", "")


def _cel(value: Any, node: Schema, path: str, out: list[FieldError]) -> None:
    """Every rule at every value, a value's own rules before those below it."""
    if value is None:
        return
    for rule in node.get("x-kubernetes-validations", ()):
        if not _predicate(rule)(value):
            out.append(FieldError("FieldValueInvalid", path or NIL_PATH, _message(rule),
                                  _cel_value(node, value)))
    for sub_value, sub, sub_path in _children(value, node, path):
        _cel(sub_value, sub, sub_path, out)


# --- ours: label selectors -------------------------------------------------------------------


def _is_selector(node: Schema) -> bool:
    return set(node.get("properties") or ()) == {"matchLabels", "matchExpressions"}


def _selectors(value: Any, node: Schema, path: str, out: list[FieldError]) -> None:
    if isinstance(value, dict) and _is_selector(node):
        out.extend(validate_label_selector(value, path))
        return
    for sub_value, sub, sub_path in _children(value, node, path):
        _selectors(sub_value, sub, sub_path, out)


# --- the entry point -------------------------------------------------------------------------


def validate_tier_policy(obj: Mapping[str, Any], strict: bool = False, *,
                         selectors: bool = True,
                         schema: Schema | None = None) -> list[FieldError]:
    """Every error of one AdminNetworkPolicy, BaselineAdminNetworkPolicy or
    ClusterNetworkPolicy manifest, as the API server reports them on create (see the module
    doc). `strict`: report unknown fields, as `fieldValidation=Strict` does, instead of
    dropping them. `selectors`: also check label selectors the way built-in kinds are (ours;
    off, this is exactly the API server's CRD validation). `schema`: an `openAPIV3Schema` to
    validate against instead of the kind's own, such as one read back from `crds()`."""
    kind = obj.get("kind")
    if kind not in SCHEMAS:
        raise ValueError(f"not a tiered cluster policy kind: {kind!r}")
    root = SCHEMAS[kind] if schema is None else schema
    version = API_VERSIONS[kind]
    if obj.get("apiVersion") != version:
        got = obj.get("apiVersion")
        return [FieldError("FieldValueInvalid", "apiVersion", f"must be {version}",
                           got if isinstance(got, str) else "")]
    data = _json_like(obj)
    unknown: list[str] = []
    _prune(data, root, "", unknown)
    unknown.extend(_metadata_unknown(data.get("metadata")))
    data.pop("status", None)  # the status subresource: dropped on create

    # Strict decoding fails before any validation; we report its errors with the others.
    decoding = [FieldError("FieldValueNotSupported", path, _UNKNOWN.format(path))
                for path in sorted(unknown)] if strict else []
    errors = validate_object_meta(data.get("metadata"), kind)
    walk = _SchemaWalk()
    walk.check(data, root, "")
    errors.extend(walk.errors)
    _set_duplicates(data, root, "", errors)
    if any(e.type in _BLOCKING for e in errors):
        errors.append(FieldError("FieldValueInvalid", NIL_PATH, BLOCKED_RULES))
        return decoding + errors
    _cel(data, root, "", errors)
    if selectors:
        _selectors(data, root, "", errors)
    return decoding + errors
