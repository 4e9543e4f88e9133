"""The kinds the lab's API server serves, as one table the store and the server share.

A `Resource` is what the API server calls a REST resource: a group, a version, a plural
name (the URL segment), a kind, a scope and the subresources it has. Everything that
differs per kind and is a plain fact — short names for `kubectl api-resources`, which
field selectors a kind supports, whether its status is a subresource, whether spec
changes bump `metadata.generation` — lives here as data, so discovery, storage and the
REST handlers read one table instead of each keeping its own list.

Two resources can share storage: `events.k8s.io/v1` events are stored as core `v1`
events and converted on the way in and out (`storage` names the stored resource).

Custom resources (`custom=True`) are not in this table: `netpolicy.lab.crds` makes them
from CustomResourceDefinitions, and its `Registry` serves both. They are stored under
their group resource (`widgets.example.com`), so a custom plural never meets a built-in
one; the versions of a CRD other than its storage version are views of the stored one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

READ_VERBS = ("get", "list", "watch")
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True, slots=True)
class Subresource:
    """A subresource such as `pods/log`; `kind` is the object it reads and writes."""

    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str = ""
    version: str = ""


_STATUS = Subresource("status", "", ("get", "patch", "update"))


def _scale() -> Subresource:
    return Subresource("scale", "Scale", ("get", "patch", "update"), "autoscaling", "v1")


@dataclass(frozen=True, slots=True)
class Resource:
    """One REST resource of one group version."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    # Extra field-selector labels besides metadata.name/metadata.namespace.
    field_labels: tuple[str, ...] = ()
    # Spec changes increment metadata.generation (workloads and policies).
    has_generation: bool = False
    # The stored resource when this one is a view of another (events.k8s.io events).
    storage: str = ""
    # Status may be set on create (only nodes: the kubelet registers them with a status).
    create_with_status: bool = False
    # Served from a CustomResourceDefinition (see `netpolicy.lab.crds`).
    custom: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """`pods`, `deployments.apps`: how the API server names it in error messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """`Pod`, `Deployment.apps`: how the API server names it in Invalid errors."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def storage_name(self) -> str:
        """The key of the stored resource: a plural for the built-in resources, the group
        resource (`widgets.example.com`) for custom ones."""
        return self.storage or (self.group_resource if self.custom else self.plural)

    @property
    def has_status(self) -> bool:
        """Whether `.status` is written only through the `status` subresource."""
        return any(s.name == "status" for s in self.subresources)

    def subresource(self, name: str) -> Subresource | None:
        return next((s for s in self.subresources if s.name == name), None)


_POD_SUBRESOURCES = (
    Subresource("status", "Pod", ("get", "patch", "update")),
    Subresource("log", "Pod", ("get",)),
    Subresource("exec", "PodExecOptions", ("create", "get")),
    Subresource("attach", "PodAttachOptions", ("create", "get")),
    Subresource("portforward", "PodPortForwardOptions", ("create", "get")),
    Subresource("proxy", "PodProxyOptions", ("create", "delete", "get", "patch", "update")),
    Subresource("binding", "Binding", ("create",)),
    Subresource("eviction", "Eviction", ("create",), "policy", "v1"),
)

RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "Namespace", "namespaces", "namespace", False, ("ns",),
             subresources=(Subresource("status", "Namespace", ("get", "patch", "update")),
                           Subresource("finalize", "Namespace", ("update",))),
             verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
             field_labels=("status.phase",)),
    Resource("", "v1", "Node", "nodes", "node", False, ("no",),
             subresources=(Subresource("status", "Node", ("get", "patch", "update")),
                           Subresource("proxy", "NodeProxyOptions",
                                       ("create", "delete", "get", "patch", "update"))),
             field_labels=("spec.unschedulable",), create_with_status=True),
    Resource("", "v1", "Pod", "pods", "pod", True, ("po",), ("all",), _POD_SUBRESOURCES,
             field_labels=("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                           "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                           "status.podIP", "status.nominatedNodeName")),
    Resource("", "v1", "Service", "services", "service", True, ("svc",), ("all",),
             (Subresource("status", "Service", ("get", "patch", "update")),
              Subresource("proxy", "ServiceProxyOptions",
                          ("create", "delete", "get", "patch", "update"))),
             field_labels=("spec.clusterIP", "spec.type")),
    Resource("", "v1", "Endpoints", "endpoints", "endpoints", True, ("ep",)),
    Resource("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", True, ("sa",)),
    Resource("", "v1", "ConfigMap", "configmaps", "configmap", True, ("cm",)),
    Resource("", "v1", "Event", "events", "event", True, ("ev",),
             field_labels=("involvedObject.kind", "involvedObject.namespace",
                           "involvedObject.name", "involvedObject.uid",
                           "involvedObject.apiVersion", "involvedObject.resourceVersion",
                           "involvedObject.fieldPath", "reason", "reportingComponent",
                           "source", "type")),
    Resource("apps", "v1", "Deployment", "deployments", "deployment", True, ("deploy",),
             ("all",), (_scale(), Subresource("status", "Deployment", ("get", "patch", "update"))),
             has_generation=True),
    Resource("apps", "v1", "ReplicaSet", "replicasets", "replicaset", True, ("rs",), ("all",),
             (_scale(), Subresource("status", "ReplicaSet", ("get", "patch", "update"))),
             field_labels=("status.replicas",), has_generation=True),
    Resource("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice",
             True),
    Resource("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", "networkpolicy",
             True, ("netpol",), has_generation=True),
    Resource("events.k8s.io", "v1", "Event", "events", "event", True, ("ev",),
             field_labels=("regarding.kind", "regarding.namespace", "regarding.name",
                           "regarding.uid", "reason", "reportingController", "type"),
             storage="events"),
    Resource("apiextensions.k8s.io", "v1", "CustomResourceDefinition",
             "customresourcedefinitions", "customresourcedefinition", False, ("crd", "crds"),
             ("api-extensions",),
             (Subresource("status", "CustomResourceDefinition", ("get", "patch", "update")),),
             has_generation=True),
)

# Groups in the order discovery lists them (kubectl prefers earlier groups for a name);
# the groups of custom resources come after these.
GROUP_ORDER: tuple[str, ...] = ("", "apps", "events.k8s.io", "networking.k8s.io",
                                "discovery.k8s.io", "apiextensions.k8s.io")
CRDS = "customresourcedefinitions"

_BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BY_STORAGE = {r.plural: r for r in RESOURCES if not r.storage}
_BY_KIND = {(r.api_version, r.kind): r for r in RESOURCES}


def lookup(group: str, version: str, plural: str) -> Resource | None:
    """The resource served at `/apis/<group>/<version>/<plural>` (group "" is `/api/v1`)."""
    return _BY_PATH.get((group, version, plural))


def stored(name: str) -> Resource:
    """The resource stored under `name` (a plural such as "pods"); KeyError if none."""
    return _BY_STORAGE[name]


def by_kind(api_version: str, kind: str) -> Resource | None:
    return _BY_KIND.get((api_version, kind))


def group_versions() -> Iterator[tuple[str, str]]:
    """Every (group, version) served, in discovery order."""
    seen: set[tuple[str, str]] = set()
    for group in GROUP_ORDER:
        for r in RESOURCES:
            if r.group == group and (group, r.version) not in seen:
                seen.add((group, r.version))
                yield group, r.version


def in_group_version(group: str, version: str) -> tuple[Resource, ...]:
    return tuple(r for r in RESOURCES if r.group == group and r.version == version)
