"""The node's connection tracking table, for `--existing=cut`.

A connection is judged when it starts (DESIGN.md point 9); after a policy change, the
established ones run on unless their conntrack entries go. `flows()` lists the tracked
TCP, UDP and SCTP connections (original direction; for a Service, the backend the DNAT
chose is the reply's source), and `delete(flow)` removes one entry by its exact tuple.
Uses the `conntrack` tool, in the process's own network namespace.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from netpolicy.api.objects import Protocol

_FIELD = re.compile(r"(\w+)=(\S+)")
_PROTOCOLS: dict[str, Protocol] = {"tcp": "TCP", "udp": "UDP", "sctp": "SCTP"}


@dataclass(frozen=True)
class Flow:
    protocol: Protocol
    source: str
    destination: str
    """The real destination: the Service backend for a DNATed connection."""
    port: int
    """The real destination port."""
    original: tuple[str, str, str, str]
    """The original direction's src, dst, sport, dport: what `conntrack -D` needs."""


def parse(line: str) -> Flow | None:
    words = line.split()
    if not words or words[0] not in _PROTOCOLS:
        return None
    pairs = _FIELD.findall(line)
    original = dict(pairs[:4])
    reply = dict(pairs[4:8])
    if not {"src", "dst", "sport", "dport"} <= original.keys():
        return None
    destination = str(reply.get("src") or original["dst"])
    port = int(reply.get("sport") or original["dport"])
    return Flow(_PROTOCOLS[words[0]], original["src"], destination, port,
                (original["src"], original["dst"], original["sport"], original["dport"]))


class Conntrack:
    def __init__(self, netns: str | None = None) -> None:
        self.prefix = ["ip", "netns", "exec", netns] if netns else []

    def flows(self) -> list[Flow]:
        done = subprocess.run([*self.prefix, "conntrack", "-L"], capture_output=True, text=True,
                              check=False)
        return [f for line in done.stdout.splitlines() if (f := parse(line)) is not None]

    def delete(self, flow: Flow) -> None:
        src, dst, sport, dport = flow.original
        subprocess.run([*self.prefix, "conntrack", "-D", "-p", flow.protocol.lower(),
                        "--orig-src", src, "--orig-dst", dst, "--orig-port-src", sport,
                        "--orig-port-dst", dport], capture_output=True, check=False)
