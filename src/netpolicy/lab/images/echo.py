"""The lab's `netpol/echo` image: echo servers on the container's declared ports.

Arguments are `tcp:PORT` and `udp:PORT` (the runtime passes one per declared container port;
a port declared for TCP and for UDP gets both). TCP connections get back every byte they send
until they close; UDP datagrams are sent back as they came. One line per connection or
datagram on stdout. Standard library only, started as `python -I -S echo.py tcp:80 udp:53`.
"""

import os
import signal
import socket
import sys
import threading


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def tcp_echo(conn: socket.socket, peer: str, port: int) -> None:
    say(f"tcp {port} connection from {peer}")
    try:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)
    except OSError:
        pass


def bind(protocol: str, port: int) -> socket.socket:
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", port))
    if protocol == "tcp":
        sock.listen(128)
    return sock


def serve_tcp(listener: socket.socket, port: int) -> None:
    while True:
        conn, (host, peer_port) = listener.accept()
        threading.Thread(target=tcp_echo, args=(conn, f"{host}:{peer_port}", port), daemon=True).start()


def serve_udp(sock: socket.socket, port: int) -> None:
    while True:
        data, peer = sock.recvfrom(65536)
        say(f"udp {port} datagram from {peer[0]}:{peer[1]}")
        sock.sendto(data, peer)


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    servers = []
    for arg in argv:
        protocol, _, number = arg.partition(":")
        if protocol not in ("tcp", "udp") or not number.isdigit():
            sys.stderr.write(f"echo: {arg!r}: expected tcp:PORT or udp:PORT\n")
            sys.exit(2)
        servers.append((protocol, int(number), bind(protocol, int(number))))
    if not servers:
        sys.stderr.write("echo: no ports to serve (declare containerPorts in the pod spec)\n")
        sys.exit(2)
    for protocol, port, sock in servers:
        serve = serve_tcp if protocol == "tcp" else serve_udp
        threading.Thread(target=serve, args=(sock, port), daemon=True).start()
        say(f"echo: serving {protocol} on port {port}")
    while True:
        signal.pause()


if __name__ == "__main__":
    main(sys.argv[1:])
