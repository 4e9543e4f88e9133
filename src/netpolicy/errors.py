"""Every exception class of netpolicy, wherever it lives, drawn as one tree so callers can
catch what they handle: the class, its module (under netpolicy), and what it means.
tests/test_errors.py fails on a class that is left out, or drawn under another parent or
module than its own.

    NetpolError                  errors                 base of every error netpolicy raises on purpose
    ├── LoadError                errors                 a manifest could not be read or parsed
    ├── InvalidObjectsError      errors                 objects failed validation (carries all their errors)
    ├── LookupFailure            errors                 an endpoint, service or port the user named is missing
    ├── ClusterError             errors                 a live cluster could not be read
    ├── NftError                 dataplane.nft.types    a transaction was rejected (none of it applied), or
    │                                                   nft could not run
    ├── NetnsError               dataplane.netns        a namespace, link, address or route operation failed
    ├── LabNetworkError          lab.topology           the lab's network cannot be built as asked
    ├── ContainerStartError      lab.runtime            a container's program cannot start (runc's message)
    ├── RuntimeLookupError       lab.runtime            no such pod or container (also a LookupError)
    ├── UnknownImageError        lab.images             an image not in the lab's catalogue (it pulls nothing)
    ├── DnsFormatError           lab.dns                a message that is not valid DNS
    └── ApiError                 lab.store              an answer of the lab's API server, as a Status (500)
        ├── BadRequest           lab.store              400: the request cannot be read
        ├── Unauthorized         lab.store              401: no credentials, or none the server knows
        ├── Forbidden            lab.store              403: the user may not do this
        ├── NotFound             lab.store              404: no such object or resource
        ├── MethodNotAllowed     lab.store              405: the resource does not take this verb
        ├── NotAcceptable        lab.store              406: no representation the client accepts
        ├── AlreadyExists        lab.store              409: a create of a name that is taken
        ├── Conflict             lab.store              409: a write against a stale resourceVersion
        ├── Expired              lab.store              410: a watch from before the history the store keeps
        ├── UnsupportedMediaType lab.store              415: a body or patch type the server does not read
        ├── Invalid              lab.store              422: the object fails validation (its field errors)
        ├── InternalError        lab.store              500: the server failed
        └── ServiceUnavailable   lab.store              503: the server cannot serve this now

Not NetpolError, on purpose: raised and caught inside one component (or, for the images,
in a program that runs without netpolicy), they never reach a caller.

    LibnftablesError             dataplane.libnftables  a libnftables command failed: nft.runner raises
                                                        NftError
    Gone                         agent.source           a watch's resourceVersion expired (410): list again
    NotServed                    agent.source           an optional kind is not served (404): none to enforce
    Unsupported                  api.yaml_events        YAML that api.yaml_lines leaves to PyYAML
    Failure                      lab.images.demo_common a demo service answered, but not as it should
    ProtocolError                lab.images.demo_redis  bytes that are not a redis request: it hangs up

Lower-level errors (YAML, OS, nft, the Kubernetes client) are re-raised as these, `from` the
cause.
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
