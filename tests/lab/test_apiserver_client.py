"""The lab API server through the official `kubernetes` Python client: list and watch
semantics, and error bodies parsed as the client parses a real server's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.lab.conftest import LabServer


def make_client(lab: LabServer, token: str | None) -> client.ApiClient:
    ca = Path(lab.directory, "ca.crt")
    ca.write_bytes(lab.ca_pem)
    config = client.Configuration()
    config.host = lab.url
    config.ssl_ca_cert = str(ca)
    if token is not None:
        config.api_key = {"authorization": f"Bearer {token}"}
    return client.ApiClient(config)


@pytest.fixture(scope="module")
def api(lab: LabServer) -> Iterator[client.ApiClient]:
    with make_client(lab, lab.token) as api_client:
        yield api_client


@pytest.fixture(scope="module")
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


def ns(core: client.CoreV1Api, name: str) -> str:
    core.create_namespace({"metadata": {"name": name}})
    return name


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {"app": name}},
            "spec": {"containers": [{"name": "main", "image": "busybox"}]}}


def config_map(name: str, **labels: str) -> dict[str, Any]:
    """Watch tests use ConfigMaps: nothing else (such as the fake kubelet) writes them."""
    return {"metadata": {"name": name, "labels": labels or {"app": name}}, "data": {"k": "v"}}


def events(core: client.CoreV1Api, namespace: str, count: int,
           **kwargs: Any) -> list[dict[str, Any]]:
    """The first `count` events of a ConfigMap watch (raw objects, with their type)."""
    seen: list[dict[str, Any]] = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, namespace, timeout_seconds=5,
                          **kwargs):
        seen.append({"type": event["type"], **event["raw_object"]})
        if len(seen) == count:
            w.stop()
    return seen


def rv(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["resourceVersion"])


def test_watch_from_a_list_sees_every_later_change_in_order(core: client.CoreV1Api) -> None:
    space = ns(core, "watch-order")
    core.create_namespaced_config_map(space, config_map("a"))
    core.create_namespaced_config_map(space, config_map("b"))
    listed = core.list_namespaced_config_map(space)
    assert [p.metadata.name for p in listed.items] == ["a", "b"]
    core.patch_namespaced_config_map("a", space, {"metadata": {"labels": {"extra": "yes"}}})
    core.delete_namespaced_config_map("b", space)
    core.create_namespaced_config_map(space, config_map("c"))
    seen = events(core, space, 3, resource_version=listed.metadata.resource_version)
    assert [(e["type"], e["metadata"]["name"]) for e in seen] == [
        ("MODIFIED", "a"), ("DELETED", "b"), ("ADDED", "c")]
    versions = [rv(e) for e in seen]
    assert versions == sorted(versions) and versions[0] > int(listed.metadata.resource_version)
    assert seen[0]["metadata"]["labels"] == {"app": "a", "extra": "yes"}


def test_watch_without_a_version_starts_with_the_current_objects(
        core: client.CoreV1Api) -> None:
    space = ns(core, "watch-initial")
    for name in ("x", "y"):
        core.create_namespaced_config_map(space, config_map(name))
    seen = events(core, space, 2)
    assert [(e["type"], e["metadata"]["name"]) for e in seen] == [("ADDED", "x"),
                                                                   ("ADDED", "y")]


def test_watch_from_an_old_version_replays_history(core: client.CoreV1Api) -> None:
    space = ns(core, "watch-replay")
    first = core.create_namespaced_config_map(space, config_map("p"))
    for i in range(3):
        core.patch_namespaced_config_map("p", space, {"metadata": {"labels": {"n": str(i)}}})
    seen = events(core, space, 3, resource_version=first.metadata.resource_version)
    assert [e["metadata"]["labels"]["n"] for e in seen] == ["0", "1", "2"]


def test_watch_label_selector_turns_leaving_into_deleted(core: client.CoreV1Api) -> None:
    space = ns(core, "watch-selector")
    start = core.create_namespaced_config_map(space, config_map("p", app="web"))
    core.patch_namespaced_config_map("p", space, {"metadata": {"labels": {"app": "db"}}})
    seen = events(core, space, 1, resource_version=start.metadata.resource_version,
                  label_selector="app=web")
    assert seen[0]["type"] == "DELETED"


def test_bookmarks_carry_the_latest_resource_version(core: client.CoreV1Api) -> None:
    space = ns(core, "watch-bookmark")
    created = core.create_namespaced_config_map(space, config_map("p"))
    w = watch.Watch()
    seen = list(w.stream(core.list_namespaced_config_map, space, timeout_seconds=1,
                         allow_watch_bookmarks=True,
                         resource_version=created.metadata.resource_version))
    assert seen[-1]["type"] == "BOOKMARK"
    assert int(seen[-1]["raw_object"]["metadata"]["resourceVersion"]) >= int(
        created.metadata.resource_version)


@pytest.fixture(scope="module")
def small_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    server = LabServer(tmp_path_factory.mktemp("small"), kubelet=False, history=3)
    try:
        yield server
    finally:
        server.close()


def test_watch_from_a_version_older_than_the_history_is_gone(
        small_history: LabServer) -> None:
    with make_client(small_history, small_history.token) as api_client:
        core = client.CoreV1Api(api_client)
        first = core.create_namespaced_config_map("default", {"metadata": {"name": "c0"}})
        for i in range(1, 6):
            core.create_namespaced_config_map("default", {"metadata": {"name": f"c{i}"}})
        with pytest.raises(ApiException) as gone:
            list(watch.Watch().stream(core.list_namespaced_config_map, "default",
                                      timeout_seconds=2,
                                      resource_version=first.metadata.resource_version))
        assert gone.value.status == 410
        assert "Expired: too old resource version" in str(gone.value.reason)


def status_of(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body)
    assert body["kind"] == "Status" and body["code"] == error.status
    return body


def test_errors_have_the_status_bodies_of_the_real_server(lab: LabServer,
                                                          api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    space = ns(core, "client-errors")
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod("nope", space)
    assert missing.value.status == 404
    assert status_of(missing.value) | {} == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'pods "nope" not found', "reason": "NotFound",
        "details": {"name": "nope", "kind": "pods"}, "code": 404}
    created = core.create_namespaced_pod(space, pod("p"))
    with pytest.raises(ApiException) as exists:
        core.create_namespaced_pod(space, pod("p"))
    assert exists.value.status == 409
    assert status_of(exists.value)["reason"] == "AlreadyExists"
    stale = created.to_dict()
    core.patch_namespaced_pod("p", space, {"metadata": {"labels": {"changed": "yes"}}})
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_pod("p", space, api.sanitize_for_serialization(created))
    assert conflict.value.status == 409 and stale
    assert status_of(conflict.value)["message"] == (
        'Operation cannot be fulfilled on pods "p": the object has been modified; please '
        "apply your changes to the latest version and try again")
    networking = client.NetworkingV1Api(api)
    with pytest.raises(ApiException) as invalid:
        networking.create_namespaced_network_policy(space, {
            "metadata": {"name": "bad"},
            "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 0}]}]}})
    body = status_of(invalid.value)
    assert invalid.value.status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"] == [{
        "reason": "FieldValueInvalid", "field": "spec.ingress[0].ports[0].port",
        "message": "Invalid value: 0: must be between 1 and 65535, inclusive"}]
    with make_client(lab, None) as anonymous, pytest.raises(ApiException) as unauthorized:
        client.CoreV1Api(anonymous).list_namespace()
    assert unauthorized.value.status == 401
    assert status_of(unauthorized.value)["reason"] == "Unauthorized"


def test_selectors_and_paging(core: client.CoreV1Api) -> None:
    space = ns(core, "select")
    for name, tier in (("a", "front"), ("b", "back"), ("c", "front")):
        core.create_namespaced_pod(space, pod(name, app="web", tier=tier))
    def names(**kwargs: Any) -> list[str]:
        return [p.metadata.name for p in core.list_namespaced_pod(space, **kwargs).items]
    assert names(label_selector="tier=front") == ["a", "c"]
    assert names(label_selector="tier notin (front)") == ["b"]
    assert names(field_selector="metadata.name!=a") == ["b", "c"]
    page = core.list_namespaced_pod(space, limit=2)
    assert [p.metadata.name for p in page.items] == ["a", "b"]
    rest = core.list_namespaced_pod(space, limit=2, _continue=page.metadata._continue)
    assert [p.metadata.name for p in rest.items] == ["c"]
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_pod(space, field_selector="spec.unknown=x")
    assert bad.value.status == 400


def test_deleting_an_owner_cascades_by_propagation_policy(api: client.ApiClient) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    space = ns(core, "cascade")

    def family(name: str) -> None:
        template = {"metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
        deployment = apps.create_namespaced_deployment(space, {
            "metadata": {"name": name}, "spec": {"selector": {"matchLabels": {"app": name}},
                                                 "template": template}})
        owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                 "uid": deployment.metadata.uid, "controller": True}
        rs = apps.create_namespaced_replica_set(space, {
            "metadata": {"name": f"{name}-rs", "ownerReferences": [owner]},
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": template}})
        rs_owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{name}-rs",
                    "uid": rs.metadata.uid, "controller": True}
        core.create_namespaced_pod(space, {**pod(f"{name}-pod", app=name),
                                           "metadata": {"name": f"{name}-pod",
                                                        "ownerReferences": [rs_owner]}})

    for name, policy in (("bg", "Background"), ("fg", "Foreground"), ("or", "Orphan")):
        family(name)
        apps.delete_namespaced_deployment(name, space, propagation_policy=policy)
    left = {p.metadata.name for p in core.list_namespaced_pod(space).items}
    sets = {r.metadata.name: r for r in apps.list_namespaced_replica_set(space).items}
    assert left == {"or-pod"}
    assert set(sets) == {"or-rs"}
    assert not sets["or-rs"].metadata.owner_references


def test_scale_subresource_and_status_are_separate(api: client.ApiClient) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    space = ns(core, "subresources")
    apps.create_namespaced_deployment(space, {
        "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}},
                              "spec": {"containers": [{"name": "c", "image": "x"}]}}}})
    scale = apps.patch_namespaced_deployment_scale("d", space, {"spec": {"replicas": 4}})
    assert scale.spec.replicas == 4 and scale.status.selector == "app=d"
    # The main resource ignores status; the status subresource ignores the spec.
    apps.patch_namespaced_deployment("d", space, {"status": {"replicas": 9}})
    apps.patch_namespaced_deployment_status("d", space, {"status": {"readyReplicas": 2},
                                                        "spec": {"replicas": 1}})
    stored = apps.read_namespaced_deployment("d", space)
    assert stored.spec.replicas == 4
    assert stored.status.ready_replicas == 2 and stored.status.replicas is None
    assert stored.metadata.generation == 2
