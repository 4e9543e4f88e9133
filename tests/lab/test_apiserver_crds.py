"""CustomResourceDefinitions in the lab API server, driven by the real kubectl (1.32).

Each test defines its own CRDs (a group per test, so tests stand alone on the module-wide
server) and checks what kubectl prints: discovery, short names, printer columns, `explain`,
422 errors with field paths, pruning, watches, scope, and a CRD's deletion.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from netpolicy.api.validation import FieldError
from netpolicy.lab.apiserver import structural
from netpolicy.lab.crds import default_crds, install_crds, version_priority
from netpolicy.lab.store import Store
from tests.lab.conftest import LabServer, kubectl_binary, wait_until

pytestmark = pytest.mark.usefixtures("needs_kubectl")


def widget_crd(group: str, *, scope: str = "Namespaced", columns: bool = True,
               kind: str = "Widget", plural: str = "widgets") -> dict[str, Any]:
    """A CRD with a schema that exercises the checks, a status subresource and columns."""
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object", "required": ["size"],
                "properties": {
                    "size": {"type": "string", "enum": ["small", "large"]},
                    "replicas": {"type": "integer", "minimum": 1, "maximum": 10,
                                 "default": 1},
                    "label": {"type": "string", "maxLength": 8, "pattern": "^[a-z]+$"},
                    "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            },
            "status": {"type": "object", "properties": {
                "conditions": {"type": "array", "items": {"type": "object", "properties": {
                    "type": {"type": "string"}, "status": {"type": "string"}}}}}},
        },
    }
    version: dict[str, Any] = {"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": schema},
                               "subresources": {"status": {}}}
    if columns:
        version["additionalPrinterColumns"] = [
            {"name": "Size", "type": "string", "jsonPath": ".spec.size"},
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
            {"name": "Ready", "type": "string",
             "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
            {"name": "Label", "type": "string", "jsonPath": ".spec.label", "priority": 1},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {"group": group, "scope": scope, "versions": [version],
                 "names": {"plural": plural, "singular": kind.lower(), "kind": kind,
                           "shortNames": [f"{plural[:2]}{group.split('.')[0]}"]}},
    }


def widget(group: str, name: str, namespace: str | None = "default",
           **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": meta,
            "spec": {"size": "small", **spec}}


def manifest(*docs: Mapping[str, Any]) -> str:
    return yaml.safe_dump_all(docs)


@pytest.fixture
def group(lab: LabServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A group of its own for the test; its CRD is defined, and deleted afterwards."""
    name = request.node.name.removeprefix("test_").replace("_", "")[:40] + ".example.com"
    lab.kubectl("apply", "-f", "-", input=manifest(widget_crd(name)))
    yield name
    lab.kubectl("delete", "crd", f"widgets.{name}", "--ignore-not-found")


def json_stream(text: str) -> list[Any]:
    """The JSON documents of `kubectl get -w -o json`, one after the other."""
    decoder, docs, pos = json.JSONDecoder(), [], 0
    while text[pos:].strip():
        pos += len(text[pos:]) - len(text[pos:].lstrip())
        doc, pos = decoder.raw_decode(text, pos)
        docs.append(doc)
    return docs


def stored(lab: LabServer, group: str, namespace: str | None, name: str) -> dict[str, Any]:
    return lab.call(lab.store.get(f"widgets.{group}", namespace, name))


def test_get_crd_prints_name_and_created_at_and_the_crd_is_established(
        lab: LabServer, group: str) -> None:
    lines = lab.kubectl("get", "crd", f"widgets.{group}").stdout.splitlines()
    assert lines[0].split() == ["NAME", "CREATED", "AT"]
    assert lines[1].split()[0] == f"widgets.{group}"
    assert lines[1].split()[1].endswith("Z")
    lab.kubectl("wait", "--for=condition=Established", f"crd/widgets.{group}", "--timeout=5s")
    crd = json.loads(lab.kubectl("get", "crd", f"widgets.{group}", "-o", "json").stdout)
    assert crd["spec"]["names"]["listKind"] == "WidgetList"
    assert crd["status"]["acceptedNames"]["kind"] == "Widget"
    assert crd["status"]["storedVersions"] == ["v1"]


def test_custom_resources_are_discovered_with_short_names_and_categories(
        lab: LabServer, group: str) -> None:
    rows = [line.split() for line in lab.kubectl("api-resources", "--api-group", group
                                                 ).stdout.splitlines()[1:]]
    short = "wi" + group.split(".")[0]
    assert rows == [["widgets", short, f"{group}/v1", "true", "Widget"]]
    assert f"{group}/v1" in lab.kubectl("api-versions").stdout.split()
    lab.kubectl("apply", "-f", "-", input=manifest(widget(group, "a")))
    assert lab.kubectl("get", short, "-o", "name").stdout.split() == [f"widget.{group}/a"]


def test_apply_get_describe_delete_a_custom_resource(lab: LabServer, group: str) -> None:
    out = lab.kubectl("apply", "-f", "-", input=manifest(widget(group, "w", replicas=3)))
    assert f"widget.{group}/w created" in out.stdout
    out = lab.kubectl("apply", "-f", "-", input=manifest(widget(group, "w", replicas=4)))
    assert f"widget.{group}/w configured" in out.stdout
    got = json.loads(lab.kubectl("get", f"widgets.{group}", "w", "-o", "json").stdout)
    assert got["spec"] == {"size": "small", "replicas": 4}
    assert got["apiVersion"] == f"{group}/v1" and got["metadata"]["generation"] == 2
    described = lab.kubectl("describe", f"widgets.{group}", "w").stdout
    assert "Name:         w" in described and "Replicas:  4" in described
    assert f'widget.{group} "w" deleted' in lab.kubectl("delete", f"widgets.{group}",
                                                         "w").stdout
    missing = lab.kubectl("get", f"widgets.{group}", "w", check=False)
    assert missing.stderr.strip() == (f'Error from server (NotFound): widgets.{group} "w" '
                                      "not found")


def test_printer_columns_and_defaults(lab: LabServer, group: str) -> None:
    lab.kubectl("apply", "-f", "-", input=manifest(widget(group, "a", label="abc"),
                                                    widget(group, "b", size="large")))
    lab.call(lab.store.modify(f"widgets.{group}", "default", "a", lambda w: w.__setitem__(
        "status", {"conditions": [{"type": "Ready", "status": "True"}]}),
        subresource="status"))
    lines = [line.split() for line in lab.kubectl("get", f"widgets.{group}"
                                                  ).stdout.splitlines()]
    assert lines[0] == ["NAME", "SIZE", "REPLICAS", "READY", "AGE"]
    assert lines[1][:4] == ["a", "small", "1", "True"]  # replicas defaulted to 1
    assert lines[1][4].endswith("s")
    assert lines[2][:3] == ["b", "large", "1"]
    wide = [line.split() for line in lab.kubectl("get", f"widgets.{group}", "-o", "wide"
                                                 ).stdout.splitlines()]
    assert wide[0] == ["NAME", "SIZE", "REPLICAS", "READY", "LABEL", "AGE"]
    assert wide[1][4] == "abc"


def test_status_is_only_written_through_the_status_subresource(
        lab: LabServer, group: str) -> None:
    body = widget(group, "s")
    body["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    lab.kubectl("apply", "-f", "-", input=manifest(body))
    assert "status" not in stored(lab, group, "default", "s")
    lab.kubectl("patch", f"widgets.{group}", "s", "--subresource=status", "--type=merge",
                "-p", json.dumps({"status": body["status"]}))
    assert stored(lab, group, "default", "s")["status"] == body["status"]


def test_invalid_custom_resources_get_a_422_with_field_paths(lab: LabServer,
                                                             group: str) -> None:
    bad = widget(group, "bad", size="huge", replicas=0, label="Too-Long-Label", tags=[
        "a", "b", "c"])
    out = lab.kubectl("apply", "-f", "-", input=manifest(bad), check=False)
    assert out.returncode == 1
    err = out.stderr
    assert 'The Widget "bad" is invalid' in err
    assert 'spec.size: Unsupported value: "huge": supported values: "small", "large"' in err
    assert ("spec.replicas: Invalid value: 0: spec.replicas in body should be greater than "
            "or equal to 1") in err
    assert "spec.label: Too long: may not be more than 8 bytes" in err
    assert ("spec.label: Invalid value: \"Too-Long-Label\": spec.label in body should match "
            "'^[a-z]+$'") in err
    assert "spec.tags: Too many: 3: must have at most 2 items" in err
    typed = widget(group, "typed", replicas="three")
    del typed["spec"]["size"]
    out = lab.kubectl("apply", "-f", "-", input=manifest(typed), check=False)
    assert ('spec.replicas: Invalid value: "string": spec.replicas in body must be of type '
            'integer: "string"') in out.stderr
    assert "spec.size: Required value" in out.stderr
    assert lab.kubectl("get", f"widgets.{group}", "-o", "name").stdout == ""


def test_invalid_status_from_the_api_names_the_causes(lab: LabServer, group: str) -> None:
    from netpolicy.lab.store import Invalid

    with pytest.raises(Invalid) as caught:
        lab.call(lab.store.create(f"widgets.{group}", widget(group, "x", size=3)))
    status = caught.value.status()
    assert status["code"] == 422 and status["reason"] == "Invalid"
    assert status["details"]["group"] == group and status["details"]["kind"] == "Widget"
    assert status["details"]["causes"] == [
        {"reason": "FieldValueTypeInvalid", "field": "spec.size",
         "message": 'Invalid value: "integer": spec.size in body must be of type string: '
                    '"integer"'}]
    assert status["message"] == (f'Widget.{group} "x" is invalid: spec.size: Invalid value: '
                                 '"integer": spec.size in body must be of type string: '
                                 '"integer"')


def test_kinds_known_to_validation_get_its_rules_and_the_schema_checks_once(
        lab: LabServer, group: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from netpolicy.api import validation
    from netpolicy.lab.store import Invalid

    def rules(obj: Mapping[str, Any], strict: bool = False) -> list[FieldError]:
        assert obj["kind"] == "Widget"
        return [FieldError("FieldValueInvalid", "spec.label", "must not be x", "x"),
                FieldError("FieldValueRequired", "spec.size", "")]  # also a schema error

    monkeypatch.setitem(validation.KIND_GROUPS, "Widget", group)
    monkeypatch.setattr(validation, "validate", rules)
    body = widget(group, "known", label="x")
    del body["spec"]["size"]
    with pytest.raises(Invalid) as caught:
        lab.call(lab.store.create(f"widgets.{group}", body))
    assert [(c["field"], c["message"]) for c in caught.value.status()["details"]["causes"]] == [
        ("spec.size", "Required value"), ("spec.label", 'Invalid value: "x": must not be x')]
    monkeypatch.setitem(validation.KIND_GROUPS, "Widget", "some.other.group")
    lab.call(lab.store.create(f"widgets.{group}", widget(group, "other", label="x")))


def test_unknown_fields_are_pruned_or_refused_when_strict(lab: LabServer, group: str) -> None:
    body = widget(group, "p", colour="red", extra={"anything": {"goes": 1}})
    body["unknownTop"] = 1
    strict = lab.kubectl("apply", "-f", "-", input=manifest(body), check=False)
    assert strict.returncode == 1
    assert 'strict decoding error: unknown field "spec.colour", unknown field "unknownTop"' \
        in strict.stderr
    warned = lab.kubectl("apply", "-f", "-", "--validate=warn", input=manifest(body))
    assert 'unknown field "spec.colour"' in warned.stderr
    obj = stored(lab, group, "default", "p")
    assert obj["spec"] == {"size": "small", "replicas": 1, "extra": {"anything": {"goes": 1}}}
    assert "unknownTop" not in obj


def test_explain_reads_the_crd_schema(lab: LabServer, group: str) -> None:
    out = lab.kubectl("explain", "widgets.spec", f"--api-version={group}/v1").stdout
    assert "KIND:       Widget" in out and f"GROUP:      {group}" in out
    for field in ("extra", "label", "replicas", "size", "tags"):
        assert f"  {field}\t" in out
    assert "-required-" in out


def test_watch_sees_custom_resource_events(lab: LabServer, group: str) -> None:
    binary = kubectl_binary()
    assert binary is not None
    lab.kubectl("apply", "-f", "-", input=manifest(widget(group, "w")))
    watcher = subprocess.Popen(
        [binary, "--cache-dir", str(lab.cache), "get", f"widgets.{group}", "-w",
         "--output-watch-events", "-o", "json"],
        env={"KUBECONFIG": str(lab.kubeconfig), "HOME": str(lab.directory),
             "PATH": "/usr/bin:/bin"}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True)
    assert watcher.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(watcher.stdout.readline, "")),
                              daemon=True)
    reader.start()

    def events() -> list[tuple[str, int]]:
        try:
            return [(e["type"], e["object"]["spec"]["replicas"])
                    for e in json_stream("".join(lines))]
        except json.JSONDecodeError:  # a document still on its way
            return []

    try:
        wait_until(lambda: len(events()) == 1)  # the list: the watch is open
        lab.kubectl("patch", f"widgets.{group}", "w", "--type=merge", "-p",
                    '{"spec":{"replicas":2}}')
        lab.kubectl("delete", f"widgets.{group}", "w")
        wait_until(lambda: len(events()) == 3)
    finally:
        watcher.terminate()
        watcher.wait(10)
        reader.join(10)
        watcher.stdout.close()
    assert events() == [("ADDED", 1), ("MODIFIED", 2), ("DELETED", 2)]


def test_store_watch_ends_when_the_crd_is_deleted(lab: LabServer, group: str) -> None:
    lab.kubectl("apply", "-f", "-", input=manifest(widget(group, "w")))

    async def watch_until_crd_deleted() -> list[str]:
        watch = lab.store.watch(f"widgets.{group}")
        await lab.store.delete("customresourcedefinitions", None, f"widgets.{group}")
        return [f"{e.type} {e.object['metadata']['name']}" async for e in watch]

    assert lab.call(watch_until_crd_deleted()) == ["ADDED w", "DELETED w"]


def test_cluster_scoped_crd_without_columns(lab: LabServer) -> None:
    group = "clusterscope.example.com"
    lab.kubectl("apply", "-f", "-", input=manifest(widget_crd(group, scope="Cluster",
                                                              columns=False)))
    try:
        lab.kubectl("apply", "-f", "-", input=manifest(widget(group, "c", namespace=None)))
        lines = [line.split() for line in lab.kubectl("get", f"widgets.{group}"
                                                      ).stdout.splitlines()]
        assert lines[0] == ["NAME", "AGE"] and lines[1][0] == "c"
        rows = lab.kubectl("api-resources", "--api-group", group).stdout.splitlines()
        assert rows[1].split()[3] == "false"
        namespaced = lab.kubectl("get", f"widgets.{group}", "c", "-n", "default", "-o",
                                 "name")
        assert namespaced.stdout.strip() == f"widget.{group}/c"
    finally:
        lab.kubectl("delete", "crd", f"widgets.{group}")


def test_namespaced_custom_resources_live_in_their_namespace(lab: LabServer,
                                                            group: str) -> None:
    lab.kubectl("create", "namespace", "crd-ns")
    lab.kubectl("apply", "-f", "-", input=manifest(widget(group, "in-ns",
                                                          namespace="crd-ns")))
    assert lab.kubectl("get", f"widgets.{group}", "-o", "name").stdout == ""
    assert lab.kubectl("get", f"widgets.{group}", "-n", "crd-ns", "-o", "name"
                       ).stdout.split() == [f"widget.{group}/in-ns"]
    everywhere = lab.kubectl("get", f"widgets.{group}", "-A").stdout.splitlines()
    assert everywhere[0].split()[:2] == ["NAMESPACE", "NAME"]
    lab.kubectl("delete", "namespace", "crd-ns")
    assert lab.kubectl("get", f"widgets.{group}", "-A", "-o", "name").stdout == ""


def test_deleting_the_crd_deletes_its_objects_and_stops_serving(lab: LabServer) -> None:
    group = "deleted.example.com"
    lab.kubectl("apply", "-f", "-", input=manifest(widget_crd(group)))
    lab.kubectl("apply", "-f", "-", input=manifest(widget(group, "a"), widget(group, "b")))
    out = lab.kubectl("delete", "crd", f"widgets.{group}")
    assert f'customresourcedefinition.apiextensions.k8s.io "widgets.{group}" deleted' \
        in out.stdout
    gone = lab.kubectl("get", f"widgets.{group}", check=False)
    assert gone.returncode == 1
    assert "the server doesn't have a resource type" in gone.stderr
    assert group not in lab.kubectl("api-versions").stdout
    lab.kubectl("apply", "-f", "-", input=manifest(widget_crd(group)))
    try:
        assert lab.kubectl("get", f"widgets.{group}", "-o", "name").stdout == ""
    finally:
        lab.kubectl("delete", "crd", f"widgets.{group}")


def test_invalid_crds_are_refused(lab: LabServer) -> None:
    crd = widget_crd("refused.example.com")
    crd["metadata"]["name"] = "wrong.example.com"
    crd["spec"]["scope"] = "Everywhere"
    crd["spec"]["versions"][0]["storage"] = False
    out = lab.kubectl("apply", "-f", "-", input=manifest(crd), check=False)
    assert out.returncode == 1
    assert 'The CustomResourceDefinition "wrong.example.com" is invalid' in out.stderr
    assert 'metadata.name: Invalid value: "wrong.example.com": must be ' \
        'spec.names.plural+"."+spec.group' in out.stderr
    assert 'spec.scope: Unsupported value: "Everywhere": supported values: "Cluster", ' \
        '"Namespaced"' in out.stderr
    assert "must have exactly one version marked as storage version" in out.stderr


def test_crds_are_installed_when_the_server_starts(tmp_path: Path) -> None:
    group = "installed.example.com"
    server = LabServer(tmp_path, kubelet=False, crds=lambda: [widget_crd(group)])
    try:
        lab = server
        assert lab.kubectl("get", "crd", "-o", "name").stdout.split() == [
            f"customresourcedefinition.apiextensions.k8s.io/widgets.{group}"]
        lab.kubectl("apply", "-f", "-", input=manifest(widget(group, "w")))
        assert lab.kubectl("get", f"widgets.{group}", "-o", "name").stdout.split() == [
            f"widget.{group}/w"]
    finally:
        server.close()
    # The state kept: reopened, the store serves the CRD and its objects again.
    store = Store(tmp_path / "state")
    try:
        assert store.registry.lookup(group, "v1", "widgets") is not None
        assert asyncio.run(store.get(f"widgets.{group}", "default", "w"))["spec"] == {
            "size": "small", "replicas": 1}
    finally:
        store.close()


def test_installing_again_replaces_the_crd_and_keeps_its_objects(lab: LabServer,
                                                                 group: str) -> None:
    lab.kubectl("apply", "-f", "-", input=manifest(widget(group, "kept")))
    changed = widget_crd(group)
    changed["spec"]["names"]["shortNames"] = ["changed" + group.split(".")[0][:5]]
    assert lab.call(install_crds(lab.store, [changed])) == [f"widgets.{group}"]
    crd = lab.call(lab.store.get("customresourcedefinitions", None, f"widgets.{group}"))
    assert crd["spec"]["names"]["shortNames"] == changed["spec"]["names"]["shortNames"]
    assert stored(lab, group, "default", "kept")["metadata"]["name"] == "kept"


def test_the_default_crds_are_the_three_tiered_policy_kinds() -> None:
    assert sorted(c["spec"]["names"]["kind"] for c in default_crds()) == [
        "AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy"]


# --- the structural schema validator, without a server -------------------------------------------

SCHEMA: dict[str, Any] = widget_crd("unit.example.com")["spec"]["versions"][0]["schema"][
    "openAPIV3Schema"]


@pytest.mark.parametrize(("spec", "expected"), [
    ({"size": "small"}, []),
    ({"size": "small", "replicas": 11},
     [FieldError("FieldValueInvalid", "spec.replicas",
                 "spec.replicas in body should be less than or equal to 10", 11)]),
    ({"size": "small", "replicas": 2.5},
     [FieldError("FieldValueTypeInvalid", "spec.replicas",
                 'spec.replicas in body must be of type integer: "number"', "number")]),
    ({"size": "small", "tags": ["a", 1]},
     [FieldError("FieldValueTypeInvalid", "spec.tags[1]",
                 'spec.tags[1] in body must be of type string: "integer"', "integer")]),
    ({}, [FieldError("FieldValueRequired", "spec.size", "")]),
])
def test_structural_validation(spec: dict[str, Any], expected: list[FieldError]) -> None:
    assert structural.validate({"spec": spec}, SCHEMA) == expected


def test_pruning_keeps_what_the_schema_declares_or_preserves() -> None:
    pruned, unknown = structural.prune(
        {"apiVersion": "x/v1", "kind": "Widget", "metadata": {"name": "a"},
         "spec": {"size": "small", "bogus": 1, "label": None, "extra": {"a": [1]},
                  "tags": ["x"]}, "other": {}}, SCHEMA)
    assert pruned == {"apiVersion": "x/v1", "kind": "Widget", "metadata": {"name": "a"},
                      "spec": {"size": "small", "extra": {"a": [1]}, "tags": ["x"]}}
    assert unknown == ["spec.bogus", "other"]


def test_the_root_metadata_is_object_meta_whatever_the_schema_declares() -> None:
    # The network-policy-api CRDs declare `metadata: {type: object}` and nothing inside.
    schema = {"type": "object", "properties": {"metadata": {"type": "object"},
                                               "spec": {"type": "object"}}}
    obj = {"apiVersion": "x/v1", "kind": "K",
           "metadata": {"name": "a", "annotations": {"k": "v"}}, "spec": {}}
    assert structural.prune(obj, schema) == (obj, [])


def test_version_priority_is_kubernetes_order() -> None:
    versions = ["v1alpha1", "v1", "foo", "v2beta1", "v1beta2", "v2", "v1beta1"]
    assert sorted(versions, key=version_priority) == [
        "v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1", "foo"]


def test_versions_other_than_the_storage_version_are_views(lab: LabServer) -> None:
    group = "versions.example.com"
    crd = widget_crd(group)
    beta = {**crd["spec"]["versions"][0], "name": "v1beta1", "storage": False}
    crd["spec"]["versions"].append(beta)
    lab.kubectl("apply", "-f", "-", input=manifest(crd))
    try:
        old = {**widget(group, "b"), "apiVersion": f"{group}/v1beta1"}
        lab.kubectl("apply", "-f", "-", input=manifest(old))
        assert stored(lab, group, "default", "b")["apiVersion"] == f"{group}/v1"
        as_beta = json.loads(lab.kubectl("get", f"widgets.v1beta1.{group}", "b", "-o", "json"
                                         ).stdout)
        assert as_beta["apiVersion"] == f"{group}/v1beta1"
        assert json.loads(lab.kubectl("get", f"widgets.{group}", "b", "-o", "json").stdout)[
            "apiVersion"] == f"{group}/v1"
        versions = lab.kubectl("api-versions").stdout.split()
        assert f"{group}/v1" in versions and f"{group}/v1beta1" in versions
    finally:
        lab.kubectl("delete", "crd", f"widgets.{group}")
