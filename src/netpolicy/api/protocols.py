"""The transport protocols NetworkPolicy speaks about. Apart from the object model so
that the command line can offer them as choices without loading it."""

from __future__ import annotations

from typing import Literal

Protocol = Literal["TCP", "UDP", "SCTP"]
PROTOCOLS: tuple[Protocol, ...] = ("TCP", "UDP", "SCTP")
