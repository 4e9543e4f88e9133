"""A human account of one verdict, and its JSON form (`"allowed"` is the verdict)."""

from __future__ import annotations

from typing import Any

from netpolicy.api.objects import NetworkPolicy, Rule
from netpolicy.api.tiers import TIE_ORDER
from netpolicy.engine import (
    BackendVerdict,
    ClusterState,
    RuleRef,
    SideVerdict,
    TierMatch,
    TierVerdict,
    Verdict,
)
from netpolicy.report.formats import to_json

_REASONS = {
    "not-a-pod": "is not a pod: no NetworkPolicy applies to it",
    "host-network": "is a hostNetwork pod: NetworkPolicies do not apply to node traffic",
    "loopback": "is the same pod: a pod reaching itself never leaves it (loopback)",
    "from-own-node": "is reached from its own node, which is always allowed (kubelet probes)",
    "not-isolated": "is not isolated: no NetworkPolicy selecting it lists {direction}",
}
_EXEMPT = frozenset({"not-a-pod", "host-network", "loopback", "from-own-node"})
_TIE_ORDER = (f"at equal priority netpolicy orders {' before '.join(TIE_ORDER)}, then by "
              "name (the API leaves this order open)")


def _match_json(m: TierMatch | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {"policy": m.policy, "priority": m.priority, "rule": m.rule, "name": m.rule_name,
            "action": m.action, "peer": m.peer, "port": m.port, "tiedWith": list(m.tied_with)}


def _tier_json(t: TierVerdict | None) -> dict[str, Any] | None:
    if t is None:
        return None
    return {"policies": list(t.policies), "match": _match_json(t.match),
            "unresolved": list(t.unresolved)}


def _side_json(side: SideVerdict) -> dict[str, Any]:
    return {
        "subject": side.subject,
        "allowed": side.allowed,
        "reason": side.reason,
        "decidedBy": side.decided_by,
        "admin": _tier_json(side.admin),
        "baseline": _tier_json(side.baseline),
        "isolatedBy": list(side.isolated_by),
        "allowedBy": [
            {"policy": r.policy, "direction": r.direction, "rule": r.rule, "peer": r.peer,
             "port": r.port} for r in side.allowed_by
        ],
    }


def _verdict_json(v: Verdict) -> dict[str, Any]:
    return {
        "allowed": v.allowed,
        "from": v.source,
        "to": v.destination,
        "protocol": v.protocol,
        "port": v.port,
        "egress": _side_json(v.egress),
        "ingress": _side_json(v.ingress),
    }


def render_json(v: Verdict) -> str:
    return to_json(_verdict_json(v))


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


def _tier_lines(tier: TierVerdict | None, label: str, side: SideVerdict) -> list[str]:
    """What one tier said: the rule that matched first, or that none did."""
    if tier is None:
        return []
    lines = []
    if tier.match is not None:
        m = tier.match
        passed = f" (passes: the rest of the {label} is skipped)" if m.action == "Pass" else ""
        lines.append(f"  {label}: {m}{passed}")
        if m.tied_with:
            lines.append(f"    tie: {', '.join(m.tied_with)} also match at priority "
                         f"{m.priority} with another action; {_TIE_ORDER}")
    elif tier.policies:
        lines.append(f"  {label}: no rule of {', '.join(tier.policies)} matches")
    else:
        lines.append(f"  {label}: no policy with {side.direction} rules selects {side.subject}")
    for rule in tier.unresolved:
        lines.append(f"    unresolved: {rule} names domains, which static analysis cannot "
                     "resolve; if one resolves to this destination, the verdict reverses")
    return lines


def _network_policy_lines(state: ClusterState, side: SideVerdict) -> list[str]:
    if side.reason == "hairpin":
        return ["  isolated by: " + ", ".join(side.isolated_by),
                f"  allowed: {side.subject} reaches itself through a Service (hairpin), "
                "which NetworkPolicy allows"]
    lines = ["  isolated by: " + ", ".join(side.isolated_by)]
    if side.allowed:
        for ref in side.allowed_by:
            rule = _policy(state, ref.policy).rules(side.direction)[ref.rule]
            lines.append(f"  allowed by {ref.policy} {side.direction}[{ref.rule}]: "
                         + _describe_rule(rule, ref))
    else:
        lines.append(f"  denied: no {side.direction} rule of "
                     + ", ".join(side.isolated_by) + " matches this peer and port")
    return lines


def _side_text(state: ClusterState, side: SideVerdict, role: str) -> list[str]:
    """The chain of one side: admin tier, NetworkPolicy, baseline tier, default. Without
    tiered policies in the cluster it reads as NetworkPolicy alone."""
    title = f"{side.direction.capitalize()} of {side.subject} (the {role}):"
    lines = [title]
    if side.reason in _EXEMPT:
        return [*lines, f"  allowed: {side.subject} " + _REASONS[side.reason]]
    tiered = bool(state.admin_policies or state.baseline_policies)
    if tiered:
        lines += _tier_lines(side.admin, "admin tier", side)
    if side.decided_by == "admin":
        word = "ALLOWED" if side.allowed else "DENIED"
        return [*lines, f"  {word} by the admin tier: NetworkPolicy and baseline are not asked"]
    if side.decided_by == "networkpolicy":
        return lines + _network_policy_lines(state, side)
    not_isolated = _REASONS["not-isolated"].format(direction=side.direction.capitalize())
    if not tiered:
        return [*lines, f"  allowed: {side.subject} {not_isolated}"]
    lines.append(f"  NetworkPolicy: {side.subject} {not_isolated}")
    lines += _tier_lines(side.baseline, "baseline tier", side)
    if side.decided_by == "baseline":
        return [*lines, ("  ALLOWED" if side.allowed else "  DENIED") + " by the baseline tier"]
    return [*lines, "  allowed: no tier decided and no NetworkPolicy isolates it (default allow)"]


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


def service_text(state: ClusterState, source: str, service: str, protocol: str, port: int,
                 backends: tuple[BackendVerdict, ...]) -> str:
    """Through a Service, the verdict is per backend (DESIGN.md point 10)."""
    admitted = sum(b.allowed for b in backends)
    head = f"{source} -> service {service} {protocol}/{port}: "
    if not backends:
        return head + "no backends (the Service's selector matches no endpoint)\n"
    if admitted == len(backends):
        summary = "ALLOWED by every backend"
    elif admitted == 0:
        summary = "DENIED by every backend"
    else:
        summary = (f"{admitted} of {len(backends)} backends admit it: connections pass or "
                   "fail by the backend chosen")
    lines = [head + summary]
    for b in backends:
        if b.verdict is None:
            lines += ["", f"Backend {b.backend}: has no container port named by targetPort"]
            continue
        lines += ["", f"Backend {b.backend} ({b.verdict.protocol}/{b.target_port}): "
                  + ("ALLOWED" if b.allowed else "DENIED")]
        for side, role in ((b.verdict.egress, "client"), (b.verdict.ingress, "server")):
            lines += ["  " + line for line in _side_text(state, side, role)]
    return "\n".join(lines) + "\n"


def service_json(source: str, service: str, protocol: str, port: int,
                 backends: tuple[BackendVerdict, ...]) -> str:
    """`allowed` is true when every backend admits the connection."""
    return to_json({
        "allowed": bool(backends) and all(b.allowed for b in backends),
        "from": source,
        "service": service,
        "protocol": protocol,
        "port": port,
        "backends": [
            {"backend": b.backend, "targetPort": b.target_port, "allowed": b.allowed,
             "verdict": None if b.verdict is None else _verdict_json(b.verdict)}
            for b in backends
        ],
    })
