"""Connections through a Service (DESIGN.md point 10).

Policies know nothing of Services: a connection to a ClusterIP is rewritten (DNAT) to
one backend pod and its target port, and the policies judge that connection. So the
answer for a Service is one verdict per backend: if only some backends admit the
client, its connections pass or fail by the backend chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

from netpolicy.api.objects import Endpoint, Protocol, Service, ServicePort
from netpolicy.engine.cluster import ClusterState, Party
from netpolicy.engine.verdict import Verdict, verdict
from netpolicy.errors import LookupFailure


@dataclass(frozen=True, slots=True)
class BackendVerdict:
    """The verdict for one backend; `verdict` is None when the backend has no container
    port named by the Service's `targetPort` (the Endpoints controller leaves it out)."""

    backend: str
    target_port: int | None
    verdict: Verdict | None

    @property
    def allowed(self) -> bool:
        return self.verdict is not None and self.verdict.allowed


def service_port(service: Service, port: int, protocol: Protocol) -> ServicePort:
    for sp in service.ports:
        if sp.port == port and sp.protocol == protocol:
            return sp
    offered = ", ".join(f"{p.protocol}/{p.port}" for p in service.ports) or "none"
    raise LookupFailure(f"service {service.key!r} has no port {protocol}/{port} "
                        f"(its ports: {offered})")


def target_port(sp: ServicePort, backend: Endpoint) -> int | None:
    """`targetPort` as a number, or a name looked up on the backend's container ports."""
    if isinstance(sp.target_port, int):
        return sp.target_port
    if sp.target_port.isdigit():
        return int(sp.target_port)
    return backend.named_port(sp.target_port, sp.protocol)


def service_verdicts(state: ClusterState, source: str | Party, service: str | Service,
                     port: int, protocol: Protocol = "TCP") -> tuple[BackendVerdict, ...]:
    """A verdict for each backend of `service` reached on its `port`/`protocol`."""
    svc = state.service(service) if isinstance(service, str) else service
    sp = service_port(svc, port, protocol)
    out = []
    for backend in state.backends(svc):
        number = target_port(sp, backend)
        v = (None if number is None
             else verdict(state, source, backend, number, protocol, via_service=True))
        out.append(BackendVerdict(backend.key, number, v))
    return tuple(out)
