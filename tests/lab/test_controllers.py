"""The control plane loops on an in-memory store: Deployment -> ReplicaSet -> Pods,
scheduling, ClusterIPs, Endpoints; a fake kubelet marks pods ready."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from netpolicy.lab.controllers import ControlPlane, start_control_plane
from netpolicy.lab.store import Invalid, Store


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 5.0) -> Any:
    """Wait until `check()` returns something truthy, or fail after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {check.__doc__}")
        await asyncio.sleep(0.01)


def node(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


def deployment(name: str, replicas: int, image: str = "nginx") -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image,
                                           "ports": [{"name": "http", "containerPort": 80}]}]}}}}


async def fake_kubelet(store: Store) -> None:
    """Give every scheduled pod an address and make it Ready."""
    n = 0
    async with store.watch("pods") as watch:
        async for event in watch:
            pod = event.object
            if event.type == "DELETED" or not pod["spec"].get("nodeName"):
                continue
            if (pod.get("status") or {}).get("podIP"):
                continue
            n += 1
            ip = f"10.244.0.{n}"

            def running(obj: dict[str, Any], ip: str = ip) -> None:
                obj["status"] = {**obj.get("status", {}), "phase": "Running", "podIP": ip,
                                 "conditions": [{"type": "Ready", "status": "True"}]}
            await store.modify("pods", pod["metadata"]["namespace"], pod["metadata"]["name"],
                               running, subresource="status")


class Lab:
    def __init__(self) -> None:
        self.store = Store(None)
        self.plane: ControlPlane | None = None
        self.kubelet: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Lab:
        self.plane = await start_control_plane(self.store, "10.96.0.0/16")
        for name in ("node-1", "node-2"):
            await self.store.create("nodes", node(name))
            await self.store.update_status("nodes", node(name))
        self.kubelet = asyncio.get_running_loop().create_task(fake_kubelet(self.store))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.plane is not None and self.kubelet is not None
        self.kubelet.cancel()
        await asyncio.gather(self.kubelet, return_exceptions=True)
        await self.plane.stop()
        self.store.close()

    async def pods(self, app: str) -> list[dict[str, Any]]:
        items, _ = await self.store.list("pods", "default", label_selector=f"app={app}")
        return items


def run(coro: Callable[[Lab], Awaitable[None]]) -> None:
    async def main() -> None:
        async with Lab() as lab:
            await coro(lab)
    asyncio.run(main())


def test_a_deployment_makes_a_replicaset_which_makes_pods_spread_over_nodes() -> None:
    async def scenario(lab: Lab) -> None:
        await lab.store.create("deployments", deployment("web", 4))

        async def ready() -> bool:
            """four ready pods"""
            pods = await lab.pods("web")
            return len(pods) == 4 and all(p.get("status", {}).get("podIP") for p in pods)
        await eventually(ready)
        pods = await lab.pods("web")
        [rs] = (await lab.store.list("replicasets", "default"))[0]
        assert rs["metadata"]["name"].startswith("web-")
        template_hash = rs["metadata"]["labels"]["pod-template-hash"]
        assert rs["metadata"]["name"] == f"web-{template_hash}"
        for p in pods:
            assert p["metadata"]["name"].startswith(f"web-{template_hash}-")
            assert len(p["metadata"]["name"]) == len(f"web-{template_hash}-") + 5
            assert p["metadata"]["labels"] == {"app": "web", "pod-template-hash": template_hash}
            assert p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
        assert sorted(p["spec"]["nodeName"] for p in pods) == ["node-1", "node-1", "node-2", "node-2"]

        async def status() -> bool:
            """deployment status says 4/4 ready"""
            dep = await lab.store.get("deployments", "default", "web")
            s = dep.get("status", {})
            return s.get("readyReplicas") == 4 and s.get("updatedReplicas") == 4
        await eventually(status)
    run(scenario)


def test_scaling_and_rollout_on_template_change() -> None:
    async def scenario(lab: Lab) -> None:
        await lab.store.create("deployments", deployment("web", 2))

        async def two() -> bool:
            """two ready pods"""
            return len([p for p in await lab.pods("web") if p.get("status", {}).get("podIP")]) == 2
        await eventually(two)

        def scale(obj: dict[str, Any]) -> None:
            obj["spec"]["replicas"] = 3
        await lab.store.modify("deployments", "default", "web", scale)

        async def three() -> bool:
            """three pods after scaling"""
            return len(await lab.pods("web")) == 3
        await eventually(three)
        old_hash = (await lab.pods("web"))[0]["metadata"]["labels"]["pod-template-hash"]

        def new_image(obj: dict[str, Any]) -> None:
            obj["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"
        await lab.store.modify("deployments", "default", "web", new_image)

        async def rolled() -> bool:
            """all pods from the new template, old replicaset at 0"""
            pods = await lab.pods("web")
            hashes = {p["metadata"]["labels"]["pod-template-hash"] for p in pods}
            return len(pods) == 3 and old_hash not in hashes
        await eventually(rolled)
        rss = (await lab.store.list("replicasets", "default"))[0]
        assert sorted(rs["spec"]["replicas"] for rs in rss) == [0, 3]
        revisions = sorted(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                           for rs in rss)
        assert revisions == ["1", "2"]
    run(scenario)


def test_deleting_a_deployment_deletes_its_replicasets_and_pods() -> None:
    async def scenario(lab: Lab) -> None:
        await lab.store.create("deployments", deployment("web", 2))

        async def two() -> bool:
            """two pods"""
            return len(await lab.pods("web")) == 2
        await eventually(two)
        await lab.store.delete("deployments", "default", "web")

        async def gone() -> bool:
            """no pods or replicasets left"""
            rss = (await lab.store.list("replicasets", "default"))[0]
            return not rss and not await lab.pods("web")
        await eventually(gone)
    run(scenario)


def test_services_get_cluster_ips_and_endpoints_of_ready_pods() -> None:
    async def scenario(lab: Lab) -> None:
        [kubernetes], _ = await lab.store.list("services", "default")
        assert kubernetes["spec"]["clusterIP"] == "10.96.0.1"
        await lab.store.create("deployments", deployment("web", 3))
        svc = await lab.store.create("services", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}})
        assert svc["spec"]["clusterIP"] == "10.96.0.2"

        async def endpoints() -> Any:
            """endpoints list the three pods on port 80"""
            try:
                ep = await lab.store.get("endpoints", "default", "web")
            except Exception:
                return None
            subsets = ep.get("subsets") or []
            return subsets if subsets and len(subsets[0].get("addresses", [])) == 3 else None
        [subset] = await eventually(endpoints)
        assert subset["ports"] == [{"port": 80, "protocol": "TCP"}]
        [eps] = (await lab.store.list("endpointslices", "default"))[0]
        assert eps["metadata"]["labels"]["kubernetes.io/service-name"] == "web"
        assert len(eps["endpoints"]) == 3

        with pytest.raises(Invalid, match="provided IP is already allocated"):
            await lab.store.create("services", {
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "clash", "namespace": "default"},
                "spec": {"clusterIP": "10.96.0.2", "ports": [{"port": 80}]}})
        await lab.store.delete("services", "default", "web")

        async def no_endpoints() -> bool:
            """endpoints and slices go with the service"""
            eps = (await lab.store.list("endpoints", "default"))[0]
            slices = (await lab.store.list("endpointslices", "default"))[0]
            return not [e for e in eps if e["metadata"]["name"] == "web"] and not slices
        await eventually(no_endpoints)
    run(scenario)


def test_every_namespace_gets_a_default_service_account() -> None:
    async def scenario(lab: Lab) -> None:
        await lab.store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": "team"}})

        async def account() -> bool:
            """team/default exists"""
            items = (await lab.store.list("serviceaccounts", "team"))[0]
            return [s["metadata"]["name"] for s in items] == ["default"]
        await eventually(account)
    run(scenario)
