"""The lab's `netpol/demo-hasher` image: the hashing service of the coins demo app
(examples/microservices).

HTTP/1.1 on port 80 (or $PORT): `POST /` with a body (Content-Length, at most 1 MiB) answers
the body's SHA-256 as 64 hex digits (text/plain, no newline); `GET /` a line of text naming
the pod. One thread per connection, keep-alive; one access line per request on stdout; exit 0
on SIGTERM.

Run as a standalone script (`python -I -S demo_hasher.py`): standard library only, few imports.
"""

import hashlib
import os
import signal
import socket
import sys
import threading
import time

MAX_BODY = 1 << 20
HOSTNAME = os.environ.get("HOSTNAME") or socket.gethostname()
REASONS = {
    200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
    411: "Length Required", 413: "Content Too Large",
}  # fmt: skip
_log_lock = threading.Lock()


def say(line: str) -> None:
    with _log_lock:
        sys.stdout.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {line}\n")
        sys.stdout.flush()


def handle(method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
    """(status, content type, body) for one request."""
    if path != "/":
        return 404, "text/plain", b"try POST /\n"
    if method == "POST":
        return 200, "text/plain", hashlib.sha256(body).hexdigest().encode()
    if method in ("GET", "HEAD"):
        return 200, "text/plain", f"HASHER running on {HOSTNAME}\n".encode()
    return 405, "text/plain", b"POST a body to hash it\n"


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
    os.write(1, b"hasher: stopping\n")  # not sys.stdout: the signal may interrupt a write to it
    os._exit(0)


def main() -> None:
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    port = int(os.environ.get("PORT") or 80)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(128)
    say(f"hasher: serving SHA-256 on port {port}")
    while True:
        conn, (host, peer_port) = listener.accept()
        threading.Thread(target=_serve_quietly, args=(conn, f"{host}:{peer_port}"), daemon=True).start()


if __name__ == "__main__":
    main()
