"""The lab's figures: start-up, a 50-replica deployment, `kubectl get pods` on 500 pods, and
watch latency, measured with the real `netpol lab` and `kubectl`, printed as a table.

    python3 bench/bench_lab.py [--quick] [--name bench] [--ups 3] [--replicas 50] [--pods 500]

Run as root. The lab is started with

    NETPOL_LAB_DIR=<temporary dir> netpol lab up --name bench --pod-cidr 10.250.0.0/16 \\
        --service-cidr 10.249.0.0/16 --infra-cidr 198.19.192.0/18

and stopped with `netpol lab down` at the end, always (also on failure, Ctrl-C or SIGTERM);
the state directory is removed. It refuses to start when something of a lab of that name
exists (another lab would be torn down by `lab up`'s recovery).

1. `lab up` to a ready 2-node lab: the command's wall time (it returns once the API serves,
   every node agent has programmed its node, and the kubelets run), `--ups` times with
   `lab down` in between; the first from an empty state directory, the others restarts
   (the objects are kept, as a user's `lab down` / `lab up` keeps them). The nodes are then
   checked Ready through the API (not timed).
2. `kubectl create deployment b --image=nginx --replicas=50` until all 50 pods are Running
   (and until all are Ready), followed with a watch (official Python client), timed from
   the start of kubectl.
3. `kubectl get pods` on 500 pods: bare pods bound to a node that does not exist (no kubelet
   runs them), created through the API, then given a Running status with an IP; the wall
   time of the real kubectl (warm discovery cache), median of `--runs`.
4. A watch event reaching a client: a Python-client watch on pods; `--writes` label patches
   of one pod, each timed from just before the PATCH request to the moment the watch
   yields the event (and, for reference, from the moment the PATCH response was read).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from benchkit import Verdict, median, percentile, sigterm_as_interrupt, summary, table
from netpolicy.lab.topology import LabConfig, leftovers

JSON = dict[str, Any]





def netpol_command() -> str:
    """`netpol` of this interpreter (not a pyenv shim, which adds its own start-up)."""
    beside = Path(sys.executable).parent / "netpol"
    found = str(beside) if beside.exists() else shutil.which("netpol")
    if found is None:
        raise SystemExit("netpol is not installed (pip install -e .)")
    return found


def kubectl_command() -> str:
    """kubectl 1.32 itself when the installed kubectl is a version dispatcher (as the tests)."""
    found = shutil.which("kubectl")
    if found is None:
        raise SystemExit("kubectl is not installed")
    pinned = Path(os.path.realpath(found)).with_name("kubectl.1.32")
    return str(pinned) if pinned.exists() else found


def host_clashes(ranges: tuple[str, ...]) -> list[str]:
    """Host routes that overlap one of `ranges` (`lab up` would refuse them)."""
    from netpolicy.dataplane import netns

    out = []
    for route in netns.configure(None, lambda nl: nl.routes()):
        if route.dst.endswith("/0"):
            continue
        for cidr in ranges:
            if ipaddress.ip_network(route.dst).overlaps(ipaddress.ip_network(cidr)):
                out.append(f"host route {route.dst} dev {route.dev} overlaps {cidr}")
    return out


@dataclass
class Lab:
    name: str
    state_dir: Path
    pod_cidr: str
    service_cidr: str
    infra_cidr: str
    netpol: str = field(default_factory=netpol_command)
    kubectl_binary: str = field(default_factory=kubectl_command)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "NETPOL_LAB_DIR": str(self.state_dir),
                "KUBECONFIG": str(self.state_dir / "kubeconfig"), "HOME": str(self.state_dir)}

    def up(self) -> Up:
        command = [self.netpol, "lab", "up", "--name", self.name, "--pod-cidr", self.pod_cidr,
                   "--service-cidr", self.service_cidr, "--infra-cidr", self.infra_cidr]
        wall = time.time()
        started = time.perf_counter()
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, check=False)
        took = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"netpol lab up failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return Up(took, *self._timeline(wall))

    def _timeline(self, since: float) -> tuple[float | None, float | None, float | None]:
        """From the lab's files: seconds after `since` at which the daemon had imported its
        code (its pid file), every node agent had programmed its node (the agents' logs),
        and the daemon said the lab is up (its log)."""
        def stamps(path: Path, text: str) -> list[float]:
            out = []
            with contextlib.suppress(OSError):
                for line in path.read_text(errors="replace").splitlines():
                    if text in line:
                        with contextlib.suppress(ValueError):
                            out.append(datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
                                       .timestamp() - since)
            return [t for t in out if t >= 0]

        pid = self.state_dir / "daemon.pid"
        daemon = pid.stat().st_mtime - since if pid.exists() else None
        agents = [stamps(log, "programmed generation") for log in
                  sorted((self.state_dir / "agents").glob("*.log"))]
        programmed = max(min(a) for a in agents) if agents and all(agents) else None
        up = stamps(self.state_dir / "daemon.log", " is up: ")
        return daemon, programmed, (min(up) if up else None)

    def down(self) -> float:
        started = time.perf_counter()
        done = subprocess.run([self.netpol, "lab", "down", "--name", self.name], env=self.env,
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"warning: netpol lab down: {done.stdout}{done.stderr}", file=sys.stderr)
        return time.perf_counter() - started

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [self.kubectl_binary, "--cache-dir", str(self.state_dir / "kube-cache"), *args]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done

    def client(self) -> Any:
        from kubernetes import client, config

        api = config.new_client_from_config(config_file=str(self.state_dir / "kubeconfig"))
        return client.CoreV1Api(api)


# --- the measurements -------------------------------------------------------------------------


@dataclass
class Up:
    seconds: float
    daemon: float | None
    agents: float | None
    ready: float | None


def ready_nodes(core: Any) -> list[str]:
    return [n.metadata.name for n in core.list_node().items
            if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or ())]


@dataclass
class Deployment:
    running: float
    ready: float
    kubectl: float
    pods: int


def measure_deployment(lab: Lab, core: Any, replicas: int, timeout: float) -> Deployment:
    """`kubectl create deployment` until every pod runs, seen by a watch."""
    from kubernetes import watch

    running: set[str] = set()
    ready: set[str] = set()
    times: dict[str, float] = {}
    done = threading.Event()
    listed = core.list_namespaced_pod("default", label_selector="app=b")
    watcher = watch.Watch()

    def follow() -> None:
        with contextlib.suppress(Exception):  # the stream ends when the watch stops
            _follow()

    def _follow() -> None:
        for event in watcher.stream(core.list_namespaced_pod, namespace="default",
                                    label_selector="app=b",
                                    resource_version=listed.metadata.resource_version,
                                    timeout_seconds=int(timeout) + 5):
            pod = event["object"]
            name = pod.metadata.name
            if event["type"] == "DELETED":
                running.discard(name)
                ready.discard(name)
                continue
            if pod.status.phase == "Running":
                running.add(name)
            if any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or ()):
                ready.add(name)
            now = time.perf_counter()
            if len(running) >= replicas and "running" not in times:
                times["running"] = now
            if len(ready) >= replicas and "ready" not in times:
                times["ready"] = now
                done.set()
                return

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    started = time.perf_counter()
    lab.kubectl("create", "deployment", "b", "--image=nginx", f"--replicas={replicas}")
    kubectl_done = time.perf_counter()
    if not done.wait(timeout):
        watcher.stop()
        raise RuntimeError(f"after {timeout:.0f}s: {len(running)} running, {len(ready)} ready "
                           f"of {replicas}")
    watcher.stop()
    return Deployment(times["running"] - started, times["ready"] - started, kubectl_done - started,
                      len(running))


def create_bare_pods(core: Any, namespace: str, count: int, pod_cidr: str) -> float:
    """`count` Running pods on a node that does not exist (no kubelet runs them), with
    addresses from the upper half of the pod CIDR (no node of the lab uses it)."""
    network = ipaddress.ip_network(pod_cidr)
    started = time.perf_counter()
    core.create_namespace({"metadata": {"name": namespace}})
    for i in range(count):
        name = f"pod-{i:04d}"
        core.create_namespaced_pod(namespace, {
            "metadata": {"name": name, "labels": {"app": f"a{i % 7}"}},
            "spec": {"nodeName": "bench-ghost-node", "containers": [{
                "name": "main", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}})
        ip = str(network[network.num_addresses // 2 + i])
        core.patch_namespaced_pod_status(name, namespace, {"status": {
            "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "main", "ready": True, "restartCount": 0,
                                   "image": "nginx:1.27", "imageID": "",
                                   "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}}]}})
    return time.perf_counter() - started


def measure_get_pods(lab: Lab, namespace: str, count: int, runs: int) -> list[float]:
    lab.kubectl("get", "pods", "-n", namespace)  # warm the discovery cache
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        out = lab.kubectl("get", "pods", "-n", namespace)
        times.append(time.perf_counter() - started)
        lines = out.stdout.count("\n") - 1
        if lines != count:
            raise RuntimeError(f"kubectl get pods listed {lines} pods, not {count}")
    return times


@dataclass
class WatchFigures:
    from_request: list[float]
    from_response: list[float]
    request: list[float]


def measure_watch(core: Any, namespace: str, writes: int) -> WatchFigures:
    """Label patches of one pod vs the official client's watch on the namespace's pods."""
    from kubernetes import watch

    name = "pod-0000"
    arrived: dict[str, float] = {}
    cond = threading.Condition()
    listed = core.list_namespaced_pod(namespace, limit=1)
    watcher = watch.Watch()

    def follow() -> None:
        with contextlib.suppress(Exception):  # the stream ends when the watch stops
            _follow()

    def _follow() -> None:
        for event in watcher.stream(core.list_namespaced_pod, namespace=namespace,
                                    resource_version=listed.metadata.resource_version,
                                    timeout_seconds=300):
            now = time.perf_counter()
            seq = (event["object"].metadata.labels or {}).get("bench-seq")
            if seq is not None:
                with cond:
                    arrived.setdefault(seq, now)
                    cond.notify_all()

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    time.sleep(0.2)  # the watch request is on its way; no event is lost either way (resourceVersion)
    figures = WatchFigures([], [], [])
    try:
        for i in range(writes):
            seq = str(i)
            started = time.perf_counter()
            core.patch_namespaced_pod(name, namespace, {"metadata": {"labels": {"bench-seq": seq}}})
            answered = time.perf_counter()
            with cond:
                if not cond.wait_for(lambda seq=seq: seq in arrived, timeout=10):
                    raise RuntimeError(f"write {i}: no watch event within 10 s")
                at = arrived[seq]
            figures.from_request.append(at - started)
            figures.from_response.append(at - answered)
            figures.request.append(answered - started)
            time.sleep(0.02)
    finally:
        watcher.stop()
    return figures


# --- main ---------------------------------------------------------------------------------------




def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 up, 10 replicas, 100 pods, 10 writes")
    parser.add_argument("--name", default="bench", help="the lab's name (namespaces npl-NAME-*)")
    parser.add_argument("--pod-cidr", default="10.250.0.0/16")
    parser.add_argument("--service-cidr", default="10.249.0.0/16")
    parser.add_argument("--infra-cidr", default="198.19.192.0/18")
    parser.add_argument("--ups", type=int, default=3, help="lab up runs (lab down in between)")
    parser.add_argument("--replicas", type=int, default=50)
    parser.add_argument("--pods", type=int, default=500, help="pods for kubectl get pods")
    parser.add_argument("--runs", type=int, default=5, help="kubectl get pods runs")
    parser.add_argument("--writes", type=int, default=50, help="writes for the watch latency")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for the deployment")
    args = parser.parse_args(argv)
    if args.quick:
        args.ups, args.replicas, args.pods, args.runs, args.writes = 1, 10, 100, 3, 10
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("bench_lab.py needs root: the lab creates network namespaces", file=sys.stderr)
        return 2
    config = LabConfig(name=args.name, pod_cidr=args.pod_cidr, service_cidr=args.service_cidr,
                       infra_cidr=args.infra_cidr)
    clashes = host_clashes((args.pod_cidr, args.service_cidr, args.infra_cidr))
    if clashes:
        print("error: " + "; ".join(clashes) + " (pass other --pod-cidr/--service-cidr/--infra-cidr)",
              file=sys.stderr)
        return 2
    found = leftovers(config)
    if found:
        print(f"error: a lab named {args.name!r} exists ({', '.join(found[:3])}…): stop it "
              f"(`netpol lab down --name {args.name}` with its NETPOL_LAB_DIR) or pass another --name",
              file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="bench-lab-"))
    lab = Lab(args.name, tmp, args.pod_cidr, args.service_cidr, args.infra_cidr)
    print(f"# netpolicy lab benchmark: lab {args.name!r}, NETPOL_LAB_DIR={tmp}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"netpol: {lab.netpol}; kubectl: {lab.kubectl_binary}\n", flush=True)
    ups: list[tuple[str, Up, float | None, int]] = []
    deployment: Deployment | None = None
    get_pods: list[float] = []
    fill = 0.0
    watched: WatchFigures | None = None
    left: list[str] = []
    try:
        with sigterm_as_interrupt():
            for i in range(args.ups):
                took = lab.up()
                core = lab.client()
                nodes = ready_nodes(core)
                down = lab.down() if i < args.ups - 1 else None
                ups.append(("fresh state dir" if i == 0 else "restart (objects kept)", took, down,
                            len(nodes)))
                print(f"lab up #{i + 1}: {took.seconds:.2f} s, {len(nodes)} nodes Ready"
                      + (f"; lab down {down:.2f} s" if down is not None else ""), flush=True)
            core = lab.client()
            deployment = measure_deployment(lab, core, args.replicas, args.timeout)
            print(f"deployment of {args.replicas}: all Running after {deployment.running:.2f} s, "
                  f"all Ready after {deployment.ready:.2f} s", flush=True)
            fill = create_bare_pods(core, "bench-list", args.pods, args.pod_cidr)
            print(f"{args.pods} bare pods created and given a status in {fill:.1f} s", flush=True)
            get_pods = measure_get_pods(lab, "bench-list", args.pods, args.runs)
            print("kubectl get pods: " + ", ".join(f"{t * 1000:.0f}" for t in get_pods) + " ms",
                  flush=True)
            watched = measure_watch(core, "bench-list", args.writes)
    except KeyboardInterrupt as exc:
        print(f"\ninterrupted ({str(exc) or 'Ctrl-C'}): stopping the lab", file=sys.stderr)
        return 130
    finally:
        lab.down()
        left = leftovers(config)
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"\ncleanup: lab down; left behind: {', '.join(left) or 'nothing'}")

    print("\n## lab up\n")
    def at(value: float | None) -> str:
        return f"{value:.2f}" if value is not None else "?"

    print(table(["run", "state", "lab up s", "daemon imported at", "agents programmed at",
                 "daemon ready at", "nodes Ready", "then lab down s"],
                [[str(i + 1), state, f"{took.seconds:.2f}", at(took.daemon), at(took.agents),
                  at(took.ready), str(n), at(down) if down is not None else "-"]
                 for i, (state, took, down, n) in enumerate(ups)]))
    print("(seconds after `lab up` started: the daemon's pid file, the last node agent's first "
          "'programmed' log line, the daemon's 'is up' log line)")
    results: list[Verdict] = []
    for i, (state, took, _, n) in enumerate(ups):
        results.append(Verdict(f"lab up #{i + 1} ({state}) to a ready 2-node lab",
                               f"{took.seconds:.2f} s ({n} Ready)", "< 5 s",
                               took.seconds < 5 and n == 2))
    if deployment is not None:
        results.append(Verdict(f"deployment of {args.replicas}: kubectl create → all Running",
                               f"{deployment.running:.2f} s", "< 10 s", deployment.running < 10))
        results.append(Verdict(f"deployment of {args.replicas}: kubectl create → all Ready",
                               f"{deployment.ready:.2f} s (kubectl itself {deployment.kubectl:.2f} s)",
                               "(info)", None))
    if get_pods:
        results.append(Verdict(f"kubectl get pods on {args.pods} pods (median of {len(get_pods)})",
                               f"{median(get_pods) * 1000:.0f} ms (min {min(get_pods) * 1000:.0f}, "
                               f"max {max(get_pods) * 1000:.0f})", "< 500 ms", median(get_pods) < 0.5))
    if watched is not None:
        values = watched.from_request
        results.append(Verdict(f"watch: write → event at a Python-client watch ({len(values)}; "
                               "median / p95)",
                               f"{median(values) * 1000:.1f} / {percentile(values, 95) * 1000:.1f} ms",
                               "< 50 ms", percentile(values, 95) < 0.05))
        results.append(Verdict("watch: PATCH response → event (median / p95); the PATCH itself",
                               f"{median(watched.from_response) * 1000:.1f} / "
                               f"{percentile(watched.from_response, 95) * 1000:.1f} ms; "
                               f"{median(watched.request) * 1000:.1f} ms", "(info)", None))
    results.append(Verdict("lab down leaves nothing behind", ", ".join(left) or "nothing", "nothing",
                           not left))
    print("\n## Summary\n")
    print(summary(results))
    print(f"\n(load average now {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
