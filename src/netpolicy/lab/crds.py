"""Custom resources: what a CustomResourceDefinition makes the lab's API server serve.

    definition(crd) -> Definition     a CRD read: one `Resource` per served version, the
                                      version's schema and printer columns
    Registry                          the built-in resources and the defined ones; the store
                                      owns one and keeps it in step with its stored CRDs
    install_crds(store, manifests)    create or replace CRDs (the API server does it at start)
    default_crds()                    the CRDs the lab installs at start

The store calls `Registry.define` when a CRD is written and `Registry.forget` when it is
deleted (after deleting its objects), so a custom resource is served from the write of its
CRD on, with no establishing delay. Everything else reads the registry: the REST handlers
(paths), discovery, OpenAPI, tables and admission (schemas). Conversion between the
versions of a CRD is `None` (only `apiVersion` changes), the only strategy the lab has.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netpolicy.lab import resources
from netpolicy.lab.resources import ALL_VERBS, CRDS, Resource, Subresource

if TYPE_CHECKING:
    from netpolicy.lab.store import Store

JSON = dict[str, Any]
CrdProvider = Callable[[], Sequence[Mapping[str, Any]]]

CREATION_TIMESTAMP_DOC = ("CreationTimestamp is a timestamp representing the server time when "
                          "this object was created. It is not guaranteed to be set in "
                          "happens-before order across separate operations. Clients may not "
                          "set this value. It is represented in RFC3339 form and is in UTC.")
OPEN_SCHEMA: JSON = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


@dataclass(frozen=True, slots=True)
class PrinterColumn:
    """One of a version's `additionalPrinterColumns`."""

    name: str
    type: str
    json_path: str
    description: str = ""
    priority: int = 0
    format: str = ""


# serveDefaultColumnsIfEmpty: a version without printer columns shows its age.
AGE_COLUMN = PrinterColumn("Age", "date", ".metadata.creationTimestamp", CREATION_TIMESTAMP_DOC)


@dataclass(frozen=True, slots=True)
class Version:
    """One served version of a custom resource."""

    resource: Resource
    schema: JSON
    columns: tuple[PrinterColumn, ...]


@dataclass(frozen=True, slots=True)
class Definition:
    """A CRD as the server serves it: `stored` is the resource of its storage version."""

    name: str
    stored: Resource
    versions: tuple[Version, ...]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _columns(version: Mapping[str, Any]) -> tuple[PrinterColumn, ...]:
    columns = tuple(
        PrinterColumn(_str(c.get("name")), _str(c.get("type")) or "string",
                      _str(c.get("jsonPath")), _str(c.get("description")),
                      int(c.get("priority") or 0), _str(c.get("format")))
        for c in _list(version.get("additionalPrinterColumns")) if isinstance(c, Mapping))
    return columns or (AGE_COLUMN,)


def definition(crd: Mapping[str, Any]) -> Definition:
    """Read a (valid, defaulted) CRD."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural, kind = _str(spec.get("group")), _str(names.get("plural")), _str(
        names.get("kind"))
    namespaced = spec.get("scope") != "Cluster"
    storage_key = f"{plural}.{group}"
    versions = [v for v in _list(spec.get("versions")) if isinstance(v, Mapping)]
    storage = next((v for v in versions if v.get("storage")), versions[0] if versions else {})

    def resource(version: Mapping[str, Any]) -> Resource:
        subresources: tuple[Subresource, ...] = ()
        if isinstance((version.get("subresources") or {}).get("status"), Mapping):
            subresources = (Subresource("status", kind, ("get", "patch", "update")),)
        fields = tuple(_str(f.get("jsonPath")).lstrip(".")
                       for f in _list(version.get("selectableFields")) if isinstance(f, Mapping))
        return Resource(
            group, _str(version.get("name")), kind, plural,
            _str(names.get("singular")) or kind.lower(), namespaced,
            tuple(_str(n) for n in _list(names.get("shortNames"))),
            tuple(_str(c) for c in _list(names.get("categories"))), subresources, ALL_VERBS,
            fields, has_generation=True, custom=True,
            storage="" if version is storage else storage_key)

    served = tuple(
        Version(resource(v), ((v.get("schema") or {}).get("openAPIV3Schema") or OPEN_SCHEMA),
                _columns(v))
        for v in versions if v.get("served", True))
    return Definition(_str((crd.get("metadata") or {}).get("name")), resource(storage), served)


_KUBE_VERSION = re.compile(r"v(\d+)(?:(alpha|beta)(\d+))?")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """A sort key giving Kubernetes' version order (`CompareKubeAwareVersionStrings`):
    v2, v1, v1beta2, v1beta1, v1alpha1, then anything else alphabetically."""
    m = _KUBE_VERSION.fullmatch(version)
    if not m:
        return (3, 0, 0, version)
    stage = {None: 0, "beta": 1, "alpha": 2}[m[2]]
    return (stage, -int(m[1]), -int(m[3] or 0), "")


class Registry:
    """The resources a store serves: the built-in table and the defined custom resources."""

    def __init__(self) -> None:
        self._definitions: dict[str, Definition] = {}
        self._paths: dict[tuple[str, str, str], Version] = {}
        self._stored: dict[str, Resource] = {}
        self._versions: dict[Resource, Version] = {}
        # Changes with every define/forget: cached documents (OpenAPI) key on it.
        self.generation = 0

    # -- reads: the same questions as `netpolicy.lab.resources`, custom resources included --

    def lookup(self, group: str, version: str, plural: str) -> Resource | None:
        found = resources.lookup(group, version, plural)
        if found is not None:
            return found
        served = self._paths.get((group, version, plural))
        return served.resource if served else None

    def stored(self, name: str) -> Resource:
        """The resource stored under `name` (a plural, or a custom group resource)."""
        if name in self._stored:
            return self._stored[name]
        return resources.stored(name)

    def by_kind(self, api_version: str, kind: str) -> Resource | None:
        found = resources.by_kind(api_version, kind)
        if found is not None:
            return found
        return next((v.resource for v in self._paths.values()
                     if v.resource.api_version == api_version and v.resource.kind == kind),
                    None)

    def stored_resources(self) -> Iterator[Resource]:
        """Every stored resource (no views), built-in ones first."""
        yield from (r for r in resources.RESOURCES if not r.storage)
        yield from self._stored.values()

    def group_versions(self) -> list[tuple[str, str]]:
        """Every (group, version) served, in discovery order: the built-in groups, then
        the custom groups by name, each group's versions by priority."""
        out = list(resources.group_versions())
        custom: dict[str, set[str]] = {}
        for group, version, _ in self._paths:
            if resources.in_group_version(group, version):
                continue
            custom.setdefault(group, set()).add(version)
        for group in sorted(custom):
            out += [(group, v) for v in sorted(custom[group], key=version_priority)]
        return out

    def in_group_version(self, group: str, version: str) -> tuple[Resource, ...]:
        builtin = resources.in_group_version(group, version)
        custom = tuple(sorted((v.resource for (g, ver, _), v in self._paths.items()
                               if g == group and ver == version), key=lambda r: r.plural))
        return builtin + tuple(r for r in custom if r not in builtin)

    def version(self, resource: Resource) -> Version | None:
        """The custom resource version behind `resource` (None for built-ins). The stored
        resource of a CRD answers for its storage version."""
        return self._versions.get(resource)

    def definitions(self) -> list[Definition]:
        return list(self._definitions.values())

    # -- writes: the store calls these as CRDs are written and deleted --

    def define(self, crd: Mapping[str, Any]) -> Definition:
        """Serve what `crd` defines (replacing what an earlier state of it defined)."""
        found = definition(crd)
        self.forget(found.name)
        self._definitions[found.name] = found
        self._stored[found.stored.storage_name] = found.stored
        for v in found.versions:
            r = v.resource
            if resources.lookup(r.group, r.version, r.plural) is None:
                self._paths[(r.group, r.version, r.plural)] = v
            self._versions[r] = v
            if not r.storage:
                self._versions[found.stored] = v
        if found.versions:  # a storage version that is not served validates as the first
            self._versions.setdefault(found.stored, found.versions[0])
        self.generation += 1
        return found

    def forget(self, name: str) -> Definition | None:
        """Stop serving the CRD named `name`; returns what it defined."""
        found = self._definitions.pop(name, None)
        if found is None:
            return None
        self._stored.pop(found.stored.storage_name, None)
        for v in found.versions:
            r = v.resource
            if self._paths.get((r.group, r.version, r.plural)) is v:
                del self._paths[(r.group, r.version, r.plural)]
            self._versions.pop(r, None)
        self._versions.pop(found.stored, None)
        self.generation += 1
        return found


# --- installing CRDs at start -------------------------------------------------------------------


async def install_crds(store: Store, manifests: Sequence[Mapping[str, Any]]) -> list[str]:
    """Create each CRD of `manifests`, or replace the spec (labels, annotations) of one
    that exists; returns their names. Invalid manifests fail as the API would (422)."""
    existing = {str(e.obj["metadata"]["name"]): e.obj
                for e in store.select(CRDS, store.query(CRDS)).items}
    names = []
    for manifest in manifests:
        obj = copy.deepcopy(dict(manifest))
        meta = obj.setdefault("metadata", {})
        name = str(meta.get("name") or "")
        current = existing.get(name)
        if current is None:
            await store.create(CRDS, obj)
        else:
            meta.pop("resourceVersion", None)
            await store.update(CRDS, obj)
        names.append(name)
    return names


def default_crds() -> list[JSON]:
    """The CRDs every lab serves: the network-policy-api kinds (AdminNetworkPolicy,
    BaselineAdminNetworkPolicy, ClusterNetworkPolicy) of `netpolicy.api.tier_schemas`."""
    from netpolicy.api import tier_schemas

    return tier_schemas.crds()
