"""Validation of raw manifests with the Kubernetes API server's rules, paths and messages.

The API server checks an object in two steps: it decodes the JSON into typed Go structs (a
value of the wrong JSON type fails there, before any rule runs), then runs the hand-written
rules of `pkg/apis/*/validation`, which collect *every* problem as a `field.Error`: a type, a
field path, the bad value and a detail. We have no typed decoding step, so one pass does both.
A `_Checker` walks the raw dicts; where a field has the wrong JSON type it records a
`FieldValueTypeInvalid` error at that path and goes on as if the field were absent; otherwise
it applies the API server's rule. It collects all errors of an object and never raises,
whatever JSON-like input it is given (a hypothesis test pins that).

The API server applies defaults before it validates, and so do we, so that the errors name what
the API server would see: a missing `protocol` is TCP, a Service's `targetPort` defaults to
its `port`, a ReplicationController's selector to its template labels, and a Service's
`clusterIP` is copied into `clusterIPs` (its errors are reported there, as upstream does).

Messages follow upstream Kubernetes as of v1.34 and later (the exact strings matter: our
errors must read like the API server's):
- composite bad values (maps, lists, selectors) print as compact JSON (v1.34; older servers
  printed Go syntax such as `map[string]string{...}`);
- maximum lengths are counted and reported in bytes ("must be no more than 63 bytes");
- `strict_ip=True` (the default) follows the `StrictIPCIDRValidation` feature gate, on by
  default in current releases: no leading zeros, no IPv4-mapped IPv6, and no CIDR with bits
  set beyond its prefix length. `strict_ip=False` is the older, lenient parsing;
- Service names are RFC 1035 labels (the `RelaxedServiceNameValidation` gate is off).

What is ours rather than the API server's: the `FieldValueTypeInvalid` errors (the API server
fails to decode instead), the address checks on Pod and Node status (upstream runs them only
on status updates), and, with `strict=True`, the unknown-field errors that the API server
returns for `fieldValidation=Strict` (`unknown field "spec.foo"`, only in NetworkPolicy specs).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from netpolicy.api.addresses import go_contains_form, sloppy_cidr, sloppy_ip_bytes
from netpolicy.api.labels import LabelSelector, Requirement

ErrorType = Literal[
    "FieldValueRequired",
    "FieldValueInvalid",
    "FieldValueNotSupported",
    "FieldValueForbidden",
    "FieldValueDuplicate",
    "FieldValueTooLong",
    "FieldValueTooMany",
    "FieldValueTypeInvalid",
]

# field.ErrorType.String(); TypeInvalid prints as "Invalid value" upstream too.
_TYPE_WORDS: dict[str, str] = {
    "FieldValueRequired": "Required value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "FieldValueTypeInvalid": "Invalid value",
}
# These types never print their bad value (field.Error.ErrorBody).
_VALUELESS = frozenset({"FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong"})
_UNKNOWN_FIELD = 'unknown field "'

# The group of each kind we validate: "" is the core group.
KIND_GROUPS: dict[str, str] = {
    "NetworkPolicy": "networking.k8s.io",
    "Namespace": "",
    "Node": "",
    "Pod": "",
    "Service": "",
    "ReplicationController": "",
    "Deployment": "apps",
    "ReplicaSet": "apps",
    "StatefulSet": "apps",
    "DaemonSet": "apps",
    "Job": "batch",
    "CronJob": "batch",
}
_CLUSTER_SCOPED = frozenset({"Namespace", "Node"})


# --- errors and how they print ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field, as `field.Error` (staging/.../util/validation/field)."""

    type: ErrorType
    path: str
    reason: str
    value: Any = None

    @property
    def body(self) -> str:
        """The message without the path (`ErrorBody`), as in a Status cause."""
        word = _TYPE_WORDS[self.type]
        text = word if self.type in _VALUELESS else f"{word}: {_go_value(self.value)}"
        return f"{text}: {self.reason}" if self.reason else text

    def __str__(self) -> str:
        # Unknown fields read as the API server's strict decoding errors do.
        if self.type == "FieldValueNotSupported" and self.reason.startswith(_UNKNOWN_FIELD):
            return self.reason
        return f"{self.path}: {self.body}"


@dataclass(frozen=True, slots=True)
class ObjectErrors:
    """All errors of one object; prints as the API server's `Invalid` Status message.
    `detail`: a problem of the whole object rather than of a field (ours, e.g. a duplicate
    object); it prints first among the errors."""

    kind: str
    name: str
    namespace: str | None
    group: str
    errors: tuple[FieldError, ...]
    detail: str = ""

    def __str__(self) -> str:
        # errors.NewInvalid: "<Kind>[.<group>] <name> is invalid: <aggregate>"; the aggregate
        # drops repeated messages and is bracketed only when more than one remains.
        kind = f"{self.kind}.{self.group}" if self.group else self.kind
        head = f"{kind} {_go_quote(self.name)} is invalid"
        detail = [self.detail] if self.detail else []
        messages = list(dict.fromkeys(detail + [str(e) for e in self.errors]))
        if not messages:
            return head
        if len(messages) == 1:
            return f"{head}: {messages[0]}"
        return f"{head}: [{', '.join(messages)}]"


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
               "\v": "\\v", '"': '\\"', "\\": "\\\\"}


def _go_quote(text: str) -> str:
    """Go's `%q`: printable characters as they are, the rest escaped."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\ufffd")  # a lone surrogate is invalid UTF-8: Go decodes it as U+FFFD
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _go_number(value: float) -> str:
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


class _Struct(dict[str, Any]):
    """A Go struct for printing: its fields keep their order (a map's keys are sorted)."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, _Struct):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, Mapping):
        pairs = sorted(((_key_text(k), v) for k, v in value.items()), key=lambda kv: kv[0])
        return {k: _jsonable(v) for k, v in pairs}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str):
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)


def _go_json(value: Any) -> str:
    """`json.Marshal` as Go does it: compact, sorted keys, `<>&` escaped."""
    text = json.dumps(_jsonable(value), ensure_ascii=False, separators=(",", ":"))
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def _go_value(value: Any) -> str:
    """A bad value as `ErrorBody` prints it (v1.34+): scalars plainly, strings quoted,
    everything else as JSON."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_number(value)
    if isinstance(value, str):
        return _go_quote(value)
    return _go_json(value)


def _key_text(key: Any) -> str:
    """A mapping key as it reaches the API server (YAML keys are turned into strings)."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, float):
        return _go_number(key)
    return str(key)


# --- formats: util/validation and api/validate/content --------------------------------------
# Each returns the API server's messages for one value; empty means valid.

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _LABEL_KEY_FMT + ")?"
_LABEL_KEY_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start "
                  "and end with an alphanumeric character")


def _fullmatch(fmt: str) -> Callable[[str], bool]:
    pattern = re.compile(fmt)  # fullmatch: Go anchors with ^...$, and $ there is end of text
    return lambda text: pattern.fullmatch(text) is not None


_is_label = _fullmatch(_DNS1123_LABEL_FMT)
_is_subdomain = _fullmatch(_DNS1123_SUBDOMAIN_FMT)
_is_dns1035 = _fullmatch(_DNS1035_LABEL_FMT)
_is_label_key_name = _fullmatch(_LABEL_KEY_FMT)
_is_label_value = _fullmatch(_LABEL_VALUE_FMT)
_is_port_name_charset = _fullmatch("[-a-z0-9]+")


def _nbytes(text: str) -> int:
    """Go's `len`: bytes of UTF-8."""
    return len(text.encode("utf-8", "surrogatepass"))


def _max_len(n: int) -> str:
    return f"must be no more than {n} bytes"


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    # Upstream's RegexError, including its double space before "or".
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def dns1123_label_errors(value: str) -> list[str]:
    """IsDNS1123Label: namespace names, Service port names."""
    errs = [_max_len(63)] if _nbytes(value) > 63 else []
    if not _is_label(value):
        if _is_subdomain(value):
            errs.append("must not contain dots")
        else:
            errs.append(_regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                "or '-', and must start and end with an alphanumeric character",
                _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def dns1123_subdomain_errors(value: str) -> list[str]:
    """IsDNS1123Subdomain: most object names, node names, label key prefixes."""
    errs = [_max_len(253)] if _nbytes(value) > 253 else []
    if not _is_subdomain(value):
        errs.append(_regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character",
            _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def dns1035_label_errors(value: str) -> list[str]:
    """IsDNS1035Label: Service names."""
    errs = [_max_len(63)] if _nbytes(value) > 63 else []
    if not _is_dns1035(value):
        errs.append(_regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
            "start with an alphabetic character, and end with an alphanumeric character",
            _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def label_key_errors(value: str) -> list[str]:
    """IsQualifiedName / IsLabelKey: `[prefix/]name`, prefix a DNS subdomain."""
    parts = value.split("/")
    if len(parts) > 2:
        return ["a valid label key " + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName",
                                                    "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    errs: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        if not parts[0]:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in dns1123_subdomain_errors(parts[0]))
    if not name:
        errs.append("name part must be non-empty")
    elif _nbytes(name) > 63:
        errs.append("name part " + _max_len(63))
    if not _is_label_key_name(name):
        errs.append("name part " + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName",
                                                "my.name", "123-abc"))
    return errs


def label_value_errors(value: str) -> list[str]:
    """IsValidLabelValue: empty, or up to 63 bytes of `[-A-Za-z0-9_.]`, alphanumeric ends."""
    errs = [_max_len(63)] if _nbytes(value) > 63 else []
    if not _is_label_value(value):
        errs.append(_regex_error(
            "a valid label must be an empty string or consist of alphanumeric characters, "
            "'-', '_' or '.', and must start and end with an alphanumeric character",
            _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def _remembered(check: Callable[[str], list[str]]) -> Callable[[str], tuple[str, ...]]:
    """`check`, remembered per text: a cluster repeats the same few label keys and values
    thousands of times."""
    return functools.lru_cache(maxsize=16384)(lambda text: tuple(check(text)))


_label_key_errors = _remembered(label_key_errors)
_label_value_errors = _remembered(label_value_errors)


def port_name_errors(value: str) -> list[str]:
    """IsValidPortName (IANA_SVC_NAME): at most 15 of `[-a-z0-9]`, at least one letter, no
    leading, trailing or doubled hyphen. So an all-digit string such as "80" is not a name."""
    errs = [_max_len(15)] if _nbytes(value) > 15 else []
    if not _is_port_name_charset(value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if re.search("[a-z]", value) is None:
        errs.append("must contain at least one letter (a-z)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens")
    if value.startswith("-") or value.endswith("-"):
        errs.append("must not begin or end with a hyphen")
    return errs


_port_name_errors = _remembered(port_name_errors)


def is_valid_port_name(name: str) -> bool:
    """Whether `name` is a valid named port (IANA_SVC_NAME), as the API server accepts it."""
    return isinstance(name, str) and not port_name_errors(name)


def port_number_errors(value: int) -> list[str]:
    """IsValidPortNum."""
    return [] if 1 <= value <= 65535 else ["must be between 1 and 65535, inclusive"]


# --- IP addresses and CIDRs ------------------------------------------------------------------
# Parsed as the API server parses them (`netpolicy.api.addresses`); with
# StrictIPCIDRValidation it then rejects what netip would not accept.

_IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
_CIDR_MSG = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"


def ip_errors(value: str, strict: bool = True) -> list[str]:
    """IsValidIPForLegacyField: the API server's messages for an IP address."""
    raw = sloppy_ip_bytes(value)
    if raw is None:
        return [_IP_MSG]
    if not strict:
        return []
    if len(raw) == 4:  # all an IPv4 address can still get wrong: what netip calls leading 0s
        leading = any(len(octet) > 1 and octet[0] == "0" for octet in value.split("."))
        return ["must not have leading 0s"] if leading else []
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return ["must not have leading 0s"]
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return ["must not be an IPv4-mapped IPv6 address"]
    return []


def cidr_errors(value: str, strict: bool = True) -> list[str]:
    """IsValidCIDRForLegacyField: the API server's messages for a CIDR."""
    parsed = sloppy_cidr(value)
    if parsed is None:
        return [_CIDR_MSG]
    if not strict:
        return []
    addr, _, mask = value.partition("/")
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        ip = None
    if ip is None or (len(mask) > 1 and mask.startswith("0")):
        return ["must not have leading 0s in IP or prefix length"]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ["must not have an IPv4-mapped IPv6 address"]
    if ip != parsed[0].network_address:
        return ["must not have bits set beyond the prefix length"]
    return []


# --- the checker ----------------------------------------------------------------------------


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _index(path: str, i: int | str) -> str:
    return f"{path}[{i}]"


def _as_int(raw: Any) -> int | None:
    """A JSON number that decodes into a Go integer (`80.0` from YAML counts: kubectl sends 80)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    return None


# Fields known to the API server, for strict=True (fieldValidation=Strict).
_SELECTOR_FIELDS = frozenset({"matchLabels", "matchExpressions"})
_REQUIREMENT_FIELDS = frozenset({"key", "operator", "values"})
_POLICY_SPEC_FIELDS = frozenset({"podSelector", "ingress", "egress", "policyTypes"})
_PEER_FIELDS = frozenset({"podSelector", "namespaceSelector", "ipBlock"})
_POLICY_PORT_FIELDS = frozenset({"protocol", "port", "endPort"})
_IPBLOCK_FIELDS = frozenset({"cidr", "except"})
_PROTOCOLS = ("TCP", "UDP", "SCTP")  # NetworkPolicyPort lists them in this order
_PROTOCOLS_SORTED = sorted(_PROTOCOLS)  # core's supportedPortProtocols.List() is sorted
_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})


class _Checker:
    """Collects the errors of one object; every method records and carries on."""

    def __init__(self, strict: bool = False, strict_ip: bool = True) -> None:
        self.errors: list[FieldError] = []
        self.strict = strict
        self.strict_ip = strict_ip

    def add(self, type_: ErrorType, path: str, reason: str = "", value: Any = None) -> None:
        self.errors.append(FieldError(type_, path, reason, value))

    def invalid_each(self, path: str, value: Any, messages: Sequence[str]) -> None:
        for msg in messages:
            self.add("FieldValueInvalid", path, msg, value)

    # JSON types. None (null) reads as absent, as Go decodes it into a zero value.

    def obj(self, raw: Any, path: str) -> Mapping[Any, Any] | None:
        if raw is None or isinstance(raw, Mapping):
            return raw
        self.add("FieldValueTypeInvalid", path, "expected an object", raw)
        return None

    def items(self, raw: Any, path: str) -> list[Any]:
        if raw is None:
            return []
        if isinstance(raw, list | tuple):
            return list(raw)
        self.add("FieldValueTypeInvalid", path, "expected a list", raw)
        return []

    def string(self, raw: Any, path: str) -> str | None:
        if raw is None or isinstance(raw, str):
            return raw
        self.add("FieldValueTypeInvalid", path, "expected a string", raw)
        return None

    def integer(self, raw: Any, path: str) -> int | None:
        if raw is None:
            return None
        value = _as_int(raw)
        if value is None:
            self.add("FieldValueTypeInvalid", path, "expected an integer", raw)
        return value

    def int_or_string(self, raw: Any, path: str) -> int | str | None:
        """An IntOrString: a JSON number is a number, a JSON string a string (even "80")."""
        if raw is None or isinstance(raw, str):
            return raw
        value = _as_int(raw)
        if value is None:
            self.add("FieldValueTypeInvalid", path, "expected an integer or a string", raw)
        return value

    def boolean(self, raw: Any, path: str) -> None:
        if raw is not None and not isinstance(raw, bool):
            self.add("FieldValueTypeInvalid", path, "expected a boolean", raw)

    def string_map(self, raw: Any, path: str) -> dict[str, str] | None:
        """A `map[string]string`; entries whose value is not a string are type errors."""
        got = self.obj(raw, path)
        if got is None:
            return None
        out: dict[str, str] = {}
        for key, value in got.items():
            key = _key_text(key)
            if value is None:
                value = ""
            if isinstance(value, str):
                out[key] = value
            else:
                self.add("FieldValueTypeInvalid", _index(path, key), "expected a string", value)
        return out

    def unknown_fields(self, raw: Mapping[Any, Any], known: frozenset[str], path: str) -> None:
        if not self.strict:
            return
        for key in raw:
            name = _key_text(key)
            if name not in known:
                full = _child(path, name)
                self.add("FieldValueNotSupported", full, f'{_UNKNOWN_FIELD}{full}"')

    # metav1 validation: labels, selectors, object metadata.

    def labels(self, raw: Any, path: str) -> dict[str, str] | None:
        """ValidateLabels: keys and values; every error is reported at the map's path."""
        labels = self.string_map(raw, path)
        for key, value in (labels or {}).items():
            self.invalid_each(path, key, _label_key_errors(key))
            self.invalid_each(path, value, _label_value_errors(value))
        return labels

    def label_selector(self, raw: Any, path: str) -> LabelSelector | None:
        """ValidateLabelSelector; returns the parsed selector when it is valid."""
        sel = self.obj(raw, path)
        if sel is None:
            return None
        before = len(self.errors)
        self.unknown_fields(sel, _SELECTOR_FIELDS, path)
        self.labels(sel.get("matchLabels"), _child(path, "matchLabels"))
        exprs_path = _child(path, "matchExpressions")
        for i, item in enumerate(self.items(sel.get("matchExpressions"), exprs_path)):
            self.requirement(item, _index(exprs_path, i))
        if len(self.errors) != before:
            return None
        return _parsed_selector(sel)

    def requirement(self, raw: Any, path: str) -> None:
        """ValidateLabelSelectorRequirement (with AllowInvalidLabelValueInSelector false)."""
        req = self.obj(raw, path) or {}
        self.unknown_fields(req, _REQUIREMENT_FIELDS, path)
        key = self.string(req.get("key"), _child(path, "key")) or ""
        operator = self.string(req.get("operator"), _child(path, "operator")) or ""
        values_path = _child(path, "values")
        values = self.items(req.get("values"), values_path)
        if operator in ("In", "NotIn"):
            if not values:
                self.add("FieldValueRequired", values_path,
                         "must be specified when `operator` is 'In' or 'NotIn'")
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                self.add("FieldValueForbidden", values_path,
                         "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
        else:
            self.add("FieldValueInvalid", _child(path, "operator"),
                     "not a valid selector operator", operator)
        self.invalid_each(_child(path, "key"), key, label_key_errors(key))
        for i, value in enumerate(values):
            value = self.string(value, _index(values_path, i))
            if value is not None:
                self.invalid_each(_index(values_path, i), value, label_value_errors(value))

    def object_meta(self, raw: Any, kind: str) -> Mapping[Any, Any]:
        """ValidateObjectMeta: name (or generateName), namespace, labels, annotations."""
        meta = self.obj(raw, "metadata") or {}
        name_errors = {"Namespace": dns1123_label_errors,
                       "Service": dns1035_label_errors}.get(kind, dns1123_subdomain_errors)
        name = self.string(meta.get("name"), "metadata.name") or ""
        generate = self.string(meta.get("generateName"), "metadata.generateName") or ""
        if not name and generate:
            # The API server generates the name first, and checks the prefix (a trailing
            # dash is fine there: a random suffix follows).
            masked = generate[:-1] + "a" if generate.endswith("-") else generate
            self.invalid_each("metadata.generateName", generate, name_errors(masked))
        elif not name:
            self.add("FieldValueRequired", "metadata.name", "name or generateName is required")
        else:
            self.invalid_each("metadata.name", name, name_errors(name))
        if kind == "CronJob" and _nbytes(name) > 52:
            # ValidateCronJob: the Job names it makes append 11 characters.
            self.add("FieldValueInvalid", "metadata.name", "must be no more than 52 characters",
                     name)
        namespace = self.string(meta.get("namespace"), "metadata.namespace")
        if namespace and kind not in _CLUSTER_SCOPED:
            # A cluster-scoped object's namespace is cleared, not rejected (BeforeCreate).
            self.invalid_each("metadata.namespace", namespace, dns1123_label_errors(namespace))
        self.labels(meta.get("labels"), "metadata.labels")
        self.annotations(meta.get("annotations"), "metadata.annotations")
        return meta

    def annotations(self, raw: Any, path: str) -> None:
        """ValidateAnnotations: keys are qualified names in any case; 256 KiB in all."""
        annotations = self.string_map(raw, path) or {}
        for key in annotations:
            self.invalid_each(path, key, label_key_errors(key.lower()))
        if sum(_nbytes(k) + _nbytes(v) for k, v in annotations.items()) > 256 * 1024:
            self.add("FieldValueTooLong", path, f"must have at most {256 * 1024} bytes")

    # NetworkPolicy: pkg/apis/networking/validation.

    def network_policy_spec(self, raw: Any) -> None:
        """ValidateNetworkPolicySpec."""
        spec = self.obj(raw, "spec") or {}
        self.unknown_fields(spec, _POLICY_SPEC_FIELDS, "spec")
        self.label_selector(spec.get("podSelector"), "spec.podSelector")
        for direction, peers_key in (("ingress", "from"), ("egress", "to")):
            rules_path = _child("spec", direction)
            for i, item in enumerate(self.items(spec.get(direction), rules_path)):
                rule_path = _index(rules_path, i)
                rule = self.obj(item, rule_path) or {}
                self.unknown_fields(rule, frozenset({"ports", peers_key}), rule_path)
                ports_path = _child(rule_path, "ports")
                for j, port in enumerate(self.items(rule.get("ports"), ports_path)):
                    self.policy_port(port, _index(ports_path, j))
                peers_path = _child(rule_path, peers_key)
                for j, peer in enumerate(self.items(rule.get(peers_key), peers_path)):
                    self.policy_peer(peer, _index(peers_path, j))
        self.policy_types(spec.get("policyTypes"), "spec.policyTypes")

    def policy_port(self, raw: Any, path: str) -> None:
        """ValidateNetworkPolicyPort (DESIGN.md point 6)."""
        port = self.obj(raw, path) or {}
        self.unknown_fields(port, _POLICY_PORT_FIELDS, path)
        protocol = self.string(port.get("protocol"), _child(path, "protocol"))
        if protocol and protocol not in _PROTOCOLS:  # "" and absent default to TCP
            self.add("FieldValueNotSupported", _child(path, "protocol"),
                     "supported values: " + ", ".join(f'"{p}"' for p in _PROTOCOLS), protocol)
        number = self.int_or_string(port.get("port"), _child(path, "port"))
        end_path = _child(path, "endPort")
        end = self.integer(port.get("endPort"), end_path)
        if isinstance(number, int):
            self.invalid_each(_child(path, "port"), number, port_number_errors(number))
            if end is not None:
                if end < number:
                    self.add("FieldValueInvalid", end_path,
                             "must be greater than or equal to `port`", end)
                self.invalid_each(end_path, end, port_number_errors(end))
        elif isinstance(number, str):
            if end is not None:
                self.add("FieldValueInvalid", end_path,
                         "may not be specified when `port` is non-numeric", end)
            self.invalid_each(_child(path, "port"), number, _port_name_errors(number))
        elif end is not None and port.get("port") is None:
            self.add("FieldValueInvalid", end_path,
                     "may not be specified when `port` is not specified", end)

    def policy_peer(self, raw: Any, path: str) -> None:
        """ValidateNetworkPolicyPeer (DESIGN.md point 5): exactly one kind of peer."""
        peer = self.obj(raw, path) or {}
        self.unknown_fields(peer, _PEER_FIELDS, path)
        present = [k for k in ("podSelector", "namespaceSelector", "ipBlock")
                   if peer.get(k) is not None]
        for key in present:
            if key == "ipBlock":
                self.ip_block(peer[key], _child(path, key))
            else:
                self.label_selector(peer[key], _child(path, key))
        if not present:
            self.add("FieldValueRequired", path, "must specify a peer")
        elif len(present) > 1 and "ipBlock" in present:
            self.add("FieldValueForbidden", path, "may not specify both ipBlock and another peer")

    def ip_block(self, raw: Any, path: str) -> None:
        """ValidateIPBlock: a CIDR, and `except` entries strictly inside it."""
        block = self.obj(raw, path) or {}
        self.unknown_fields(block, _IPBLOCK_FIELDS, path)
        cidr_path = _child(path, "cidr")
        raw_cidr = block.get("cidr")
        cidr = self.string(raw_cidr, cidr_path)
        excepts_path = _child(path, "except")
        excepts = self.items(block.get("except"), excepts_path)
        if not cidr:
            if raw_cidr is None or raw_cidr == "":
                self.add("FieldValueRequired", cidr_path)
            return
        self.invalid_each(cidr_path, cidr, cidr_errors(cidr, self.strict_ip))
        outer = sloppy_cidr(cidr)
        if outer is None:
            return
        outer_net = go_contains_form(outer[0])
        for i, item in enumerate(excepts):
            item_path = _index(excepts_path, i)
            text = self.string(item, item_path)
            if text is None:
                continue
            self.invalid_each(item_path, text, cidr_errors(text, self.strict_ip))
            inner = sloppy_cidr(text)
            if inner is None:
                continue
            # Go: !cidr.Contains(except.IP) || cidrMaskLen >= exceptMaskLen. An except of
            # the other IP family is never contained.
            inner_ip = go_contains_form(inner[0]).network_address
            if inner_ip not in outer_net or outer[1] >= inner[1]:
                self.add("FieldValueInvalid", item_path, "must be a strict subset of `cidr`",
                         text)

    def policy_types(self, raw: Any, path: str) -> None:
        types = self.items(raw, path)
        if len(types) > 2:
            self.add("FieldValueInvalid", path, "may not specify more than two policyTypes",
                     types)
            return
        for i, item in enumerate(types):
            value = self.string(item, _index(path, i))
            if value is not None and value not in ("Ingress", "Egress"):
                self.add("FieldValueNotSupported", _index(path, i),
                         'supported values: "Ingress", "Egress"', value)

    # Pods and pod templates: pkg/apis/core/validation.

    def pod_spec(self, raw: Any, path: str) -> None:
        spec = self.obj(raw, path) or {}
        for key in ("containers", "initContainers"):
            list_path = _child(path, key)
            for i, item in enumerate(self.items(spec.get(key), list_path)):
                container = self.obj(item, _index(list_path, i)) or {}
                self.container_ports(container.get("ports"),
                                     _child(_index(list_path, i), "ports"))
        node = self.string(spec.get("nodeName"), _child(path, "nodeName"))
        if node:
            self.invalid_each(_child(path, "nodeName"), node, dns1123_subdomain_errors(node))
        self.boolean(spec.get("hostNetwork"), _child(path, "hostNetwork"))

    def container_ports(self, raw: Any, path: str) -> None:
        """validateContainerPorts; port names must be unique within one container."""
        names: set[str] = set()
        for i, item in enumerate(self.items(raw, path)):
            port_path = _index(path, i)
            port = self.obj(item, port_path) or {}
            name = self.string(port.get("name"), _child(port_path, "name"))
            if name:
                msgs = _port_name_errors(name)
                if msgs:
                    self.invalid_each(_child(port_path, "name"), name, msgs)
                elif name in names:
                    self.add("FieldValueDuplicate", _child(port_path, "name"), value=name)
                else:
                    names.add(name)
            number = self.integer(port.get("containerPort"), _child(port_path, "containerPort"))
            if not number:
                if number is not None or port.get("containerPort") is None:
                    self.add("FieldValueRequired", _child(port_path, "containerPort"))
            else:
                self.invalid_each(_child(port_path, "containerPort"), number,
                                  port_number_errors(number))
            host = self.integer(port.get("hostPort"), _child(port_path, "hostPort"))
            if host:
                self.invalid_each(_child(port_path, "hostPort"), host, port_number_errors(host))
            self.core_protocol(port.get("protocol"), _child(port_path, "protocol"))

    def core_protocol(self, raw: Any, path: str) -> None:
        protocol = self.string(raw, path)
        if protocol and protocol not in _PROTOCOLS:
            self.add("FieldValueNotSupported", path,
                     "supported values: " + ", ".join(f'"{p}"' for p in _PROTOCOLS_SORTED),
                     protocol)

    def ips(self, raw_list: list[str], path: str) -> None:
        for i, ip in enumerate(raw_list):
            self.invalid_each(_index(path, i), ip, ip_errors(ip, self.strict_ip))

    def pod_template(self, raw: Any, path: str) -> Mapping[Any, Any] | None:
        """ValidatePodTemplateSpec: the template's labels are reported at `<path>.labels`
        (no `metadata`), as the API server does."""
        template = self.obj(raw, path) or {}
        meta = self.obj(template.get("metadata"), _child(path, "metadata")) or {}
        labels = self.labels(meta.get("labels"), _child(path, "labels"))
        self.annotations(meta.get("annotations"), _child(path, "annotations"))
        self.pod_spec(template.get("spec"), _child(path, "spec"))
        return labels

    def workload_selector(self, kind: str, spec: Mapping[Any, Any],
                          labels: Mapping[str, str] | None) -> None:
        """The selector of a Deployment, ReplicaSet, StatefulSet or DaemonSet must be valid,
        non-empty, and select the pod template's labels."""
        raw = spec.get("selector")
        if raw is None and kind != "DaemonSet":
            self.add("FieldValueRequired", "spec.selector")
        selector = self.label_selector(raw, "spec.selector")
        if raw is not None and not isinstance(raw, Mapping):
            return  # not an object: reported as such, nothing to match
        has = raw is not None
        shown = _selector_as_go(raw) if raw is not None else None
        if has and selector is not None and selector.is_empty:
            self.add("FieldValueInvalid", "spec.selector",
                     f"empty selector is invalid for {_EMPTY_SELECTOR_WORD[kind]}", shown)
        if has and selector is None:
            # LabelSelectorAsSelector fails on what validation rejected.
            if kind in ("Deployment", "ReplicaSet"):
                self.add("FieldValueInvalid", "spec.selector", "invalid label selector", shown)
            elif kind == "StatefulSet":
                self.add("FieldValueInvalid", "spec.selector", "", shown)
            return
        # A missing selector selects nothing (labels.Nothing), so it never matches.
        if selector is None or not (selector.is_empty or selector.matches(labels or {})):
            self.add("FieldValueInvalid", "spec.template.metadata.labels",
                     "`selector` does not match template `labels`", labels)


def _parsed_selector(sel: Mapping[Any, Any]) -> LabelSelector:
    """A selector that validated cleanly, as the engine's value (null label values are "")."""
    reqs = [Requirement(_key_text(k), "In", (v or "",))
            for k, v in (sel.get("matchLabels") or {}).items()]
    for expr in sel.get("matchExpressions") or []:
        expr = expr or {}
        reqs.append(Requirement(expr["key"], expr["operator"],
                                tuple(sorted(set(expr.get("values") or [])))))
    return LabelSelector(tuple(dict.fromkeys(reqs)))


_EMPTY_SELECTOR_WORD = {"Deployment": "deployment", "ReplicaSet": "deployment",
                        "StatefulSet": "statefulset", "DaemonSet": "daemonset"}


def _selector_as_go(raw: Mapping[Any, Any]) -> _Struct:
    """A selector as upstream prints it: the typed struct, empty fields omitted."""
    out = _Struct()
    labels = raw.get("matchLabels")
    if isinstance(labels, Mapping) and labels:
        out["matchLabels"] = labels
    exprs = raw.get("matchExpressions")
    if isinstance(exprs, list) and exprs:
        shown = []
        for expr in exprs:
            expr = expr if isinstance(expr, Mapping) else {}
            item = _Struct(key=expr.get("key") or "", operator=expr.get("operator") or "")
            if expr.get("values"):
                item["values"] = expr["values"]
            shown.append(item)
        out["matchExpressions"] = shown
    return out


# --- the kinds --------------------------------------------------------------------------------


def _network_policy(c: _Checker, obj: Mapping[Any, Any]) -> None:
    c.object_meta(obj.get("metadata"), "NetworkPolicy")
    c.network_policy_spec(obj.get("spec"))


def _namespace(c: _Checker, obj: Mapping[Any, Any]) -> None:
    c.object_meta(obj.get("metadata"), "Namespace")


def _pod(c: _Checker, obj: Mapping[Any, Any]) -> None:
    c.object_meta(obj.get("metadata"), "Pod")
    c.pod_spec(obj.get("spec"), "spec")
    status = c.obj(obj.get("status"), "status") or {}
    pod_ip = c.string(status.get("podIP"), "status.podIP") or ""
    ips: list[str] = []
    for i, item in enumerate(c.items(status.get("podIPs"), "status.podIPs")):
        entry = c.obj(item, _index("status.podIPs", i)) or {}
        raw = entry.get("ip")
        ip = c.string(raw, _child(_index("status.podIPs", i), "ip"))
        if ip is not None or raw is None:
            ips.append(ip or "")
    # Conversion to the internal type: podIP wins over a different podIPs[0], and fills an
    # empty podIPs. Upstream then checks status.podIPs[i].
    if pod_ip and (not ips or ips[0] != pod_ip):
        ips = [pod_ip]
    c.ips(ips, "status.podIPs")


def _service(c: _Checker, obj: Mapping[Any, Any]) -> None:
    c.object_meta(obj.get("metadata"), "Service")
    spec = c.obj(obj.get("spec"), "spec") or {}
    kind = c.string(spec.get("type"), "spec.type")
    ports = c.items(spec.get("ports"), "spec.ports")
    names: set[str] = set()
    for i, item in enumerate(ports):  # validateServicePort
        path = _index("spec.ports", i)
        port = c.obj(item, path) or {}
        name = c.string(port.get("name"), _child(path, "name")) or ""
        if not name and len(ports) > 1:
            c.add("FieldValueRequired", _child(path, "name"))
        elif name:
            c.invalid_each(_child(path, "name"), name, dns1123_label_errors(name))
            if name in names:
                c.add("FieldValueDuplicate", _child(path, "name"), value=name)
            names.add(name)
        number = c.integer(port.get("port"), _child(path, "port"))
        if number is not None or port.get("port") is None:
            number = number or 0
            c.invalid_each(_child(path, "port"), number, port_number_errors(number))
        c.core_protocol(port.get("protocol"), _child(path, "protocol"))
        raw_target = port.get("targetPort")
        target = c.int_or_string(raw_target, _child(path, "targetPort"))
        if raw_target is None or (raw_target in (0, "") and not isinstance(raw_target, bool)):
            target = number  # defaulted to `port`
        if isinstance(target, int):
            c.invalid_each(_child(path, "targetPort"), target, port_number_errors(target))
        elif isinstance(target, str):
            c.invalid_each(_child(path, "targetPort"), target, port_name_errors(target))
    c.labels(spec.get("selector"), "spec.selector")
    if kind == "ExternalName":
        return
    cluster_ip = c.string(spec.get("clusterIP"), "spec.clusterIP") or ""
    raw_ips = c.items(spec.get("clusterIPs"), "spec.clusterIPs")
    ips = [ip for i, x in enumerate(raw_ips)
           if (ip := c.string(x, _index("spec.clusterIPs", i))) is not None]
    if cluster_ip and not ips:
        ips = [cluster_ip]  # the REST strategy fills clusterIPs from clusterIP on create
    if cluster_ip and ips[0] != cluster_ip:
        c.add("FieldValueInvalid", "spec.clusterIPs", "first value must match `clusterIP`", ips)
    elif not cluster_ip and ips:
        c.add("FieldValueInvalid", "spec.clusterIPs",
              "must be empty when `clusterIP` is not specified", ips)
    for i, ip in enumerate(ips):
        if i == 0 and ip == "None":
            if len(ips) > 1:
                c.add("FieldValueInvalid", "spec.clusterIPs",
                      "'None' must be the first and only value", ips)
            continue
        c.invalid_each(_index("spec.clusterIPs", i), ip, ip_errors(ip, c.strict_ip))
    if len(ips) > 2:
        c.add("FieldValueInvalid", "spec.clusterIPs", "may only hold up to 2 values", ips)


def _node(c: _Checker, obj: Mapping[Any, Any]) -> None:
    c.object_meta(obj.get("metadata"), "Node")
    status = c.obj(obj.get("status"), "status") or {}
    for i, item in enumerate(c.items(status.get("addresses"), "status.addresses")):
        path = _index("status.addresses", i)
        entry = c.obj(item, path) or {}
        kind = c.string(entry.get("type"), _child(path, "type"))
        address = c.string(entry.get("address"), _child(path, "address"))
        if kind in ("InternalIP", "ExternalIP") and address is not None:
            c.invalid_each(_child(path, "address"), address, ip_errors(address, c.strict_ip))


def _workload(c: _Checker, obj: Mapping[Any, Any]) -> None:
    kind = str(obj.get("kind"))
    c.object_meta(obj.get("metadata"), kind)
    spec = c.obj(obj.get("spec"), "spec") or {}
    if kind == "CronJob":
        job = c.obj(spec.get("jobTemplate"), "spec.jobTemplate") or {}
        job_spec = c.obj(job.get("spec"), "spec.jobTemplate.spec") or {}
        c.pod_template(job_spec.get("template"), "spec.jobTemplate.spec.template")
        return
    labels = c.pod_template(spec.get("template"), "spec.template")
    if kind in _EMPTY_SELECTOR_WORD:
        c.workload_selector(kind, spec, labels)
    elif kind == "ReplicationController":
        if spec.get("template") is None:
            c.add("FieldValueRequired", "spec.template")
        selector = c.string_map(spec.get("selector"), "spec.selector") or labels or {}
        if not selector:  # defaulted from the template labels; empty only if both are
            c.add("FieldValueRequired", "spec.selector")
        elif any((labels or {}).get(k) != v for k, v in selector.items()):
            c.add("FieldValueInvalid", "spec.template.metadata.labels",
                  "`selector` does not match template `labels`", labels)


_VALIDATORS: dict[str, Callable[[_Checker, Mapping[Any, Any]], None]] = {
    "NetworkPolicy": _network_policy,
    "Namespace": _namespace,
    "Pod": _pod,
    "Service": _service,
    "Node": _node,
    **{k: _workload for k in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet",
                              "ReplicationController", "Job", "CronJob")},
}


# --- public entry points ----------------------------------------------------------------------


def validate(obj: Mapping[str, Any], strict: bool = False, *,
             strict_ip: bool = True) -> list[FieldError]:
    """Every error of one manifest, dispatched on `obj['kind']`; unknown kinds give [] (they
    are skipped elsewhere). `strict`: also report unknown fields in NetworkPolicy specs, as
    `fieldValidation=Strict` does. `strict_ip`: the StrictIPCIDRValidation rules."""
    if not isinstance(obj, Mapping):
        return []
    kind = obj.get("kind")
    check = _VALIDATORS.get(kind) if isinstance(kind, str) else None
    if check is None:
        return []
    checker = _Checker(strict, strict_ip)
    check(checker, obj)
    return checker.errors


def validate_network_policy(obj: Mapping[str, Any], strict: bool = False, *,
                            strict_ip: bool = True) -> list[FieldError]:
    """ValidateNetworkPolicy: metadata, then the spec (ValidateNetworkPolicySpec)."""
    checker = _Checker(strict, strict_ip)
    _network_policy(checker, obj if isinstance(obj, Mapping) else {})
    return checker.errors


def object_errors(obj: Mapping[str, Any], strict: bool = False, *,
                  strict_ip: bool = True) -> ObjectErrors:
    """The errors of `obj` with its identity, ready to print as the API server would."""
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    meta = meta if isinstance(meta, Mapping) else {}
    kind = obj.get("kind") if isinstance(obj, Mapping) else None
    kind = kind if isinstance(kind, str) else ""
    name, namespace = meta.get("name"), meta.get("namespace")
    return ObjectErrors(
        kind=kind,
        name=name if isinstance(name, str) else "",
        namespace=namespace if isinstance(namespace, str) else None,
        group=KIND_GROUPS.get(kind, ""),
        errors=tuple(validate(obj, strict, strict_ip=strict_ip)),
    )


def validate_label_selector(raw: Any, path: str, *, strict: bool = False) -> list[FieldError]:
    """ValidateLabelSelector of a raw selector at `path`."""
    checker = _Checker(strict)
    checker.label_selector(raw, path)
    return checker.errors


def validate_labels(raw: Any, path: str) -> list[FieldError]:
    """ValidateLabels of a raw label map at `path`."""
    checker = _Checker()
    checker.labels(raw, path)
    return checker.errors


def validate_port_name(name: Any, path: str) -> list[FieldError]:
    """IsValidPortName of a named port at `path`."""
    checker = _Checker()
    value = checker.string(name, path)
    if value is not None:
        checker.invalid_each(path, value, port_name_errors(value))
    return checker.errors
