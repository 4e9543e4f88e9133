"""The exceptions netpolicy raises, as one tree so callers can catch what they handle:

    NetpolError
    ├── LoadError           a manifest could not be read or parsed
    ├── InvalidObjectsError objects failed validation (carries every error of every object)
    ├── LookupFailure       an endpoint, service or port named by the user does not exist
    └── ClusterError        a live cluster could not be read

Lower-level errors (YAML, OS, the Kubernetes client) are re-raised as these, `from` the cause.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netpolicy.api.validation import ObjectErrors


class NetpolError(Exception):
    """Base of every error netpolicy raises on purpose."""


class LoadError(NetpolError):
    pass


class InvalidObjectsError(NetpolError):
    def __init__(self, objects: Sequence[ObjectErrors]) -> None:
        self.objects = tuple(objects)
        super().__init__("\n".join(str(o) for o in self.objects))


class LookupFailure(NetpolError):
    pass


class ClusterError(NetpolError):
    pass
