"""The API server's admission chain for the lab: defaulting, then validation.

`install_admission(store)` registers two store hooks (once per store), so objects written
in-process by the lab's controllers get the same treatment as objects sent by kubectl:

1. defaulting (`defaults.py`), on every create and update (status updates included);
2. validation with the API server's rules and messages: `netpolicy.api.validation` for the
   kinds it knows (NetworkPolicy, Namespace, Pod, Service, Node, Deployment, ReplicaSet),
   metadata rules for the others, and the update rules that make fields immutable (a Pod's
   spec beyond images and a few fields, a workload's selector, a Service's clusterIP).
   Failures are 422 `Invalid` errors with one cause per field error.
3. CustomResourceDefinitions and custom resources (`customresources.py`): a CRD is
   defaulted and checked; a custom resource gets its schema's defaults and checks, the
   metadata rules, and — when its kind is one `netpolicy.api.validation` knows in the
   same group (the policy.networking.k8s.io tiers) — those rules too, each error once.

Status updates are not validated beyond decoding (only controllers write them), except a
custom resource's, which its schema covers.
A Pod's `spec.nodeName` is set through the `binding` subresource, as upstream.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from netpolicy.api import validation
from netpolicy.api.validation import FieldError
from netpolicy.lab.apiserver import customresources, defaults
from netpolicy.lab.crds import Registry
from netpolicy.lab.resources import CRDS, Resource
from netpolicy.lab.store import Admission, Invalid, Store

POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it "
    "to be set to 1 if it was previously negative)")


def install_admission(store: Store) -> None:
    """Register the lab API server's defaulting and validation on `store` (idempotent)."""
    registry = store.registry
    store.add_admission(lambda request: default(request, registry),
                        name="netpolicy.lab.defaulting")
    store.add_admission(lambda request: validate(request, registry),
                        name="netpolicy.lab.validation")


def _is_definition(res: Resource) -> bool:
    return res.plural == CRDS and not res.custom


def default(request: Admission, registry: Registry) -> None:
    res = request.resource
    if res.custom:
        version = registry.version(res)
        if version is not None:
            customresources.default_custom(request.obj, version)
        return
    if _is_definition(res) and request.subresource != "status":
        customresources.default_definition(request.obj, request.old)
    defaulter = defaults.DEFAULTERS.get(res.plural)
    if defaulter is not None:
        defaulter(request.obj)


def _knows(res: Resource) -> bool:
    """Whether `netpolicy.api.validation` has rules for objects of `res`: its kind is
    dispatched there, in this group (a custom `Pod` of some other group is not a Pod)."""
    return validation.KIND_GROUPS.get(res.kind, res.group) == res.group


def validate(request: Admission, registry: Registry) -> None:
    obj, res = request.obj, request.resource
    if res.custom:
        version = registry.version(res)
        errors = _metadata_errors(obj) if request.subresource != "status" else []
        if version is not None:
            errors += customresources.custom_errors(obj, version)
        if _knows(res) and request.subresource != "status":
            errors += validation.validate(obj)
    elif request.subresource == "status":
        return
    else:
        errors = list(validation.validate(obj)) if res.kind in validation.KIND_GROUPS \
            else _metadata_errors(obj)
        if _is_definition(res):
            errors += customresources.definition_errors(obj, request.old)
        if request.old is not None:
            errors += _update_errors(res.plural, request.old, obj, request.subresource)
    if errors:
        name = obj.get("metadata", {}).get("name") or ""
        raise Invalid.of(res, str(name), _unique(errors))


def _unique(errors: list[FieldError]) -> list[FieldError]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for e in errors:
        key = (e.type, e.path, e.reason)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def _metadata_errors(obj: Mapping[str, Any]) -> list[FieldError]:
    meta = obj.get("metadata") or {}
    name = meta.get("name") or ""
    errors: list[FieldError] = []
    if not name:
        errors.append(FieldError("FieldValueRequired", "metadata.name",
                                 "name or generateName is required"))
    else:
        errors += [FieldError("FieldValueInvalid", "metadata.name", msg, name)
                   for msg in validation.dns1123_subdomain_errors(str(name))]
    errors += validation.validate_labels(meta.get("labels"), "metadata.labels")
    return errors


def _update_errors(plural: str, old: Mapping[str, Any], new: Mapping[str, Any],
                   subresource: str) -> list[FieldError]:
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    if plural == "pods" and subresource != "binding" and \
            _pod_mutable_stripped(old_spec) != _pod_mutable_stripped(new_spec):
        return [FieldError("FieldValueForbidden", "spec", POD_UPDATE_FORBIDDEN)]
    if plural in ("deployments", "replicasets") and \
            old_spec.get("selector") != new_spec.get("selector"):
        return [FieldError("FieldValueInvalid", "spec.selector", "field is immutable",
                           new_spec.get("selector"))]
    if plural == "services" and old_spec.get("clusterIP") and \
            new_spec.get("clusterIP") not in (None, "", old_spec.get("clusterIP")):
        return [FieldError("FieldValueInvalid", "spec.clusterIPs[0]", "may not change once set",
                           new_spec.get("clusterIPs") or [new_spec.get("clusterIP")])]
    return []


def _pod_mutable_stripped(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The pod spec without what an update may change."""
    out = copy.deepcopy(dict(spec))
    for key in ("activeDeadlineSeconds", "terminationGracePeriodSeconds", "tolerations"):
        out.pop(key, None)
    for key in ("containers", "initContainers"):
        for c in out.get(key) or ():
            if isinstance(c, dict):
                c.pop("image", None)
    return out
