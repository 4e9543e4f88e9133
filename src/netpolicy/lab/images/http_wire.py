"""Reading HTTP/1.1 requests off a connection: what the image servers (nginx.py, agnhost.py
and the demo's demo_common.py) share; each builds its own answers and logs.

Standard library only, nothing imported: the images run as standalone scripts
(`python -I -S`) and import this module by its file name.
"""

import socket

Head = tuple[str, str, str, str, dict[str, str]]
"""The request line (as logged), method, target, version, and the headers (lower-case
names)."""


def read_head(conn: socket.socket, buffer: bytes,
              limit: int | None = None) -> tuple[Head, bytes] | None:
    """The next request's head, and what `buffer` and the connection hold after it. None
    when the client closed, sent a head longer than `limit`, or no valid request line."""
    while b"\r\n\r\n" not in buffer:
        chunk = conn.recv(65536)
        if not chunk or (limit is not None and len(buffer) > limit):
            return None
        buffer += chunk
    head, _, buffer = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split()
    if len(parts) != 3:
        return None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    method, target, version = parts
    return (lines[0], method, target, version, headers), buffer


def read_body(conn: socket.socket, buffer: bytes, length: int) -> tuple[bytes, bytes] | None:
    """`length` bytes of body, and what follows them; None when the client closed first."""
    while len(buffer) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    return buffer[:length], buffer[length:]


def read_request(conn: socket.socket, buffer: bytes) -> tuple[Head, bytes, bytes] | None:
    """The next request's head and Content-Length body, and what follows them; None when
    the client closed or sent no valid request."""
    read = read_head(conn, buffer)
    if read is None:
        return None
    head, buffer = read
    got = read_body(conn, buffer, int(head[4].get("content-length", "0") or 0))
    if got is None:
        return None
    return head, got[0], got[1]
