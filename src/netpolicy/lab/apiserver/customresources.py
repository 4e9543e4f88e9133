"""Admission for CustomResourceDefinitions and for the custom resources they define.

A CRD is defaulted (`names.singular`, `names.listKind`, `conversion`) and its status is the
server's: the names accepted, `NamesAccepted` and `Established` true at once (the lab serves
a CRD from its first write), `storedVersions`. It is validated with a subset of the rules
of `apiextensions-apiserver/pkg/apis/apiextensions/validation`, in their wording: the name,
group, scope and names, one storage version, a schema per version, the printer columns, and
an immutable scope and group.

A custom resource gets its version's schema defaults, and its schema's errors
(`structural.validate`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from netpolicy.api import validation
from netpolicy.api.validation import FieldError
from netpolicy.lab.apiserver import structural
from netpolicy.lab.crds import Version
from netpolicy.lab.store import JSON, now

SCOPES = ("Cluster", "Namespaced")
COLUMN_TYPES = ("integer", "number", "string", "boolean", "date")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# --- CustomResourceDefinitions -------------------------------------------------------------------


def default_definition(crd: JSON, old: Mapping[str, Any] | None) -> None:
    """SetDefaults_CustomResourceDefinition, and the status the controllers would write."""
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return
    names = spec.get("names")
    if isinstance(names, dict) and isinstance(names.get("kind"), str):
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
    spec.setdefault("conversion", {"strategy": "None"})
    status = _map(crd.get("status"))
    stamp = now()
    conditions = {c.get("type"): c for c in _list(status.get("conditions"))
                  if isinstance(c, Mapping)}

    def condition(kind: str, reason: str, message: str) -> JSON:
        previous = conditions.get(kind) or {}
        since = previous.get("lastTransitionTime") if previous.get("status") == "True" \
            else stamp
        return {"type": kind, "status": "True", "lastTransitionTime": since or stamp,
                "reason": reason, "message": message}

    stored = [str(v) for v in _list(_map(old.get("status") if old else None).get(
        "storedVersions"))]
    stored += [str(v.get("name")) for v in _list(spec.get("versions"))
               if isinstance(v, Mapping) and v.get("storage") and str(v.get("name"))
               not in stored]
    crd["status"] = {
        "conditions": [condition("NamesAccepted", "NoConflicts", "no conflicts found"),
                       condition("Established", "InitialNamesAccepted",
                                 "the initial names have been accepted")],
        "acceptedNames": copy.deepcopy(names) if isinstance(names, dict) else {},
        "storedVersions": stored,
    }


def _names_errors(names: Mapping[str, Any], path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for key in ("plural", "singular", "kind", "listKind"):
        value = names.get(key)
        if not value:
            errors.append(FieldError("FieldValueRequired", f"{path}.{key}", ""))
        elif key in ("plural", "singular"):
            problems = validation.dns1035_label_errors(str(value))
            if problems:
                errors.append(FieldError("FieldValueInvalid", f"{path}.{key}",
                                         ",".join(problems), value))
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        errors.append(FieldError("FieldValueInvalid", f"{path}.listKind",
                                 "kind and listKind may not be the same", names["listKind"]))
    for i, short in enumerate(_list(names.get("shortNames"))):
        problems = validation.dns1035_label_errors(str(short))
        if problems:
            errors.append(FieldError("FieldValueInvalid", f"{path}.shortNames[{i}]",
                                     ",".join(problems), short))
    return errors


def _version_errors(versions: list[Any], path: str) -> list[FieldError]:
    if not versions:
        return [FieldError("FieldValueRequired", path, "must have exactly one version marked "
                           "as storage version")]
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, version in enumerate(versions):
        v, at = _map(version), f"{path}[{i}]"
        name = v.get("name")
        if not name:
            errors.append(FieldError("FieldValueRequired", f"{at}.name", ""))
        else:
            problems = validation.dns1035_label_errors(str(name))
            if problems:
                errors.append(FieldError("FieldValueInvalid", f"{at}.name", ",".join(problems),
                                         name))
            if name in seen:
                errors.append(FieldError("FieldValueInvalid", f"{at}.name", "must be unique",
                                         name))
            seen.add(str(name))
        schema = _map(v.get("schema")).get("openAPIV3Schema")
        if not isinstance(schema, Mapping):
            errors.append(FieldError("FieldValueRequired", f"{at}.schema.openAPIV3Schema",
                                     "schemas are required"))
        elif schema.get("type") != "object":
            errors.append(FieldError("FieldValueInvalid", f"{at}.schema.openAPIV3Schema.type",
                                     "must be object at the root", schema.get("type")))
        for j, column in enumerate(_list(v.get("additionalPrinterColumns"))):
            c, col = _map(column), f"{at}.additionalPrinterColumns[{j}]"
            if not c.get("name"):
                errors.append(FieldError("FieldValueRequired", f"{col}.name", ""))
            if c.get("type") not in COLUMN_TYPES:
                errors.append(FieldError("FieldValueNotSupported", f"{col}.type",
                                         "supported values: " + ", ".join(
                                             f'"{t}"' for t in COLUMN_TYPES), c.get("type")))
            if not c.get("jsonPath"):
                errors.append(FieldError("FieldValueRequired", f"{col}.jsonPath", ""))
    if sum(1 for v in versions if _map(v).get("storage") is True) != 1:
        errors.append(FieldError("FieldValueInvalid", path, "must have exactly one version "
                                 "marked as storage version", versions))
    return errors


def definition_errors(crd: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[FieldError]:
    spec = _map(crd.get("spec"))
    names = _map(spec.get("names"))
    group = spec.get("group")
    errors: list[FieldError] = []
    name = _map(crd.get("metadata")).get("name")
    if name and (names.get("plural") and group) and name != f"{names['plural']}.{group}":
        errors.append(FieldError("FieldValueInvalid", "metadata.name",
                                 'must be spec.names.plural+"."+spec.group', name))
    if not group:
        errors.append(FieldError("FieldValueRequired", "spec.group", ""))
    elif validation.dns1123_subdomain_errors(str(group)) or "." not in str(group):
        errors.append(FieldError("FieldValueInvalid", "spec.group",
                                 "should be a domain with at least one dot", group))
    scope = spec.get("scope")
    if not scope:
        errors.append(FieldError("FieldValueRequired", "spec.scope", ""))
    elif scope not in SCOPES:
        errors.append(FieldError("FieldValueNotSupported", "spec.scope", "supported values: "
                                 + ", ".join(f'"{s}"' for s in SCOPES), scope))
    errors += _names_errors(names, "spec.names")
    errors += _version_errors(_list(spec.get("versions")), "spec.versions")
    if old is not None:
        old_spec = _map(old.get("spec"))
        for key in ("scope", "group"):
            if old_spec.get(key) != spec.get(key):
                errors.append(FieldError("FieldValueInvalid", f"spec.{key}",
                                         "field is immutable", spec.get(key)))
    return errors


# --- custom resources ----------------------------------------------------------------------------


def default_custom(obj: JSON, version: Version) -> None:
    structural.default(obj, version.schema)


def custom_errors(obj: Mapping[str, Any], version: Version) -> list[FieldError]:
    return structural.validate(obj, version.schema)
