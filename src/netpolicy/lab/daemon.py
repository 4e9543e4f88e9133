"""The lab process: everything a running lab is, in one asyncio program.

    python -m netpolicy.lab.daemon --state-dir DIR      (started by `netpol lab up`)

It builds the network (a fabric namespace, one namespace per node, a veth from the
host), opens the store, starts the control plane (controllers, scheduler), one kubelet
per node, the service proxy and cluster DNS, and serves the API on 127.0.0.1 (and on
the host's lab address, so processes in the nodes can reach it, as a DaemonSet's pods
reach the API server). It writes the kubeconfig, then a `ready` file.

On SIGTERM it stops the pods, removes the network and exits; `netpol lab down` sends
that, and then removes by name whatever a crashed lab may have left.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from netpolicy.dataplane.nft import Nft
from netpolicy.dataplane.proxy import ProxyTarget, ServiceProxy
from netpolicy.lab.apiserver import create_app, kubeconfig, serve, write_kubeconfig
from netpolicy.lab.apiserver.credentials import Certificate, new_token, self_signed
from netpolicy.lab.controllers import ControlPlane, start_control_plane
from netpolicy.lab.controllers.namespaces import ensure
from netpolicy.lab.dns import ClusterZone, DnsServer
from netpolicy.lab.kubelet import Kubelet, Stop, merged_pod_id
from netpolicy.lab.runtime import ApiPodRuntime, ContainerExit, ProcessRuntime
from netpolicy.lab.servicesync import ServiceSync
from netpolicy.lab.state import LabPaths, LabSettings, register_running, unregister_running
from netpolicy.lab.store import JSON, NotFound, Store
from netpolicy.lab.topology import PodNet, Topology, create_fabric

log = logging.getLogger("netpolicy.lab")
DNS_IMAGE = "netpolicy/lab-dns"


def _credentials(paths: LabPaths, extra_ips: list[str]) -> tuple[str, Certificate]:
    """The token (kept across restarts, so kubeconfigs stay valid) and a fresh certificate
    for 127.0.0.1 and the lab's host address."""
    if not paths.token.exists():
        fd = os.open(paths.token, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(new_token())
    cert = self_signed(extra_ips=extra_ips)
    paths.cert.write_bytes(cert.cert_pem)
    fd = os.open(paths.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fb:
        fb.write(cert.key_pem)
    return paths.token.read_text().strip(), cert


def _dns_objects(dns_ip: str) -> tuple[JSON, JSON]:
    labels = {"k8s-app": "kube-dns"}
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system",
                     "labels": {**labels, "kubernetes.io/name": "CoreDNS"}},
        "spec": {"clusterIP": dns_ip, "selector": labels, "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]},
    }
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": "kube-system", "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                     "name": "coredns", "image": DNS_IMAGE,
                     "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"},
                               {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"}]}]}}},
    }
    return service, deployment


class Lab:
    def __init__(self, paths: LabPaths, settings: LabSettings) -> None:
        self.paths, self.settings = paths, settings
        self.config = settings.config()
        self.stopping = asyncio.Event()

    async def run(self) -> None:
        paths, settings, config = self.paths, self.settings, self.config
        paths.agents.mkdir(parents=True, exist_ok=True)
        topology: Topology = await asyncio.to_thread(create_fabric, config)
        store = Store(paths.store)
        kubelets: list[Kubelet] = []

        def on_exit(exit: ContainerExit) -> None:
            for k in kubelets:
                k.on_exit(exit)
        runtime = ProcessRuntime(paths.logs, on_exit=on_exit)
        zone = ClusterZone(config.cluster_domain)

        async def dns(net: PodNet) -> Stop:
            server = DnsServer(zone.lookup, zone=config.cluster_domain)
            await server.start(net.netns, net.ip)

            return server.close

        served = []
        agents: list[asyncio.Task[None]] = []
        loop = asyncio.get_running_loop()
        plane: ControlPlane | None = None
        sync: ServiceSync | None = None
        try:
            plane = await start_control_plane(store, settings.service_cidr)
            names = settings.node_names()
            nets = [await asyncio.to_thread(topology.add_node, name) for name in names]
            await self._forget_pod_runtime_state(store)
            nodes, _ = await store.list("nodes")
            for node in nodes:  # a previous run with more nodes
                if node["metadata"]["name"] not in names:
                    with contextlib.suppress(NotFound):
                        await store.delete("nodes", None, node["metadata"]["name"])

            # The API first, then the agents (a DaemonSet's pods run before workloads'),
            # then the kubelets: a pod starts once its node's agent has programmed it.
            token, cert = _credentials(paths, [config.host_ip])
            # Frequent bookmarks: an idle watch learns within 0.1 s that nothing it cares
            # about changed, so agents can say how current they are (`resourceVersion` in
            # their status). A real API server sends them about once a minute.
            app = create_app(store, token, ApiPodRuntime(runtime, merged_pod_id(kubelets)),
                             bookmark_interval=0.1)
            context = cert.server_context()
            local = await serve(app, "127.0.0.1", settings.port, ssl_context=context)
            served.append(local)
            served.append(await serve(app, config.host_ip, local.port, ssl_context=context))
            await self._kubernetes_endpoints(store, config.host_ip, local.port)
            if settings.port != local.port:
                paths.save_settings(LabSettings(**{**settings.__dict__, "port": local.port}))
            write_kubeconfig(paths.kubeconfig, kubeconfig(f"https://127.0.0.1:{local.port}", token,
                                                          cert.cert_pem, name=f"netpol-{settings.name}"))
            if settings.enforce:
                write_kubeconfig(paths.agent_kubeconfig, kubeconfig(
                    f"https://{config.host_ip}:{local.port}", token, cert.cert_pem,
                    name=f"netpol-{settings.name}-agent"))
                agents += [loop.create_task(self._agent(net.name, net.netns)) for net in nets]

            for net in nets:
                ready = self._agent_caught_up(net.name) if settings.enforce else None
                kubelet = Kubelet(store, topology, runtime, net, {DNS_IMAGE: dns}, ready)
                kubelets.append(kubelet)
                await kubelet.start()
            proxy = ServiceProxy([ProxyTarget(Nft(ns), ns) for ns in topology.proxy_namespaces()])
            sync = ServiceSync(store, proxy, zone)
            sync.start()
            for obj in _dns_objects(config.dns_ip):
                await ensure(store, "services" if obj["kind"] == "Service" else "deployments", obj)
            if settings.enforce:
                await self._agents_ready(names)
            await self._dns_ready(store)
            paths.ready.write_text(f"https://127.0.0.1:{local.port}\n")
            log.info("lab %s is up: %d nodes, API on port %d", settings.name, len(names), local.port)
            await self.stopping.wait()
            log.info("lab %s: stopping", settings.name)
        finally:
            paths.ready.unlink(missing_ok=True)
            for task in agents:
                task.cancel()
            await asyncio.gather(*agents, return_exceptions=True)
            for s in served:
                await s.close()
            for k in kubelets:
                await k.stop()
            if sync is not None:
                await sync.stop()
            if plane is not None:
                await plane.stop()
            await runtime.close()
            await asyncio.to_thread(topology.teardown)
            store.close()

    async def _agent(self, node: str, netns: str) -> None:
        """Run (and re-run, if it dies) the node agent inside the node's namespace, as a
        DaemonSet pod with hostNetwork would run."""
        status = self.paths.agents / f"{node}.json"
        status.unlink(missing_ok=True)
        command = ["ip", "netns", "exec", netns, sys.executable, "-m", "netpolicy.agent",
                   "--node", node, "--kubeconfig", str(self.paths.agent_kubeconfig),
                   "--existing", self.settings.existing, "--status-file", str(status)]
        backoff = 0.5
        while True:
            with open(self.paths.agents / f"{node}.log", "ab") as logfile:
                process = await asyncio.create_subprocess_exec(
                    *command, stdin=asyncio.subprocess.DEVNULL, stdout=logfile, stderr=logfile)
            try:
                code = await process.wait()
            except asyncio.CancelledError:
                if process.returncode is None:
                    process.terminate()
                    try:
                        await asyncio.wait_for(process.wait(), 5)
                    except TimeoutError:
                        process.kill()
                        await process.wait()
                raise
            log.warning("agent of %s exited with %s; restarting in %.1fs", node, code, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10)

    def _agent_caught_up(self, node: str) -> Callable[[int], Awaitable[None]]:
        """A wait until the node's agent has programmed everything up to a resourceVersion
        (its status file says so); gives up after a few seconds, so a lab whose agent is
        down still runs pods (and the log says why they may be unreachable)."""
        from netpolicy.agent.status import read_status

        path = self.paths.agents / f"{node}.json"

        async def wait(rv: int) -> None:
            deadline = asyncio.get_running_loop().time() + 5
            while asyncio.get_running_loop().time() < deadline:
                with contextlib.suppress(OSError, ValueError, KeyError):
                    if int(read_status(path)["resourceVersion"]) >= rv:
                        return
                await asyncio.sleep(0.01)
            log.warning("agent of %s has not programmed resourceVersion %d after 5s", node, rv)
        return wait

    async def _agents_ready(self, nodes: list[str], timeout: float = 30) -> None:
        """Wait until every agent has programmed its node once."""
        from netpolicy.agent.status import read_status

        deadline = asyncio.get_running_loop().time() + timeout
        pending = set(nodes)
        while pending and asyncio.get_running_loop().time() < deadline:
            for node in list(pending):
                with contextlib.suppress(OSError, ValueError, KeyError):
                    if read_status(self.paths.agents / f"{node}.json")["ready"]:
                        pending.discard(node)
            await asyncio.sleep(0.05)
        if pending:
            log.warning("agents not ready after %.0fs: %s", timeout, ", ".join(sorted(pending)))

    @staticmethod
    async def _forget_pod_runtime_state(store: Store) -> None:
        """Pods of a previous run are recreated from scratch: until their kubelet has done
        so they have no address and are not ready (a stale address would be programmed and
        probed, a stale Ready would lie)."""
        pods, _ = await store.list("pods")
        for pod in pods:
            status = pod.get("status") or {}
            if not status.get("podIP") and status.get("phase") in (None, "Pending"):
                continue

            def reset(obj: JSON) -> None:
                old = obj.get("status") or {}
                obj["status"] = {"phase": "Pending", "conditions": [
                    c for c in old.get("conditions") or [] if c.get("type") == "PodScheduled"]}
            with contextlib.suppress(NotFound):
                await store.modify("pods", pod["metadata"]["namespace"], pod["metadata"]["name"],
                                   reset, subresource="status")

    @staticmethod
    async def _dns_ready(store: Store, timeout: float = 15) -> None:
        """Ready means names resolve: wait for the DNS pod."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            pods, _ = await store.list("pods", "kube-system", label_selector="k8s-app=kube-dns")
            if any(c.get("type") == "Ready" and c.get("status") == "True"
                   for p in pods for c in (p.get("status") or {}).get("conditions") or []):
                return
            await asyncio.sleep(0.02)
        log.warning("the DNS pod is not ready after %.0fs", timeout)

    @staticmethod
    async def _kubernetes_endpoints(store: Store, ip: str, port: int) -> None:
        """`default/kubernetes` points at the API server, as pods see it."""
        def change(obj: JSON) -> None:
            obj["spec"]["ports"][0]["targetPort"] = port
        await store.modify("services", "default", "kubernetes", change)
        endpoints = {"apiVersion": "v1", "kind": "Endpoints",
                     "metadata": {"name": "kubernetes", "namespace": "default"},
                     "subsets": [{"addresses": [{"ip": ip}],
                                  "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]}
        try:
            await store.update("endpoints", endpoints)
        except NotFound:
            await store.create("endpoints", endpoints)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m netpolicy.lab.daemon")
    parser.add_argument("--state-dir", required=True)
    args = parser.parse_args(argv)
    paths = LabPaths(root=args.state_dir)
    settings = paths.load_settings()
    if settings is None:
        print(f"no lab settings in {paths.settings}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    paths.pid.write_text(f"{os.getpid()}\n")
    register_running(settings.name, paths.root)
    lab = Lab(paths, settings)

    async def amain() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lab.stopping.set)
        await lab.run()
    try:
        asyncio.run(amain())
    except Exception:
        log.exception("lab %s failed", settings.name)
        return 1
    finally:
        unregister_running(settings.name)
        with contextlib.suppress(OSError):
            if Path(paths.pid).read_text().strip() == str(os.getpid()):
                paths.pid.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
