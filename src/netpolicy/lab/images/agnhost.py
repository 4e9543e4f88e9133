"""The lab's `agnhost` (registry.k8s.io/e2e-test-images/agnhost): the subcommands that network
tests use, with the upstream flags and outputs.

- `serve-hostname [--tcp] [--udp] [--http=BOOL] [--close] [--port=9376]`: answer every HTTP
  request, TCP connection (then close) or UDP datagram with the pod's hostname.
- `netexec [--http-port=8080] [--udp-port=8081]`: HTTP `/hostname`, `/echo?msg=`,
  `/clientip`, `/header?key=`, `/shell?cmd=`, `/dial?request=&host=&port=&protocol=&tries=`,
  `/exit?code=`, `/healthz`, `/` (the time); UDP commands `hostname`, `echo MSG`, `clientip`.
- `porter`: for each environment variable SERVE_PORT_<N>=<text>, HTTP on port N answering text.
- `connect HOST:PORT [--timeout=1s] [--protocol=tcp|udp] [--udp-data=hostname]`: exit 0 when
  it connects, else 1 with TIMEOUT / REFUSED / DNS / OTHER / UNKNOWN on stderr (the netpol e2e
  probe).
- `pause`, `dns-suffix`, `dns-server-list`, `etc-hosts`.

Run as a standalone script (`python -I -S agnhost.py ...`): standard library only (and
http_wire.py beside it); the modules
a subcommand needs are imported when it runs, so starting stays cheap.
"""

import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # `python -I` leaves it out
from http_wire import read_request

HOSTNAME = os.environ.get("HOSTNAME") or socket.gethostname()
Handler = Callable[[str, str, dict[str, str], dict[str, str], str], tuple[int, str, bytes]]


def log(message: str) -> None:
    sys.stdout.write(f"I{time.strftime('%m%d %H:%M:%S', time.gmtime())} {os.getpid()} {message}\n")
    sys.stdout.flush()


def fail(message: str, code: int = 1) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
    os._exit(code)


def parse_flags(
    argv: list[str], defaults: dict[str, str], booleans: frozenset[str] = frozenset()
) -> tuple[dict[str, str], list[str]]:
    """Go's flag syntax: -x, --x, --x=v, --x v (not for booleans)."""
    flags = dict(defaults)
    positional = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        if name not in flags:
            fail(f"Error: unknown flag: {arg}")
        if not eq:
            if name in booleans:
                value = "true"
            elif i < len(argv):
                value = argv[i]
                i += 1
            else:
                fail(f"Error: flag needs an argument: {arg}")
        flags[name] = value
    return flags, positional


def truthy(value: str) -> bool:
    return value.lower() in ("1", "t", "true")


def parse_duration(text: str) -> float:
    """Go durations: "1s", "500ms", "1m30s", "0"."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    total, number = 0.0, ""
    i = 0
    while i < len(text):
        c = text[i]
        if c.isdigit() or c == ".":
            number += c
            i += 1
            continue
        unit = next((u for u in ("ns", "us", "µs", "ms", "s", "m", "h") if text.startswith(u, i)), "")
        if not unit or not number:
            fail(f"UNKNOWN: invalid duration {text!r}")
        total += float(number) * units[unit]
        number = ""
        i += len(unit)
    if number and float(number) != 0:
        fail(f"UNKNOWN: missing unit in duration {text!r}")
    return total


# ------------------------------------------------------------------------------ servers


def spawn(target: Callable[..., None], *args: object) -> None:
    threading.Thread(target=target, args=args, daemon=True).start()


def tcp_listener(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", port))
    sock.listen(128)
    return sock


def udp_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", port))
    return sock


def serve_http(listener: socket.socket, handler: Handler) -> None:
    """A threaded HTTP/1.1 server on a bound listener (bound by the caller, so that a port in
    use ends the program); `handler(method, path, query, headers, peer)` returns
    (status, content type, body)."""
    log(f"Started HTTP server on port {listener.getsockname()[1]}")
    while True:
        conn, (host, peer_port) = listener.accept()
        spawn(http_connection, conn, f"{host}:{peer_port}", handler)


def http_connection(conn: socket.socket, peer: str, handler: Handler) -> None:
    from urllib.parse import parse_qsl, urlsplit

    buffer = b""
    try:
        with conn:
            while True:
                got = read_request(conn, buffer)
                if got is None:
                    return
                (_, method, target, version, headers), _, buffer = got
                url = urlsplit(target)
                query = dict(parse_qsl(url.query, keep_blank_values=True))
                status, kind, body = handler(method, url.path, query, headers, peer)
                close = headers.get("connection", "").lower() == "close" or version != "HTTP/1.1"
                conn.sendall(
                    (
                        f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\n"
                        f"Content-Type: {kind}\r\n"
                        f"Content-Length: {len(body)}\r\n"
                        f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime())}\r\n"
                        f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
                    ).encode()
                    + (body if method != "HEAD" else b"")
                )
                if close:
                    return
    except OSError:
        pass


REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found", 412: "Failed"}
TEXT = "text/plain; charset=utf-8"


# -------------------------------------------------------------------------- subcommands


def pause(_: list[str]) -> None:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    log("Paused")
    while True:
        signal.pause()


def serve_hostname(argv: list[str]) -> None:
    flags, _ = parse_flags(
        argv,
        {
            "tcp": "false",
            "udp": "false",
            "sctp": "false",
            "http": "true",
            "close": "false",
            "port": "9376",
        },
        frozenset({"tcp", "udp", "sctp", "http", "close"}),
    )
    port = int(flags["port"])
    if truthy(flags["sctp"]):
        fail("sctp is not supported in the lab (the kernel has no SCTP sockets)")
    if truthy(flags["tcp"]) and truthy(flags["http"]):
        fail("Can't set both --tcp and --http")
    log(f"Serving on port {port}.")
    answer = HOSTNAME.encode()
    if truthy(flags["udp"]):
        spawn(udp_hostname, udp_socket(port), answer)
    if truthy(flags["tcp"]):
        spawn(tcp_hostname, tcp_listener(port), answer)
    if truthy(flags["http"]):

        def handler(
            method: str, path: str, query: dict[str, str], headers: dict[str, str], peer: str
        ) -> tuple[int, str, bytes]:
            return 200, TEXT, answer

        spawn(serve_http, tcp_listener(port), handler)
    pause([])


def udp_hostname(sock: socket.socket, answer: bytes) -> None:
    while True:
        _, peer = sock.recvfrom(65536)
        sock.sendto(answer, peer)


def tcp_hostname(listener: socket.socket, answer: bytes) -> None:
    while True:
        conn, _ = listener.accept()
        with conn:
            try:
                conn.sendall(answer)
            except OSError:
                continue  # the client went away


def netexec(argv: list[str]) -> None:
    flags, _ = parse_flags(
        argv,
        {
            "http-port": "8080",
            "udp-port": "8081",
            "sctp-port": "-1",
            "delay-shutdown": "0",
            "http-override": "",
            "udp-listen-addresses": "",
            "tls-cert-file": "",
            "tls-private-key-file": "",
        },
    )
    http_port, udp_port = int(flags["http-port"]), int(flags["udp-port"])
    if udp_port > 0:
        spawn(udp_commands, udp_socket(udp_port))
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    serve_http(tcp_listener(http_port), netexec_http)


def udp_commands(sock: socket.socket) -> None:
    log(f"Started UDP server on port {sock.getsockname()[1]}")
    while True:
        data, peer = sock.recvfrom(65536)
        command = data.decode(errors="replace").strip()
        verb, _, rest = command.partition(" ")
        if verb == "hostname":
            reply = HOSTNAME
        elif verb == "echo":
            reply = rest
        elif verb == "clientip":
            reply = f"{peer[0]}:{peer[1]}"
        else:
            reply = f"unknown command {command!r}"
        sock.sendto(reply.encode(), peer)


def netexec_http(
    method: str, path: str, query: dict[str, str], headers: dict[str, str], peer: str
) -> tuple[int, str, bytes]:
    import json

    if path == "/":
        return 200, TEXT, f"NOW: {time.strftime('%Y-%m-%d %H:%M:%S')}".encode()
    if path == "/hostname":
        return 200, TEXT, HOSTNAME.encode()
    if path == "/echo":
        return 200, TEXT, query.get("msg", "").encode()
    if path == "/clientip":
        return 200, TEXT, peer.encode()
    if path == "/header":
        return 200, TEXT, headers.get(query.get("key", "").lower(), "").encode()
    if path == "/healthz":
        return 200, TEXT, b"ok"
    if path == "/exit":
        code = int(query.get("code", "0") or 0)
        threading.Timer(0.05, lambda: os._exit(code)).start()
        return 204, TEXT, b""
    if path == "/shell":
        import subprocess

        done = subprocess.run(
            ["/bin/sh", "-c", query.get("cmd", "")], capture_output=True, text=True, check=False
        )
        output: dict[str, str] = {"output": done.stdout + done.stderr}
        if done.returncode:
            output["error"] = f"exit status {done.returncode}"
        return 200, "application/json", json.dumps(output).encode()
    if path == "/dial":
        return dial(query)
    return 404, TEXT, b"404 page not found\n"


def dial(query: dict[str, str]) -> tuple[int, str, bytes]:
    import json

    request, host, protocol = query.get("request", ""), query.get("host", ""), query.get("protocol")
    port, tries = int(query.get("port", "0") or 0), int(query.get("tries", "1") or 1)
    responses: list[str] = []
    errors: list[str] = []
    for _ in range(tries):
        try:
            if protocol == "udp":
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    sock.settimeout(5)
                    sock.sendto(request.encode(), (host, port))
                    responses.append(sock.recv(65536).decode(errors="replace"))
            elif protocol in ("http", None):
                from urllib.request import urlopen

                path = request if request.startswith("/") else f"/{request}"
                with urlopen(f"http://{host}:{port}{path}", timeout=5) as reply:
                    responses.append(reply.read().decode(errors="replace"))
            else:
                errors.append(f"unsupported protocol {protocol}")
        except OSError as exc:
            errors.append(str(exc))
    body = {"responses": responses} if responses else {"errors": errors}
    return 200, "application/json", json.dumps(body).encode()


def porter(_: list[str]) -> None:
    ports = {
        int(key.removeprefix("SERVE_PORT_")): value
        for key, value in os.environ.items()
        if key.startswith("SERVE_PORT_")
    }
    if not ports:
        fail("porter: no SERVE_PORT_<N> environment variables")
    for port, text in sorted(ports.items()):

        def handler(
            method: str,
            path: str,
            query: dict[str, str],
            headers: dict[str, str],
            peer: str,
            text: str = text,
        ) -> tuple[int, str, bytes]:
            return 200, TEXT, text.encode()

        spawn(serve_http, tcp_listener(port), handler)
    pause([])


def connect(argv: list[str]) -> None:
    flags, positional = parse_flags(argv, {"timeout": "0", "protocol": "tcp", "udp-data": "hostname"})
    if len(positional) != 1:
        fail("UNKNOWN: connect takes exactly one HOST:PORT argument")
    host, sep, port_text = positional[0].rpartition(":")
    if not sep or not port_text.isdigit():
        fail(f"UNKNOWN: address {positional[0]}: missing port in address")
    timeout = parse_duration(flags["timeout"]) or None
    try:
        address = socket.getaddrinfo(host.strip("[]"), int(port_text))[0][4]
    except OSError as exc:
        fail(f"DNS: lookup {host}: {exc}")
    protocol = flags["protocol"]
    if protocol in ("", "tcp"):
        try:
            socket.create_connection((str(address[0]), int(address[1])), timeout=timeout).close()
        except TimeoutError:
            fail("TIMEOUT")
        except ConnectionRefusedError:
            fail("REFUSED")
        except OSError as exc:
            fail(f"OTHER: dial tcp {positional[0]}: {exc}")
        os._exit(0)
    if protocol == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect(address[:2])
                sock.send(f"{flags['udp-data']}\n".encode())
                if not sock.recv(1024):
                    fail("OTHER: No data received from the server.")
            except TimeoutError as exc:
                fail(f"TIMEOUT: read udp {positional[0]}: {exc}")
            except ConnectionRefusedError as exc:
                fail(f"REFUSED: read udp {positional[0]}: {exc}")
            except OSError as exc:
                fail(f"UNKNOWN: {exc}")
        os._exit(0)
    if protocol == "sctp":
        fail("OTHER: sctp is not supported in the lab (the kernel has no SCTP sockets)")
    fail(f"Unsupported protocol {protocol}")


def read_file(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def resolv_conf(key: str) -> None:
    with open("/etc/resolv.conf") as fh:
        for line in fh:
            words = line.split()
            if words and words[0] == key:
                print("\n".join(words[1:]) if key == "nameserver" else ",".join(words[1:]))
                return


COMMANDS: dict[str, Callable[[list[str]], None]] = {
    "pause": pause,
    "serve-hostname": serve_hostname,
    "netexec": netexec,
    "porter": porter,
    "connect": connect,
    "dns-suffix": lambda _: resolv_conf("search"),
    "dns-server-list": lambda _: resolv_conf("nameserver"),
    "etc-hosts": lambda _: print(read_file("/etc/hosts"), end=""),
}


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print("Usage:\n  agnhost [command]\n\nAvailable Commands:\n  " + "\n  ".join(COMMANDS))
        return
    command = COMMANDS.get(argv[0])
    if command is None:
        fail(f'Error: unknown command "{argv[0]}" for "agnhost"')
    else:
        command(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
