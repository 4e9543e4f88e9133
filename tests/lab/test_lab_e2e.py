"""The lab end to end, driven by the real kubectl: `netpol lab up`, then the verbs of the
exercise, real traffic (pod IPs, ClusterIPs with several backends, DNS names), and
`netpol lab down` leaving nothing behind. Needs root; one lab for the whole module."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]
# Ranges of their own, so a lab someone runs by hand on this machine does not clash (nor
# the kill -9 test's lab, which runs while this one is up).
RANGES = ["--pod-cidr", "10.251.0.0/16", "--service-cidr", "10.252.0.0/16",
          "--infra-cidr", "198.19.0.0/18"]


class Lab:
    def __init__(self, name: str, state: Path) -> None:
        self.name, self.state = name, state
        self.env = {**os.environ, "NETPOL_LAB_DIR": str(state),
                    "KUBECONFIG": str(state / "kubeconfig")}

    def netpol(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["netpol", "lab", *args, "--name", self.name], env=self.env,
                                capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"netpol lab {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def kubectl(self, *args: str, check: bool = True, timeout: float = 60,
                stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["kubectl", *args], env=self.env, capture_output=True, text=True,
                                timeout=timeout, input=stdin)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)


def wait_until(check: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        time.sleep(0.05)


def curl(url: str, timeout: float = 3) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-s", "-m", str(timeout), url], capture_output=True, text=True)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab("t" + secrets.token_hex(3), tmp_path_factory.mktemp("lab"))
    try:
        up = lab.netpol("up", "--nodes", "2", *RANGES)
        assert f"export KUBECONFIG={lab.state / 'kubeconfig'}" in up.stdout
        yield lab
    finally:
        down = lab.netpol("down", check=False)
        assert down.returncode == 0, down.stderr


def ready_pods(lab: Lab, selector: str, n: int, namespace: str = "default") -> list[dict[str, Any]]:
    def check() -> list[dict[str, Any]] | None:
        items = lab.json("get", "pods", "-n", namespace, "-l", selector)["items"]
        ready = [p for p in items if p.get("status", {}).get("podIP") and any(
            c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]
        return ready if len(ready) == n and len(items) == n else None
    return wait_until(check, 30, f"{n} ready pods {selector}")  # type: ignore[no-any-return]


def test_kubeconfig_is_private_and_requests_need_the_token(lab: Lab) -> None:
    kubeconfig = lab.state / "kubeconfig"
    assert kubeconfig.stat().st_mode & 0o777 == 0o600
    server = lab.netpol("status", "-o", "json")
    info = json.loads(server.stdout)
    assert info["running"] and len(info["nodes"]) == 2
    result = subprocess.run(["curl", "-sk", f"{info['server']}/api/v1/pods"],
                            capture_output=True, text=True)
    assert json.loads(result.stdout)["code"] == 401


def test_nodes_are_ready(lab: Lab) -> None:
    out = lab.kubectl("get", "nodes").stdout.splitlines()
    assert len(out) == 3 and all(" Ready " in line for line in out[1:])


def test_the_exercise_deployment_pod_ip_and_curl_from_the_host(lab: Lab) -> None:
    lab.kubectl("create", "deployment", "testweb", "--image=nginx")
    ready_pods(lab, "app=testweb", 1)
    ip = lab.kubectl("get", "pods", "-l", "app=testweb", "-o", "json").stdout
    pod_ip = json.loads(ip)["items"][0]["status"]["podIP"]
    assert "<title>Welcome to nginx!</title>" in curl(f"http://{pod_ip}").stdout
    wide = lab.kubectl("get", "pods", "-o", "wide", "-l", "app=testweb").stdout
    assert "IP" in wide.splitlines()[0] and "NODE" in wide.splitlines()[0] and pod_ip in wide
    lab.kubectl("expose", "deployment", "testweb", "--port", "80")
    cluster_ip = lab.json("get", "svc", "testweb")["spec"]["clusterIP"]
    wait_until(lambda: "Welcome to nginx!" in curl(f"http://{cluster_ip}").stdout, 10,
               "the ClusterIP answers from the host")


def test_service_with_several_backends_spreads_new_connections(lab: Lab) -> None:
    lab.kubectl("create", "deployment", "echo", "--image=registry.k8s.io/e2e-test-images/agnhost:2.45",
                "--replicas", "3", "--", "/agnhost", "serve-hostname")
    pods = ready_pods(lab, "app=echo", 3)
    lab.kubectl("expose", "deployment", "echo", "--port", "80", "--target-port", "9376")
    svc = lab.json("get", "svc", "echo")
    cluster_ip = svc["spec"]["clusterIP"]
    assert cluster_ip.startswith("10.252.")
    names = {p["metadata"]["name"] for p in pods}

    def endpoints() -> bool:
        ep = lab.json("get", "endpoints", "echo")
        return sum(len(s.get("addresses", [])) for s in ep.get("subsets", [])) == 3
    wait_until(endpoints, 20, "3 endpoints")
    seen: set[str] = set()
    for _ in range(60):
        seen.add(curl(f"http://{cluster_ip}").stdout.strip())
        if seen >= names:
            break
    assert seen == names


def test_dns_names_from_a_pod(lab: Lab) -> None:
    result = lab.kubectl("run", "dnstest", "--rm", "-i", "--image=busybox", "--restart=Never",
                         "--", "sh", "-c", "getent hosts testweb; getent hosts "
                         "testweb.default.svc.cluster.local; getent hosts kubernetes.default",
                         timeout=60)
    svc_ip = lab.json("get", "svc", "testweb")["spec"]["clusterIP"]
    lines = result.stdout.splitlines()
    assert [line.split() for line in lines if "testweb" in line] == [
        [svc_ip, "testweb.default.svc.cluster.local"]] * 2, result.stdout
    assert any("kubernetes.default.svc.cluster.local" in line for line in lines)


def test_curl_through_the_service_name_with_kubectl_run(lab: Lab) -> None:
    result = lab.kubectl("run", "testcurl", "--rm", "-i", "--image=centos", "--restart=Never",
                         "--", "curl", "-s", "-m3", "testweb")
    assert "<title>Welcome to nginx!</title>" in result.stdout
    assert "testcurl" not in lab.kubectl("get", "pods").stdout  # --rm deleted it


def test_get_formats_and_selectors(lab: Lab) -> None:
    names = lab.kubectl("get", "pods", "-o", "name", "-l", "app=testweb").stdout.split()
    assert names and all(n.startswith("pod/testweb-") for n in names)
    yaml_out = lab.kubectl("get", "pods", "-l", "app=testweb", "-o", "yaml").stdout
    assert "podIP:" in yaml_out
    everything = lab.kubectl("get", "pods", "-A").stdout
    assert "kube-system" in everything and "coredns" in everything
    assert lab.kubectl("get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-dns",
                       "-o", "name").stdout.strip().startswith("pod/coredns-")
    for kind in ("deployments", "services", "endpoints", "networkpolicies", "namespaces", "nodes"):
        lab.kubectl("get", kind)
        lab.kubectl("describe", kind)


def test_apply_label_scale_delete(lab: Lab, tmp_path: Path) -> None:
    lab.kubectl("create", "namespace", "team")
    manifest = tmp_path / "policy.yaml"
    manifest.write_text("""
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: team}
spec: {podSelector: {}, policyTypes: [Ingress]}
""")
    assert "created" in lab.kubectl("apply", "-f", str(manifest)).stdout
    manifest.write_text(manifest.read_text().replace("[Ingress]", "[Ingress, Egress]"))
    assert "configured" in lab.kubectl("apply", "-f", str(manifest)).stdout
    policy = lab.json("get", "networkpolicy", "deny-all", "-n", "team")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    lab.kubectl("label", "namespace", "team", "tier=back")
    again = lab.kubectl("label", "namespace", "team", "tier=front", check=False)
    assert again.returncode != 0 and "--overwrite" in again.stderr
    lab.kubectl("label", "namespace", "team", "tier=front", "--overwrite")
    assert lab.json("get", "namespace", "team")["metadata"]["labels"]["tier"] == "front"
    lab.kubectl("delete", "-f", str(manifest))
    lab.kubectl("scale", "deployment", "testweb", "--replicas", "2")
    ready_pods(lab, "app=testweb", 2)
    lab.kubectl("scale", "deployment", "testweb", "--replicas", "1")
    ready_pods(lab, "app=testweb", 1)


def test_invalid_policy_is_refused_with_the_field_errors(lab: Lab) -> None:
    bad = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 0}]}]
"""
    result = lab.kubectl("apply", "-f", "-", stdin=bad, check=False)
    assert result.returncode != 0
    assert ('The NetworkPolicy "bad" is invalid: spec.ingress[0].ports[0].port: Invalid value: 0: '
            "must be between 1 and 65535, inclusive") in result.stderr
    missing = lab.kubectl("get", "pod", "nope", check=False)
    assert 'Error from server (NotFound): pods "nope" not found' in missing.stderr


def test_exec_logs_port_forward_and_proxy(lab: Lab) -> None:
    [pod] = ready_pods(lab, "app=testweb", 1)
    name = pod["metadata"]["name"]
    assert lab.kubectl("exec", name, "--", "echo", "hi").stdout == "hi\n"
    curl(f"http://{pod['status']['podIP']}/from-the-test")
    wait_until(lambda: "/from-the-test" in lab.kubectl("logs", name).stdout, 10, "access log")
    port = _free_port()
    forward = subprocess.Popen(["kubectl", "port-forward", f"pod/{name}", f"{port}:80"],
                               env=lab.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: "Welcome to nginx!" in curl(f"http://127.0.0.1:{port}").stdout, 20,
                   "port-forward")
    finally:
        forward.terminate()
        forward.communicate(timeout=10)
    proxy_port = _free_port()
    proxy = subprocess.Popen(["kubectl", "proxy", f"--port={proxy_port}"], env=lab.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{proxy_port}/api/v1/namespaces/default/pods/{name}:80/proxy/"
        wait_until(lambda: "Welcome to nginx!" in curl(url).stdout, 20, "kubectl proxy to a pod")
        url = f"http://127.0.0.1:{proxy_port}/api/v1/namespaces/default/services/testweb:80/proxy/"
        wait_until(lambda: "Welcome to nginx!" in curl(url).stdout, 20, "kubectl proxy to a service")
    finally:
        proxy.terminate()
        proxy.communicate(timeout=10)


def test_unknown_image_names_the_catalogue(lab: Lab) -> None:
    lab.kubectl("run", "mystery", "--image=example.com/mystery:1")

    def waiting() -> str | None:
        statuses = lab.json("get", "pod", "mystery").get("status", {}).get("containerStatuses") or []
        w = statuses[0]["state"].get("waiting", {}) if statuses else {}
        return w.get("message") if w.get("reason") == "ErrImagePull" else None
    message = wait_until(waiting, 20, "ErrImagePull")
    assert "nginx" in message and "busybox" in message
    lab.kubectl("delete", "pod", "mystery")


def test_deleting_a_deployment_removes_its_pods(lab: Lab) -> None:
    lab.kubectl("delete", "deployment", "echo")
    wait_until(lambda: not lab.json("get", "pods", "-l", "app=echo")["items"], 20, "pods gone")
    lab.kubectl("delete", "svc", "echo")


def test_analysis_commands_read_the_live_cluster(lab: Lab) -> None:
    """connectivity/matrix/explain with --kubeconfig (or KUBECONFIG) instead of -f."""
    [pod] = ready_pods(lab, "app=testweb", 1)
    key = f"default/{pod['metadata']['name']}"
    data = json.loads(subprocess.run(
        ["netpol", "matrix", "--port", "80", "-o", "json", "--kubeconfig",
         str(lab.state / "kubeconfig")], capture_output=True, text=True, check=True).stdout)
    assert key in data["pods"] and key in data["allowed"][key]
    explain = subprocess.run(["netpol", "explain", "--from", "kube-system/" + _dns_pod(lab),
                              "--to", key, "--port", "80", "-o", "json"], env=lab.env,
                             capture_output=True, text=True, check=True)
    assert json.loads(explain.stdout)["allowed"] is True
    conn = subprocess.run(["netpol", "connectivity", "--to", key, "-o", "csv"], env=lab.env,
                          capture_output=True, text=True, check=True).stdout
    assert conn.startswith("FROM,TO,ALLOWED") and f",{key},All" in conn


def _dns_pod(lab: Lab) -> str:
    items = lab.json("get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-dns")["items"]
    return str(items[0]["metadata"]["name"])


def test_lab_down_leaves_nothing_behind(lab: Lab) -> None:
    """Runs last in the module: down, check the host, and up again for the fixture's down."""
    prefix = f"npl-{lab.name}-"
    lab.netpol("down")
    assert not [n for n in _netns() if n.startswith(prefix)]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert prefix not in links
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    assert "10.251." not in routes and "10.252." not in routes
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    assert "netpol" not in tables
    assert not [p for p in Path("/etc/netns").glob(f"{prefix}*")] if Path("/etc/netns").exists() else True
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(lab.state) not in procs
    # State survives: the lab comes back with its objects.
    lab.netpol("up", *RANGES)
    assert lab.json("get", "deployment", "testweb")["metadata"]["name"] == "testweb"
    ready_pods(lab, "app=testweb", 1)


def test_lab_down_after_kill_9_still_cleans_up(tmp_path: Path) -> None:
    """A lab whose process was killed with SIGKILL has no chance to clean up: `lab down`
    finds what it made by name and removes it all; `lab up` before that recovers."""
    crash = Lab("k" + secrets.token_hex(3), tmp_path / "state")
    ranges = ["--pod-cidr", "10.249.0.0/16", "--service-cidr", "10.248.0.0/16",
              "--infra-cidr", "198.19.96.0/19"]
    prefix = f"npl-{crash.name}-"
    try:
        crash.netpol("up", "--nodes", "1", *ranges)
        crash.kubectl("create", "deployment", "web", "--image=nginx")
        ready_pods(crash, "app=web", 1)
        pid = int((crash.state / "daemon.pid").read_text())
        os.kill(pid, 9)
        wait_until(lambda: not Path(f"/proc/{pid}").exists(), 10, "the lab process gone")
        assert [n for n in _netns() if n.startswith(prefix)]  # left behind
        status = crash.netpol("status", check=False)
        assert status.returncode == 4 and "left behind" in status.stdout
        up = crash.netpol("up", *ranges)  # recovers: removes the leftovers, starts again
        assert "recovering" in up.stderr
        ready_pods(crash, "app=web", 1)  # the objects survived, the pod runs again
        pid = int((crash.state / "daemon.pid").read_text())
        os.kill(pid, 9)
        wait_until(lambda: not Path(f"/proc/{pid}").exists(), 10, "the lab process gone")
        # Another lab on the same ranges is refused, naming the lab left behind...
        other = Lab("o" + secrets.token_hex(3), tmp_path / "other")
        refused = other.netpol("up", "--nodes", "1", *ranges, check=False)
        assert refused.returncode == 4
        assert f"belong to lab {crash.name!r}" in refused.stderr and "netpol lab prune" in refused.stderr
        assert not [n for n in _netns() if n.startswith(f"npl-{other.name}-")]
        # ...and `lab prune` removes what dead labs left, never a running lab's namespaces.
        others_before = [n for n in _netns() if not n.startswith(prefix)]
        pruned = subprocess.run(["netpol", "lab", "prune"], capture_output=True, text=True,
                                timeout=120)
        assert pruned.returncode == 0, pruned.stderr
        assert f"lab {crash.name!r}: removed netns {prefix}" in pruned.stdout
        assert not [n for n in _netns() if n.startswith(prefix)]
        assert set(others_before) <= set(_netns())
    finally:
        crash.netpol("down", check=False)
    assert not [n for n in _netns() if n.startswith(prefix)]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert prefix not in links
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(crash.state) not in procs
    assert not Path(f"/run/netpolicy/lab-{crash.name}.json").exists()  # the host-wide entry


def _netns() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
