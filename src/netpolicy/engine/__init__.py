"""The semantics of NetworkPolicy and of the tiered cluster policies: verdicts with
explanations, the compiled view, and reachability over every pair. Pure computation: no
I/O, no knowledge of where the objects came from."""

from netpolicy.engine.cluster import ClusterState, External, Party
from netpolicy.engine.compiled import (
    Allowance,
    CompiledView,
    Decision,
    DirectionView,
    PeerSet,
    RuleId,
)
from netpolicy.engine.matrix import Connectivity, Matrix, connectivity, matrix
from netpolicy.engine.ports import ALL, NONE, PortSet
from netpolicy.engine.services import BackendVerdict, service_verdicts
from netpolicy.engine.verdict import (
    Reason,
    RuleRef,
    SideVerdict,
    TierMatch,
    TierVerdict,
    Verdict,
    verdict,
)

__all__ = [
    "ALL",
    "NONE",
    "Allowance",
    "BackendVerdict",
    "ClusterState",
    "CompiledView",
    "Connectivity",
    "Decision",
    "DirectionView",
    "External",
    "Matrix",
    "Party",
    "PeerSet",
    "PortSet",
    "Reason",
    "RuleId",
    "RuleRef",
    "SideVerdict",
    "TierMatch",
    "TierVerdict",
    "Verdict",
    "connectivity",
    "matrix",
    "service_verdicts",
    "verdict",
]
