"""The lab API server driven by the real kubectl (1.32), as a user would.

Each test works in its own namespace of one module-wide server (see conftest.py). What is
checked is what kubectl prints and what ends up stored: the point is that kubectl works
against our server unchanged, and shows what it would show against a real cluster.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import threading
import urllib.request
from collections.abc import Iterator

import pytest
import yaml

from tests.lab.conftest import NODE, LabServer, kubectl_binary, wait_until

pytestmark = pytest.mark.usefixtures("needs_kubectl")


def namespace(lab: LabServer, name: str) -> str:
    lab.kubectl("create", "namespace", name)
    return name


def manifest(*docs: dict[str, object]) -> str:
    return yaml.safe_dump_all(docs)


def policy(name: str, ns: str, port: int = 80) -> dict[str, object]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"podSelector": {"matchLabels": {"app": "web"}},
                     "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
                                  "ports": [{"port": port}]}]}}


def pod(name: str, ns: str, **labels: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels or {"app": name}},
            "spec": {"containers": [{"name": "main", "image": "nginx:1.27",
                                     "ports": [{"containerPort": 80, "name": "http"}]}]}}


def running(lab: LabServer, ns: str, name: str) -> None:
    wait_until(lambda: "Running" in lab.kubectl("get", "pod", name, "-n", ns).stdout)


def test_api_resources_lists_every_kind_with_its_short_names(lab: LabServer) -> None:
    out = lab.kubectl("api-resources").stdout
    rows = {tuple(line.split()[:2]) for line in out.splitlines()[1:]}
    for name, short in [("pods", "po"), ("deployments", "deploy"), ("replicasets", "rs"),
                        ("services", "svc"), ("endpoints", "ep"), ("networkpolicies", "netpol"),
                        ("namespaces", "ns"), ("nodes", "no"), ("serviceaccounts", "sa"),
                        ("events", "ev"), ("configmaps", "cm")]:
        assert (name, short) in rows
    assert "endpointslices" in out
    assert "discovery.k8s.io/v1" in out


def test_apply_creates_then_updates_and_bumps_generation(lab: LabServer) -> None:
    ns = namespace(lab, "apply")
    out = lab.kubectl("apply", "-f", "-", input=manifest(policy("web", ns), pod("web", ns)))
    assert "networkpolicy.networking.k8s.io/web created" in out.stdout
    assert "pod/web created" in out.stdout
    out = lab.kubectl("apply", "-f", "-", input=manifest(policy("web", ns, 8080),
                                                          pod("web", ns)))
    assert "networkpolicy.networking.k8s.io/web configured" in out.stdout
    assert "pod/web unchanged" in out.stdout
    stored = json.loads(lab.kubectl("get", "netpol", "web", "-n", ns, "-o", "json").stdout)
    assert stored["spec"]["ingress"][0]["ports"] == [{"port": 8080, "protocol": "TCP"}]
    assert stored["spec"]["policyTypes"] == ["Ingress"]
    assert stored["metadata"]["generation"] == 2


def test_get_pods_prints_the_columns_and_formats_of_a_real_server(lab: LabServer) -> None:
    ns = namespace(lab, "get")
    lab.kubectl("apply", "-f", "-", input=manifest(pod("a", ns, app="web", tier="front"),
                                                    pod("b", ns, app="db")))
    running(lab, ns, "a")
    running(lab, ns, "b")
    wide = lab.kubectl("get", "pods", "-n", ns, "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
                               "NOMINATED", "NODE", "READINESS", "GATES"]
    assert wide[1].split()[:3] == ["a", "1/1", "Running"]
    assert wide[1].split()[5:7] == ["127.0.0.1", NODE]
    names = lab.kubectl("get", "pods", "-n", ns, "-o", "name", "-l", "app in (web,db),tier!=back")
    assert names.stdout.split() == ["pod/a", "pod/b"]
    assert lab.kubectl("get", "pods", "-n", ns, "-o", "name", "-l", "tier").stdout.split() == [
        "pod/a"]
    assert lab.kubectl("get", "pods", "-n", ns, "-o", "name", "-l", "!tier").stdout.split() == [
        "pod/b"]
    items = json.loads(lab.kubectl("get", "pods", "-n", ns, "-o", "json").stdout)["items"]
    assert [i["metadata"]["name"] for i in items] == ["a", "b"]
    assert items[0]["spec"]["restartPolicy"] == "Always"
    assert items[0]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    as_yaml = yaml.safe_load(lab.kubectl("get", "pod", "a", "-n", ns, "-o", "yaml").stdout)
    assert as_yaml["status"]["phase"] == "Running"
    everywhere = lab.kubectl("get", "pods", "-A").stdout.splitlines()
    assert everywhere[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert any(line.split()[:2] == [ns, "a"] for line in everywhere)
    by_field = lab.kubectl("get", "pods", "-A", "-o", "name",
                           f"--field-selector=metadata.namespace={ns},status.phase=Running")
    assert by_field.stdout.split() == ["pod/a", "pod/b"]


def test_tables_of_other_kinds_have_the_upstream_columns(lab: LabServer) -> None:
    ns = namespace(lab, "tables")
    lab.kubectl("create", "deployment", "web", "--image=nginx", "-n", ns)
    lab.kubectl("apply", "-f", "-", input=manifest(policy("allow", ns)))
    lab.kubectl("create", "serviceaccount", "robot", "-n", ns)
    heads = {
        ("deployments", "-o", "wide"): "NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES "
                                       "SELECTOR",
        ("networkpolicies",): "NAME POD-SELECTOR AGE",
        ("serviceaccounts",): "NAME SECRETS AGE",
    }
    for args, head in heads.items():
        lines = lab.kubectl("get", *args, "-n", ns).stdout.splitlines()
        assert " ".join(lines[0].split()) == head
    assert lab.kubectl("get", "netpol", "-n", ns).stdout.splitlines()[1].split()[:2] == [
        "allow", "app=web"]
    nodes = lab.kubectl("get", "nodes", "-o", "wide").stdout.splitlines()
    assert nodes[0].split()[:7] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP",
                                    "EXTERNAL-IP"]
    assert nodes[1].split()[:3] == [NODE, "Ready", "worker"]
    namespaces = lab.kubectl("get", "ns", ns).stdout.splitlines()
    assert namespaces[1].split()[:2] == [ns, "Active"]


def test_create_deployment_expose_and_scale(lab: LabServer) -> None:
    ns = namespace(lab, "deploy")
    lab.kubectl("create", "deployment", "x", "--image=nginx", "--replicas", "2", "--port", "80",
                "-n", ns)
    deployment = json.loads(lab.kubectl("get", "deploy", "x", "-n", ns, "-o", "json").stdout)
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"] == {"matchLabels": {"app": "x"}}
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    assert spec["template"]["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80, "protocol": "TCP"}]
    assert spec["revisionHistoryLimit"] == 10 and spec["progressDeadlineSeconds"] == 600
    lab.kubectl("expose", "deployment", "x", "--port", "80", "-n", ns)
    service = json.loads(lab.kubectl("get", "svc", "x", "-n", ns, "-o", "json").stdout)
    assert service["spec"]["selector"] == {"app": "x"}
    assert service["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert service["spec"]["type"] == "ClusterIP"
    assert "deployment.apps/x scaled" in lab.kubectl("scale", "deployment", "x", "--replicas",
                                                     "3", "-n", ns).stdout
    assert json.loads(lab.kubectl("get", "deploy", "x", "-n", ns, "-o", "json").stdout)[
        "spec"]["replicas"] == 3
    table = lab.kubectl("get", "svc", "x", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert table[1].split()[:5] == ["x", "ClusterIP", "<none>", "<none>", "80/TCP"]


def test_describe_works_for_every_kind(lab: LabServer) -> None:
    ns = namespace(lab, "describe")
    lab.kubectl("apply", "-f", "-", input=manifest(policy("web", ns), pod("web", ns)))
    lab.kubectl("create", "deployment", "d", "--image=nginx", "-n", ns)
    lab.kubectl("expose", "pod", "web", "--port=80", "-n", ns)
    lab.kubectl("create", "serviceaccount", "robot", "-n", ns)
    uid = json.loads(lab.kubectl("get", "pod", "web", "-n", ns, "-o", "json").stdout)[
        "metadata"]["uid"]
    lab.call(lab.store.create("events", {
        "metadata": {"name": "web.1", "namespace": ns}, "reason": "Pulled", "type": "Normal",
        "message": "Container image already present", "count": 1,
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": ns, "uid": uid,
                           "apiVersion": "v1"},
        "source": {"component": "kubelet"}}))
    described = lab.kubectl("describe", "pod", "web", "-n", ns).stdout
    assert "Container image already present" in described
    for what in (["pod", "web"], ["deployment", "d"], ["service", "web"],
                 ["networkpolicy", "web"], ["namespace", ns], ["node", NODE],
                 ["serviceaccount", "robot"], ["endpoints"], ["replicasets"],
                 ["endpointslices"], ["configmaps"]):
        out = lab.kubectl("describe", *what, "-n", ns)
        if len(what) > 1:
            assert what[1] in out.stdout
    assert "PodSelector:     app=web" in lab.kubectl("describe", "netpol", "web", "-n", ns).stdout


def test_label_needs_overwrite_to_change_an_existing_label(lab: LabServer) -> None:
    ns = namespace(lab, "label")
    lab.kubectl("apply", "-f", "-", input=manifest(pod("p", ns, app="web")))
    lab.kubectl("label", "pod", "p", "tier=front", "-n", ns)
    refused = lab.kubectl("label", "pod", "p", "app=db", "-n", ns, check=False)
    assert refused.returncode != 0
    assert "'app' already has a value (web), and --overwrite is false" in refused.stderr
    lab.kubectl("label", "pod", "p", "app=db", "--overwrite", "-n", ns)
    labels = json.loads(lab.kubectl("get", "pod", "p", "-n", ns, "-o", "json").stdout)[
        "metadata"]["labels"]
    assert labels == {"app": "db", "tier": "front"}
    lab.kubectl("label", "pod", "p", "tier-", "-n", ns)
    assert lab.kubectl("get", "pod", "p", "-n", ns, "-o", "jsonpath={.metadata.labels}"
                       ).stdout == '{"app":"db"}'


def test_delete_by_file_by_name_and_all(lab: LabServer) -> None:
    ns = namespace(lab, "delete")
    docs = manifest(policy("a", ns), policy("b", ns), pod("p", ns), pod("q", ns))
    lab.kubectl("apply", "-f", "-", input=docs)
    assert 'pod "p" deleted' in lab.kubectl("delete", "pod", "p", "-n", ns).stdout
    assert "networkpolicy.networking.k8s.io \"a\" deleted" in lab.kubectl(
        "delete", "networkpolicies", "--all", "-n", ns).stdout
    out = lab.kubectl("delete", "-f", "-", "--ignore-not-found", input=docs).stdout
    assert 'pod "q" deleted' in out
    assert lab.kubectl("get", "pods,netpol", "-n", ns, "-o", "name").stdout == ""


def test_explain_reads_the_openapi_schema(lab: LabServer) -> None:
    out = lab.kubectl("explain", "networkpolicy.spec").stdout
    assert "KIND:       NetworkPolicy" in out
    for field in ("egress", "ingress", "podSelector", "policyTypes"):
        assert f"  {field}\t" in out
    assert "<[]NetworkPolicyPeer>" in lab.kubectl("explain",
                                                  "networkpolicy.spec.ingress").stdout


def test_errors_read_like_the_real_api_server(lab: LabServer) -> None:
    ns = namespace(lab, "errors")
    missing = lab.kubectl("get", "pod", "nope", "-n", ns, check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == 'Error from server (NotFound): pods "nope" not found'
    bad = policy("bad", ns, 70000)
    bad["spec"]["podSelector"] = {"matchLabels": {"app": "has space"}}  # type: ignore[index]
    invalid = lab.kubectl("apply", "-f", "-", input=manifest(bad), check=False)
    assert invalid.returncode == 1
    assert 'The NetworkPolicy "bad" is invalid' in invalid.stderr
    assert "spec.ingress[0].ports[0].port: Invalid value: 70000" in invalid.stderr
    assert 'spec.podSelector.matchLabels: Invalid value: "has space"' in invalid.stderr
    unknown = policy("typo", ns)
    unknown["spec"]["podselector"] = {}  # type: ignore[index]
    strict = lab.kubectl("apply", "-f", "-", input=manifest(unknown), check=False)
    assert strict.returncode == 1
    assert 'strict decoding error: unknown field "spec.podselector"' in strict.stderr
    warned = lab.kubectl("create", "-f", "-", "--validate=warn", input=manifest(unknown))
    assert 'unknown field "spec.podselector"' in warned.stderr
    exists = lab.kubectl("create", "-f", "-", input=manifest(policy("typo", ns)), check=False)
    assert 'Error from server (AlreadyExists)' in exists.stderr
    assert 'networkpolicies.networking.k8s.io "typo" already exists' in exists.stderr
    nowhere = lab.kubectl("create", "-f", "-", input=manifest(policy("p", "ghost")),
                          check=False)
    assert 'namespaces "ghost" not found' in nowhere.stderr


def test_exec_relays_output_stdin_and_exit_code(lab: LabServer) -> None:
    ns = namespace(lab, "exec")
    lab.kubectl("apply", "-f", "-", input=manifest(pod("p", ns)))
    running(lab, ns, "p")
    assert lab.kubectl("exec", "p", "-n", ns, "--", "echo", "hi").stdout == "hi\n"
    piped = lab.kubectl("exec", "-i", "p", "-n", ns, "--", "cat", input="from stdin\n")
    assert piped.stdout == "from stdin\n"
    failed = lab.kubectl("exec", "p", "-n", ns, "--", "sh", "-c", "echo oops >&2; exit 3",
                         check=False)
    assert failed.returncode == 3
    assert "oops" in failed.stderr
    assert "command terminated with exit code 3" in failed.stderr


def test_run_rm_attaches_prints_output_and_deletes_the_pod(lab: LabServer) -> None:
    ns = namespace(lab, "run")
    out = lab.kubectl("run", "once", "--rm", "-i", "--image=busybox", "--restart=Never",
                      "-n", ns, "--", "sh", "-c", "echo hello; echo there", timeout=60)
    assert out.stdout.startswith("hello\nthere\n")
    assert 'pod "once" deleted' in out.stdout
    assert lab.kubectl("get", "pods", "-n", ns, "-o", "name").stdout == ""


def test_logs_show_the_container_output(lab: LabServer) -> None:
    ns = namespace(lab, "logs")
    lab.kubectl("run", "talker", "--image=busybox", "--restart=Never", "-n", ns, "--", "sh",
                "-c", "echo one; echo two; echo three")
    wait_until(lambda: "Completed" in lab.kubectl("get", "pod", "talker", "-n", ns).stdout)
    assert lab.kubectl("logs", "talker", "-n", ns).stdout == "one\ntwo\nthree\n"
    assert lab.kubectl("logs", "talker", "-n", ns, "--tail=1").stdout == "three\n"


@pytest.fixture
def http_backend() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"backend saw {self.path}\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def background(lab: LabServer, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "KUBECONFIG": str(lab.kubeconfig), "HOME": str(lab.directory)}
    binary = kubectl_binary()
    assert binary is not None
    return subprocess.Popen([binary, "--cache-dir", str(lab.cache), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    process.communicate(timeout=10)


def test_port_forward_reaches_the_pod_port(lab: LabServer, http_backend: int) -> None:
    ns = namespace(lab, "forward")
    lab.kubectl("apply", "-f", "-", input=manifest(pod("web", ns)))
    running(lab, ns, "web")
    lab.runtime.map_port(ns, "web", 80, http_backend)
    local = free_port()
    forward = background(lab, "port-forward", "pod/web", f"{local}:80", "-n", ns)
    try:
        assert forward.stdout is not None
        assert forward.stdout.readline().startswith(f"Forwarding from 127.0.0.1:{local} -> 80")
        for path in ("/first", "/second"):
            with urllib.request.urlopen(f"http://127.0.0.1:{local}{path}", timeout=10) as r:
                assert r.read() == f"backend saw {path}\n".encode()
    finally:
        stop(forward)


def test_kubectl_proxy_reaches_pods_and_services(lab: LabServer, http_backend: int) -> None:
    ns = namespace(lab, "proxy")
    lab.kubectl("apply", "-f", "-", input=manifest(pod("web", ns)))
    running(lab, ns, "web")
    lab.runtime.map_port(ns, "web", 80, http_backend)
    lab.kubectl("expose", "pod", "web", "--port=8080", "--target-port=80", "-n", ns)
    lab.call(lab.store.create("endpoints", {
        "metadata": {"name": "web", "namespace": ns},
        "subsets": [{"addresses": [{"ip": "127.0.0.1", "targetRef": {
            "kind": "Pod", "name": "web", "namespace": ns}}], "ports": [{"port": 80}]}]}))
    proxy = background(lab, "proxy", "--port=0")
    try:
        assert proxy.stdout is not None
        port = int(proxy.stdout.readline().strip().rsplit(":", 1)[1])
        base = f"http://127.0.0.1:{port}/api/v1/namespaces/{ns}"
        for path, seen in ((f"{base}/pods/web:80/proxy/a?b=c", "/a?b=c"),
                           (f"{base}/services/web:8080/proxy/svc", "/svc"),
                           (f"{base}/services/web/proxy/", "/")):
            with urllib.request.urlopen(path, timeout=10) as r:
                assert r.read() == f"backend saw {seen}\n".encode()
    finally:
        stop(proxy)
