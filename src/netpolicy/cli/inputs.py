"""Where the CLI's cluster state comes from: manifests (`-f`) or a live cluster."""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from netpolicy.api.inventory import Inventory, build_inventory
from netpolicy.api.loading import Document, read_paths
from netpolicy.api.objects import DEFAULT_NAMESPACE
from netpolicy.errors import LookupFailure

if TYPE_CHECKING:
    from netpolicy.engine import ClusterState


@dataclass(frozen=True)
class Source:
    """The input options every analysis command shares."""

    files: Sequence[str]
    namespace: str | None
    all_namespaces: bool
    kubeconfig: str | None
    context: str | None

    def documents(self) -> list[Document]:
        if self.files:
            return read_paths(self.files)
        from netpolicy.api.live import read_cluster

        return read_cluster(self.kubeconfig, self.context)

    def inventory(self) -> Inventory:
        # Manifests are read as `kubectl apply` sends them (fieldValidation=Strict): an
        # unknown field in a policy is an error, since dropping it could widen the policy
        # (`frm:` for `from:` would allow every peer). A live cluster has pruned them.
        inv = build_inventory(self.documents(), self.namespace or DEFAULT_NAMESPACE,
                              strict=bool(self.files), strict_ip=bool(self.files))
        note = inv.skipped_note()
        if note:
            print(note, file=sys.stderr)
        return inv

    def state(self) -> ClusterState:
        from netpolicy.engine import ClusterState

        inv = self.inventory()
        return ClusterState(inv.namespaces, inv.endpoints, inv.policies, inv.services, inv.nodes,
                            inv.cluster_policies)

    def in_scope(self, state: ClusterState) -> list[int]:
        """Endpoint indexes the report covers: `-n NS` keeps that namespace; otherwise
        (or with `-A`) all namespaces."""
        if self.namespace and not self.all_namespaces:
            return [i for i, e in enumerate(state.endpoints) if e.namespace == self.namespace]
        return list(range(len(state.endpoints)))


def pick(state: ClusterState, scope: Sequence[int], patterns: Sequence[str], flag: str) -> list[int]:
    """Endpoints of `scope` whose `namespace/name` matches one of the glob `patterns`
    (none given: all of `scope`). A pattern that matches nothing is an error."""
    if not patterns:
        return list(scope)
    chosen: set[int] = set()
    for pattern in patterns:
        hits = {i for i in scope if fnmatch.fnmatchcase(state.endpoints[i].key, pattern)}
        if not hits:
            raise LookupFailure(f"{flag} {pattern!r} matches no endpoint "
                                f"(endpoints are written namespace/name; globs like 'x/*' work)")
        chosen |= hits
    return sorted(chosen)
