"""The lab's `nginx` image: an HTTP/1.1 server on port 80 that answers every GET with nginx's
welcome page.

Run as a standalone script (`python -I -S nginx.py`): standard library only (and
http_wire.py beside it), and as few imports as possible, because fifty of them must start
in well under a second of CPU. One thread per connection, keep-alive, HEAD, `405 Not
Allowed` for other methods; access lines on stdout in the docker image's `main` log format,
notices on stderr, exit 0 on SIGTERM (nginx's fast shutdown).
"""

import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # `python -I` leaves it out
from http_wire import read_request

PORT = 80
SERVER = "nginx"

WELCOME = b"""<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""

NOT_ALLOWED = (
    b"<html>\r\n<head><title>405 Not Allowed</title></head>\r\n<body>\r\n"
    b"<center><h1>405 Not Allowed</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_STARTED = time.time()
_log_lock = threading.Lock()


def http_date(when: float) -> str:
    t = time.gmtime(when)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


def log_time(when: float) -> str:
    t = time.gmtime(when)
    return (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


def respond(method: str, keep_alive: bool) -> tuple[int, bytes]:
    """The response bytes for one request, and its status."""
    if method in ("GET", "HEAD"):
        status, reason, body, kind = 200, "OK", WELCOME, "text/html"
        extra = (
            f"Last-Modified: {http_date(_STARTED)}\r\n"
            f'ETag: "{int(_STARTED):x}-{len(WELCOME):x}"\r\n'
            "Accept-Ranges: bytes\r\n"
        )
    else:
        status, reason, body, kind, extra = 405, "Not Allowed", NOT_ALLOWED, "text/html", ""
        keep_alive = False
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        f"Server: {SERVER}\r\n"
        f"Date: {http_date(time.time())}\r\n"
        f"Content-Type: {kind}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"{extra}"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    ).encode()
    return status, head + (body if method != "HEAD" else b"")


def serve(conn: socket.socket, peer: str) -> None:
    buffer = b""
    with conn:
        while True:
            got = read_request(conn, buffer)
            if got is None:
                return
            (request_line, method, _, version, headers), _, buffer = got
            connection = headers.get("connection", "").lower()
            keep_alive = connection != "close" and (version == "HTTP/1.1" or connection == "keep-alive")
            status, response = respond(method, keep_alive)
            conn.sendall(response)
            sent = len(WELCOME if status == 200 else NOT_ALLOWED) if method != "HEAD" else 0
            agent = headers.get("user-agent", "-")
            referer = headers.get("referer", "-")
            with _log_lock:
                sys.stdout.write(
                    f'{peer} - - [{log_time(time.time())}] "{request_line}" {status} {sent} '
                    f'"{referer}" "{agent}" "-"\n'
                )
                sys.stdout.flush()
            if status != 200 or not keep_alive:
                return


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", PORT))
    listener.listen(511)
    sys.stderr.write(
        "/docker-entrypoint.sh: Configuration complete; ready for start up\n"
        f"{time.strftime('%Y/%m/%d %H:%M:%S', time.gmtime())} [notice] 1#1: "
        "start worker processes\n"
    )
    sys.stderr.flush()
    while True:
        conn, (host, _) = listener.accept()
        threading.Thread(target=_serve_quietly, args=(conn, host), daemon=True).start()


def _serve_quietly(conn: socket.socket, peer: str) -> None:
    try:
        serve(conn, peer)
    except OSError:
        return  # the client went away


if __name__ == "__main__":
    main()
