"""The lab's `netpol/demo-rng` image: the random number service of the coins demo app
(examples/microservices).

HTTP/1.1 on port 80 (or $PORT): `GET /N` answers N random bytes (0 ≤ N ≤ 1024,
application/octet-stream), `GET /` a line of text naming the pod. One thread per connection,
keep-alive; one access line per request on stdout; exit 0 on SIGTERM.

Run as a standalone script (`python -I -S demo_rng.py`): standard library only (and
demo_common.py beside it), few imports.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # `python -I` leaves it out
from demo_common import HOSTNAME, say, serve_http, stop_on_signals

MAX_BYTES = 1024


def handle(method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
    """(status, content type, body) for one request."""
    if method not in ("GET", "HEAD"):
        return 405, "text/plain", b"only GET\n"
    if path == "/":
        return 200, "text/plain", f"RNG running on {HOSTNAME}\n".encode()
    count = path[1:]
    if not count.isdigit():
        return 404, "text/plain", b"try GET /32\n"
    if int(count) > MAX_BYTES:
        return 400, "text/plain", f"at most {MAX_BYTES} bytes\n".encode()
    return 200, "application/octet-stream", os.urandom(int(count))


def main() -> None:
    stop_on_signals("rng")
    port = int(os.environ.get("PORT") or 80)
    say(f"rng: serving random bytes on port {port}")
    serve_http(port, handle)


if __name__ == "__main__":
    main()
