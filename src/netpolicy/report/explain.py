"""A human account of one verdict, and its JSON form (`"allowed"` is the verdict)."""

from __future__ import annotations

from typing import Any

from netpolicy.api.objects import NetworkPolicy, Rule
from netpolicy.engine import ClusterState, RuleRef, SideVerdict, Verdict
from netpolicy.report.formats import to_json

_REASONS = {
    "not-a-pod": "is not a pod: no NetworkPolicy applies to it",
    "host-network": "is a hostNetwork pod: NetworkPolicies do not apply to node traffic",
    "loopback": "is the same pod: a pod reaching itself never leaves it (loopback)",
    "from-own-node": "is reached from its own node, which is always allowed (kubelet probes)",
    "not-isolated": "is not isolated: no NetworkPolicy selecting it lists {direction}",
}


def _side_json(side: SideVerdict) -> dict[str, Any]:
    return {
        "subject": side.subject,
        "allowed": side.allowed,
        "reason": side.reason,
        "isolatedBy": list(side.isolated_by),
        "allowedBy": [
            {"policy": r.policy, "direction": r.direction, "rule": r.rule, "peer": r.peer,
             "port": r.port} for r in side.allowed_by
        ],
    }


def render_json(v: Verdict) -> str:
    return to_json({
        "allowed": v.allowed,
        "from": v.source,
        "to": v.destination,
        "protocol": v.protocol,
        "port": v.port,
        "egress": _side_json(v.egress),
        "ingress": _side_json(v.ingress),
    })


def _policy(state: ClusterState, key: str) -> NetworkPolicy:
    return next(p for p in state.policies if p.key == key)


def _describe_rule(rule: Rule, ref: RuleRef) -> str:
    peers = "from" if ref.direction == "ingress" else "to"
    if ref.peer is None:
        peer = f"any peer ({peers} is empty)"
    else:
        peer = f"{peers}[{ref.peer}] {rule.peers[ref.peer]}"
    port = "any port (ports is empty)" if ref.port is None else f"ports[{ref.port}] {rule.ports[ref.port]}"
    return f"{peer}; {port}"


def _side_text(state: ClusterState, side: SideVerdict, role: str) -> list[str]:
    title = f"{side.direction.capitalize()} of {side.subject} (the {role}):"
    if side.reason in _REASONS:
        return [title, f"  allowed: {side.subject} " +
                _REASONS[side.reason].format(direction=side.direction.capitalize())]
    lines = [title, "  isolated by: " + ", ".join(side.isolated_by)]
    if side.allowed:
        for ref in side.allowed_by:
            rule = _policy(state, ref.policy).rules(side.direction)[ref.rule]
            lines.append(f"  allowed by {ref.policy} {side.direction}[{ref.rule}]: "
                         + _describe_rule(rule, ref))
    else:
        lines.append(f"  denied: no {side.direction} rule of "
                     + ", ".join(side.isolated_by) + " matches this peer and port")
    return lines


def render_text(state: ClusterState, v: Verdict) -> str:
    word = "ALLOWED" if v.allowed else "DENIED"
    lines = [f"{v.source} -> {v.destination} {v.protocol}/{v.port}: {word}", ""]
    lines += _side_text(state, v.egress, "client")
    lines.append("")
    lines += _side_text(state, v.ingress, "server")
    if not v.allowed:
        blocked = [s.direction for s in (v.egress, v.ingress) if not s.allowed]
        lines += ["", "Denied by " + " and ".join(blocked)
                  + ": a connection needs both the client's egress and the server's ingress."]
    return "\n".join(lines) + "\n"
