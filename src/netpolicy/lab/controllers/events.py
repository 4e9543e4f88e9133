"""Events, as controllers and kubelets record them (`kubectl describe` lists them)."""

from __future__ import annotations

import logging
import secrets

from netpolicy.lab.store import JSON, ApiError, Store, now

log = logging.getLogger(__name__)


async def record_event(store: Store, obj: JSON, event_type: str, reason: str, message: str,
                       component: str, host: str | None = None) -> None:
    """Record a core/v1 Event about `obj`. Never fails the caller: an event is a note."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace") or "default"
    stamp = now()
    event: JSON = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{meta.get('name', 'unknown')}.{secrets.token_hex(8)}",
                     "namespace": namespace},
        "involvedObject": {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
                           "name": meta.get("name"), "namespace": meta.get("namespace"),
                           "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")},
        "reason": reason, "message": message, "type": event_type,
        "source": {"component": component, **({"host": host} if host else {})},
        "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
        "reportingComponent": component, "reportingInstance": host or "",
    }
    try:
        await store.create("events", event)
    except ApiError as exc:  # e.g. the namespace is being deleted
        log.debug("event %s on %s not recorded: %s", reason, meta.get("name"), exc)
