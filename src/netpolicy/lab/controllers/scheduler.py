"""The scheduler: every pod without a node goes to the Ready node running the fewest
pods (ties: the first by name), so a Deployment's replicas spread over the nodes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from netpolicy.lab.controllers.base import Controller, Key
from netpolicy.lab.controllers.events import record_event
from netpolicy.lab.controllers.workloads import is_terminating
from netpolicy.lab.store import JSON, NotFound, now


def node_ready(node: JSON) -> bool:
    if (node.get("spec") or {}).get("unschedulable"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


class Scheduler(Controller):
    name = "default-scheduler"
    watches = ("pods", "nodes")

    def keys_for(self, resource: str, obj: JSON) -> Iterable[Key]:
        if resource == "nodes":  # a node became ready: look at every pending pod again
            return [("", "*")]
        if obj["spec"].get("nodeName") or is_terminating(obj):
            return []
        return [(obj["metadata"]["namespace"], obj["metadata"]["name"])]

    async def reconcile(self, key: Key) -> None:
        pods, _ = await self.store.list("pods")
        if key == ("", "*"):
            pending = [p for p in pods if not p["spec"].get("nodeName") and not is_terminating(p)]
        else:
            pending = [p for p in pods if (p["metadata"]["namespace"], p["metadata"]["name"]) == key
                       and not p["spec"].get("nodeName") and not is_terminating(p)]
        if not pending:
            return
        nodes, _ = await self.store.list("nodes")
        ready = sorted(n["metadata"]["name"] for n in nodes if node_ready(n))
        load = Counter(p["spec"].get("nodeName") for p in pods
                       if p["spec"].get("nodeName")
                       and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed"))
        for pod in pending:
            if not ready:
                await record_event(self.store, pod, "Warning", "FailedScheduling",
                                   "0/0 nodes are available: no Ready node.", self.name)
                return
            node = min(ready, key=lambda n: (load[n], n))
            load[node] += 1
            await self._bind(pod, node)

    async def _bind(self, pod: JSON, node: str) -> None:
        meta = pod["metadata"]

        def bind(obj: JSON) -> None:
            obj["spec"]["nodeName"] = node

        def scheduled(obj: JSON) -> None:
            conditions = [c for c in (obj.get("status") or {}).get("conditions") or []
                          if c.get("type") != "PodScheduled"]
            conditions.append({"type": "PodScheduled", "status": "True",
                               "lastTransitionTime": now(), "lastProbeTime": None})
            obj.setdefault("status", {})["conditions"] = conditions
        try:
            await self.store.modify("pods", meta["namespace"], meta["name"], bind,
                                    subresource="binding")
            bound = await self.store.modify("pods", meta["namespace"], meta["name"], scheduled,
                                            subresource="status")
        except NotFound:
            return
        await record_event(self.store, bound, "Normal", "Scheduled",
                           f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}",
                           self.name)
