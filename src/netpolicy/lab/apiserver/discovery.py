"""Discovery documents, built from a store's `Registry` (`netpolicy.lab.crds`): the
built-in resources of `netpolicy.lab.resources` and the custom ones of its CRDs.

kubectl 1.32 first asks `/api` and `/apis` for the aggregated form
(`Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`), which
lists every resource in two requests; we answer it, and the legacy documents
(`APIVersions`, `APIGroupList`, one `APIResourceList` per group version) for older clients
and the official Python client.
"""

from __future__ import annotations

from netpolicy.lab.crds import Registry
from netpolicy.lab.resources import Resource
from netpolicy.lab.store import JSON

VERSION: JSON = {
    "major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit": "netpolicy-lab",
    "gitTreeState": "clean", "buildDate": "2024-12-11T00:00:00Z", "goVersion": "go1.23.0",
    "compiler": "gc", "platform": "linux/amd64",
}
AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"


def wants_aggregated(accept: str) -> str:
    """The aggregated media type the client prefers, or "" for the legacy documents."""
    for part in accept.split(","):
        params = {p.strip() for p in part.split(";")[1:]}
        if "as=APIGroupDiscoveryList" in params and "g=apidiscovery.k8s.io" in params:
            if "v=v2" in params:
                return AGGREGATED_V2
            if "v=v2beta1" in params:
                return AGGREGATED_V2BETA1
    return ""


def api_versions(server_address: str) -> JSON:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": server_address}]}


def _groups(registry: Registry) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for group, version in registry.group_versions():
        if group:
            groups.setdefault(group, []).append(version)
    return groups


def api_group(registry: Registry, group: str) -> JSON | None:
    versions = _groups(registry).get(group)
    if not versions:
        return None
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": entries,
            "preferredVersion": entries[0]}


def api_group_list(registry: Registry) -> JSON:
    groups = []
    for group in _groups(registry):
        entry = api_group(registry, group)
        assert entry is not None
        entry.pop("kind")
        entry.pop("apiVersion")
        groups.append(entry)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list(registry: Registry, group: str, version: str) -> JSON | None:
    served = registry.in_group_version(group, version)
    if not served:
        return None
    items: list[JSON] = []
    for r in served:
        entry: JSON = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                       "kind": r.kind, "verbs": list(r.verbs)}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        items.append(entry)
        for sub in r.subresources:
            sub_entry: JSON = {"name": f"{r.plural}/{sub.name}", "singularName": "",
                               "namespaced": r.namespaced, "kind": sub.kind or r.kind,
                               "verbs": list(sub.verbs)}
            if sub.group or sub.version:
                sub_entry["group"], sub_entry["version"] = sub.group, sub.version
            items.append(sub_entry)
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": items}


def _resource_discovery(r: Resource) -> JSON:
    entry: JSON = {
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "singularResource": r.singular,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    if r.subresources:
        entry["subresources"] = [
            {"subresource": s.name,
             "responseKind": {"group": s.group if s.version else r.group,
                              "version": s.version or r.version, "kind": s.kind or r.kind},
             "verbs": list(s.verbs)}
            for s in r.subresources]
    return entry


def aggregated(registry: Registry, core: bool, media_type: str) -> JSON:
    """The APIGroupDiscoveryList of `/api` (core) or `/apis` (every named group)."""
    items = []
    served = registry.group_versions()
    for group in dict.fromkeys(g for g, _ in served):
        if (group == "") != core:
            continue
        versions = [{"version": v,
                     "resources": [_resource_discovery(r)
                                   for r in registry.in_group_version(group, v)],
                     "freshness": "Current"}
                    for g, v in served if g == group]
        meta: JSON = {"creationTimestamp": None}
        if group:
            meta["name"] = group
        items.append({"metadata": meta, "versions": versions})
    version = "v2" if media_type == AGGREGATED_V2 else "v2beta1"
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{version}",
            "metadata": {}, "items": items}
