"""The lab's cluster DNS: Kubernetes' DNS schema, served over UDP and TCP from inside a
namespace.

Three parts, from pure to effectful:

- a small DNS codec (RFC 1035): parse a query, build a response — A, AAAA, SRV, PTR and SOA
  records, name compression for the question name, truncation (TC) when a UDP answer exceeds
  512 bytes (or the client's EDNS buffer size), so clients retry over TCP;
- `ClusterZone`: the records of `cluster.local`, computed from plain data the lab feeds it
  (services with their ClusterIP or, for headless ones, their endpoints):

      <svc>.<ns>.svc.cluster.local               A     ClusterIP, or every ready endpoint IP
      <hostname>.<svc>.<ns>.svc.cluster.local    A     a headless endpoint with a hostname
      _<port>._<proto>.<svc>.<ns>.svc.cluster.local SRV  each named port
      <a-b-c-d>.<ns>.pod.cluster.local           A     a.b.c.d ("pods insecure", as kubeadm
                                                       configures CoreDNS)
      <d.c.b.a>.in-addr.arpa                     PTR   a ClusterIP → its service name
      cluster.local                              SOA

  A name in the zone with no record of the asked type gets an empty answer (NODATA); every other
  name NXDOMAIN. The lab has no upstream resolver, so names outside the zone are NXDOMAIN too
  (CoreDNS would forward them). Short names work because each pod's resolv.conf has the search
  list `<ns>.svc.cluster.local svc.cluster.local cluster.local` with `ndots:5` (topology.py).
- `DnsServer`: answers from a lookup callback on a UDP and a TCP socket opened *inside a
  network namespace* (netns.socket_in) and served by the lab's event loop. The lab runs it as
  the DNS pod: it creates a pod namespace in kube-system, serves DNS on that pod's IP, port 53,
  and the `kube-dns` Service (10.96.0.10:53 UDP and TCP) has that pod as its endpoint, so DNS
  traffic crosses the proxy and the policies like any other pod's.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import cast

from netpolicy.dataplane import netns
from netpolicy.errors import NetpolError


class DnsFormatError(NetpolError):
    """A message that is not valid DNS."""


class RecordType(IntEnum):
    A = 1
    NS = 2
    CNAME = 5
    SOA = 6
    PTR = 12
    TXT = 16
    AAAA = 28
    SRV = 33
    OPT = 41
    ANY = 255


class Rcode(IntEnum):
    NOERROR = 0
    FORMERR = 1
    SERVFAIL = 2
    NXDOMAIN = 3
    NOTIMP = 4
    REFUSED = 5


CLASS_IN = 1
_QR, _AA, _TC, _RD = 0x8000, 0x0400, 0x0200, 0x0100
UDP_LIMIT = 512


# --------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class A:
    address: str

    type = RecordType.A

    def rdata(self) -> bytes:
        return ipaddress.IPv4Address(self.address).packed


@dataclass(frozen=True)
class AAAA:
    address: str

    type = RecordType.AAAA

    def rdata(self) -> bytes:
        return ipaddress.IPv6Address(self.address).packed


@dataclass(frozen=True)
class SRV:
    priority: int
    weight: int
    port: int
    target: str

    type = RecordType.SRV

    def rdata(self) -> bytes:
        return struct.pack("!HHH", self.priority, self.weight, self.port) + encode_name(self.target)


@dataclass(frozen=True)
class PTR:
    target: str

    type = RecordType.PTR

    def rdata(self) -> bytes:
        return encode_name(self.target)


@dataclass(frozen=True)
class SOA:
    mname: str
    rname: str
    serial: int
    refresh: int = 7200
    retry: int = 1800
    expire: int = 86400
    minimum: int = 5

    type = RecordType.SOA

    def rdata(self) -> bytes:
        return (
            encode_name(self.mname)
            + encode_name(self.rname)
            + struct.pack("!IIIII", self.serial, self.refresh, self.retry, self.expire, self.minimum)
        )


Record = A | AAAA | SRV | PTR | SOA
Lookup = Callable[[str], Sequence[Record] | None]
"""name (lowercase, no trailing dot) → its records, or None when the name does not exist."""


# ----------------------------------------------------------------------------------- codec


def encode_name(name: str) -> bytes:
    out = bytearray()
    for label in name.rstrip(".").split("."):
        if not label:
            continue
        raw = label.encode("ascii")
        if len(raw) > 63:
            raise DnsFormatError(f"label too long in {name!r}")
        out += bytes([len(raw)]) + raw
    return bytes(out + b"\x00")


def decode_name(message: bytes, offset: int) -> tuple[str, int]:
    """The name at `offset` (following compression pointers) and the offset after it."""
    labels: list[str] = []
    end = -1
    jumps = 0
    while True:
        if offset >= len(message):
            raise DnsFormatError("name runs past the message")
        length = message[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(message) or jumps > 32:
                raise DnsFormatError("bad compression pointer")
            if end < 0:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | message[offset + 1]
            jumps += 1
            continue
        if length & 0xC0:
            raise DnsFormatError("unknown label type")
        offset += 1
        if length == 0:
            break
        label = message[offset : offset + length]
        if len(label) != length:
            raise DnsFormatError("label runs past the message")
        labels.append(label.decode("ascii", errors="replace"))
        offset += length
    return ".".join(labels), (end if end >= 0 else offset)


@dataclass(frozen=True)
class Question:
    name: str  # as asked (case kept), no trailing dot
    type: int
    klass: int = CLASS_IN


@dataclass(frozen=True)
class Query:
    id: int
    flags: int
    questions: tuple[Question, ...]
    udp_size: int = UDP_LIMIT
    """The client's EDNS(0) payload size, or 512 without OPT."""


def parse_query(message: bytes) -> Query:
    if len(message) < 12:
        raise DnsFormatError("shorter than a DNS header")
    ident, flags, qdcount, ancount, nscount, arcount = struct.unpack_from("!6H", message)
    offset = 12
    questions = []
    for _ in range(qdcount):
        name, offset = decode_name(message, offset)
        if offset + 4 > len(message):
            raise DnsFormatError("question runs past the message")
        qtype, qclass = struct.unpack_from("!HH", message, offset)
        offset += 4
        questions.append(Question(name, qtype, qclass))
    udp_size = UDP_LIMIT
    for index in range(ancount + nscount + arcount):
        _, offset = decode_name(message, offset)
        if offset + 10 > len(message):
            raise DnsFormatError("record runs past the message")
        rtype, rclass, _, rdlength = struct.unpack_from("!HHIH", message, offset)
        offset += 10 + rdlength
        if rtype == RecordType.OPT and index >= ancount + nscount:
            udp_size = max(UDP_LIMIT, min(rclass, 65535))
    return Query(ident, flags, tuple(questions), udp_size)


def build_query(name: str, rtype: RecordType, ident: int = 0x1234) -> bytes:
    """A standard recursive query (for tests and probes)."""
    return (
        struct.pack("!6H", ident, _RD, 1, 0, 0, 0) + encode_name(name) + struct.pack("!HH", rtype, CLASS_IN)
    )


@dataclass(frozen=True)
class Response:
    """A decoded response (for tests and probes): rcode, flags, and answer records as text."""

    id: int
    rcode: int
    truncated: bool
    authoritative: bool
    answers: tuple[tuple[str, int, str], ...]  # (name, type, value)
    authority: tuple[tuple[str, int, str], ...]


def parse_response(message: bytes) -> Response:
    ident, flags, qdcount, ancount, nscount, _ = struct.unpack_from("!6H", message)
    offset = 12
    for _ in range(qdcount):
        _, offset = decode_name(message, offset)
        offset += 4
    sections: list[list[tuple[str, int, str]]] = [[], []]
    for index in range(ancount + nscount):
        name, offset = decode_name(message, offset)
        rtype, _, _, rdlength = struct.unpack_from("!HHIH", message, offset)
        offset += 10
        rdata = message[offset : offset + rdlength]
        if rtype == RecordType.A:
            value = str(ipaddress.IPv4Address(rdata))
        elif rtype == RecordType.AAAA:
            value = str(ipaddress.IPv6Address(rdata))
        elif rtype == RecordType.SRV:
            prio, weight, port = struct.unpack_from("!HHH", rdata)
            value = f"{prio} {weight} {port} {decode_name(message, offset + 6)[0]}"
        elif rtype in (RecordType.PTR, RecordType.CNAME, RecordType.SOA):
            value = decode_name(message, offset)[0]
        else:
            value = rdata.hex()
        sections[0 if index < ancount else 1].append((name, rtype, value))
        offset += rdlength
    return Response(
        ident,
        flags & 0xF,
        bool(flags & _TC),
        bool(flags & _AA),
        tuple(sections[0]),
        tuple(sections[1]),
    )


def _header(ident: int, flags: int, counts: tuple[int, int, int, int]) -> bytes:
    return struct.pack("!6H", ident, flags, *counts)


def _rr(name_bytes: bytes, record: Record, ttl: int) -> bytes:
    data = record.rdata()
    return name_bytes + struct.pack("!HHIH", record.type, CLASS_IN, ttl, len(data)) + data


def answer(
    message: bytes, lookup: Lookup, *, zone: str = "cluster.local", ttl: int = 5, tcp: bool = False
) -> bytes | None:
    """The response to one DNS message, or None when it deserves none (not even a header)."""
    try:
        query = parse_query(message)
    except DnsFormatError:
        if len(message) < 12:
            return None
        ident, flags = struct.unpack_from("!HH", message)
        return _header(ident, _QR | (flags & _RD) | Rcode.FORMERR, (0, 0, 0, 0))
    if query.flags & _QR:
        return None  # a response, not a query
    base = _QR | _AA | (query.flags & _RD)
    opcode = (query.flags >> 11) & 0xF
    if opcode != 0 or len(query.questions) != 1:
        rcode = Rcode.NOTIMP if opcode != 0 else Rcode.FORMERR
        return _header(query.id, base | rcode, (0, 0, 0, 0))
    question = query.questions[0]
    qname = question.name.lower().rstrip(".")
    question_bytes = encode_name(question.name) + struct.pack("!HH", question.type, question.klass)
    records = lookup(qname) if question.klass == CLASS_IN else None
    rcode = Rcode.NXDOMAIN if records is None else Rcode.NOERROR
    matching = [r for r in records or () if question.type in (r.type, RecordType.ANY)]
    answers = b"".join(_rr(b"\xc0\x0c", r, ttl) for r in matching)  # 0xc00c: the question name
    authority = b""
    if not matching:  # negative answer: the zone's SOA, for negative caching (RFC 2308)
        soa = next((r for r in lookup(zone) or () if isinstance(r, SOA)), None)
        if soa is not None and (qname == zone or qname.endswith("." + zone)):
            authority = _rr(encode_name(zone), soa, ttl)
    body = question_bytes + answers + authority
    counts = (1, len(matching), 1 if authority else 0, 0)
    response = _header(query.id, base | rcode, counts) + body
    if not tcp and len(response) > query.udp_size:
        return _header(query.id, base | _TC | rcode, (1, 0, 0, 0)) + question_bytes
    return response


# --------------------------------------------------------------------------- the zone


@dataclass(frozen=True)
class ServicePortRecord:
    name: str
    protocol: str  # "TCP", "UDP", "SCTP"
    port: int


@dataclass(frozen=True)
class EndpointRecord:
    ip: str
    hostname: str | None = None


@dataclass(frozen=True)
class ServiceRecord:
    """What DNS needs of a Service: its ClusterIP (None: headless) and ready endpoints."""

    namespace: str
    name: str
    cluster_ip: str | None
    ports: tuple[ServicePortRecord, ...] = ()
    endpoints: tuple[EndpointRecord, ...] = ()


@dataclass
class ClusterZone:
    """The records of the cluster domain; `update` replaces them all (cheap: a dict build)."""

    domain: str = "cluster.local"
    _names: dict[str, list[Record]] = field(default_factory=dict)
    _serial: int = 0

    def __post_init__(self) -> None:
        self.update(())

    def update(self, services: Iterable[ServiceRecord]) -> None:
        domain = self.domain
        self._serial += 1
        names: dict[str, list[Record]] = {}

        def add(name: str, record: Record | None = None) -> None:
            # Every ancestor inside the zone exists too (empty non-terminals answer NODATA).
            labels = name.split(".")
            for i in range(len(labels)):
                parent = ".".join(labels[i:])
                names.setdefault(parent, [])
                if parent == domain:
                    break
            if record is not None:
                names[name].append(record)

        add(domain, SOA(f"ns.dns.{domain}", f"hostmaster.{domain}", self._serial))
        add(f"svc.{domain}")
        add(f"pod.{domain}")
        for svc in services:
            base = f"{svc.name}.{svc.namespace}.svc.{domain}".lower()
            if svc.cluster_ip is not None:
                add(base, A(svc.cluster_ip))
                reverse = ipaddress.IPv4Address(svc.cluster_ip).reverse_pointer
                names.setdefault(reverse, []).append(PTR(base))
                targets = [base]
            else:
                add(base)
                targets = []
                for ep in svc.endpoints:
                    add(base, A(ep.ip))
                    if ep.hostname:
                        add(f"{ep.hostname}.{base}".lower(), A(ep.ip))
                        targets.append(f"{ep.hostname}.{base}".lower())
                    else:
                        targets.append(f"{ep.ip.replace('.', '-')}.{base}")
                        add(targets[-1], A(ep.ip))
            for port in svc.ports:
                if not port.name:
                    continue
                srv_name = f"_{port.name}._{port.protocol.lower()}.{base}".lower()
                add(srv_name)
                for target in targets:
                    names[srv_name].append(SRV(0, 100, port.port, target))
        self._names = names

    def lookup(self, name: str) -> Sequence[Record] | None:
        name = name.lower().rstrip(".")
        found = self._names.get(name)
        if found is not None:
            return found
        # <a-b-c-d>.<namespace>.pod.<domain>: answered from the name itself.
        labels = name.split(".")
        if len(labels) >= 3 and ".".join(labels[2:]) == f"pod.{self.domain}":
            with contextlib.suppress(ValueError):
                return [A(str(ipaddress.IPv4Address(labels[0].replace("-", "."))))]
        return None


# --------------------------------------------------------------------------- the server


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        reply = self.server.respond(data, tcp=False)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


class DnsServer:
    """Answers DNS from `lookup` on UDP and TCP sockets opened inside a network namespace."""

    def __init__(self, lookup: Lookup, *, zone: str = "cluster.local", ttl: int = 5) -> None:
        self.lookup = lookup
        self.zone = zone
        self.ttl = ttl
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None

    def respond(self, message: bytes, *, tcp: bool) -> bytes | None:
        return answer(message, self.lookup, zone=self.zone, ttl=self.ttl, tcp=tcp)

    async def start(self, netns_name: str | None, host: str, port: int = 53) -> None:
        """Serve on `host:port` (UDP and TCP) inside the named namespace (None: here)."""
        loop = asyncio.get_running_loop()
        udp = netns.socket_in(netns_name, socket.AF_INET, socket.SOCK_DGRAM)
        tcp = netns.socket_in(netns_name, socket.AF_INET, socket.SOCK_STREAM)
        try:
            udp.bind((host, port))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((host, port))
            transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), sock=udp)
            self._udp = transport
            self._tcp = await asyncio.start_server(self._serve_tcp, sock=tcp)
        except BaseException:
            udp.close()
            tcp.close()
            await self.close()
            raise

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                length = struct.unpack("!H", await reader.readexactly(2))[0]
                reply = self.respond(await reader.readexactly(length), tcp=True)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
            self._tcp = None
