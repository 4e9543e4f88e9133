"""Deployments make ReplicaSets; ReplicaSets make Pods — as kube-controller-manager does.

* A Deployment's pods come from the ReplicaSet named `<deployment>-<pod-template-hash>`,
  the hash being of the pod template: a template change makes a new ReplicaSet (a
  rollout), which gets all the replicas; the old ones are scaled to zero once the new
  one is ready, so the Service never runs dry. Scaling changes the current ReplicaSet.
* A ReplicaSet keeps `replicas` pods named `<replicaset>-<5 characters>`, labelled with
  its template's labels, owned by it (so deleting it deletes them).
* Both report status (replicas, ready, available, conditions) as `kubectl get` shows it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from netpolicy.lab.controllers.base import Controller, Key
from netpolicy.lab.controllers.events import record_event
from netpolicy.lab.store import JSON, AlreadyExists, NotFound, now

# The alphabet Kubernetes uses for generated names (no vowels, no look-alikes).
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
REVISION = "deployment.kubernetes.io/revision"


def safe_hash(data: Any, length: int = 10) -> str:
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).digest()
    return "".join(SAFE_ALPHABET[b % len(SAFE_ALPHABET)] for b in digest[:length])


def owner_ref(obj: JSON) -> JSON:
    meta = obj["metadata"]
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": meta["name"],
            "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}


def controller_uid(obj: JSON) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def is_ready(pod: JSON) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def is_terminating(obj: JSON) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def _condition(ctype: str, status: bool, reason: str, message: str) -> JSON:
    t = now()
    return {"type": ctype, "status": "True" if status else "False", "reason": reason,
            "message": message, "lastTransitionTime": t, "lastUpdateTime": t}


class ReplicaSetController(Controller):
    name = "replicaset-controller"
    watches = ("replicasets", "pods")

    def keys_for(self, resource: str, obj: JSON) -> Iterable[Key]:
        if resource == "replicasets":
            return super().keys_for(resource, obj)
        for ref in obj["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "ReplicaSet" and ref.get("controller"):
                return [(obj["metadata"]["namespace"], ref["name"])]
        return []

    async def reconcile(self, key: Key) -> None:
        ns, name = key
        try:
            rs = await self.store.get("replicasets", ns, name)
        except NotFound:
            return  # its pods went with it (garbage collection)
        if is_terminating(rs):
            return
        uid = rs["metadata"]["uid"]
        pods, _ = await self.store.list("pods", ns)
        mine = [p for p in pods if controller_uid(p) == uid and not is_terminating(p)]
        want = int(rs["spec"].get("replicas", 1))
        template = rs["spec"].get("template") or {}
        for _ in range(want - len(mine)):
            pod = {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {
                    "generateName": f"{name}-", "namespace": ns,
                    "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                    "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
                    "ownerReferences": [owner_ref(rs)],
                },
                "spec": json.loads(json.dumps(template.get("spec") or {})),
            }
            created = await self.store.create("pods", pod)
            mine.append(created)
            await record_event(self.store, rs, "Normal", "SuccessfulCreate",
                               f"Created pod: {created['metadata']['name']}", self.name)
        if len(mine) > want:
            # Delete the least useful first: not scheduled, not ready, then the newest.
            mine.sort(key=lambda p: (bool(p["spec"].get("nodeName")), is_ready(p),
                                     p["metadata"].get("creationTimestamp", "")), reverse=False)
            for victim in mine[: len(mine) - want]:
                vname = victim["metadata"]["name"]
                with contextlib.suppress(NotFound):
                    await self.store.delete("pods", ns, vname)
                await record_event(self.store, rs, "Normal", "SuccessfulDelete",
                                   f"Deleted pod: {vname}", self.name)
            mine = mine[len(mine) - want:]
        ready = sum(1 for p in mine if is_ready(p))
        status = {"replicas": len(mine), "fullyLabeledReplicas": len(mine),
                  "readyReplicas": ready, "availableReplicas": ready,
                  "observedGeneration": rs["metadata"].get("generation", 1)}
        if rs.get("status") != status:
            def change(obj: JSON) -> None:
                obj["status"] = status
            await self.store.modify("replicasets", ns, name, change, subresource="status")


class DeploymentController(Controller):
    name = "deployment-controller"
    watches = ("deployments", "replicasets")

    def keys_for(self, resource: str, obj: JSON) -> Iterable[Key]:
        if resource == "deployments":
            return super().keys_for(resource, obj)
        for ref in obj["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "Deployment" and ref.get("controller"):
                return [(obj["metadata"]["namespace"], ref["name"])]
        return []

    async def reconcile(self, key: Key) -> None:
        ns, name = key
        try:
            dep = await self.store.get("deployments", ns, name)
        except NotFound:
            return
        if is_terminating(dep):
            return
        spec = dep["spec"]
        want = int(spec.get("replicas", 1))
        template = spec.get("template") or {}
        template_hash = safe_hash(template)
        all_rs, _ = await self.store.list("replicasets", ns)
        owned = [rs for rs in all_rs if controller_uid(rs) == dep["metadata"]["uid"]]
        current = next((rs for rs in owned
                        if rs["metadata"].get("labels", {}).get("pod-template-hash")
                        == template_hash), None)
        revisions = [int(rs["metadata"].get("annotations", {}).get(REVISION, "0"))
                     for rs in owned]
        if current is None:
            current = await self._new_replicaset(dep, template, template_hash,
                                                 max(revisions, default=0) + 1, want)
        elif int(current["spec"].get("replicas", 1)) != want:
            current = await self._scale(dep, current, want)
        old = [rs for rs in owned if rs["metadata"]["name"] != current["metadata"]["name"]]
        current_ready = int((current.get("status") or {}).get("readyReplicas", 0))
        if current_ready >= want or spec.get("strategy", {}).get("type") == "Recreate":
            for rs in old:
                if int(rs["spec"].get("replicas", 1)) != 0:
                    await self._scale(dep, rs, 0)
        await self._status(dep, current, owned)

    async def _new_replicaset(self, dep: JSON, template: JSON, template_hash: str,
                              revision: int, replicas: int) -> JSON:
        ns, name = dep["metadata"]["namespace"], dep["metadata"]["name"]
        tmpl = json.loads(json.dumps(template))
        labels = {**((tmpl.get("metadata") or {}).get("labels") or {}),
                  "pod-template-hash": template_hash}
        tmpl.setdefault("metadata", {})["labels"] = labels
        selector = json.loads(json.dumps(dep["spec"].get("selector") or {}))
        selector.setdefault("matchLabels", {})["pod-template-hash"] = template_hash
        rs = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{name}-{template_hash}", "namespace": ns, "labels": labels,
                         "annotations": {REVISION: str(revision),
                                         "deployment.kubernetes.io/desired-replicas": str(replicas)},
                         "ownerReferences": [owner_ref(dep)]},
            "spec": {"replicas": replicas, "selector": selector, "template": tmpl},
        }
        try:
            created = await self.store.create("replicasets", rs)
        except AlreadyExists:  # a leftover from a previous revision: adopt it
            created = await self.store.get("replicasets", ns, f"{name}-{template_hash}")
            return await self._scale(dep, created, replicas)
        await record_event(self.store, dep, "Normal", "ScalingReplicaSet",
                           f"Scaled up replica set {created['metadata']['name']} to {replicas}",
                           self.name)
        return created

    async def _scale(self, dep: JSON, rs: JSON, replicas: int) -> JSON:
        before = int(rs["spec"].get("replicas", 1))

        def change(obj: JSON) -> None:
            obj["spec"]["replicas"] = replicas
            obj["metadata"].setdefault("annotations", {})[
                "deployment.kubernetes.io/desired-replicas"] = str(replicas)
        updated = await self.store.modify("replicasets", rs["metadata"]["namespace"],
                                          rs["metadata"]["name"], change)
        word = "up" if replicas > before else "down"
        await record_event(self.store, dep, "Normal", "ScalingReplicaSet",
                           f"Scaled {word} replica set {rs['metadata']['name']} from {before} "
                           f"to {replicas}", self.name)
        return updated

    async def _status(self, dep: JSON, current: JSON, owned: list[JSON]) -> None:
        want = int(dep["spec"].get("replicas", 1))
        replicas = sum(int((rs.get("status") or {}).get("replicas", 0)) for rs in owned)
        ready = sum(int((rs.get("status") or {}).get("readyReplicas", 0)) for rs in owned)
        updated = int((current.get("status") or {}).get("replicas", 0))
        old_status = dep.get("status") or {}
        status: JSON = {
            "observedGeneration": dep["metadata"].get("generation", 1),
            "replicas": replicas, "updatedReplicas": updated, "readyReplicas": ready,
            "availableReplicas": ready,
        }
        if replicas - ready > 0:
            status["unavailableReplicas"] = replicas - ready
        available = ready >= want
        complete = available and updated == want and replicas == want
        conditions = {c["type"]: c for c in old_status.get("conditions") or []}
        new_conditions = [
            _condition("Available", available,
                       "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                       "Deployment has minimum availability." if available
                       else "Deployment does not have minimum availability."),
            _condition("Progressing", True,
                       "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                       f'ReplicaSet "{current["metadata"]["name"]}" has '
                       + ("successfully progressed." if complete else "is progressing.")),
        ]
        for c in new_conditions:  # keep transition times when nothing changed
            prev = conditions.get(c["type"])
            if prev and prev.get("status") == c["status"] and prev.get("reason") == c["reason"]:
                c["lastTransitionTime"] = prev.get("lastTransitionTime", c["lastTransitionTime"])
                c["lastUpdateTime"] = prev.get("lastUpdateTime", c["lastUpdateTime"])
        status["conditions"] = new_conditions
        if old_status != status:
            def change(obj: JSON) -> None:
                obj["status"] = status
            await self.store.modify("deployments", dep["metadata"]["namespace"],
                                    dep["metadata"]["name"], change, subresource="status")
