"""No input crashes the API server: malformed or hostile requests get a `Status` with a
4xx code, never a 500 or a traceback (hypothesis generates the requests)."""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.lab.conftest import LabServer

KINDS = {
    "/api/v1/namespaces/default/pods": ("v1", "Pod"),
    "/api/v1/namespaces/default/services": ("v1", "Service"),
    "/api/v1/namespaces": ("v1", "Namespace"),
    "/apis/apps/v1/namespaces/default/deployments": ("apps/v1", "Deployment"),
    "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies": (
        "networking.k8s.io/v1", "NetworkPolicy"),
    "/apis/events.k8s.io/v1/namespaces/default/events": ("events.k8s.io/v1", "Event"),
}
FIELDS = ["metadata", "spec", "status", "name", "labels", "containers", "ports", "port",
          "podSelector", "ingress", "from", "selector", "template", "replicas", "type",
          "matchLabels", "matchExpressions", "$patch", "$retainKeys", "namespace",
          "generateName", "resourceVersion", "finalizers", "ownerReferences", "uid"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=5),
    max_leaves=25)


@st.composite
def objects(draw: st.DrawFn) -> tuple[str, Any]:
    path = draw(st.sampled_from(sorted(KINDS)))
    api_version, kind = KINDS[path]
    body = draw(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=5))
    if draw(st.booleans()):
        body.update(apiVersion=api_version, kind=kind)
    if draw(st.booleans()):
        body["metadata"] = {"name": draw(st.from_regex(r"[a-z][a-z0-9-]{0,10}",
                                                       fullmatch=True)),
                            **draw(st.dictionaries(st.sampled_from(FIELDS), json_values,
                                                   max_size=3))}
    return path, body


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    lab = LabServer(tmp_path_factory.mktemp("fuzz"), kubelet=False)
    try:
        yield lab
    finally:
        lab.close()


def request(lab: LabServer, method: str, path: str, body: bytes = b"",
            content_type: str = "application/json") -> tuple[int, bytes]:
    context = ssl.create_default_context(cadata=lab.ca_pem.decode())
    connection = http.client.HTTPSConnection("127.0.0.1", lab.served.port, context=context,
                                             timeout=10)
    try:
        connection.request(method, path, body=body, headers={
            "Authorization": f"Bearer {lab.token}", "Content-Type": content_type})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def assert_answered(status: int, body: bytes) -> None:
    assert status < 500, body
    if status >= 400:
        parsed = json.loads(body)
        assert parsed["kind"] == "Status" and parsed["code"] == status, parsed
        assert "Traceback" not in parsed["message"]


def test_wrong_methods_media_types_and_bodies_have_their_status_codes(
        server: LabServer) -> None:
    pods = "/api/v1/namespaces/default/pods"
    cases = [
        (("PUT", pods, b"{}"), 405, "MethodNotAllowed"),
        (("POST", pods, b"{not json"), 400, "BadRequest"),
        (("POST", pods, b"<pod/>", "application/xml"), 415, "UnsupportedMediaType"),
        (("PATCH", "/api/v1/namespaces/default", b"{}", "application/xml"), 415,
         "UnsupportedMediaType"),
        (("GET", "/api/v1/widgets", b""), 404, "NotFound"),
    ]
    for args, code, reason in cases:
        status, body = request(server, *args)
        assert (status, json.loads(body)["reason"]) == (code, reason), args


FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@FUZZ
@given(objects(), st.sampled_from(["POST", "PUT"]))
def test_malformed_objects_get_a_status_never_a_crash(
        server: LabServer, target: tuple[str, Any], method: str) -> None:
    path, body = target
    name = (body.get("metadata") or {}).get("name") if isinstance(body.get("metadata"),
                                                                    dict) else None
    url = f"{path}/{quote(str(name or 'x'), safe='')}" if method == "PUT" else path
    assert_answered(*request(server, method, url, json.dumps(body).encode()))


@FUZZ
@given(st.binary(max_size=200), st.sampled_from([
    "application/json", "application/yaml", "application/vnd.kubernetes.protobuf",
    "application/merge-patch+json", "text/plain", ""]), st.booleans())
def test_undecodable_bodies_are_bad_requests(server: LabServer, body: bytes,
                                             content_type: str, protobuf: bool) -> None:
    payload = b"k8s\x00" + body if protobuf else body
    assert_answered(*request(server, "POST", "/api/v1/namespaces/default/pods", payload,
                             content_type))


@FUZZ
@given(json_values, st.sampled_from([
    "application/merge-patch+json", "application/strategic-merge-patch+json",
    "application/json-patch+json", "application/apply-patch+yaml", "application/xml"]))
def test_any_patch_of_an_existing_object_gets_an_answer(server: LabServer, patch: Any,
                                                        content_type: str) -> None:
    request(server, "POST", "/apis/apps/v1/namespaces/default/deployments", json.dumps({
        "metadata": {"name": "target"},
        "spec": {"selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}}}).encode())
    status, body = request(server, "PATCH", "/apis/apps/v1/namespaces/default/deployments/target",
                           json.dumps(patch).encode(), content_type)
    assert_answered(status, body)


@FUZZ
@given(st.lists(st.sampled_from(["api", "apis", "v1", "namespaces", "default", "pods", "x",
                                 "status", "scale", "log", "proxy", "exec", "apps", "..",
                                 "%00", "watch", "binding", "finalize", "x:80"]),
                max_size=7),
       st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
       st.sampled_from(["", "?watch=true&timeoutSeconds=0", "?labelSelector=a%20in%20(",
                        "?fieldSelector=x", "?limit=-1", "?continue=zzz",
                        "?resourceVersion=abc&watch=1", "?fieldValidation=Bogus",
                        "?dryRun=All", "?propagationPolicy=Sideways"]))
def test_any_path_and_query_gets_an_answer(server: LabServer, parts: list[str], method: str,
                                           query: str) -> None:
    assert_answered(*request(server, method, "/" + "/".join(parts) + query, b"{}"))
