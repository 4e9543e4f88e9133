"""Structural schemas (a CRD's `openAPIV3Schema`), for the lab: prune, default, validate.

The three steps the API server applies to a custom resource, in its order and wording
(`apiextensions-apiserver` and `kube-openapi/pkg/validation`, Kubernetes v1.32):

    prune(obj, schema)     -> (pruned, unknown paths)   decoding: unknown fields are dropped
                                                        (`x-kubernetes-preserve-unknown-fields`
                                                        keeps them), and so are nulls where
                                                        the schema is not `nullable`
    default(obj, schema)                                the `default` of each missing property
    validate(obj, schema)  -> [FieldError]              the schema's value checks, as the 422
                                                        causes upstream gives
                                                        (`kubeOpenAPIResultToFieldErrors`)

Validation covers types (with `nullable` and `x-kubernetes-int-or-string`), `required`,
`enum`, `minimum`/`maximum` (and exclusive), `multipleOf`, `minLength`/`maxLength`,
`pattern`, common string formats, `minItems`/`maxItems`, `uniqueItems`,
`x-kubernetes-list-type` set/map duplicates, `minProperties`/`maxProperties`, and
`allOf`/`anyOf`/`oneOf`/`not`. Not covered: `x-kubernetes-validations` (CEL rules) —
kinds whose rules we know are checked by `netpolicy.api.validation` instead (admission).
`metadata` is left to the metadata checks (`apiVersion` and `kind` too), as upstream.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
import math
import re
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from netpolicy.api.validation import FieldError

Schema = Mapping[str, Any]
_ROOT_FIELDS = ("apiVersion", "kind", "metadata")


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- pruning and defaulting --------------------------------------------------------------------


def prune(obj: Mapping[str, Any], schema: Schema) -> tuple[dict[str, Any], list[str]]:
    """`obj` with what the schema does not declare removed, and the paths removed."""
    unknown: list[str] = []
    out = _prune(obj, schema, "", unknown, root=True)
    return out, unknown


def _prune(value: Any, schema: Schema, path: str, unknown: list[str], *,
           root: bool = False) -> Any:
    if isinstance(value, Mapping):
        props: Mapping[str, Any] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        keep = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        embedded = bool(schema.get("x-kubernetes-embedded-resource"))
        out: dict[str, Any] = {}
        for key, item in value.items():
            child = _child(path, key)
            sub = props.get(key)
            if sub is None and isinstance(extra, Mapping):
                sub = extra
            if (root or embedded) and key in _ROOT_FIELDS:
                # As the API server: these are the object's type and ObjectMeta whatever the
                # schema says (CRDs commonly declare `metadata: {type: object}` and nothing more).
                out[key] = item
            elif item is None and not (sub or {}).get("nullable") and not (
                    sub is None and (keep or extra is True)):
                continue  # a null where null is not allowed is dropped, not an error
            elif sub is not None:
                out[key] = _prune(item, sub, child, unknown)
            elif keep or extra is True:
                out[key] = item
            else:
                unknown.append(child)
        return out
    if isinstance(value, list):
        items = schema.get("items")
        if not isinstance(items, Mapping):
            return value
        return [_prune(v, items, f"{path}[{i}]", unknown) for i, v in enumerate(value)]
    return value


def default(obj: Any, schema: Schema) -> Any:
    """Fill in the `default` of every missing property (in place; returns `obj`)."""
    if isinstance(obj, dict):
        props: Mapping[str, Any] = schema.get("properties") or {}
        for key, sub in props.items():
            if key not in obj and isinstance(sub, Mapping) and "default" in sub:
                obj[key] = copy.deepcopy(sub["default"])
        for key, item in obj.items():
            sub = props.get(key)
            if sub is None and isinstance(schema.get("additionalProperties"), Mapping):
                sub = schema["additionalProperties"]
            if isinstance(sub, Mapping):
                default(item, sub)
    elif isinstance(obj, list) and isinstance(schema.get("items"), Mapping):
        for item in obj:
            default(item, schema["items"])
    return obj


# --- validation ----------------------------------------------------------------------------------


def validate(obj: Mapping[str, Any], schema: Schema) -> list[FieldError]:
    """Every error of a custom resource against its version's schema."""
    errors: list[FieldError] = []
    top = {k: v for k, v in obj.items() if k not in _ROOT_FIELDS}
    root = {**schema, "properties": {k: v for k, v in (schema.get("properties") or {}).items()
                                     if k not in _ROOT_FIELDS},
            "required": [r for r in schema.get("required") or () if r not in _ROOT_FIELDS]}
    _Validator(errors).check(top, root, "")
    return errors


def _go_float(value: float) -> str:
    """Go's `%v` of a float64: the shortest digits, in exponent form below 1e-4 and from
    1e6 on (`strconv.FormatFloat(v, 'g', -1, 64)`)."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    if value == 0:
        return "0"
    sign, digit_tuple, exp = Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    point = len(digit_tuple) + int(exp)  # digits before the decimal point
    x = point - 1
    neg = "-" if sign else ""
    if x < -4 or x >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{neg}{mantissa}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if point <= 0:
        return f"{neg}0.{'0' * -point}{digits}"
    whole, frac = digits[:point].ljust(point, "0"), digits[point:]
    return f"{neg}{whole}{'.' + frac if frac else ''}"


def _bound(value: Any) -> str:
    return _go_float(float(value)) if _is_number(value) else str(value)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if _is_int(value):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _go_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_HOSTNAME = re.compile(r"(?=.{1,255}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*\.?")
_DURATION = re.compile(r"([-+]?(\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d|w))+|0")
_MAC = re.compile(r"([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}")


def _valid_by(check: Callable[[str], Any]) -> Callable[[str], bool]:
    def valid(text: str) -> bool:
        try:
            check(text)
        except ValueError:
            return False
        return True
    return valid


# The string formats of kube-openapi's registry that we check (others are not checked).
FORMATS: dict[str, Callable[[str], bool]] = {
    "date": lambda t: bool(_DATE.fullmatch(t)),
    "date-time": lambda t: bool(_DATE_TIME.fullmatch(t)),
    "email": lambda t: bool(_EMAIL.fullmatch(t)),
    "hostname": lambda t: bool(_HOSTNAME.fullmatch(t)),
    "ipv4": _valid_by(ipaddress.IPv4Address),
    "ipv6": _valid_by(ipaddress.IPv6Address),
    "cidr": _valid_by(lambda t: ipaddress.ip_network(t, strict=False) if "/" in t
                      else int("x")),
    "uuid": _valid_by(uuid.UUID),
    "byte": _valid_by(lambda t: base64.b64decode(t, validate=True)),
    "duration": lambda t: bool(_DURATION.fullmatch(t)),
    "mac": lambda t: bool(_MAC.fullmatch(t)),
}


class _Validator:
    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors

    def invalid(self, path: str, value: Any, message: str) -> None:
        self.errors.append(FieldError("FieldValueInvalid", path, message, value))

    def check(self, value: Any, schema: Schema, path: str) -> None:
        name = path or "."
        if not self._type(value, schema, path, name):
            return
        if "enum" in schema and value not in schema["enum"]:
            values = [v if isinstance(v, str) else _go_json(v) for v in schema["enum"]]
            self.errors.append(FieldError("FieldValueNotSupported", path, "supported values: "
                                          + ", ".join(json.dumps(v, ensure_ascii=False)
                                                      for v in values), value))
        if _is_number(value):
            self._number(value, schema, path, name)
        elif isinstance(value, str):
            self._string(value, schema, path, name)
        elif isinstance(value, list):
            self._array(value, schema, path, name)
        elif isinstance(value, Mapping):
            self._object(value, schema, path, name)
        self._combinators(value, schema, path, name)

    def _type(self, value: Any, schema: Schema, path: str, name: str) -> bool:
        want = schema.get("type")
        got = _json_type(value)
        if value is None:
            if schema.get("nullable"):
                return False
        elif schema.get("x-kubernetes-int-or-string"):
            if got in ("integer", "string"):
                return True
            want = "integer,string"
        if not want or (isinstance(value, bool) is False and want == "number"
                        and got == "integer") or got == want:
            return value is not None or not want
        self.errors.append(FieldError("FieldValueTypeInvalid", path,
                                      f'{name} in body must be of type {want}: "{got}"', got))
        return False

    def _number(self, value: float, schema: Schema, path: str, name: str) -> None:
        if "maximum" in schema:
            top = schema["maximum"]
            if schema.get("exclusiveMaximum") and value >= top:
                self.invalid(path, value, f"{name} in body should be less than {_bound(top)}")
            elif value > top:
                self.invalid(path, value, f"{name} in body should be less than or equal to "
                             f"{_bound(top)}")
        if "minimum" in schema:
            low = schema["minimum"]
            if schema.get("exclusiveMinimum") and value <= low:
                self.invalid(path, value, f"{name} in body should be greater than "
                             f"{_bound(low)}")
            elif value < low:
                self.invalid(path, value, f"{name} in body should be greater than or equal to "
                             f"{_bound(low)}")
        factor = schema.get("multipleOf")
        if _is_number(factor) and factor and not float(value / factor).is_integer():
            self.invalid(path, value, f"{name} in body should be a multiple of "
                         f"{_bound(factor)}")

    def _string(self, value: str, schema: Schema, path: str, name: str) -> None:
        length = len(value)  # kube-openapi counts characters (utf8.RuneCountInString)
        if _is_int(schema.get("maxLength")) and length > schema["maxLength"]:
            limit = schema["maxLength"]
            self.errors.append(FieldError("FieldValueTooLong", path, f"may not be more than "
                                          f"{limit} byte{'' if limit == 1 else 's'}", value))
        if _is_int(schema.get("minLength")) and length < schema["minLength"]:
            self.invalid(path, value, f"{name} in body should be at least "
                         f"{schema['minLength']} chars long")
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            try:
                matched = re.search(pattern, value) is not None
            except re.error:
                matched = True
            if not matched:
                self.invalid(path, value, f"{name} in body should match '{pattern}'")
        fmt = schema.get("format")
        check = FORMATS.get(fmt) if isinstance(fmt, str) else None
        if check is not None and not check(value):
            self.errors.append(FieldError("FieldValueTypeInvalid", path, f"{name} in body must "
                                          f"be of type {fmt}: {json.dumps(value)}", value))

    def _array(self, value: list[Any], schema: Schema, path: str, name: str) -> None:
        if _is_int(schema.get("maxItems")) and len(value) > schema["maxItems"]:
            self.errors.append(FieldError("FieldValueTooMany", path, f"must have at most "
                                          f"{schema['maxItems']} items", len(value)))
        if _is_int(schema.get("minItems")) and len(value) < schema["minItems"]:
            self.invalid(path, value, f"{name} in body should have at least "
                         f"{schema['minItems']} items")
        list_type = schema.get("x-kubernetes-list-type")
        if schema.get("uniqueItems") and list_type != "set" and len(
                {_go_json(v) for v in value}) < len(value):
            self.invalid(path, value, f"{name} in body shouldn't contain duplicates")
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(value):
                self.check(item, items, f"{path}[{i}]")
        if list_type == "set":
            seen: set[str] = set()
            for i, item in enumerate(value):
                key = _go_json(item)
                if key in seen:
                    self.errors.append(FieldError("FieldValueDuplicate", f"{path}[{i}]", "",
                                                  item))
                seen.add(key)
        elif list_type == "map":
            keys = [k for k in schema.get("x-kubernetes-list-map-keys") or () if
                    isinstance(k, str)]
            seen_keys: set[str] = set()
            for i, item in enumerate(value):
                if not isinstance(item, Mapping):
                    continue
                ident = {k: item[k] for k in keys if k in item}
                key = _go_json(ident)
                if key in seen_keys:
                    self.errors.append(FieldError("FieldValueDuplicate", f"{path}[{i}]", "",
                                                  ident))
                seen_keys.add(key)

    def _object(self, value: Mapping[str, Any], schema: Schema, path: str, name: str) -> None:
        count = len(value)
        if _is_int(schema.get("maxProperties")) and count > schema["maxProperties"]:
            self.errors.append(FieldError("FieldValueTooMany", path, f"must have at most "
                                          f"{schema['maxProperties']} items", count))
        if _is_int(schema.get("minProperties")) and count < schema["minProperties"]:
            self.invalid(path, value, f"{name} in body should have at least "
                         f"{schema['minProperties']} properties")
        for key in schema.get("required") or ():
            if key not in value:
                self.errors.append(FieldError("FieldValueRequired", _child(path, key), ""))
        props: Mapping[str, Any] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key)
            if sub is None and isinstance(extra, Mapping):
                sub = extra
            if isinstance(sub, Mapping):
                self.check(item, sub, _child(path, key))

    def _combinators(self, value: Any, schema: Schema, path: str, name: str) -> None:
        for sub in schema.get("allOf") or ():
            if isinstance(sub, Mapping):
                self.check(value, sub, path)
        any_of = [s for s in schema.get("anyOf") or () if isinstance(s, Mapping)]
        if any_of and not any(self._passes(value, s, path) for s in any_of):
            self.invalid(path, value, f"{name} in body must validate at least one schema "
                         "(anyOf)")
        one_of = [s for s in schema.get("oneOf") or () if isinstance(s, Mapping)]
        if one_of and sum(self._passes(value, s, path) for s in one_of) != 1:
            self.invalid(path, value, f"{name} in body must validate one and only one schema "
                         "(oneOf)")
        not_ = schema.get("not")
        if isinstance(not_, Mapping) and self._passes(value, not_, path):
            self.invalid(path, value, f"{name} in body must not validate the schema (not)")

    def _passes(self, value: Any, schema: Schema, path: str) -> bool:
        errors: list[FieldError] = []
        _Validator(errors).check(value, schema, path)
        return not errors
