"""Defaulting on create and update, as the API server's `SetDefaults_*` functions and the
admission plugins that fill fields (ServiceAccount, DefaultTolerationSeconds) do, so that
`kubectl get -o yaml` shows what a real cluster would.

Each function edits the object in place and only fills what is missing. Which defaults
apply where follows `k8s.io/kubernetes/pkg/apis/*/v1/defaults.go`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netpolicy.api.objects import policy_directions
from netpolicy.lab.store import JSON

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def _dict(parent: JSON, key: str) -> JSON:
    value = parent.get(key)
    if not isinstance(value, dict):
        value = parent[key] = {}
    return value


def _dicts(value: Any) -> list[JSON]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def container(c: JSON) -> None:
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if "imagePullPolicy" not in c:
        image = str(c.get("image", ""))
        last = image.rsplit("/", 1)[-1]
        tag = last.split(":", 1)[1] if ":" in last and "@" not in last else ""
        c["imagePullPolicy"] = "Always" if (not tag and "@" not in last) or tag == "latest" \
            else "IfNotPresent"
    c.setdefault("resources", {})
    for port in _dicts(c.get("ports")):
        port.setdefault("protocol", "TCP")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        p = c.get(probe)
        if isinstance(p, dict):
            p.setdefault("timeoutSeconds", 1)
            p.setdefault("periodSeconds", 10)
            p.setdefault("successThreshold", 1)
            p.setdefault("failureThreshold", 3)
            http = p.get("httpGet")
            if isinstance(http, dict):
                http.setdefault("path", "/")
                http.setdefault("scheme", "HTTP")


def pod_spec(spec: JSON) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for c in _dicts(spec.get("containers")) + _dicts(spec.get("initContainers")):
        container(c)


def pod(obj: JSON) -> None:
    spec = _dict(obj, "spec")
    pod_spec(spec)
    # ServiceAccount admission: every pod runs as a service account.
    if not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = spec.get("serviceAccount") or "default"
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    # DefaultTolerationSeconds admission.
    tolerations = spec.setdefault("tolerations", [])
    if isinstance(tolerations, list):
        for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
            if not any(isinstance(t, dict) and t.get("key") == key for t in tolerations):
                tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                    "tolerationSeconds": 300})
    status = _dict(obj, "status")
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", "BestEffort")


def _template(spec: JSON) -> None:
    template = _dict(spec, "template")
    _dict(template, "metadata").setdefault("creationTimestamp", None)
    pod_spec(_dict(template, "spec"))


def deployment(obj: JSON) -> None:
    spec = _dict(obj, "spec")
    spec.setdefault("replicas", 1)
    strategy = _dict(spec, "strategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _dict(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _template(spec)


def replicaset(obj: JSON) -> None:
    spec = _dict(obj, "spec")
    spec.setdefault("replicas", 1)
    _template(spec)
    # ReplicaSetStatus.replicas is not omitempty: Go always encodes it.
    _dict(obj, "status").setdefault("replicas", 0)


def service(obj: JSON) -> None:
    spec = _dict(obj, "spec")
    kind = spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in _dicts(spec.get("ports")):
        port.setdefault("protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    if kind != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
        if spec.get("clusterIP") and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        if spec.get("clusterIP") != "None":
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    status = _dict(obj, "status")
    status.setdefault("loadBalancer", {})


def namespace(obj: JSON) -> None:
    meta = _dict(obj, "metadata")
    name = meta.get("name")
    if isinstance(name, str) and name:
        _dict(meta, "labels")[NAMESPACE_NAME_LABEL] = name
    _dict(obj, "spec").setdefault("finalizers", ["kubernetes"])
    status = _dict(obj, "status")
    status.setdefault("phase", "Active")


def network_policy(obj: JSON) -> None:
    spec = _dict(obj, "spec")
    spec.setdefault("podSelector", {})
    if not spec.get("policyTypes"):  # defaulted as the API server does (point 2)
        ingress, egress = policy_directions(spec)
        spec["policyTypes"] = [t for t, on in (("Ingress", ingress), ("Egress", egress)) if on]
    for direction in ("ingress", "egress"):
        for rule in _dicts(spec.get(direction)):
            for port in _dicts(rule.get("ports")):
                port.setdefault("protocol", "TCP")


def endpoints(obj: JSON) -> None:
    for subset in _dicts(obj.get("subsets")):
        for port in _dicts(subset.get("ports")):
            port.setdefault("protocol", "TCP")


def endpoint_slice(obj: JSON) -> None:
    obj.setdefault("endpoints", [])
    for port in _dicts(obj.get("ports")):
        port.setdefault("protocol", "TCP")
    for endpoint in _dicts(obj.get("endpoints")):
        endpoint.setdefault("conditions", {})


def node(obj: JSON) -> None:
    _dict(obj, "spec")


DEFAULTERS: dict[str, Callable[[JSON], None]] = {
    "pods": pod,
    "deployments": deployment,
    "replicasets": replicaset,
    "services": service,
    "namespaces": namespace,
    "networkpolicies": network_policy,
    "endpoints": endpoints,
    "endpointslices": endpoint_slice,
    "nodes": node,
}
