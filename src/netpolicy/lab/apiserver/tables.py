"""Server-side printing: `meta.k8s.io/v1` Tables, as `kubectl get` asks for them.

kubectl sends `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` and prints the columns
it gets (priority-1 columns only with `-o wide`). The columns and cells follow
`pkg/printers/internalversion/printers.go` of Kubernetes v1.32: the same names, the same
wording of `<none>`, the same pod STATUS reasoning and the same ages (`HumanDuration`).

Custom resources are printed with their CRD's `additionalPrinterColumns`
(`custom_printer`), as the apiextensions table convertor does: Name, then each column's
JSONPath value typed by the column (a `date` as an age), `None` where the path finds nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from netpolicy.lab.crds import PrinterColumn
from netpolicy.lab.store import JSON

NAME_DOC = ("Name must be unique within a namespace. Is required when creating resources, "
            "although some resources may allow a client to request the generation of an "
            "appropriate name automatically. Name is primarily intended for creation "
            "idempotence and configuration definition. Cannot be updated.")
AGE_DOC = ("CreationTimestamp is a timestamp representing the server time when this object "
           "was created.")


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str = "string"
    description: str = ""
    priority: int = 0
    format: str = ""

    def definition(self) -> JSON:
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


Row = Callable[[Mapping[str, Any], datetime], list[Any]]
Printer = tuple[list["Column"], Row]


def human_duration(seconds: float) -> str:
    """`duration.HumanDuration` of apimachinery."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years, days = hours // 24 // 365, (hours // 24) % 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def since(timestamp: Any, now: datetime) -> str:
    """`translateTimestampSince`: `<unknown>` for no time."""
    if not isinstance(timestamp, str) or not timestamp:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return human_duration((now - then).total_seconds())


def _m(obj: Any, *path: str) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, Mapping) else None
    return obj


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _age(obj: Mapping[str, Any], now: datetime) -> str:
    return since(_m(obj, "metadata", "creationTimestamp"), now)


def format_labels(labels: Any) -> str:
    if not isinstance(labels, Mapping) or not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def format_label_selector(selector: Any) -> str:
    """`metav1.FormatLabelSelector`."""
    if not isinstance(selector, Mapping):
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in _list(selector.get("matchExpressions")):
        key, op = expr.get("key", ""), expr.get("operator", "")
        values = ",".join(sorted(str(v) for v in _list(expr.get("values"))))
        parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                      "Exists": key, "DoesNotExist": f"!{key}"}.get(op, key))
    return ",".join(sorted(parts)) if parts else "<none>"


def _containers(spec: Any) -> tuple[str, str]:
    containers = [c for c in _list(_m(spec, "containers")) if isinstance(c, Mapping)]
    return (",".join(str(c.get("name", "")) for c in containers),
            ",".join(str(c.get("image", "")) for c in containers))


# --- rows -------------------------------------------------------------------------------------


def _pod(pod: Mapping[str, Any], now: datetime) -> list[Any]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    total = len(_list(spec.get("containers")))
    phase = str(status.get("phase") or "")
    reason = str(status.get("reason") or phase)
    conditions = [c for c in _list(status.get("conditions")) if isinstance(c, Mapping)]
    if any(c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated"
           for c in conditions):
        reason = "SchedulingGated"
    restarts, ready, last_restart = 0, 0, ""
    initializing = False
    init_specs = _list(spec.get("initContainers"))
    for i, cs in enumerate(_list(status.get("initContainerStatuses"))):
        restarts += int(cs.get("restartCount") or 0)
        terminated = _m(cs, "state", "terminated")
        waiting = _m(cs, "state", "waiting")
        if isinstance(terminated, Mapping) and terminated.get("exitCode") == 0:
            continue
        if isinstance(terminated, Mapping):
            reason = "Init:" + str(terminated.get("reason") or (
                f"Signal:{terminated.get('signal')}" if terminated.get("signal")
                else f"ExitCode:{terminated.get('exitCode')}"))
        elif isinstance(waiting, Mapping) and waiting.get("reason") not in (None, "",
                                                                             "PodInitializing"):
            reason = f"Init:{waiting.get('reason')}"
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break
    if not initializing:
        has_running = False
        for cs in reversed(_list(status.get("containerStatuses"))):
            if not isinstance(cs, Mapping):
                continue
            restarts += int(cs.get("restartCount") or 0)
            finished = _m(cs, "lastState", "terminated", "finishedAt")
            if isinstance(finished, str) and finished > last_restart:
                last_restart = finished
            waiting, terminated = _m(cs, "state", "waiting"), _m(cs, "state", "terminated")
            if isinstance(waiting, Mapping) and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif isinstance(terminated, Mapping) and terminated.get("reason"):
                reason = str(terminated["reason"])
            elif isinstance(terminated, Mapping):
                reason = (f"Signal:{terminated['signal']}" if terminated.get("signal")
                          else f"ExitCode:{terminated.get('exitCode', 0)}")
            elif cs.get("ready") and isinstance(_m(cs, "state", "running"), Mapping):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            ready_condition = any(c.get("type") == "Ready" and c.get("status") == "True"
                                  for c in conditions)
            reason = "Running" if ready_condition else "NotReady"
    if _m(pod, "metadata", "deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    restarts_text = str(restarts)
    if restarts and last_restart:
        restarts_text = f"{restarts} ({since(last_restart, now)} ago)"
    ips = [p.get("ip") for p in _list(status.get("podIPs")) if isinstance(p, Mapping)]
    ip = (ips[0] if ips else status.get("podIP")) or "<none>"
    gates = _list(spec.get("readinessGates"))
    gates_text = "<none>"
    if gates:
        true = sum(1 for g in gates for c in conditions
                   if c.get("type") == _m(g, "conditionType") and c.get("status") == "True")
        gates_text = f"{true}/{len(gates)}"
    return [_m(pod, "metadata", "name"), f"{ready}/{total}", reason, restarts_text,
            _age(pod, now), ip, spec.get("nodeName") or "<none>",
            status.get("nominatedNodeName") or "<none>", gates_text]


def _deployment(d: Mapping[str, Any], now: datetime) -> list[Any]:
    spec, status = d.get("spec") or {}, d.get("status") or {}
    names, images = _containers(_m(spec, "template", "spec"))
    return [_m(d, "metadata", "name"),
            f"{int(status.get('readyReplicas') or 0)}/{int(spec.get('replicas') or 0)}",
            int(status.get("updatedReplicas") or 0), int(status.get("availableReplicas") or 0),
            _age(d, now), names, images, format_label_selector(spec.get("selector"))]


def _replicaset(rs: Mapping[str, Any], now: datetime) -> list[Any]:
    spec, status = rs.get("spec") or {}, rs.get("status") or {}
    names, images = _containers(_m(spec, "template", "spec"))
    return [_m(rs, "metadata", "name"), int(spec.get("replicas") or 0),
            int(status.get("replicas") or 0), int(status.get("readyReplicas") or 0),
            _age(rs, now), names, images, format_label_selector(spec.get("selector"))]


def _service(svc: Mapping[str, Any], now: datetime) -> list[Any]:
    spec = svc.get("spec") or {}
    kind = str(spec.get("type") or "ClusterIP")
    external = ",".join(str(ip) for ip in _list(spec.get("externalIPs")))
    if kind == "LoadBalancer":
        ingress = [i.get("ip") or i.get("hostname") for i in
                   _list(_m(svc, "status", "loadBalancer", "ingress")) if isinstance(i, Mapping)]
        external = ",".join([str(i) for i in ingress if i] + ([external] if external else [])) \
            or "<pending>"
    elif kind == "ExternalName":
        external = str(spec.get("externalName") or "")
    ports = []
    for p in _list(spec.get("ports")):
        if not isinstance(p, Mapping):
            continue
        protocol = p.get("protocol") or "TCP"
        ports.append(f"{p.get('port')}:{p['nodePort']}/{protocol}" if p.get("nodePort")
                     else f"{p.get('port')}/{protocol}")
    return [_m(svc, "metadata", "name"), kind, spec.get("clusterIP") or "<none>",
            external or "<none>", ",".join(ports) or "<none>", _age(svc, now),
            format_labels(spec.get("selector"))]


def _more(entries: list[str], limit: int = 3) -> str:
    if not entries:
        return "<none>"
    text = ",".join(entries[:limit])
    return text + (f" + {len(entries) - limit} more..." if len(entries) > limit else "")


def _endpoints(ep: Mapping[str, Any], now: datetime) -> list[Any]:
    entries: list[str] = []
    for subset in _list(ep.get("subsets")):
        ports = [p for p in _list(_m(subset, "ports")) if isinstance(p, Mapping)]
        for address in _list(_m(subset, "addresses")):
            ip = _m(address, "ip")
            if ports:
                entries += [f"{ip}:{p.get('port')}" for p in ports]
            else:
                entries.append(str(ip))
    return [_m(ep, "metadata", "name"), _more(entries), _age(ep, now)]


def _endpoint_slice(es: Mapping[str, Any], now: datetime) -> list[Any]:
    ports = [str(p.get("port")) for p in _list(es.get("ports"))
             if isinstance(p, Mapping) and p.get("port") is not None]
    addresses = [str(a) for e in _list(es.get("endpoints"))
                 for a in _list(_m(e, "addresses"))]
    return [_m(es, "metadata", "name"), es.get("addressType") or "",
            ",".join(ports) or "<unset>", _more(addresses), _age(es, now)]


def _network_policy(np: Mapping[str, Any], now: datetime) -> list[Any]:
    return [_m(np, "metadata", "name"), format_label_selector(_m(np, "spec", "podSelector")),
            _age(np, now)]


def _namespace(ns: Mapping[str, Any], now: datetime) -> list[Any]:
    return [_m(ns, "metadata", "name"), _m(ns, "status", "phase") or "", _age(ns, now)]


def _node(node: Mapping[str, Any], now: datetime) -> list[Any]:
    status = node.get("status") or {}
    ready = next((c.get("status") for c in _list(status.get("conditions"))
                  if isinstance(c, Mapping) and c.get("type") == "Ready"), None)
    text = {"True": "Ready", "False": "NotReady"}.get(str(ready), "Unknown")
    if _m(node, "spec", "unschedulable"):
        text += ",SchedulingDisabled"
    labels = _m(node, "metadata", "labels") or {}
    roles = sorted({k.split("/", 1)[1] for k in labels
                    if k.startswith("node-role.kubernetes.io/") and "/" in k}
                   | ({labels["kubernetes.io/role"]} if labels.get("kubernetes.io/role")
                      else set()))
    addresses = [a for a in _list(status.get("addresses")) if isinstance(a, Mapping)]

    def address(kind: str) -> str:
        found = [str(a.get("address")) for a in addresses if a.get("type") == kind]
        return ",".join(found) or "<none>"

    info = status.get("nodeInfo") or {}
    return [_m(node, "metadata", "name"), text, ",".join(roles) or "<none>", _age(node, now),
            info.get("kubeletVersion") or "", address("InternalIP"), address("ExternalIP"),
            info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


def _event(ev: Mapping[str, Any], now: datetime) -> list[Any]:
    first = ev.get("firstTimestamp") or ev.get("eventTime") or _m(ev, "metadata",
                                                                   "creationTimestamp")
    last = ev.get("lastTimestamp") or _m(ev, "series", "lastObservedTime") or first
    involved = ev.get("involvedObject") or {}
    source = ev.get("source") or {}
    source_text = ", ".join(str(s) for s in (source.get("component") or
                                             ev.get("reportingComponent"), source.get("host"))
                            if s)
    return [since(last, now), ev.get("type") or "", ev.get("reason") or "",
            f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
            ev.get("message") or "", involved.get("fieldPath") or "", source_text,
            since(first, now), int(ev.get("count") or 1), _m(ev, "metadata", "name")]


def _service_account(sa: Mapping[str, Any], now: datetime) -> list[Any]:
    return [_m(sa, "metadata", "name"), len(_list(sa.get("secrets"))), _age(sa, now)]


def _config_map(cm: Mapping[str, Any], now: datetime) -> list[Any]:
    count = len(cm.get("data") or {}) + len(cm.get("binaryData") or {})
    return [_m(cm, "metadata", "name"), count, _age(cm, now)]


def _default(obj: Mapping[str, Any], now: datetime) -> list[Any]:
    return [_m(obj, "metadata", "name"), _m(obj, "metadata", "creationTimestamp")]


_NAME = Column("Name", format="name", description=NAME_DOC)
_AGE = Column("Age", description=AGE_DOC)


def _wide(*names: str) -> list[Column]:
    return [Column(n, priority=1) for n in names]


TABLES: dict[str, tuple[list[Column], Row]] = {
    "pods": ([_NAME, Column("Ready", description="The aggregate readiness state of this pod "
                            "for accepting traffic."),
              Column("Status", description="The aggregate status of the containers in this "
                     "pod."),
              Column("Restarts", description="The number of times the containers in this pod "
                     "have been restarted and when the last container in this pod has "
                     "restarted."),
              _AGE, Column("IP", priority=1, description="podIP address allocated to the pod."),
              Column("Node", priority=1, description="NodeName indicates in which node this "
                     "pod is scheduled."),
              *_wide("Nominated Node", "Readiness Gates")], _pod),
    "deployments": ([_NAME, Column("Ready", description="Number of the pod with ready state"),
                     Column("Up-to-date", "integer", "Total number of non-terminated pods "
                            "targeted by this deployment that have the desired template spec."),
                     Column("Available", "integer", "Total number of available pods "
                            "(ready for at least minReadySeconds) targeted by this "
                            "deployment."),
                     _AGE, *_wide("Containers", "Images", "Selector")], _deployment),
    "replicasets": ([_NAME, Column("Desired", "integer", "Replicas is the number of desired "
                                   "replicas."),
                     Column("Current", "integer", "Replicas is the most recently observed "
                            "number of replicas."),
                     Column("Ready", "integer", "The number of ready replicas for this replica "
                            "set."),
                     _AGE, *_wide("Containers", "Images", "Selector")], _replicaset),
    "services": ([_NAME, Column("Type", description="type determines how the Service is "
                                "exposed."),
                  Column("Cluster-IP", description="clusterIP is the IP address of the "
                         "service."),
                  Column("External-IP", description="externalIPs is a list of IP addresses "
                         "for which nodes in the cluster will also accept traffic for this "
                         "service."),
                  Column("Port(s)", description="The list of ports that are exposed by this "
                         "service."),
                  _AGE, *_wide("Selector")], _service),
    "endpoints": ([_NAME, Column("Endpoints", description="Endpoints of the service"), _AGE],
                  _endpoints),
    "endpointslices": ([_NAME, Column("AddressType", description="addressType specifies the "
                                      "type of address carried by this EndpointSlice."),
                        Column("Ports", description="ports specifies the list of network "
                               "ports exposed by each endpoint in this slice."),
                        Column("Endpoints", description="endpoints is a list of unique "
                               "endpoints in this slice."), _AGE], _endpoint_slice),
    "networkpolicies": ([_NAME, Column("Pod-Selector", description="podSelector selects the "
                                       "pods to which this NetworkPolicy object applies."),
                         _AGE], _network_policy),
    "namespaces": ([_NAME, Column("Status", description="The status of the namespace"), _AGE],
                   _namespace),
    "nodes": ([_NAME, Column("Status", description="The status of the node"),
               Column("Roles", description="The roles of the node"), _AGE,
               Column("Version", description="Kubelet Version reported by the node."),
               *_wide("Internal-IP", "External-IP", "OS-Image", "Kernel-Version",
                      "Container-Runtime")], _node),
    "events": ([Column("Last Seen", description="Time when last event occurred"),
                Column("Type", description="Type of this event (Normal, Warning)."),
                Column("Reason", description="This should be a short, machine understandable "
                       "string that gives the reason for the transition into the object's "
                       "current status."),
                Column("Object", description="The object that this event is about."),
                Column("Message", description="A human-readable description of the status "
                       "of this operation."),
                *_wide("Subobject", "Source"), Column("First Seen", priority=1),
                Column("Count", "integer", priority=1),
                Column("Name", format="name", priority=1, description=NAME_DOC)], _event),
    "serviceaccounts": ([_NAME, Column("Secrets", "integer", "Secrets is a list of the "
                                       "secrets in the same namespace that pods running using "
                                       "this ServiceAccount are allowed to use."), _AGE],
                        _service_account),
    "configmaps": ([_NAME, Column("Data", "integer", "Number of data entries"), _AGE],
                   _config_map),
}

DEFAULT_TABLE: Printer = (
    [_NAME, Column("Created At", "date", "CreationTimestamp")], _default)


# --- custom resources: JSONPath columns ---------------------------------------------------------

_STEP = re.compile(r"""\.([^.\[\]]+)|\[(\d+|\*)\]|\[['"]([^'"]+)['"]\]"""
                   r"""|\[\?\(@((?:\.[^.=!\s)]+)+)\s*(==|!=)\s*(?:'([^']*)'|"([^"]*)"|([^)\s]+))\s*\)\]""")


def json_path(obj: Any, path: str) -> list[Any]:
    """The values `path` finds in `obj`: `.a.b`, `[0]`, `[*]`, `['key']` and filters
    `[?(@.type=="Ready")]` (with `==` or `!=`), the JSONPath of printer columns; braces
    (`{.spec}`) are allowed around it. An unparsable path finds nothing."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    current, pos = [obj], 0
    while pos < len(text):
        m = _STEP.match(text, pos)
        if m is None:
            return []
        pos = m.end()
        key, index, quoted, fpath, op = m[1] or m[3], m[2], m[3], m[4], m[5]
        nxt: list[Any] = []
        for value in current:
            if key is not None or quoted is not None:
                if isinstance(value, Mapping) and key in value:
                    nxt.append(value[key])
            elif index == "*":
                nxt += list(value.values()) if isinstance(value, Mapping) else (
                    value if isinstance(value, list) else [])
            elif index is not None:
                if isinstance(value, list) and int(index) < len(value):
                    nxt.append(value[int(index)])
            elif fpath is not None and isinstance(value, list):
                want = next((g for g in (m[6], m[7], m[8]) if g is not None), "")
                for item in value:
                    found = json_path(item, fpath)
                    same = bool(found) and _text(found[0]) == want
                    if same == (op == "=="):
                        nxt.append(item)
        current = nxt
    return current


def _text(value: Any) -> str:
    """A value as JSONPath prints it: maps and lists as JSON, the rest as Go prints them."""
    if isinstance(value, Mapping | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _cell(column: PrinterColumn, value: Any, now: datetime) -> Any:
    """`cellForJSONValue` (and JSONPath's printing for string columns)."""
    kind = column.type
    if kind == "string":
        return _text(value)
    if kind == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str):
        return since(value, now) if value else "<unknown>"
    return None


def custom_printer(columns: Sequence[PrinterColumn]) -> Printer:
    """The table of a custom resource version with these printer columns."""
    definitions = [_NAME] + [Column(c.name, c.type, c.description, c.priority, c.format)
                             for c in columns]

    def row(obj: Mapping[str, Any], now: datetime) -> list[Any]:
        cells: list[Any] = [_m(obj, "metadata", "name")]
        for column in columns:
            found = json_path(obj, column.json_path)
            cells.append(_cell(column, found[0], now) if found else None)
        return cells

    return definitions, row


def table(plural: str, objects: Sequence[Mapping[str, Any]], resource_version: str, *,
          include_object: str = "Metadata", continue_token: str = "",
          headers: bool = True, printer: Printer | None = None) -> JSON:
    """A Table of `objects` (of the resource named `plural`, or printed by `printer`)."""
    columns, row = printer or TABLES.get(plural, DEFAULT_TABLE)
    now = datetime.now(UTC)
    rows = []
    for obj in objects:
        entry: JSON = {"cells": row(obj, now)}
        if include_object == "Object":
            entry["object"] = obj
        elif include_object != "None":
            entry["object"] = {"kind": "PartialObjectMetadata",
                               "apiVersion": "meta.k8s.io/v1",
                               "metadata": obj.get("metadata") or {}}
        rows.append(entry)
    meta: JSON = {"resourceVersion": resource_version}
    if continue_token:
        meta["continue"] = continue_token
    result: JSON = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta}
    result["columnDefinitions"] = [c.definition() for c in columns] if headers else None
    result["rows"] = rows
    return result
