"""OpenAPI v3 documents, generated from `schemas.py` and `netpolicy.lab.resources`.

kubectl reads `/openapi/v3` (an index of group versions) and then `/openapi/v3/<gv>`:
- `kubectl explain` walks the component schemas of the kind (found by its
  `x-kubernetes-group-version-kind`);
- `kubectl apply/create/edit/replace` look for the PATCH operation of the kind and its
  `fieldValidation` query parameter: when present, kubectl sends `fieldValidation=Strict`
  and leaves validation to the server instead of validating against OpenAPI v2 itself.
So every resource gets its paths with the operations it serves, and the parameters the
server honours.

A custom resource's document is built from its CRD's schema, as upstream's builder does:
the kind is `<reversed group>.<version>.<Kind>` (`com.example.v1.Widget`), with `apiVersion`,
`kind` and a `metadata` that refers to ObjectMeta; its PATCH takes no strategic merge patch
(so kubectl sends a merge patch). Built-in documents are cached; custom ones are built per
request (`index()` hashes them, so kubectl's cache notices a changed CRD).
"""

from __future__ import annotations

import copy
import hashlib
import json
from functools import cache

from netpolicy.lab import resources
from netpolicy.lab.apiserver import schemas
from netpolicy.lab.crds import Registry, Version
from netpolicy.lab.resources import Resource
from netpolicy.lab.store import JSON

_PARAMS = {
    "dryRun": "When present, indicates that modifications should not be persisted.",
    "fieldManager": "fieldManager is a name associated with the actor or entity that is "
                    "making these changes.",
    "fieldValidation": "fieldValidation instructs the server on how to handle objects in the "
                       "request containing unknown or duplicate fields. Valid values are: "
                       "Ignore, Warn (the default) and Strict.",
}
PATCH_TYPES = ("application/apply-patch+yaml", "application/json-patch+json",
               "application/merge-patch+json", "application/strategic-merge-patch+json")
CUSTOM_PATCH_TYPES = PATCH_TYPES[:3]


def _query(name: str, description: str, kind: str = "string") -> JSON:
    return {"name": name, "in": "query", "description": description,
            "schema": {"type": kind, "uniqueItems": True}}


def _path_param(name: str) -> JSON:
    return {"name": name, "in": "path", "required": True,
            "description": f"{name} of the object", "schema": {"type": "string",
                                                               "uniqueItems": True}}


def _schema_name(r: Resource, kind: str = "") -> str:
    name = schemas.KIND_SCHEMAS.get((r.api_version, kind or r.kind))
    return name or schemas.META + "ObjectMeta"


def _operation(action: str, r: Resource, schema: str, *, writes: bool = False,
               gvk: tuple[str, str, str] | None = None,
               patch_types: tuple[str, ...] = PATCH_TYPES) -> JSON:
    group, version, kind = gvk or (r.group, r.version, r.kind)
    op: JSON = {
        "description": f"{action} {kind}",
        "operationId": f"{action}{kind}",
        "responses": {"200": {"description": "OK", "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": group, "kind": kind, "version": version},
    }
    if writes:
        op["parameters"] = [_query(n, d) for n, d in _PARAMS.items()]
        if action == "patch":
            op["parameters"].append(_query("force", "Force is going to \"force\" Apply "
                                           "requests.", "boolean"))
            op["requestBody"] = {"content": {t: {"schema": {"type": "object"}}
                                             for t in patch_types}, "required": True}
        else:
            op["requestBody"] = {"content": {"application/json": {"schema": {
                "$ref": f"#/components/schemas/{schema}"}}}, "required": True}
    return op


def _paths(r: Resource, custom_schema: str = "") -> dict[str, JSON]:
    prefix = f"/apis/{r.group}/{r.version}" if r.group else "/api/v1"
    base = f"{prefix}/namespaces/{{namespace}}/{r.plural}" if r.namespaced \
        else f"{prefix}/{r.plural}"
    schema = custom_schema or _schema_name(r)
    types = CUSTOM_PATCH_TYPES if custom_schema else PATCH_TYPES
    params = [_path_param("namespace")] if r.namespaced else []
    paths: dict[str, JSON] = {
        base: {"get": _operation("list", r, schema), "post": _operation("post", r, schema,
                                                                        writes=True),
               "parameters": params},
        f"{base}/{{name}}": {
            "get": _operation("get", r, schema), "put": _operation("put", r, schema, writes=True),
            "patch": _operation("patch", r, schema, writes=True, patch_types=types),
            "delete": _operation("delete", r, schema),
            "parameters": [_path_param("name"), *params]},
    }
    for sub in r.subresources:
        if sub.name not in ("status", "scale"):
            continue
        gvk = (sub.group, sub.version, sub.kind) if sub.version else None
        sub_schema = custom_schema or (_schema_name(r, sub.kind) if not sub.version else
                                       schemas.AUTOSCALING + "Scale")
        paths[f"{base}/{{name}}/{sub.name}"] = {
            "get": _operation("get", r, sub_schema, gvk=gvk),
            "put": _operation("put", r, sub_schema, writes=True, gvk=gvk),
            "patch": _operation("patch", r, sub_schema, writes=True, gvk=gvk,
                                patch_types=types),
            "parameters": [_path_param("name"), *params]}
    return paths


def custom_schema_name(r: Resource, kind: str = "") -> str:
    """`com.example.v1.Widget`: how upstream names a custom resource's schema."""
    return ".".join([*reversed(r.group.split(".")), r.version, kind or r.kind])


def _custom_schemas(version: Version) -> dict[str, JSON]:
    r = version.resource
    gvk = [{"group": r.group, "version": r.version, "kind": r.kind}]
    kind_schema = copy.deepcopy(dict(version.schema))
    props = kind_schema.setdefault("properties", {})
    props["apiVersion"] = {"type": "string", "description": _API_VERSION_DOC}
    props["kind"] = {"type": "string", "description": _KIND_DOC}
    props["metadata"] = {"allOf": [{"$ref": f"#/components/schemas/{schemas.META}ObjectMeta"}],
                         "description": _METADATA_DOC}
    kind_schema["x-kubernetes-group-version-kind"] = gvk
    list_schema = {
        "type": "object", "required": ["items"],
        "description": f"{r.kind}List is a list of {r.kind}",
        "properties": {
            "apiVersion": {"type": "string", "description": _API_VERSION_DOC},
            "kind": {"type": "string", "description": _KIND_DOC},
            "metadata": {"type": "object", "description": "Standard list metadata.",
                         "x-kubernetes-preserve-unknown-fields": True},
            "items": {"type": "array", "description": f"List of {r.plural}.",
                      "items": {"$ref": f"#/components/schemas/{custom_schema_name(r)}"}}},
        "x-kubernetes-group-version-kind": [{**gvk[0], "kind": r.kind + "List"}]}
    return {custom_schema_name(r): kind_schema,
            custom_schema_name(r, r.kind + "List"): list_schema}


_API_VERSION_DOC = ("APIVersion defines the versioned schema of this representation of an "
                    "object. Servers should convert recognized schemas to the latest internal "
                    "value, and may reject unrecognized values.")
_KIND_DOC = ("Kind is a string value representing the REST resource this object represents. "
             "Servers may infer this from the endpoint the client submits requests to. Cannot "
             "be updated. In CamelCase.")
_METADATA_DOC = ("Standard object's metadata. More info: https://git.k8s.io/community/"
                 "contributors/devel/sig-architecture/api-conventions.md#metadata")


def _custom_document(registry: Registry, group: str, version: str) -> bytes | None:
    served = [v for r in registry.in_group_version(group, version)
              if (v := registry.version(r)) is not None]
    if not served:
        return None
    paths: dict[str, JSON] = {}
    components: dict[str, JSON] = dict(schemas.referenced([schemas.META + "ObjectMeta"]))
    for v in served:
        paths.update(_paths(v.resource, custom_schema_name(v.resource)))
        components.update(_custom_schemas(v))
    doc = {"openapi": "3.0.0", "info": {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"},
           "paths": paths, "components": {"schemas": components}}
    return json.dumps(doc, separators=(",", ":")).encode()


def document(registry: Registry, group: str, version: str) -> bytes | None:
    """The OpenAPI v3 document of one group version (built-in or custom)."""
    if resources.in_group_version(group, version):
        return group_version_document(group, version)
    return _custom_document(registry, group, version)


@cache
def group_version_document(group: str, version: str) -> bytes | None:
    served = resources.in_group_version(group, version)
    if not served:
        return None
    paths: dict[str, JSON] = {}
    names: list[str] = []
    for r in served:
        paths.update(_paths(r))
        names.append(_schema_name(r))
        if r.subresource("scale"):
            names.append(schemas.AUTOSCALING + "Scale")
    doc = {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"},
           "paths": paths, "components": {"schemas": schemas.referenced(names)}}
    return json.dumps(doc, separators=(",", ":")).encode()


def _url_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def index(registry: Registry) -> bytes:
    """`/openapi/v3`: where each group version's document is, with a content hash."""
    paths = {}
    for group, version in registry.group_versions():
        doc = document(registry, group, version)
        assert doc is not None
        digest = hashlib.sha512(doc).hexdigest()[:64].upper()
        url = _url_path(group, version)
        paths[url] = {"serverRelativeURL": f"/openapi/v3/{url}?hash={digest}"}
    return json.dumps({"paths": paths}, separators=(",", ":")).encode()


def document_for_path(registry: Registry, path: str) -> bytes | None:
    """The document served at `/openapi/v3/<path>` (`api/v1`, `apis/apps/v1`)."""
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "api":
        return document(registry, "", parts[1])
    if len(parts) == 3 and parts[0] == "apis":
        return document(registry, parts[1], parts[2])
    return None
