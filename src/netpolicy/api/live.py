"""Reading the current state of a live cluster through the official `kubernetes` client.

Objects come back as the API server's JSON, exactly as `kubectl get -o json` shows
them, and go through the same validation and inventory as manifests do. The tiered
cluster policies are custom resources (network-policy-api's CRDs): they are listed through
the custom-objects API, and a cluster that does not serve a kind (no CRD: 404) simply has
none of it.
"""

from __future__ import annotations

import json
from typing import Any

from netpolicy.api.loading import Document
from netpolicy.api.tiers import API_VERSIONS, PLURALS
from netpolicy.errors import ClusterError

# (kind, how to list it across namespaces with the typed client)
_LISTS = (
    ("Namespace", "CoreV1Api", "list_namespace"),
    ("Node", "CoreV1Api", "list_node"),
    ("Pod", "CoreV1Api", "list_pod_for_all_namespaces"),
    ("Service", "CoreV1Api", "list_service_for_all_namespaces"),
    ("NetworkPolicy", "NetworkingV1Api", "list_network_policy_for_all_namespaces"),
)
# (kind, group, version, plural) of the cluster-scoped custom resources we read
_CUSTOM = tuple((kind, *API_VERSIONS[kind].split("/"), PLURALS[kind]) for kind in API_VERSIONS)


def read_cluster(kubeconfig: str | None = None, context: str | None = None,
                 namespace: str | None = None) -> list[Document]:
    """List namespaces, nodes, pods, services and policies (in `namespace` only, if given:
    namespaces and nodes are always listed whole, since selectors reach across)."""
    try:
        from kubernetes import client, config  # imported here: it is slow to import
        from kubernetes.client.exceptions import ApiException
        from kubernetes.config.config_exception import ConfigException
    except ImportError as exc:  # pragma: no cover - it is a dependency
        raise ClusterError(f"the kubernetes client is not installed: {exc}") from exc
    try:
        api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context)
    except (ConfigException, OSError, TypeError) as exc:
        where = kubeconfig or "the default kubeconfig (KUBECONFIG or ~/.kube/config)"
        raise ClusterError(f"cannot load {where}: {exc}") from exc
    docs: list[Document] = []
    server = api_client.configuration.host
    try:
        with api_client:
            for kind, api_name, method in _LISTS:
                api = getattr(client, api_name)(api_client)
                if namespace and method.endswith("_for_all_namespaces"):
                    method = method.replace("_for_all_namespaces", "").replace("list_", "list_namespaced_")
                    resp = getattr(api, method)(namespace, _preload_content=False, _request_timeout=30)
                else:
                    resp = getattr(api, method)(_preload_content=False, _request_timeout=30)
                docs += _documents(server, kind, json.loads(resp.data))
            custom = client.CustomObjectsApi(api_client)
            for kind, group, version, plural in _CUSTOM:
                try:
                    raw: Any = custom.list_cluster_custom_object(
                        group, version, plural, _preload_content=False, _request_timeout=30)
                except ApiException as exc:
                    if exc.status == 404:
                        continue  # the cluster does not serve this kind: it has none
                    raise
                docs += _documents(server, kind, json.loads(raw.data), f"{group}/{version}")
    except ApiException as exc:
        raise ClusterError(f"listing from {server} failed: {exc.status} {exc.reason}: "
                           f"{_message(exc)}") from exc
    except Exception as exc:  # urllib3 connection errors and the like
        raise ClusterError(f"cannot reach {server}: {exc}") from exc
    return docs


def _documents(server: str, kind: str, body: dict[str, Any],
               api_version: str | None = None) -> list[Document]:
    """The items of one list response; a list's items may leave out kind and apiVersion."""
    docs = []
    for i, item in enumerate(body.get("items") or []):
        item.setdefault("kind", kind)
        if api_version is not None:
            item.setdefault("apiVersion", api_version)
        docs.append(Document(item, f"{server} {kind} #{i}"))
    return docs


def _message(exc: Any) -> str:
    try:
        return str(json.loads(exc.body).get("message", exc.body))
    except (TypeError, ValueError):
        return str(exc.body)
