"""The lab's kubelet: one per node, turning the pods bound to it into real pods.

For each pod the scheduler binds to its node it builds the pod's network namespace
(`Topology.add_pod`: an address from the node's CIDR, a veth, a route), starts every
container as a process in it (`ProcessRuntime`), and reports what happened in the pod's
status, as a real kubelet does: `podIP`, phase, conditions, and per container its state
(waiting with `ContainerCreating`/`ErrImagePull`/`CrashLoopBackOff`, running, or
terminated with its exit code), restart count and last state.

Containers that exit are restarted according to `restartPolicy` (Always; OnFailure when
the code is not 0; Never), with a doubling back-off; when none will run again the pod
has `Succeeded` (every code 0) or `Failed`. A deleted pod's processes are stopped and
its namespace removed. Every change of one pod is handled in order by one task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from netpolicy.lab.controllers.events import record_event
from netpolicy.lab.images import UnknownImageError
from netpolicy.lab.runtime import (
    ContainerExit,
    ContainerPort,
    ContainerSpec,
    ContainerStartError,
    ProcessRuntime,
)
from netpolicy.lab.store import JSON, AlreadyExists, NotFound, Store
from netpolicy.lab.topology import NodeNet, PodNet, Topology

log = logging.getLogger(__name__)
KUBELET_VERSION = "v1.32.0"
Stop = Callable[[], Awaitable[None]]
Builtin = Callable[[PodNet], Awaitable[Stop]]
"""An in-process container: started with the pod's network, returns how to stop it."""
BACKOFF_START, BACKOFF_MAX = 1.0, 30.0


def rfc3339(t: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if t is None else t, UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def pod_id(pod: JSON) -> str:
    """The runtime's name for a pod: readable, and unique across re-creations."""
    meta = pod["metadata"]
    return f"{meta['namespace']}.{meta['name']}.{str(meta.get('uid', ''))[:6]}"


def container_spec(c: JSON) -> ContainerSpec:
    env = tuple((str(e["name"]), str(e.get("value", ""))) for e in c.get("env") or []
                if "name" in e)
    ports = tuple(ContainerPort(int(p["containerPort"]), p.get("protocol", "TCP"), p.get("name"))
                  for p in c.get("ports") or [])
    return ContainerSpec(c["name"], c.get("image", ""), tuple(c.get("command") or ()),
                         tuple(c.get("args") or ()), env, ports, bool(c.get("stdin")),
                         bool(c.get("stdinOnce")), c.get("workingDir"))


@dataclass
class _Container:
    spec: ContainerSpec
    restarts: int = 0
    state: JSON = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: JSON = field(default_factory=dict)
    done: bool = False  # will not run again
    backoff: float = BACKOFF_START
    restart: asyncio.TimerHandle | None = None
    stop: Stop | None = None  # for built-in containers


@dataclass
class _Pod:
    key: tuple[str, str]
    uid: str
    pod_id: str
    restart_policy: str
    net: PodNet | None = None
    containers: dict[str, _Container] = field(default_factory=dict)
    started: float = field(default_factory=time.time)


class Kubelet:
    """Runs the pods of one node; `start()` registers the node and begins watching."""

    def __init__(self, store: Store, topology: Topology, runtime: ProcessRuntime,
                 node: NodeNet, builtins: dict[str, Builtin] | None = None,
                 network_ready: Callable[[int], Awaitable[None]] | None = None) -> None:
        self.store, self.topology, self.runtime, self.node = store, topology, runtime, node
        self.builtins = builtins or {}
        self.network_ready = network_ready
        """Awaited before a pod's containers start, with the resourceVersion of the status
        that gave the pod its address: the lab waits there until the node's policy agent
        has programmed that address (a new pod's first packets must not race its rules)."""
        self.pods: dict[tuple[str, str], _Pod] = {}
        self._queues: dict[tuple[str, str], asyncio.Queue[JSON | None]] = {}
        self._workers: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._watch: asyncio.Task[None] | None = None

    # --- node ----------------------------------------------------------------------------

    def node_object(self) -> JSON:
        return {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.node.name, "labels": {
                "kubernetes.io/hostname": self.node.name, "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64", "netpolicy.dev/lab-node": "true"}},
            "spec": {"podCIDR": self.node.pod_cidr, "podCIDRs": [self.node.pod_cidr]},
        }

    def node_status(self) -> JSON:
        t = rfc3339()
        conditions = [
            {"type": kind, "status": "False", "reason": f"KubeletHas{reason}",
             "message": message, "lastHeartbeatTime": t, "lastTransitionTime": t}
            for kind, reason, message in (
                ("MemoryPressure", "SufficientMemory", "kubelet has sufficient memory available"),
                ("DiskPressure", "NoDiskPressure", "kubelet has no disk pressure"),
                ("PIDPressure", "SufficientPID", "kubelet has sufficient PID available"))]
        conditions.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                           "message": "kubelet is posting ready status", "lastHeartbeatTime": t,
                           "lastTransitionTime": t})
        capacity = {"cpu": "2", "memory": "8Gi", "pods": "110", "ephemeral-storage": "20Gi"}
        return {
            "addresses": [{"type": "InternalIP", "address": self.node.ip},
                          {"type": "Hostname", "address": self.node.name}],
            "conditions": conditions, "capacity": capacity, "allocatable": capacity,
            "nodeInfo": {"kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
                         "containerRuntimeVersion": "netpol-lab://0.1",
                         "kernelVersion": platform.release(), "osImage": "netpolicy lab",
                         "operatingSystem": "linux", "architecture": "amd64",
                         "machineID": "", "systemUUID": "", "bootID": ""},
        }

    async def register(self) -> None:
        with contextlib.suppress(AlreadyExists):
            await self.store.create("nodes", self.node_object())
        status = self.node_status()

        def change(obj: JSON) -> None:
            obj["status"] = status
        await self.store.modify("nodes", None, self.node.name, change, subresource="status")

    # --- watching ------------------------------------------------------------------------

    async def start(self) -> None:
        await self.register()
        self._watch = asyncio.get_running_loop().create_task(self._watch_pods(),
                                                             name=f"kubelet-{self.node.name}")

    async def _watch_pods(self) -> None:
        while True:
            try:
                async with self.store.watch("pods", field_selector=f"spec.nodeName={self.node.name}") as w:
                    async for event in w:
                        if event.type in ("ADDED", "MODIFIED"):
                            self._dispatch(event.object)
                        elif event.type == "DELETED":
                            obj = event.object
                            self._dispatch(obj, deleted=True)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("kubelet %s: pod watch failed; restarting", self.node.name)
                await asyncio.sleep(0.5)

    def _dispatch(self, pod: JSON, deleted: bool = False) -> None:
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        queue = self._queues.get(key)
        if queue is None:
            if deleted and key not in self.pods:
                return
            queue = self._queues[key] = asyncio.Queue()
            self._workers[key] = asyncio.get_running_loop().create_task(self._worker(key, queue))
        queue.put_nowait(None if deleted or pod["metadata"].get("deletionTimestamp") else pod)

    async def _worker(self, key: tuple[str, str], queue: asyncio.Queue[JSON | None]) -> None:
        try:
            while True:
                pod = await queue.get()
                try:
                    if pod is None:
                        await self._kill(key)
                        return
                    await self._sync(pod)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("kubelet %s: syncing pod %s/%s failed", self.node.name, *key)
        finally:
            self._queues.pop(key, None)
            self._workers.pop(key, None)

    # --- pods ----------------------------------------------------------------------------

    async def _sync(self, pod: JSON) -> None:
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        record = self.pods.get(key)
        if record is not None and record.uid != pod["metadata"].get("uid"):
            await self._kill(key)  # a new pod with the old one's name
            record = None
        if record is not None:
            return  # already running; status changes come from the containers
        record = _Pod(key, str(pod["metadata"].get("uid")), pod_id(pod),
                      pod["spec"].get("restartPolicy", "Always"))
        self.pods[key] = record
        for c in pod["spec"].get("containers") or []:
            record.containers[c["name"]] = _Container(container_spec(c))
        try:
            record.net = await asyncio.to_thread(self.topology.add_pod, self.node.name,
                                                 record.pod_id, namespace=key[0], hostname=key[1])
        except Exception as exc:
            log.exception("kubelet %s: no network for pod %s/%s", self.node.name, *key)
            await self._event(pod, "Warning", "FailedCreatePodSandBox",
                              f"Failed to create pod sandbox: {exc}")
            return
        rv = await self._publish(record)
        if self.network_ready is not None and rv:
            await self.network_ready(rv)
        for name, c in record.containers.items():
            await self._start_container(record, name, c, pod)

    async def _start_container(self, record: _Pod, name: str, c: _Container,
                               pod: JSON | None = None) -> None:
        assert record.net is not None
        if self.pods.get(record.key) is not record:
            return
        obj = pod or {"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"namespace": record.key[0], "name": record.key[1],
                                   "uid": record.uid}}
        builtin = self.builtins.get(c.spec.image)
        if builtin is not None:
            c.stop = await builtin(record.net)
            c.state = {"running": {"startedAt": rfc3339()}}
            await self._publish(record)
            return
        try:
            status = await self.runtime.start(record.net, c.spec)
        except UnknownImageError as exc:
            c.state = {"waiting": {"reason": "ErrImagePull", "message": str(exc)}}
            c.done = True
            await self._event(obj, "Warning", "Failed", f'Failed to pull image "{c.spec.image}": {exc}')
        except ContainerStartError as exc:
            c.state = {"terminated": {"exitCode": 128, "reason": "StartError", "message": str(exc),
                                      "startedAt": rfc3339(), "finishedAt": rfc3339()}}
            await self._event(obj, "Warning", "Failed", f"Error: {exc}")
            self._after_exit(record, name, c, 128)
        else:
            c.state = {"running": {"startedAt": rfc3339(status.started_at)}}
            if c.restarts == 0:
                await self._event(obj, "Normal", "Pulled",
                                  f'Container image "{c.spec.image}" already present on machine')
                await self._event(obj, "Normal", "Created", f"Created container {name}")
                await self._event(obj, "Normal", "Started", f"Started container {name}")
        await self._publish(record)

    def on_exit(self, exit: ContainerExit) -> None:
        """The runtime's callback: a container process ended."""
        for record in self.pods.values():
            if record.pod_id == exit.pod_id and exit.container in record.containers:
                c = record.containers[exit.container]
                c.state = {"terminated": {
                    "exitCode": exit.exit_code, "reason": exit.reason,
                    **({"signal": exit.signal} if exit.signal else {}),
                    "startedAt": rfc3339(exit.started_at), "finishedAt": rfc3339(exit.finished_at)}}
                self._after_exit(record, exit.container, c, exit.exit_code)
                asyncio.get_running_loop().create_task(self._publish(record))
                return

    def _after_exit(self, record: _Pod, name: str, c: _Container, code: int) -> None:
        policy = record.restart_policy
        if policy == "Never" or (policy == "OnFailure" and code == 0):
            c.done = True
            return
        c.last_state = c.state
        delay = c.backoff
        c.backoff = min(BACKOFF_MAX, c.backoff * 2)
        c.state = {"waiting": {"reason": "CrashLoopBackOff", "message":
                               f"back-off {delay:.0f}s restarting failed container={name}"}}

        def restart() -> None:
            c.restarts += 1
            asyncio.get_running_loop().create_task(self._start_container(record, name, c))
        c.restart = asyncio.get_running_loop().call_later(delay, restart)

    async def _publish(self, record: _Pod) -> int:
        """Write the pod's status from what its containers are doing; return the
        resourceVersion written (0 if nothing was)."""
        if self.pods.get(record.key) is not record:
            return 0
        statuses, ready_all = [], True
        for name, c in record.containers.items():
            running = "running" in c.state
            ready_all &= running
            entry: JSON = {"name": name, "image": c.spec.image, "imageID": "",
                           "ready": running, "started": running, "restartCount": c.restarts,
                           "state": c.state, "lastState": c.last_state}
            if running or "terminated" in c.state:
                entry["containerID"] = f"netpol://{record.pod_id}/{name}/{c.restarts}"
            statuses.append(entry)
        finished = all(c.done and "terminated" in c.state for c in record.containers.values())
        if finished:
            codes = [c.state["terminated"]["exitCode"] for c in record.containers.values()]
            phase = "Succeeded" if all(code == 0 for code in codes) else "Failed"
        elif any("running" in c.state for c in record.containers.values()) or any(
                c.restarts or c.last_state for c in record.containers.values()):
            phase = "Running"
        else:
            phase = "Pending"
        ready = ready_all and phase == "Running"
        t = rfc3339()

        def change(obj: JSON) -> None:
            if obj["metadata"].get("uid") != record.uid:
                return
            status = obj.setdefault("status", {})
            old = {c.get("type"): c for c in status.get("conditions") or []}

            def cond(kind: str, value: bool, reason: str | None = None) -> JSON:
                text = "True" if value else "False"
                prev = old.get(kind)
                out: JSON = {"type": kind, "status": text, "lastProbeTime": None,
                             "lastTransitionTime": prev["lastTransitionTime"]
                             if prev and prev.get("status") == text else t}
                if reason and not value:
                    out["reason"] = reason
                return out
            status.update({
                "phase": phase, "hostIP": self.node.ip, "hostIPs": [{"ip": self.node.ip}],
                "startTime": rfc3339(record.started), "qosClass": "BestEffort",
                "containerStatuses": statuses,
                "conditions": [
                    cond("PodReadyToStartContainers", record.net is not None),
                    cond("Initialized", True), cond("Ready", ready, "ContainersNotReady"),
                    cond("ContainersReady", ready, "ContainersNotReady"),
                    cond("PodScheduled", True)],
            })
            if record.net is not None:
                status["podIP"] = record.net.ip
                status["podIPs"] = [{"ip": record.net.ip}]
        try:
            written = await self.store.modify("pods", record.key[0], record.key[1], change,
                                              subresource="status")
        except NotFound:
            return 0
        return int(written["metadata"].get("resourceVersion") or 0)

    async def _kill(self, key: tuple[str, str]) -> None:
        record = self.pods.pop(key, None)
        if record is None:
            return
        for c in record.containers.values():
            if c.restart is not None:
                c.restart.cancel()
            if c.stop is not None:
                with contextlib.suppress(Exception):
                    await c.stop()
        with contextlib.suppress(Exception):
            await self.runtime.stop(record.pod_id, grace=2.0)
        self.runtime.remove(record.pod_id)
        if record.net is not None:
            await asyncio.to_thread(self.topology.remove_pod, record.pod_id)

    async def _event(self, pod: JSON, kind: str, reason: str, message: str) -> None:
        await record_event(self.store, pod, kind, reason, message, "kubelet", self.node.name)

    def runtime_pod_id(self, namespace: str, name: str) -> str | None:
        record = self.pods.get((namespace, name))
        return record.pod_id if record is not None and record.net is not None else None

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        for task in list(self._workers.values()):
            task.cancel()
        for key in list(self.pods):
            await self._kill(key)


def merged_pod_id(kubelets: list[Kubelet]) -> Any:
    """`(namespace, name) -> runtime pod id` over every node, for the API server's streams."""
    def lookup(namespace: str, name: str) -> str | None:
        for k in kubelets:
            found = k.runtime_pod_id(namespace, name)
            if found is not None:
                return found
        return None
    return lookup
