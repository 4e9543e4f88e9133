"""Reading manifests: files, directories, stdin, multi-document YAML, Lists, JSON; and
turning them into namespaces, endpoints and policies."""

from __future__ import annotations

import io
import ipaddress
import json
from pathlib import Path

import pytest

from netpolicy.api.inventory import build_inventory
from netpolicy.api.loading import parse_text, read_paths
from netpolicy.errors import InvalidObjectsError, LoadError

DEPLOY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, uid: d-1}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: front}}
    spec:
      containers: [{name: c, image: nginx, ports: [{name: http, containerPort: 8080}]}]
"""
REPLICASET = """
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-5d8f
  namespace: shop
  labels: {app: web, pod-template-hash: 5d8f}
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: d-1}]
spec:
  selector: {matchLabels: {app: web, pod-template-hash: 5d8f}}
  template:
    metadata: {labels: {app: web, pod-template-hash: 5d8f}}
    spec: {containers: [{name: c, image: nginx}]}
"""
POD = """
apiVersion: v1
kind: Pod
metadata:
  name: web-5d8f-abcde
  namespace: shop
  labels: {app: web, pod-template-hash: 5d8f}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d8f, uid: r-1}]
spec: {containers: [{name: c, image: nginx}]}
status: {podIP: 10.244.1.7, phase: Running}
"""


def keys(text: str, namespace: str = "default") -> list[str]:
    return [e.key for e in build_inventory(parse_text(text, "t"), namespace).endpoints]


def test_a_workload_is_one_endpoint_with_its_template_labels_and_ports() -> None:
    inv = build_inventory(parse_text(DEPLOY, "t"))
    [web] = inv.endpoints
    assert (web.key, web.kind, dict(web.labels)) == ("shop/web", "Deployment",
                                                     {"app": "web", "tier": "front"})
    assert web.named_port("http", "TCP") == 8080 and web.ips == ()


@pytest.mark.parametrize("kind", ["ReplicaSet", "StatefulSet", "DaemonSet",
                                  "ReplicationController", "Job"])
def test_every_workload_kind_makes_an_endpoint(kind: str) -> None:
    group = {"Job": "batch/v1", "ReplicationController": "v1"}.get(kind, "apps/v1")
    selector = "{app: w}" if kind == "ReplicationController" else "{matchLabels: {app: w}}"
    text = f"""
apiVersion: {group}
kind: {kind}
metadata: {{name: w}}
spec:
  selector: {selector}
  template:
    metadata: {{labels: {{app: w}}}}
    spec: {{containers: [{{name: c, image: i}}], restartPolicy: Never}}
"""
    [ep] = build_inventory(parse_text(text, "t")).endpoints
    assert (ep.key, ep.kind, dict(ep.labels)) == ("default/w", kind, {"app": "w"})


def test_cronjob_endpoint_comes_from_the_job_template() -> None:
    text = """
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 0 * * *"
  jobTemplate:
    spec:
      template:
        metadata: {labels: {job: nightly}}
        spec: {containers: [{name: c, image: i}], restartPolicy: OnFailure}
"""
    [ep] = build_inventory(parse_text(text, "t")).endpoints
    assert dict(ep.labels) == {"job": "nightly"}


def test_pods_stand_for_their_owners_when_both_are_given() -> None:
    assert keys(DEPLOY + "---" + REPLICASET + "---" + POD) == ["shop/web-5d8f-abcde"]


def test_pods_stand_for_their_deployment_even_without_the_replicaset() -> None:
    assert keys(DEPLOY + "---" + POD) == ["shop/web-5d8f-abcde"]


def test_a_deployment_stands_for_its_replicasets_when_no_pods_are_given() -> None:
    assert keys(DEPLOY + "---" + REPLICASET) == ["shop/web"]


def test_finished_pods_are_left_out_and_counted() -> None:
    inv = build_inventory(parse_text(POD.replace("Running", "Succeeded"), "t"))
    assert inv.endpoints == [] and inv.finished_pods == 1
    assert "1 finished Pod" in (inv.skipped_note() or "")


def test_objects_without_namespace_go_to_default_or_the_given_one() -> None:
    text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i}]}"
    assert keys(text) == ["default/p"]
    assert keys(text, "team") == ["team/p"]


def test_mentioned_namespaces_exist_with_their_name_label() -> None:
    inv = build_inventory(parse_text(POD, "t"))
    assert [(n.name, dict(n.labels)) for n in inv.namespaces] == [
        ("shop", {"kubernetes.io/metadata.name": "shop"})]


def test_other_kinds_are_skipped_and_counted() -> None:
    text = """
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: d}
"""
    inv = build_inventory(parse_text(text, "t"))
    assert inv.skipped_note() == ("note: skipped objects of kinds netpol does not read: "
                                  "2 ConfigMap, 1 Widget")


def test_kubectl_get_list_is_unwrapped_including_typed_lists() -> None:
    pod = parse_text(POD, "t")[0].obj
    item = {k: v for k, v in pod.items() if k != "kind"}
    listed = {"apiVersion": "v1", "kind": "PodList", "items": [item]}
    assert keys(json.dumps(listed)) == ["shop/web-5d8f-abcde"]
    listed = {"apiVersion": "v1", "kind": "List", "items": [pod]}
    assert keys(json.dumps(listed)) == ["shop/web-5d8f-abcde"]


def test_directories_are_read_recursively_and_stdin_with_a_dash(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.yaml").write_text(DEPLOY)
    (tmp_path / "b.json").write_text(json.dumps(parse_text(POD, "t")[0].obj))
    (tmp_path / "notes.txt").write_text("not a manifest")
    docs = read_paths([str(tmp_path), "-"], stdin=io.StringIO(REPLICASET))
    assert sorted(d.obj["kind"] for d in docs) == ["Deployment", "Pod", "ReplicaSet"]


def test_empty_documents_are_ignored() -> None:
    assert parse_text("---\n---\n" + DEPLOY + "\n---\n", "t")[0].obj["kind"] == "Deployment"


@pytest.mark.parametrize(("text", "message"), [
    ("a: [1, 2", "error parsing f.yaml"),
    ("- 1\n- 2", "a manifest must be an object, not list"),
    ("metadata: {name: x}", "Object 'Kind' is missing"),
])
def test_unreadable_manifests_are_load_errors(text: str, message: str) -> None:
    with pytest.raises(LoadError, match=message):
        parse_text(text, "f.yaml")


def test_a_missing_path_is_a_load_error() -> None:
    with pytest.raises(LoadError, match="does not exist"):
        read_paths(["/nonexistent/manifests"])


def test_every_invalid_object_is_reported_and_nothing_is_built() -> None:
    text = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad-one}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 0}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad-two}
spec:
  podSelector: {}
  egress: [{to: [{}]}]
"""
    with pytest.raises(InvalidObjectsError) as info:
        build_inventory(parse_text(text, "t"))
    assert [str(o) for o in info.value.objects] == [
        'NetworkPolicy.networking.k8s.io "bad-one" is invalid: '
        "spec.ingress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        'NetworkPolicy.networking.k8s.io "bad-two" is invalid: '
        "spec.egress[0].to[0]: Required value: must specify a peer",
    ]


def test_the_same_object_twice_is_read_once_but_two_versions_are_an_error() -> None:
    assert keys(DEPLOY + "---" + DEPLOY) == ["shop/web"]
    with pytest.raises(InvalidObjectsError, match="given twice"):
        build_inventory(parse_text(DEPLOY + "---" + DEPLOY.replace("front", "back"), "t"))


def test_two_endpoints_with_one_name_are_an_error() -> None:
    pod = """
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec: {containers: [{name: c, image: nginx}]}
"""
    with pytest.raises(InvalidObjectsError, match="both would be endpoint shop/web"):
        build_inventory(parse_text(DEPLOY + "---" + pod, "t"))


LEGACY_ADDRESSES = """
apiVersion: v1
kind: Pod
metadata: {name: old, namespace: shop, labels: {app: old}}
spec: {containers: [{name: c, image: i}]}
status: {podIP: 010.009.008.007, podIPs: [{ip: 010.009.008.007}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: legacy, namespace: shop}
spec:
  podSelector: {}
  ingress: [{from: [{ipBlock: {cidr: 010.9.0.1/16, except: [010.9.8.0/24]}}]}]
"""


def test_a_live_clusters_legacy_addresses_read_as_the_api_server_reads_them() -> None:
    """Objects a cluster accepted before StrictIPCIDRValidation may write IPv4 octets with
    leading zeros (decimal, as Go 1.16 read them) and CIDRs with host bits: read with
    strict_ip=False they are converted, not refused, and not a crash."""
    docs = parse_text(LEGACY_ADDRESSES, "t")
    with pytest.raises(InvalidObjectsError):
        build_inventory(docs)  # manifests: today's rules
    inv = build_inventory(docs, strict_ip=False)
    [pod] = inv.endpoints
    assert [str(ip) for ip in pod.ips] == ["10.9.8.7"]
    [block] = [peer.ip_block for peer in inv.policies[0].ingress[0].peers]
    assert block is not None
    assert (str(block.cidr), [str(e) for e in block.excepts]) == ("10.9.0.0/16", ["10.9.8.0/24"])
    assert not block.contains(pod.ips[0]) and block.contains(ipaddress.ip_address("10.9.7.1"))
