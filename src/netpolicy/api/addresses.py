"""IP addresses and CIDRs read the way the API server reads them.

k8s.io/utils/net parses "sloppily", with the Go 1.16 parser: IPv4 octets may have
leading zeros, which are decimal (`010.1.1.1` is 10.1.1.1), and a CIDR may have host bits
set. Python's `ipaddress` refuses leading zeros, so objects that a cluster accepted under
these rules (read with `strict_ip=False`) are parsed here, not by `ipaddress.ip_address`.
"""

from __future__ import annotations

import ipaddress
import re

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network
_BIG = 0xFFFFFF
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def _digits(text: str, hexa: bool = False) -> tuple[int, int] | None:
    """(value, characters used) of the leading ASCII digits of `text`, or None."""
    alphabet = "0123456789abcdefABCDEF" if hexa else "0123456789"
    n = used = 0
    for ch in text:
        if ch not in alphabet:
            break
        n = n * (16 if hexa else 10) + int(ch, 16)
        used += 1
        if n >= _BIG:
            return None
    return (n, used) if used else None


_IPV4 = re.compile(r"([0-9]+)\.([0-9]+)\.([0-9]+)\.([0-9]+)")


def _parse_ipv4(text: str) -> bytes | None:
    """Four decimal numbers up to 255, leading zeros allowed (Go's legacy ParseIP)."""
    match = _IPV4.fullmatch(text)
    if match is None:
        return None
    octets = [int(group) for group in match.groups()]
    return bytes(octets) if max(octets) <= 255 else None


def _parse_ipv6(text: str) -> bytes | None:
    ip = bytearray(16)
    ellipsis, j = -1, 0
    if text.startswith("::"):
        ellipsis, text = 0, text[2:]
        if not text:
            return bytes(ip)
    while j < 16:
        got = _digits(text, hexa=True)
        if got is None or got[0] > 0xFFFF:
            return None
        if got[1] < len(text) and text[got[1]] == ".":  # an IPv4 address ends the IPv6 one
            if (ellipsis < 0 and j != 12) or j + 4 > 16:
                return None
            v4 = _parse_ipv4(text)
            if v4 is None:
                return None
            ip[j:j + 4], j, text = v4, j + 4, ""
            break
        ip[j], ip[j + 1], j = got[0] >> 8, got[0] & 0xFF, j + 2
        text = text[got[1]:]
        if not text:
            break
        if text[0] != ":" or len(text) == 1:
            return None
        text = text[1:]
        if text[0] == ":":
            if ellipsis >= 0:
                return None
            ellipsis, text = j, text[1:]
            if not text:
                break
    if text:
        return None
    if j < 16:
        if ellipsis < 0:
            return None
        tail = ip[ellipsis:j]
        ip[ellipsis:] = bytes(16 - ellipsis)
        ip[16 - len(tail):] = tail
    elif ellipsis >= 0:
        return None
    return bytes(ip)


def sloppy_ip_bytes(text: str) -> bytes | None:
    """The 4 or 16 bytes of the address `text`, as ParseIPSloppy reads it; None if invalid."""
    for ch in text:
        if ch == ".":
            return _parse_ipv4(text)
        if ch == ":":
            return _parse_ipv6(text)
    return None


def sloppy_cidr(text: str) -> tuple[IPNet, int] | None:
    """(network, prefix length as written) the way ParseCIDRSloppy reads `text`."""
    addr, slash, mask = text.partition("/")
    if not slash:
        return None
    raw = _parse_ipv4(addr)
    if raw is None:
        raw = _parse_ipv6(addr)
    got = _digits(mask)
    if raw is None or got is None or got[1] != len(mask) or got[0] > 8 * len(raw):
        return None
    net: IPNet
    if len(raw) == 16:
        net = ipaddress.IPv6Network((int.from_bytes(raw, "big"), got[0]), strict=False)
    else:
        net = ipaddress.IPv4Network((ipaddress.IPv4Address(raw), got[0]), strict=False)
    return net, got[0]


def go_contains_form(net: IPNet) -> IPNet:
    """Go compares IPv4-mapped IPv6 networks as IPv4 ones (networkNumberAndMask)."""
    if isinstance(net, ipaddress.IPv6Network) and net.prefixlen >= 96 and net.subnet_of(_MAPPED):
        mapped = net.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network((mapped, net.prefixlen - 96))
    return net


def parse_ip(text: str) -> IPAddress:
    """The address `text` as the API server reads it (ValueError if it is not one)."""
    raw = sloppy_ip_bytes(text)
    if raw is None:
        raise ValueError(f"{text!r} is not an IP address")
    return ipaddress.IPv4Address(raw) if len(raw) == 4 else ipaddress.IPv6Address(raw)


def parse_cidr(text: str) -> IPNet:
    """The network of the CIDR `text` as the API server reads it, host bits cleared
    (`10.0.0.1/24` is 10.0.0.0/24); ValueError if it is not one."""
    parsed = sloppy_cidr(text)
    if parsed is None:
        raise ValueError(f"{text!r} is not a CIDR")
    return parsed[0]
