"""The lab's `netpol/demo-worker` image: the worker of the coins demo app (examples/microservices).

It loops forever: GET $RNG_URL (default http://rng/32: 32 random bytes), POST them to
$HASHER_URL (default http://hasher/: their SHA-256), `INCR hashes` in Redis at
$REDIS_HOST:$REDIS_PORT (default redis:6379), sleep $WORKER_DELAY seconds (default 0.2),
and logs one line per round on stdout: the round's result, or which step failed and how
("hasher http://hasher/: connection refused").

It is meant to be cut off by network policies, so it never stops on a network error: refused
or reset connections, timeouts, names that do not resolve, bad answers all end the round, and
the next round tries again. Each step is bounded: name lookup, connect and each read get 2 s.
Every round opens new connections (nothing is kept alive), so a policy change shows at the
next round. Names are resolved with `socket.getaddrinfo`, that is by the C library through the
pod's /etc/resolv.conf, search domains included: `rng` is rng.<namespace>.svc.cluster.local.
Exit 0 on SIGTERM.

Run as a standalone script (`python -I -S demo_worker.py`): standard library only (and demo_common.py
beside it).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # `python -I` leaves it out
from demo_common import Failure, connect, explain, say, stop_on_signals

__all__ = ["Failure", "explain", "http", "redis", "split_url", "work"]


def split_url(url: str) -> tuple[str, int, str]:
    """http://host[:port][/path] → (host, port, /path)."""
    rest = url.split("://", 1)[-1]
    authority, _, path = rest.partition("/")
    host, _, port = authority.partition(":")
    return host, int(port or 80), "/" + path


def http(method: str, url: str, body: bytes = b"") -> bytes:
    """The body of a 200 answer to one HTTP/1.1 request (Connection: close)."""
    host, port, path = split_url(url)
    length = f"Content-Length: {len(body)}\r\n" if method == "POST" else ""
    with connect(host, port) as sock:
        sock.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: demo-worker\r\n{length}"
            "Connection: close\r\n\r\n".encode()
            + body
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, separator, payload = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split()
    if not separator or len(status) < 2 or not status[1].isdigit():
        raise Failure("not an HTTP answer" if data else "connection closed without an answer")
    if status[1] != "200":
        raise Failure(f"HTTP {' '.join(status[1:])}")
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length" and value.strip().isdigit():
            if len(payload) < int(value):
                raise Failure("answer cut short")
            payload = payload[: int(value)]
    return payload


def redis(host: str, port: int, *args: str) -> int:
    """An integer reply to one command."""
    request = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in args)
    with connect(host, port) as sock:
        sock.sendall(request)
        with sock.makefile("rb") as reader:
            line = reader.readline()
    if line.startswith(b":") and line.endswith(b"\r\n"):
        return int(line[1:-2])
    if line.startswith(b"-"):
        raise Failure(f"redis says {line[1:].decode('utf-8', 'replace').strip()}")
    raise Failure("not a Redis integer reply" if line else "connection closed without a reply")


def work(round_: int, rng_url: str, hasher_url: str, redis_host: str, redis_port: int) -> None:
    """One round; whatever happens is logged, nothing is raised."""
    started = time.monotonic()
    step = f"rng {rng_url}"
    try:
        data = http("GET", rng_url)
        step = f"hasher {hasher_url}"
        digest = http("POST", hasher_url, data).decode("latin-1")
        if len(digest) != 64:
            raise Failure(f"not a SHA-256 digest: {digest[:70]!r}")
        step = f"redis {redis_host}:{redis_port}"
        total = redis(redis_host, redis_port, "INCR", "hashes")
    except Exception as exc:
        say(f"round {round_}: {step}: {explain(exc)}")
        return
    elapsed = time.monotonic() - started
    say(f"round {round_}: {len(data)} bytes hashed to {digest[:16]}..., hashes={total} ({elapsed:.3f}s)")


def main() -> None:
    stop_on_signals("worker")
    env = os.environ
    rng_url = env.get("RNG_URL") or "http://rng/32"
    hasher_url = env.get("HASHER_URL") or "http://hasher/"
    redis_host = env.get("REDIS_HOST") or "redis"
    try:
        redis_port = int(env.get("REDIS_PORT") or 6379)
        delay = float(env.get("WORKER_DELAY") or 0.2)
    except ValueError as exc:
        sys.stderr.write(f"worker: bad REDIS_PORT or WORKER_DELAY: {exc}\n")
        sys.exit(2)
    say(f"worker: rng {rng_url}, hasher {hasher_url}, redis {redis_host}:{redis_port}, every {delay:g}s")
    round_ = 0
    while True:
        round_ += 1
        work(round_, rng_url, hasher_url, redis_host, redis_port)
        time.sleep(delay)


if __name__ == "__main__":
    main()
