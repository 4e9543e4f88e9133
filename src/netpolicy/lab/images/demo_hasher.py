"""The lab's `netpol/demo-hasher` image: the hashing service of the coins demo app
(examples/microservices).

HTTP/1.1 on port 80 (or $PORT): `POST /` with a body (Content-Length, at most 1 MiB) answers
the body's SHA-256 as 64 hex digits (text/plain, no newline); `GET /` a line of text naming
the pod. One thread per connection, keep-alive; one access line per request on stdout; exit 0
on SIGTERM.

Run as a standalone script (`python -I -S demo_hasher.py`): standard library only (and
demo_common.py beside it), few imports.
"""

import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # `python -I` leaves it out
from demo_common import HOSTNAME, say, serve_http, stop_on_signals


def handle(method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
    """(status, content type, body) for one request."""
    if path != "/":
        return 404, "text/plain", b"try POST /\n"
    if method == "POST":
        return 200, "text/plain", hashlib.sha256(body).hexdigest().encode()
    if method in ("GET", "HEAD"):
        return 200, "text/plain", f"HASHER running on {HOSTNAME}\n".encode()
    return 405, "text/plain", b"POST a body to hash it\n"


def main() -> None:
    stop_on_signals("hasher")
    port = int(os.environ.get("PORT") or 80)
    say(f"hasher: serving SHA-256 on port {port}")
    serve_http(port, handle)


if __name__ == "__main__":
    main()
