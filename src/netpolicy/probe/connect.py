"""Opening one real connection from inside a pod, two ways.

* `NetnsConnector` (the lab, or any node where the pods' network namespaces are at hand):
  the socket is created inside the source pod's namespace and driven from here, so
  hundreds of probes run concurrently in one process.
* `ExecConnector` (a real cluster): `kubectl exec` into the source pod and run
  `/agnhost connect IP:PORT --protocol=tcp|udp --timeout=Ns`, as the upstream e2e suite
  does; the pods must run the agnhost image (or have it on their PATH).

A TCP probe succeeds when the handshake completes; a refusal (RST) also proves the packet
got through the policies (nothing listens there). A UDP probe sends a datagram and
succeeds on any reply or refusal (ICMP port unreachable); silence until the timeout
means dropped, for both.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
from dataclasses import dataclass
from typing import Literal, Protocol

from netpolicy.api.objects import Protocol as L4Protocol

Outcome = Literal["connected", "refused", "timeout", "error"]


@dataclass(frozen=True)
class Probe:
    source: str  # namespace/name
    destination: str
    ip: str
    port: int
    protocol: L4Protocol


@dataclass(frozen=True)
class Result:
    probe: Probe
    outcome: Outcome
    detail: str = ""

    @property
    def reached(self) -> bool:
        """The connection got through the policies (connected, or refused by the server)."""
        return self.outcome in ("connected", "refused")


class Connector(Protocol):
    async def connect(self, probe: Probe, timeout: float) -> Result: ...


class NetnsConnector:
    """Probes from inside the source pods' network namespaces (`where[pod] = netns`)."""

    def __init__(self, where: dict[str, str]) -> None:
        self.where = where

    async def connect(self, probe: Probe, timeout: float) -> Result:
        from netpolicy.dataplane import netns

        kind = socket.SOCK_STREAM if probe.protocol == "TCP" else socket.SOCK_DGRAM
        if probe.protocol == "SCTP":
            return Result(probe, "error", "SCTP cannot be probed: this kernel has no SCTP sockets")
        family = socket.AF_INET6 if ":" in probe.ip else socket.AF_INET
        try:
            sock = await asyncio.to_thread(netns.socket_in, self.where[probe.source], family, kind)
        except Exception as exc:
            return Result(probe, "error", f"no socket in the source pod: {exc}")
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        try:
            if kind == socket.SOCK_STREAM:
                await asyncio.wait_for(loop.sock_connect(sock, (probe.ip, probe.port)), timeout)
                return Result(probe, "connected")
            await loop.sock_connect(sock, (probe.ip, probe.port))
            await loop.sock_sendall(sock, b"netpol probe\n")
            await asyncio.wait_for(loop.sock_recv(sock, 512), timeout)
            return Result(probe, "connected")
        except TimeoutError:
            return Result(probe, "timeout")
        except ConnectionRefusedError:
            return Result(probe, "refused")
        except OSError as exc:
            return Result(probe, "error", str(exc))
        finally:
            sock.close()


class ExecConnector:
    """Probes with `kubectl exec SOURCE -- /agnhost connect ...` (upstream e2e's way)."""

    def __init__(self, kubectl: list[str], agnhost: str = "/agnhost") -> None:
        self.kubectl = kubectl
        self.agnhost = agnhost

    async def connect(self, probe: Probe, timeout: float) -> Result:
        namespace, name = probe.source.split("/", 1)
        host = f"[{probe.ip}]" if ":" in probe.ip else probe.ip
        command = [*self.kubectl, "exec", "-n", namespace, name, "--", self.agnhost, "connect",
                   f"{host}:{probe.port}", f"--timeout={timeout:g}s",
                   f"--protocol={probe.protocol.lower()}"]
        process = await asyncio.create_subprocess_exec(
            *command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout + 30)
        except TimeoutError:
            process.kill()
            await process.wait()
            return Result(probe, "error", "kubectl exec did not return")
        text = (out + err).decode(errors="replace").strip()
        if process.returncode == 0:
            return Result(probe, "connected")
        if "TIMEOUT" in text:
            return Result(probe, "timeout")
        if "REFUSED" in text:
            return Result(probe, "refused")
        return Result(probe, "error", text[-300:])
