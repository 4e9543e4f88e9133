"""The agent's informers against the lab's in-process API server, with the official
client and no root: list and watch of every watched kind, a relist after `410 Gone`,
and the tiered kinds on a cluster without their CRDs (not served: synced and empty)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from kubernetes import client

from netpolicy.agent.source import RESOURCES, ClusterCache, Gone, Informer, wait_synced
from tests.lab.conftest import LabServer, wait_until
from tests.lab.test_apiserver_client import make_client

TIERED = ("AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy")


@pytest.fixture
def small_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A server that remembers few changes, so an old resourceVersion soon expires (with
    the tiered policies' CRDs, as every lab has them)."""
    server = LabServer(tmp_path_factory.mktemp("informers"), kubelet=False, history=5)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def without_crds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    server = LabServer(tmp_path_factory.mktemp("no-crds"), kubelet=False, crds=lambda: [])
    try:
        yield server
    finally:
        server.close()


def informers(lab: LabServer, cache: ClusterCache, woken: threading.Event,
              api: client.ApiClient) -> list[Informer]:
    made = [Informer(api, kind, cache, woken.set, watch_timeout=5) for kind in RESOURCES]
    for i in made:
        i.recheck = 0.2
        i.start()
    return made


def test_without_the_crds_the_tiered_kinds_are_not_served_and_picked_up_later(
        without_crds: LabServer) -> None:
    from netpolicy.api.tier_schemas import crds
    from netpolicy.lab.crds import install_crds

    lab = without_crds
    cache, woken = ClusterCache(), threading.Event()
    with make_client(lab, lab.token) as api:
        running = informers(lab, cache, woken, api)
        try:
            assert wait_synced(cache, 10)
            assert cache.unserved == set(TIERED)
            assert cache.resource_version > 0  # the served kinds decide it
            lab.call(install_crds(lab.store, crds()))  # a CRD installed later is seen
            lab.kubectl("apply", "-f", "-", input=ANP)
            wait_until(lambda: ("", "late") in cache.objects["AdminNetworkPolicy"])
            assert "AdminNetworkPolicy" not in cache.unserved
        finally:
            for i in running:
                i.stop()


ANP = """apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: late}
spec:
  priority: 1
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {}}]}]
"""


def test_every_kind_is_listed_and_watched(small_history: LabServer) -> None:
    lab = small_history
    cache, woken = ClusterCache(), threading.Event()
    with make_client(lab, lab.token) as api:
        running = informers(lab, cache, woken, api)
        try:
            assert wait_synced(cache, 10)
            assert cache.unserved == set()
            assert cache.resource_version > 0
            lab.kubectl("apply", "-f", "-", input=ANP)
            wait_until(lambda: ("", "late") in cache.objects["AdminNetworkPolicy"])
            lab.kubectl("delete", "adminnetworkpolicy", "late")
            wait_until(lambda: ("", "late") not in cache.objects["AdminNetworkPolicy"])
            core = client.CoreV1Api(api)
            core.create_namespace({"metadata": {"name": "watched"}})
            core.create_namespaced_pod("watched", {
                "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
            client.NetworkingV1Api(api).create_namespaced_network_policy("watched", {
                "metadata": {"name": "np"}, "spec": {"podSelector": {}}})
            wait_until(lambda: ("watched", "p") in cache.objects["Pod"]
                       and ("watched", "np") in cache.objects["NetworkPolicy"]
                       and ("", "watched") in cache.objects["Namespace"])
            core.delete_namespaced_pod("p", "watched")
            wait_until(lambda: ("watched", "p") not in cache.objects["Pod"])
            assert all(i.is_alive() for i in running)
        finally:
            for i in running:
                i.stop()


def test_an_expired_resource_version_is_gone_and_the_informer_lists_again(
        small_history: LabServer) -> None:
    lab = small_history
    cache, woken = ClusterCache(), threading.Event()
    with make_client(lab, lab.token) as api:
        informer = Informer(api, "Namespace", cache, woken.set, watch_timeout=5)
        old = informer._list()
        core = client.CoreV1Api(api)
        for i in range(12):  # more changes than the server remembers
            core.create_namespace({"metadata": {"name": f"churn-{i}"}})
        with pytest.raises(Gone):
            informer._watch(old)
        informer.start()  # the loop: list, watch; it sees what the lost watch missed
        try:
            wait_until(lambda: ("", "churn-11") in cache.objects["Namespace"])
            core.create_namespace({"metadata": {"name": "after"}})
            wait_until(lambda: ("", "after") in cache.objects["Namespace"])
        finally:
            informer.stop()
