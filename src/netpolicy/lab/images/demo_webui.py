"""The lab's `netpol/demo-webui` image: the web UI of the coins demo app (examples/microservices).

HTTP/1.1 on port 80 (or $PORT): `GET /` is an HTML page titled "coins web UI" showing the
`hashes` counter read from Redis at $REDIS_HOST:$REDIS_PORT (default redis:6379), or
"redis unreachable" and why when Redis does not answer in 2 s (name lookup, connect and
reply, each); `GET /json` is `{"hashes": N}` (N is 0 before the worker's first round), or
status 503 and `{"hashes": null, "error": "redis unreachable: ..."}`. Every request reads
Redis afresh over a new connection, so a policy change shows at the next request. One thread
per connection, keep-alive; one access line per request on stdout; exit 0 on SIGTERM.

Run as a standalone script (`python -I -S demo_webui.py`): standard library only (and demo_common.py
beside it).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # `python -I` leaves it out
from demo_common import HOSTNAME, Failure, connect, explain, say, serve_http, stop_on_signals

REDIS_HOST = os.environ.get("REDIS_HOST") or "redis"
REDIS_PORT = int(os.environ.get("REDIS_PORT") or 6379)

PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="2">
<title>coins web UI</title>
<style>
body {{ font-family: sans-serif; margin: 2em auto; width: 35em; }}
#hashes {{ font-size: 4em; margin: 0.3em 0; }}
</style>
</head>
<body>
<h1>coins web UI</h1>
<p>Hashes computed by the workers so far:</p>
<p id="hashes">{value}</p>
<p>{detail}</p>
</body>
</html>
"""


def read_counter() -> int:
    """The `hashes` counter (0 while it does not exist)."""
    with connect(REDIS_HOST, REDIS_PORT) as sock:
        sock.sendall(b"*2\r\n$3\r\nGET\r\n$6\r\nhashes\r\n")
        with sock.makefile("rb") as reader:
            line = reader.readline()
            value = reader.readline() if line.startswith(b"$") and line != b"$-1\r\n" else b""
    if line == b"$-1\r\n":
        return 0
    if line.startswith(b"$") and value.strip().lstrip(b"-").isdigit():
        return int(value)
    if line.startswith(b"-"):
        raise Failure(f"redis says {line[1:].decode('utf-8', 'replace').strip()}")
    raise Failure("not a number in hashes" if line else "connection closed without a reply")


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def handle(method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
    """(status, content type, body) for one request."""
    if path not in ("/", "/json"):
        return 404, "text/plain", b"try / or /json\n"
    if method not in ("GET", "HEAD"):
        return 405, "text/plain", b"only GET\n"
    try:
        hashes, problem = read_counter(), ""
    except Exception as exc:
        hashes, problem = None, f"redis unreachable: {explain(exc)}"
    if path == "/json":
        from json import dumps

        answer = {"hashes": hashes} if not problem else {"hashes": None, "error": problem}
        return (503 if problem else 200), "application/json", dumps(answer).encode() + b"\n"
    where = f"redis at {REDIS_HOST}:{REDIS_PORT}, read by {HOSTNAME}"
    if problem:
        page = PAGE.format(value="redis unreachable", detail=escape(f"{problem} ({where})"))
    else:
        page = PAGE.format(value=hashes, detail=escape(where))
    return 200, "text/html; charset=utf-8", page.encode()


def main() -> None:
    stop_on_signals("webui")
    port = int(os.environ.get("PORT") or 80)
    say(f"webui: serving on port {port}, counter from redis at {REDIS_HOST}:{REDIS_PORT}")
    serve_http(port, handle)


if __name__ == "__main__":
    main()
