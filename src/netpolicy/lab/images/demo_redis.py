"""The lab's `netpol/demo-redis` image: the counter store of the coins demo app
(examples/microservices), a tiny in-memory Redis.

`redis-server [--port 6379] [--bind 0.0.0.0]` serves the RESP protocol as clients speak it
(arrays of bulk strings, pipelined) and inline commands, one per line, so that `nc` and
`telnet` work too. Commands: PING, ECHO, GET, SET (no options), INCR, INCRBY, DECR, DECRBY,
DEL, EXISTS, KEYS pattern, DBSIZE, FLUSHDB, FLUSHALL, SELECT 0, QUIT, plus COMMAND and CLIENT
answered emptily for client libraries' handshakes. Replies and error texts are Redis' own
(`-ERR value is not an integer or out of range`, `-ERR wrong number of arguments for 'get'
command`, ...); a malformed request gets `-ERR Protocol error: ...` and the connection is
closed, as Redis does. One thread per connection and one lock around the data, so commands
are atomic (INCR from many clients never loses a count). One line per command on stdout:
client, command and key (never values), reply.

`redis-cli [-h HOST] [-p PORT] [COMMAND ARG...]` is a client: it runs the command (or one
command per line of stdin) and prints the replies as redis-cli does when its output is not a
terminal (nil is an empty line, errors are `(error) ERR ...` and make the exit status 1);
"Could not connect to Redis at HOST:PORT: Connection refused" and exit 1 when it cannot
connect in 5 s.

Run as a standalone script (`python -I -S demo_redis.py [redis-server|redis-cli] ...`):
standard library only.
"""

import io
import os
import signal
import socket
import sys
import threading
import time

MAX_INLINE = 64 * 1024  # Redis' PROTO_INLINE_MAX_SIZE
MAX_BULK = 512 * 1024 * 1024  # proto-max-bulk-len
MAX_ARGS = 1024 * 1024
INT64 = (-(1 << 63), (1 << 63) - 1)

OK = b"+OK\r\n"
NOT_AN_INTEGER = b"-ERR value is not an integer or out of range\r\n"

# Arity as Redis declares it: N exactly N words (the command included), -N at least N.
ARITY = {
    "ping": -1, "echo": 2, "get": 2, "set": -3, "incr": 2, "incrby": 3, "decr": 2, "decrby": 3,
    "del": -2, "exists": -2, "keys": 2, "dbsize": 1, "flushdb": -1, "flushall": -1,
    "select": 2, "command": -1, "client": -2,
}  # fmt: skip


class ProtocolError(Exception):
    """The client sent bytes that are not a request; the connection is closed."""


# ------------------------------------------------------------------------------ the protocol


def _number(text: bytes, what: str) -> int:
    if not text.lstrip(b"-").isdigit():
        raise ProtocolError(f"invalid {what}")
    return int(text)


def parse(buffer: bytes) -> tuple[list[bytes] | None, int]:
    """The first request in `buffer` and how many bytes it takes, or (None, 0) while it is
    incomplete. A request starting with `*` is an array of bulk strings (`*2\\r\\n$3\\r\\nGET\\r\\n
    $1\\r\\nk\\r\\n`); anything else is an inline command, words up to the end of the line. An
    empty list is a request to skip (a blank line, `*0`)."""
    if not buffer:
        return None, 0
    if buffer[:1] != b"*":
        end = buffer.find(b"\n")
        if end < 0:
            if len(buffer) > MAX_INLINE:
                raise ProtocolError("too big inline request")
            return None, 0
        return buffer[:end].split(), end + 1
    end = buffer.find(b"\r\n")
    if end < 0:
        if len(buffer) > MAX_INLINE:
            raise ProtocolError("too big mbulk count string")
        return None, 0
    count = _number(buffer[1:end], "multibulk length")
    if count > MAX_ARGS:
        raise ProtocolError("invalid multibulk length")
    position = end + 2
    args = []
    for _ in range(count):
        end = buffer.find(b"\r\n", position)
        if end < 0:
            if len(buffer) - position > MAX_INLINE:
                raise ProtocolError("too big bulk count string")
            return None, 0
        if buffer[position : position + 1] != b"$":
            raise ProtocolError(f"expected '$', got '{buffer[position : position + 1].decode('latin-1')}'")
        size = _number(buffer[position + 1 : end], "bulk length")
        if not 0 <= size <= MAX_BULK:
            raise ProtocolError("invalid bulk length")
        start = end + 2
        if len(buffer) < start + size + 2:
            return None, 0
        if buffer[start + size : start + size + 2] != b"\r\n":
            raise ProtocolError("bulk string not followed by CRLF")
        args.append(buffer[start : start + size])
        position = start + size + 2
    return args, position


def bulk(value: bytes | None) -> bytes:
    return b"$-1\r\n" if value is None else b"$%d\r\n%s\r\n" % (len(value), value)


def integer(value: int) -> bytes:
    return b":%d\r\n" % value


def error(text: str) -> bytes:
    return b"-" + text.encode("utf-8", "replace") + b"\r\n"


def command(*args: bytes) -> bytes:
    """A request as clients send it: an array of bulk strings."""
    return b"*%d\r\n" % len(args) + b"".join(bulk(arg) for arg in args)


def _strict_int(text: bytes) -> int | None:
    digits = text[1:] if text[:1] == b"-" else text
    if not digits.isdigit() or len(digits) > 19:
        return None
    value = int(text)
    return value if INT64[0] <= value <= INT64[1] else None


# ------------------------------------------------------------------------------ the data


class Store:
    """The keyspace (strings only); `execute` runs one command atomically."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.lock = threading.Lock()

    def execute(self, args: list[bytes]) -> bytes:
        """The reply to one command (`args[0]` is its name, in any case)."""
        name = args[0].decode("latin-1").lower()
        arity = ARITY.get(name)
        if arity is None:
            shown = " ".join(f"'{arg.decode('latin-1')}'" for arg in args[1:])
            return error(
                f"ERR unknown command '{args[0].decode('latin-1')}', with args beginning with: {shown}"
            )
        if (arity > 0 and len(args) != arity) or len(args) < abs(arity):
            return error(f"ERR wrong number of arguments for '{name}' command")
        with self.lock:
            return self._run(name, args[1:])

    def _run(self, name: str, args: list[bytes]) -> bytes:
        data = self.data
        if name == "ping":
            if len(args) > 1:
                return error("ERR wrong number of arguments for 'ping' command")
            return bulk(args[0]) if args else b"+PONG\r\n"
        if name == "echo":
            return bulk(args[0])
        if name == "get":
            return bulk(data.get(args[0]))
        if name == "set":
            if len(args) != 2:
                return error("ERR syntax error")
            data[args[0]] = args[1]
            return OK
        if name in ("incr", "decr", "incrby", "decrby"):
            delta = _strict_int(args[1]) if len(args) > 1 else 1
            if delta is None:
                return NOT_AN_INTEGER
            return self._add(args[0], -delta if name.startswith("decr") else delta)
        if name == "del":
            return integer(sum(data.pop(key, None) is not None for key in set(args)))
        if name == "exists":
            return integer(sum(key in data for key in args))
        if name == "keys":
            keys = sorted(data)
            if args[0] != b"*":
                from fnmatch import fnmatchcase

                pattern = args[0].decode("latin-1")
                keys = [key for key in keys if fnmatchcase(key.decode("latin-1"), pattern)]
            return b"*%d\r\n" % len(keys) + b"".join(bulk(key) for key in keys)
        if name == "dbsize":
            return integer(len(data))
        if name in ("flushdb", "flushall"):
            data.clear()
            return OK
        if name == "select":
            return OK if args[0] == b"0" else error("ERR DB index is out of range")
        if name == "command":
            return b"*0\r\n"
        return OK  # client: SETNAME, SETINFO, ... accepted and forgotten

    def _add(self, key: bytes, delta: int) -> bytes:
        current = _strict_int(self.data.get(key, b"0"))
        if current is None:
            return NOT_AN_INTEGER
        value = current + delta
        if not INT64[0] <= value <= INT64[1]:
            return error("ERR increment or decrement would overflow")
        self.data[key] = b"%d" % value
        return integer(value)


# ------------------------------------------------------------------------------ the server

_log_lock = threading.Lock()


def say(line: str) -> None:
    with _log_lock:
        sys.stdout.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {line}\n")
        sys.stdout.flush()


def describe(args: list[bytes], reply: bytes) -> str:
    """A log line's middle: the command and its key, never values; the reply's first line."""
    shown = args[0].decode("latin-1").upper()
    if len(args) > 1 and shown not in ("PING", "ECHO", "CLIENT"):
        shown += " " + args[1][:64].decode("latin-1")
    first = reply.split(b"\r\n", 1)[0]
    return f"{shown} {first[:80].decode('latin-1')}"


def serve(conn: socket.socket, peer: str, store: Store) -> None:
    """Read requests as they come (pipelined or not), answer each batch in one send."""
    buffer = b""
    with conn:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return
            buffer += chunk
            replies: list[bytes] = []
            while True:
                try:
                    args, used = parse(buffer)
                except ProtocolError as exc:
                    conn.sendall(b"".join(replies) + error(f"ERR Protocol error: {exc}"))
                    say(f"{peer} protocol error: {exc}")
                    return
                if args is None:
                    break
                buffer = buffer[used:]
                if not args:
                    continue
                if args[0].lower() == b"quit":
                    conn.sendall(b"".join(replies) + OK)
                    return
                reply = store.execute(args)
                replies.append(reply)
                say(f"{peer} {describe(args, reply)}")
            if replies:
                conn.sendall(b"".join(replies))


def _serve_quietly(conn: socket.socket, peer: str, store: Store) -> None:
    try:
        serve(conn, peer, store)
    except OSError:
        return  # the client went away


def stop(*_: object) -> None:
    os.write(1, b"Received SIGTERM scheduling shutdown...\n")  # not sys.stdout: reentrancy
    os._exit(0)


def server(argv: list[str]) -> None:
    options = {"port": "6379", "bind": "0.0.0.0"}
    while argv:
        flag = argv.pop(0)
        if not flag.startswith("--") or flag[2:] not in options or not argv:
            sys.stderr.write(f"redis-server: unsupported argument {flag!r} (--port N, --bind ADDR)\n")
            sys.exit(1)
        options[flag[2:]] = argv.pop(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((options["bind"], int(options["port"])))
    listener.listen(511)
    store = Store()
    say(f"Ready to accept connections tcp on {options['bind']}:{listener.getsockname()[1]}")
    while True:
        conn, (host, port) = listener.accept()
        threading.Thread(target=_serve_quietly, args=(conn, f"{host}:{port}", store), daemon=True).start()


# ------------------------------------------------------------------------------ the client


class ReplyError(str):
    """An error reply (`-ERR ...`)."""


Reply = str | int | bytes | list["Reply"] | None


def read_reply(reader: io.BufferedIOBase) -> Reply:
    """One reply from a binary file on the connection."""
    line = reader.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("the server closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode("utf-8", "replace")
    if kind == b"-":
        return ReplyError(rest.decode("utf-8", "replace"))
    if kind == b":":
        return int(rest)
    if kind in (b"$", b"*") and int(rest) < 0:
        return None
    if kind == b"$":
        return reader.read(int(rest) + 2)[:-2]
    if kind == b"*":
        return [read_reply(reader) for _ in range(int(rest))]
    raise ConnectionError(f"not a RESP reply: {line[:40]!r}")


def show(reply: Reply) -> str:
    """A reply as redis-cli prints it when its output is not a terminal."""
    if isinstance(reply, ReplyError):
        return f"(error) {reply}"
    if reply is None:
        return ""
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace")
    if isinstance(reply, list):
        return "\n".join(show(item) for item in reply)
    return str(reply)


def cli(argv: list[str]) -> None:
    host, port = "127.0.0.1", 6379
    while argv[:1] in (["-h"], ["-p"]) and len(argv) > 1:
        flag, value = argv.pop(0), argv.pop(0)
        if flag == "-h":
            host = value
        else:
            port = int(value)
    try:
        sock = socket.create_connection((host, port), timeout=5)
    except OSError as exc:
        reason = "Connection timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        sys.stderr.write(f"Could not connect to Redis at {host}:{port}: {reason}\n")
        sys.exit(1)
    requests = [argv] if argv else [line.split() for line in sys.stdin if line.split()]
    failed = False
    with sock, sock.makefile("rb") as reader:
        for words in requests:
            sock.sendall(command(*(word.encode() for word in words)))
            reply = read_reply(reader)
            failed = failed or isinstance(reply, ReplyError)
            sys.stdout.write(show(reply) + "\n")
    sys.exit(1 if failed else 0)


def main(argv: list[str]) -> None:
    if argv[:1] == ["redis-cli"]:
        cli(argv[1:])
    else:
        server(argv[1:] if argv[:1] == ["redis-server"] else argv)


if __name__ == "__main__":
    main(sys.argv[1:])
