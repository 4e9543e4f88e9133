"""The lab's control plane loops: what kube-controller-manager and kube-scheduler do
in a real cluster, for the kinds the lab serves. Each runs as asyncio tasks on the
store's event loop (`start_controllers`)."""

from __future__ import annotations

import asyncio

from netpolicy.lab.controllers.base import Controller
from netpolicy.lab.controllers.namespaces import ServiceAccountController, bootstrap
from netpolicy.lab.controllers.scheduler import Scheduler
from netpolicy.lab.controllers.services import ClusterIPAllocator, EndpointsController
from netpolicy.lab.controllers.workloads import DeploymentController, ReplicaSetController
from netpolicy.lab.store import Store

__all__ = ["ControlPlane", "start_control_plane"]


class ControlPlane:
    """The running controllers; `stop()` cancels them."""

    def __init__(self, controllers: list[Controller]) -> None:
        self.controllers = controllers

    async def stop(self) -> None:
        await asyncio.gather(*(c.stop() for c in self.controllers))


async def start_control_plane(store: Store, service_cidr: str) -> ControlPlane:
    """Install ClusterIP allocation, create what every cluster starts with, and start
    the controllers and the scheduler."""
    store.add_admission(ClusterIPAllocator(store, service_cidr), name="clusterip-allocator")
    await bootstrap(store)
    controllers: list[Controller] = [
        DeploymentController(store), ReplicaSetController(store), Scheduler(store),
        EndpointsController(store), ServiceAccountController(store),
    ]
    for c in controllers:
        c.start()
    return ControlPlane(controllers)
