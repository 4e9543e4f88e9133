"""What the coins demo images (demo_rng, demo_hasher, demo_webui, demo_worker) share: a
timestamped log line, a small threaded HTTP/1.1 server, and a TCP client whose every step
is bounded and whose failures read like network problems.

The images run as standalone scripts (`python -I -S`, standard library only, for a fast
start), so they import this module by its file name: see `import_path` in each of them.
"""

import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable

from http_wire import read_body, read_head  # by file name: the images put its folder on sys.path

TIMEOUT = 2.0  # seconds for a name lookup, a connect and each read
MAX_BODY = 1 << 20
MAX_HEAD = 65536
HOSTNAME = os.environ.get("HOSTNAME") or socket.gethostname()
REASONS = {
    200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
    411: "Length Required", 413: "Content Too Large", 503: "Service Unavailable",
}  # fmt: skip
Address = tuple[socket.AddressFamily, tuple[object, ...]]  # family, socket address
Handler = Callable[[str, str, bytes], tuple[int, str, bytes]]  # method, path, body -> answer
_log_lock = threading.Lock()


class Failure(Exception):
    """A service answered, but not as it should."""


def say(line: str) -> None:
    """One timestamped line on stdout; a full disk or a closed pipe does not stop the work."""
    with _log_lock:
        try:
            sys.stdout.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {line}\n")
            sys.stdout.flush()
        except OSError:
            pass


def stop_on_signals(name: str) -> None:
    """Exit 0 on SIGTERM and SIGINT, saying so."""

    def stop(*_: object) -> None:
        os.write(1, f"{name}: stopping\n".encode())  # not sys.stdout: it may be mid-write
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


# --- server -------------------------------------------------------------------------------


def serve_http(port: int, handle: Handler) -> None:
    """Serve forever on 0.0.0.0:`port`, one thread per connection."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(128)
    while True:
        conn, (host, peer_port) = listener.accept()
        threading.Thread(target=_serve_quietly, args=(conn, f"{host}:{peer_port}", handle),
                         daemon=True).start()


def _serve_quietly(conn: socket.socket, peer: str, handle: Handler) -> None:
    try:
        serve_connection(conn, peer, handle)
    except (OSError, ValueError):
        return  # the client went away, or sent nonsense


def serve_connection(conn: socket.socket, peer: str, handle: Handler) -> None:
    """HTTP/1.1 on one connection: requests with Content-Length bodies, keep-alive; one
    access line per request."""
    buffer = b""
    with conn:
        while True:
            read = read_head(conn, buffer, MAX_HEAD)
            if read is None:
                return
            (request_line, method, target, version, headers), buffer = read
            length = int(headers.get("content-length", "0") or 0)
            if length > MAX_BODY or "transfer-encoding" in headers:
                status = 413 if length > MAX_BODY else 411
                conn.sendall(f"HTTP/1.1 {status} {REASONS[status]}\r\n"
                             "Connection: close\r\n\r\n".encode())
                say(f'{peer} "{request_line}" {status} 0')
                return
            got = read_body(conn, buffer, length)
            if got is None:
                return
            body, buffer = got
            status, kind, payload = handle(method, target.split("?", 1)[0], body)
            if method == "HEAD":
                payload = b""
            keep_alive = (version == "HTTP/1.1"
                          and headers.get("connection", "").lower() != "close")
            conn.sendall(
                f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(payload)}\r\n"
                f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n".encode()
                + payload
            )
            say(f'{peer} "{request_line}" {status} {len(payload)}')
            if not keep_alive:
                return


# --- client -------------------------------------------------------------------------------


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
    search domain) would stall for half a minute when DNS is cut off."""
    try:
        socket.inet_pton(socket.AF_INET, host)
        return [(socket.AF_INET, (host, port))]
    except OSError:
        pass
    found: list[list[Address] | OSError] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            found.append([(i[0], i[4])
                          for i in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)])
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
