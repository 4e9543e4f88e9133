"""The store in-process (as the lab's controllers use it), and the pieces of the server
that need no HTTP: patches, protobuf, SPDY constants."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from netpolicy.lab.apiserver import install_admission
from netpolicy.lab.apiserver.decode import parse_body
from netpolicy.lab.apiserver.patch import apply_patch
from netpolicy.lab.apiserver.protobuf import decode as decode_protobuf
from netpolicy.lab.apiserver.spdy import DICTIONARY
from netpolicy.lab.store import (
    Admission,
    BadRequest,
    Conflict,
    Expired,
    Invalid,
    NotFound,
    Store,
)

T = TypeVar("T")


def run(test: Callable[[Store], Awaitable[T]], path: Path | None = None) -> T:
    async def main() -> T:
        store = Store(path)
        install_admission(store)
        try:
            await store.create("namespaces", {"metadata": {"name": "ns"}})
            return await test(store)
        finally:
            store.close()

    return asyncio.run(main())


def cm(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "labels": labels}, "data": {}}


def test_objects_and_the_version_counter_survive_a_restart(tmp_path: Path) -> None:
    async def write(store: Store) -> str:
        created = await store.create("configmaps", cm("a"))
        return str(created["metadata"]["resourceVersion"])

    version = run(write, tmp_path)

    async def reread(store: Store) -> None:
        assert (await store.get("configmaps", "ns", "a"))["metadata"]["resourceVersion"] == \
            version
        later = await store.create("configmaps", cm("b"))
        assert int(later["metadata"]["resourceVersion"]) > int(version)
        # Changes made before the restart are gone from the history: from the version of
        # the last one on, a watch works; from an older one, it has expired.
        store.watch("configmaps", resource_version=version).close()
        with pytest.raises(Expired, match=r"too old resource version: 1 \("):
            store.watch("configmaps", resource_version=int(version) - 1)

    async def main() -> None:
        store = Store(tmp_path)
        try:
            await reread(store)
        finally:
            store.close()

    asyncio.run(main())


def test_writes_use_optimistic_concurrency_and_no_op_updates_write_nothing() -> None:
    async def test(store: Store) -> None:
        created = await store.create("configmaps", cm("a"))
        same = await store.update("configmaps", created)
        assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
        created["data"] = {"k": "v"}
        updated = await store.update("configmaps", created)
        assert updated["data"] == {"k": "v"}
        with pytest.raises(Conflict) as stale:
            await store.update("configmaps", created)
        assert stale.value.status()["message"] == (
            'Operation cannot be fulfilled on configmaps "a": the object has been modified; '
            "please apply your changes to the latest version and try again")

    run(test)


def test_generate_name_and_namespace_rules() -> None:
    async def test(store: Store) -> None:
        made = await store.create("configmaps", {"metadata": {"generateName": "cfg-",
                                                              "namespace": "ns"}})
        assert made["metadata"]["name"].startswith("cfg-")
        assert len(made["metadata"]["name"]) == len("cfg-") + 5
        with pytest.raises(NotFound) as missing:
            await store.create("configmaps", {"metadata": {"name": "x", "namespace": "nope"}})
        assert missing.value.message == 'namespaces "nope" not found'
        with pytest.raises(Invalid) as invalid:
            await store.create("configmaps", {"metadata": {"name": "Not_Valid",
                                                           "namespace": "ns"}})
        assert invalid.value.details and invalid.value.details["causes"][0]["field"] == \
            "metadata.name"

    run(test)


def test_finalizers_hold_an_object_until_they_are_removed() -> None:
    async def test(store: Store) -> None:
        obj = cm("held")
        obj["metadata"]["finalizers"] = ["example.com/wait"]
        await store.create("configmaps", obj)
        marked = await store.delete("configmaps", "ns", "held")
        assert marked["metadata"]["deletionTimestamp"]
        await store.modify("configmaps", "ns", "held",
                           lambda o: o["metadata"].__setitem__("finalizers", []))
        with pytest.raises(NotFound):
            await store.get("configmaps", "ns", "held")

    run(test)


def test_deleting_a_namespace_deletes_what_is_in_it() -> None:
    async def test(store: Store) -> None:
        await store.create("configmaps", cm("a"))
        watch = store.watch("namespaces", resource_version=store.resource_version)
        await store.delete("namespaces", None, "ns")
        assert (await store.list("configmaps"))[0] == []
        terminating = await watch.__anext__()
        assert terminating.object["status"]["phase"] == "Terminating"
        assert (await watch.__anext__()).type == "DELETED"
        watch.close()

    run(test)


def test_admission_hooks_run_in_order_and_may_reject() -> None:
    seen: list[str] = []

    def first(request: Admission) -> None:
        seen.append("first")
        request.obj.setdefault("data", {})["added"] = "by-hook"

    def second(request: Admission) -> None:
        seen.append("second")
        if request.obj["metadata"]["name"] == "forbidden":
            raise BadRequest("no")

    async def test(store: Store) -> None:
        store.add_admission(first, name="first")
        store.add_admission(first, name="first")  # a named hook is added once
        store.add_admission(second)
        assert (await store.create("configmaps", cm("ok")))["data"] == {"added": "by-hook"}
        with pytest.raises(BadRequest):
            await store.create("configmaps", cm("forbidden"))
        assert seen == ["first", "second", "first", "second"]

    run(test)


def test_status_is_written_only_through_the_status_subresource() -> None:
    async def test(store: Store) -> None:
        pod = {"metadata": {"name": "p", "namespace": "ns"},
               "spec": {"containers": [{"name": "c", "image": "i"}]},
               "status": {"phase": "Running"}}
        created = await store.create("pods", pod)
        assert created["status"]["phase"] == "Pending"  # status is the server's on create
        created["status"]["phase"] = "Running"
        assert (await store.update("pods", created))["status"]["phase"] == "Pending"
        running = await store.update_status("pods", created)
        assert running["status"]["phase"] == "Running"

    run(test)


def test_a_pod_spec_is_immutable_but_for_images() -> None:
    async def test(store: Store) -> None:
        await store.create("pods", {"metadata": {"name": "p", "namespace": "ns"},
                                    "spec": {"containers": [{"name": "c", "image": "i:1"}]}})
        patched = await store.patch("pods", "ns", "p", {"spec": {"containers": [
            {"name": "c", "image": "i:2"}]}}, patch_type="application/strategic-merge-patch+json")
        assert patched["spec"]["containers"][0]["image"] == "i:2"
        with pytest.raises(Invalid) as invalid:
            await store.patch("pods", "ns", "p", {"spec": {"restartPolicy": "Never"}})
        assert invalid.value.message.startswith(
            'Pod "p" is invalid: spec: Forbidden: pod updates may not change fields other '
            "than `spec.containers[*].image`")

    run(test)


def test_selectors_are_parsed_strictly() -> None:
    async def test(store: Store) -> None:
        await store.create("configmaps", cm("a", app="web", tier="front"))
        await store.create("configmaps", cm("b", app="db"))
        for selector, names in [("app=web", ["a"]), ("app!=web", ["b"]), ("tier", ["a"]),
                                ("!tier", ["b"]), ("app in (db, web)", ["a", "b"]),
                                ("app notin (web)", ["b"])]:
            items, _ = await store.list("configmaps", "ns", label_selector=selector)
            assert [i["metadata"]["name"] for i in items] == names, selector
        for bad in ("app in (web", "a=b=c", "=x"):
            with pytest.raises(BadRequest):
                await store.list("configmaps", "ns", label_selector=bad)
        with pytest.raises(BadRequest, match=r"field label not supported: spec\.nodeName"):
            await store.list("configmaps", "ns", field_selector="spec.nodeName=x")

    run(test)


def test_strategic_merge_patch_merges_lists_by_their_merge_key() -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {
        "containers": [{"name": "a", "image": "1", "env": [{"name": "X", "value": "1"}]},
                       {"name": "b", "image": "2"}]}}, "strategy": {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
        "containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}]},
                       {"name": "b", "$patch": "delete"}, {"name": "c", "image": "3"}]}},
        "strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}}
    result = apply_patch(deployment, patch, "application/strategic-merge-patch+json")
    containers = result["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["a", "c"]
    assert containers[0]["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]
    assert result["spec"]["strategy"] == {"type": "Recreate"}
    merged = apply_patch(deployment, {"spec": {"template": {"spec": {"containers": [
        {"name": "z"}]}}}}, "application/merge-patch+json")
    assert merged["spec"]["template"]["spec"]["containers"] == [{"name": "z"}]
    patched = apply_patch({"a": [1, 2]}, [{"op": "add", "path": "/a/-", "value": 3},
                                          {"op": "test", "path": "/a/0", "value": 1}],
                          "application/json-patch+json")
    assert patched == {"a": [1, 2, 3]}
    with pytest.raises(Invalid):
        apply_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}],
                    "application/json-patch+json")


def _field(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2, len(payload)]) + payload


def test_protobuf_bodies_decode_to_the_json_object() -> None:
    meta = _field(1, b"web") + _field(11, _field(1, b"app") + _field(2, b"x"))
    namespace = _field(1, meta) + _field(2, b"") + _field(3, b"")
    envelope = _field(1, _field(1, b"v1") + _field(2, b"Namespace")) + _field(2, namespace)
    assert decode_protobuf(b"k8s\x00" + envelope) == {
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "web", "labels": {"app": "x"}}, "spec": {}, "status": {}}
    with pytest.raises(BadRequest):
        decode_protobuf(b"k8s\x00\xff\xff")


def test_the_spdy_header_dictionary_is_the_spdy3_one() -> None:
    assert len(DICTIONARY) == 1423
    assert zlib.adler32(DICTIONARY) == 0xE3C6A7C2


@pytest.mark.parametrize("media", ["application/json", "application/apply-patch+yaml"])
def test_escaped_surrogates_decode_as_go_does(media: str) -> None:
    """A surrogate pair is one character, a lone surrogate U+FFFD, in JSON and in YAML: every
    decoded string can be written back as UTF-8 (a lone one made the server answer 500)."""
    body = b'{"a": "\\ud800\\udc00", "b\\udfff": "\\ud800x"}'
    decoded = parse_body(body, media)
    assert decoded == {"a": "\U00010000", "b\ufffd": "\ufffdx"}
    json.dumps(decoded, ensure_ascii=False).encode("utf-8")
