"""Cluster DNS: the codec and the zone (pure), then real lookups from inside pods through the
kube-dns Service, with the pod's resolv.conf search list."""

from __future__ import annotations

import asyncio
import struct
import sys
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netpolicy.dataplane.nft import Nft
from netpolicy.dataplane.proxy import Endpoint, ProxyTarget, ServicePort, ServiceProxy
from netpolicy.lab import dns
from netpolicy.lab.dns import (
    ClusterZone,
    DnsServer,
    EndpointRecord,
    Rcode,
    RecordType,
    ServicePortRecord,
    ServiceRecord,
)
from netpolicy.lab.topology import Topology
from tests.dataplane.support import lab, root_test

__all__ = ["lab"]

ZONE = ClusterZone()
ZONE.update(
    [
        ServiceRecord("default", "web", "10.96.0.20", (ServicePortRecord("http", "TCP", 80),)),
        ServiceRecord(
            "default",
            "db",
            None,
            (ServicePortRecord("pg", "TCP", 5432),),
            (EndpointRecord("10.244.1.7", "db-0"), EndpointRecord("10.244.2.7")),
        ),
        ServiceRecord("big", "many", None, (), tuple(EndpointRecord(f"10.244.3.{i}") for i in range(1, 61))),
    ]
)


def ask(name: str, rtype: RecordType = RecordType.A, *, tcp: bool = False) -> dns.Response:
    reply = dns.answer(dns.build_query(name, rtype), ZONE.lookup, tcp=tcp)
    assert reply is not None
    return dns.parse_response(reply)


def values(response: dns.Response) -> list[str]:
    return sorted(value for _, _, value in response.answers)


def test_a_service_name_resolves_to_its_cluster_ip() -> None:
    response = ask("web.default.svc.cluster.local")
    assert (response.rcode, response.authoritative, values(response)) == (0, True, ["10.96.0.20"])


def test_a_headless_service_resolves_to_its_endpoints_and_named_endpoints_to_theirs() -> None:
    assert values(ask("db.default.svc.cluster.local")) == ["10.244.1.7", "10.244.2.7"]
    assert values(ask("db-0.db.default.svc.cluster.local")) == ["10.244.1.7"]
    assert values(ask("_pg._tcp.db.default.svc.cluster.local", RecordType.SRV)) == [
        "0 100 5432 10-244-2-7.db.default.svc.cluster.local",
        "0 100 5432 db-0.db.default.svc.cluster.local",
    ]


def test_pod_names_are_answered_from_the_address_they_spell() -> None:
    assert values(ask("10-244-1-9.default.pod.cluster.local")) == ["10.244.1.9"]
    assert ask("10-244-1.default.pod.cluster.local").rcode == Rcode.NXDOMAIN


def test_a_cluster_ip_has_a_reverse_name() -> None:
    assert values(ask("20.0.96.10.in-addr.arpa", RecordType.PTR)) == ["web.default.svc.cluster.local"]


def test_aaaa_of_an_existing_name_is_an_empty_answer_with_the_zone_soa() -> None:
    response = ask("web.default.svc.cluster.local", RecordType.AAAA)
    assert (response.rcode, response.answers) == (Rcode.NOERROR, ())
    assert [(n, t) for n, t, _ in response.authority] == [("cluster.local", RecordType.SOA)]


@pytest.mark.parametrize(
    "name",
    ["nope.default.svc.cluster.local", "web.other.svc.cluster.local", "example.com", "web"],
)
def test_unknown_names_are_nxdomain(name: str) -> None:
    assert ask(name).rcode == Rcode.NXDOMAIN


def test_names_match_whatever_their_case_and_the_answer_keeps_the_askers_case() -> None:
    response = ask("WEB.Default.svc.cluster.local")
    assert response.answers == (("WEB.Default.svc.cluster.local", RecordType.A, "10.96.0.20"),)


def test_a_udp_answer_over_512_bytes_is_truncated_and_tcp_carries_it_whole() -> None:
    over_udp = ask("many.big.svc.cluster.local")
    assert (over_udp.truncated, over_udp.answers) == (True, ())
    assert len(ask("many.big.svc.cluster.local", tcp=True).answers) == 60


def test_an_edns_buffer_size_lifts_the_512_byte_limit() -> None:
    query = bytearray(dns.build_query("many.big.svc.cluster.local", RecordType.A))
    query[10:12] = struct.pack("!H", 1)  # ARCOUNT: one OPT record follows
    query += b"\x00" + struct.pack("!HHIH", RecordType.OPT, 4096, 0, 0)
    reply = dns.answer(bytes(query), ZONE.lookup)
    assert reply is not None
    assert len(dns.parse_response(reply).answers) == 60


def test_malformed_and_unsupported_messages_get_formerr_or_notimp() -> None:
    query = dns.build_query("web.default.svc.cluster.local", RecordType.A)
    formerr = dns.answer(query[:-3], ZONE.lookup)
    assert formerr is not None and dns.parse_response(formerr).rcode == Rcode.FORMERR
    notify = bytearray(query)
    notify[2] |= 4 << 3  # opcode NOTIFY
    notimp = dns.answer(bytes(notify), ZONE.lookup)
    assert notimp is not None and dns.parse_response(notimp).rcode == Rcode.NOTIMP
    assert dns.answer(b"\x00\x01", ZONE.lookup) is None
    response = bytearray(query)
    response[2] |= 0x80  # QR: a response is never answered
    assert dns.answer(bytes(response), ZONE.lookup) is None


@given(st.binary(max_size=600))
def test_any_bytes_get_an_answer_or_silence_never_an_exception(message: bytes) -> None:
    dns.answer(message, ZONE.lookup)


LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


@given(st.lists(LABEL, min_size=1, max_size=6))
def test_names_survive_encoding(labels: Sequence[str]) -> None:
    name = ".".join(labels)
    assert dns.decode_name(dns.encode_name(name), 0) == (name, len(name) + 2)


# ------------------------------------------------------------------ from inside real pods


def _resolve_script(name: str) -> str:
    return (
        "import socket, sys\n"
        "try:\n"
        f"    print(socket.gethostbyname({name!r}))\n"
        "except socket.gaierror as e:\n"
        "    print('error', e.errno); sys.exit(2)\n"
    )


@root_test("nft")
def test_pods_resolve_services_by_short_and_full_names_through_kube_dns(lab: Topology) -> None:
    lab.add_node("a")
    lab.add_node("b")
    dns_pod = lab.add_pod("a", "coredns", namespace="kube-system", hostname="coredns")
    client = lab.add_pod("b", "client", namespace="default", hostname="client")
    other = lab.add_pod("b", "other", namespace="shop", hostname="other")
    zone = ClusterZone()
    services = [
        ServiceRecord("default", "web", lab.config.dns_ip.rsplit(".", 1)[0] + ".20"),
        ServiceRecord("kube-system", "kube-dns", lab.config.dns_ip),
        ServiceRecord("shop", "cart", None, (), (EndpointRecord("10.9.9.1"), EndpointRecord("10.9.9.2"))),
    ]
    zone.update(services)
    ServiceProxy([ProxyTarget(Nft(ns), ns) for ns in lab.proxy_namespaces()]).update(
        [
            ServicePort("kube-system/kube-dns", lab.config.dns_ip, proto, 53, (Endpoint(dns_pod.ip, 53),))
            for proto in ("UDP", "TCP")
        ]
    )

    async def run(pod_netns: str, *command: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", pod_netns, *command,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await process.communicate()
        return process.returncode or 0, out.decode()

    async def scenario() -> None:
        server = DnsServer(zone.lookup)
        await server.start(dns_pod.netns, dns_pod.ip, 53)
        try:
            web = str(services[0].cluster_ip)
            for name in ("web", "web.default", "web.default.svc", "web.default.svc.cluster.local"):
                code, out = await run(client.netns, "getent", "hosts", name)
                assert (code, out.split()[:1]) == (0, [web]), name
            code, out = await run(client.netns, sys.executable, "-I", "-S", "-c", _resolve_script("web"))
            assert (code, out.strip()) == (0, web)
            code, out = await run(client.netns, "getent", "hosts", "no-such-service")
            assert (code, out) == (2, "")
            code, out = await run(
                client.netns, sys.executable, "-I", "-S", "-c", _resolve_script("no-such-service")
            )
            assert (code, out.strip()) == (2, "error -2")  # EAI_NONAME: NXDOMAIN everywhere
            code, out = await run(other.netns, "getent", "ahostsv4", "cart")  # shop's search list
            assert sorted({line.split()[0] for line in out.splitlines()}) == ["10.9.9.1", "10.9.9.2"]
            code, _ = await run(client.netns, "getent", "hosts", "cart")  # not default's
            assert code == 2
            code, out = await run(client.netns, "getent", "hosts", "cart.shop")
            assert code == 0
        finally:
            await server.close()

    asyncio.run(scenario())
