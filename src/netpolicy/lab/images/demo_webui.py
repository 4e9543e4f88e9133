"""The lab's `netpol/demo-webui` image: the web UI of the coins demo app (examples/microservices).

HTTP/1.1 on port 80 (or $PORT): `GET /` is an HTML page titled "coins web UI" showing the
`hashes` counter read from Redis at $REDIS_HOST:$REDIS_PORT (default redis:6379), or
"redis unreachable" and why when Redis does not answer in 2 s (name lookup, connect and
reply, each); `GET /json` is `{"hashes": N}` (N is 0 before the worker's first round), or
status 503 and `{"hashes": null, "error": "redis unreachable: ..."}`. Every request reads
Redis afresh over a new connection, so a policy change shows at the next request. One thread
per connection, keep-alive; one access line per request on stdout; exit 0 on SIGTERM.

Run as a standalone script (`python -I -S demo_webui.py`): standard library only.
"""

import os
import signal
import socket
import sys
import threading
import time

TIMEOUT = 2.0
MAX_BODY = 1 << 20
HOSTNAME = os.environ.get("HOSTNAME") or socket.gethostname()
REDIS_HOST = os.environ.get("REDIS_HOST") or "redis"
REDIS_PORT = int(os.environ.get("REDIS_PORT") or 6379)
REASONS = {
    200: "OK", 404: "Not Found", 405: "Method Not Allowed", 411: "Length Required",
    413: "Content Too Large", 503: "Service Unavailable",
}  # fmt: skip
Address = tuple[socket.AddressFamily, tuple[object, ...]]  # family, socket address
_log_lock = threading.Lock()

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


class Failure(Exception):
    """Redis answered, but not as it should."""


def say(line: str) -> None:
    with _log_lock:
        sys.stdout.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {line}\n")
        sys.stdout.flush()


def explain(exc: BaseException) -> str:
    """What went wrong, in the words a network problem is usually described with."""
    if isinstance(exc, socket.gaierror):
        return f"DNS: {exc.strerror}"
    if isinstance(exc, TimeoutError):
        return str(exc) or "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    if isinstance(exc, Failure):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def resolve(host: str, port: int) -> list[Address]:
    """getaddrinfo, given up after TIMEOUT: the C resolver's own timeouts (5 s per server and
    search domain) would stall a page for half a minute when DNS is cut off."""
    try:
        socket.inet_pton(socket.AF_INET, host)
        return [(socket.AF_INET, (host, port))]
    except OSError:
        pass
    found: list[list[Address] | OSError] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            found.append([(i[0], i[4]) for i in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)])
        except OSError as exc:
            found.append(exc)
        done.set()

    threading.Thread(target=lookup, daemon=True).start()
    if not done.wait(TIMEOUT):
        raise TimeoutError(f"DNS: no answer for {host} in {TIMEOUT:g}s")
    if isinstance(found[0], OSError):
        raise found[0]
    return found[0]


def connect(host: str, port: int) -> socket.socket:
    """A TCP connection to the first address of `host` that accepts one."""
    problem: OSError = OSError(f"no address for {host}")
    for family, address in resolve(host, port):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT)
        try:
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            problem = exc
    raise problem


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


def serve(conn: socket.socket, peer: str) -> None:
    """HTTP/1.1 on one connection: requests with Content-Length bodies, keep-alive."""
    buffer = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = conn.recv(65536)
                if not chunk or len(buffer) > 65536:
                    return
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split()
            if len(parts) != 3:
                return
            method, target, version = parts
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            if length > MAX_BODY or "transfer-encoding" in headers:
                status = 413 if length > MAX_BODY else 411
                conn.sendall(f"HTTP/1.1 {status} {REASONS[status]}\r\nConnection: close\r\n\r\n".encode())
                say(f'{peer} "{lines[0]}" {status} 0')
                return
            while len(buffer) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            body, buffer = buffer[:length], buffer[length:]
            status, kind, payload = handle(method, target.split("?", 1)[0], body)
            if method == "HEAD":
                payload = b""
            keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
            conn.sendall(
                f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(payload)}\r\n"
                f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n".encode()
                + payload
            )
            say(f'{peer} "{lines[0]}" {status} {len(payload)}')
            if not keep_alive:
                return


def _serve_quietly(conn: socket.socket, peer: str) -> None:
    try:
        serve(conn, peer)
    except (OSError, ValueError):
        return  # the client went away, or sent nonsense


def stop(*_: object) -> None:
    os.write(1, b"webui: stopping\n")  # not sys.stdout: the signal may interrupt a write to it
    os._exit(0)


def main() -> None:
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    port = int(os.environ.get("PORT") or 80)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(128)
    say(f"webui: serving on port {port}, counter from redis at {REDIS_HOST}:{REDIS_PORT}")
    while True:
        conn, (host, peer_port) = listener.accept()
        threading.Thread(target=_serve_quietly, args=(conn, f"{host}:{peer_port}"), daemon=True).start()


if __name__ == "__main__":
    main()
