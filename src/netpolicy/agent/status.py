"""The agent's status: what it enforces, how fresh it is, what it could not enforce, and
how many new connections each policy let through or isolation dropped.

Written as JSON to a file after every change and every few seconds (`netpol agent
status` reads it; on a real cluster, `kubectl exec` into the agent's pod and run that),
and as Prometheus text for scrapers.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from netpolicy.agent.enforcer import SyncReport


@dataclass
class AgentStatus:
    node: str
    existing: str
    ready: bool = False
    generation: int = 0
    resource_version: int = 0
    """The newest resourceVersion the programmed state includes."""
    syncs: int = 0
    last_sync: float = 0.0
    last_sync_ms: float = 0.0
    elements: int = 0
    rules: int = 0
    local_pods: int = 0
    cut_connections: int = 0
    errors: list[str] = field(default_factory=list)
    allowed: dict[str, int] = field(default_factory=dict)
    """New-connection packets let through, per policy."""
    dropped: dict[str, int] = field(default_factory=dict)
    """New-connection packets dropped by isolation, per list of isolating policies."""
    tiered: dict[str, int] = field(default_factory=dict)
    """New-connection packets each rule of a tiered policy decided (Accept, Deny) or
    passed on (Pass), per rule: `Kind/name direction[index] Action`."""

    def record_sync(self, report: SyncReport, errors: list[str]) -> None:
        self.ready = True
        self.generation = report.generation
        self.syncs += 1
        self.last_sync = time.time()
        self.last_sync_ms = round(report.duration * 1000, 2)
        self.elements, self.rules, self.local_pods = report.elements, report.rules, report.local_pods
        self.cut_connections += report.cut
        self.errors = errors

    def record_counters(self, counts: Mapping[str, int], notes: Mapping[str, str]) -> None:
        allowed: Counter[str] = Counter()
        dropped: Counter[str] = Counter()
        tiered: Counter[str] = Counter()
        for comment, packets in counts.items():
            text = notes.get(comment, comment)
            if text.endswith((" Accept", " Deny", " Pass")):  # a tiered rule's counter
                tiered[text] += packets
            elif text.startswith("isolated by "):
                dropped[text] += packets
            elif text == "unknown local pod":
                dropped["an address of this node's pod range not programmed yet"] += packets
            elif " ingress[" in text or " egress[" in text:
                allowed[text.split(" ", 1)[0]] += packets
        self.allowed, self.dropped = dict(sorted(allowed.items())), dict(sorted(dropped.items()))
        self.tiered = dict(sorted(tiered.items()))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {_camel(k): v for k, v in data.items()}

    def write(self, path: Path) -> None:
        """Atomically replace `path` (readers never see half a file)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w") as f:
            json.dump(self.to_json(), f, indent=2)
        os.replace(tmp, path)

    def prometheus(self) -> str:
        node = self.node
        lines = [
            "# HELP netpol_agent_ready Whether the first program was applied.",
            "# TYPE netpol_agent_ready gauge",
            f'netpol_agent_ready{{node="{node}"}} {int(self.ready)}',
            "# TYPE netpol_agent_syncs_total counter",
            f'netpol_agent_syncs_total{{node="{node}"}} {self.syncs}',
            "# TYPE netpol_agent_last_sync_seconds gauge",
            f'netpol_agent_last_sync_seconds{{node="{node}"}} {self.last_sync_ms / 1000}',
            "# TYPE netpol_agent_program_elements gauge",
            f'netpol_agent_program_elements{{node="{node}"}} {self.elements}',
            "# TYPE netpol_agent_errors gauge",
            f'netpol_agent_errors{{node="{node}"}} {len(self.errors)}',
            "# TYPE netpol_policy_allowed_packets_total counter",
        ]
        lines += [f'netpol_policy_allowed_packets_total{{node="{node}",policy="{p}"}} {n}'
                  for p, n in self.allowed.items()]
        lines.append("# TYPE netpol_isolation_dropped_packets_total counter")
        lines += [f'netpol_isolation_dropped_packets_total{{node="{node}",isolated_by="{p}"}} {n}'
                  for p, n in self.dropped.items()]
        lines.append("# TYPE netpol_tier_rule_packets_total counter")
        for text, n in self.tiered.items():
            rule, action = text.rsplit(" ", 1)
            lines.append(f'netpol_tier_rule_packets_total{{node="{node}",rule="{rule}",'
                         f'action="{action}"}} {n}')
        return "\n".join(lines) + "\n"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.capitalize() for w in rest)


def read_status(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data
