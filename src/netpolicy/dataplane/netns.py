"""Network namespaces and the netlink plumbing inside them.

Design
------
Linux keeps the network namespace per *thread*: `setns(fd, CLONE_NEWNET)` and
`unshare(CLONE_NEWNET)` move only the calling thread. So every operation that must happen
"inside" a namespace runs in a short-lived helper thread (`run_in`) that enters the
namespace, does its work and ends; the caller's threads, and the asyncio loop, never move.
What the helper makes there stays there: a socket belongs for life to the namespace it was
created in, so `socket_in` hands a socket opened in a pod's namespace back to the main
thread, where asyncio drives it like any other (`open_connection_in`, the DNS server).

Named namespaces follow iproute2's convention, so `ip netns list` shows them and
`ip netns exec NAME ...` runs in them: the namespace is bind-mounted on /run/netns/NAME, and
/run/netns itself is a shared mount (so mounts made later propagate into the private mount
namespaces that `ip netns exec` creates). Creating one is `unshare` in a helper thread plus
that bind mount — no fork, a few milliseconds.

Links, addresses and routes go through pyroute2's synchronous `IPRoute`, created inside the
helper thread: the netlink socket then lives in the target namespace, and the thread has no
running event loop, so pyroute2's internal loop never meets the caller's. `Netlink` wraps the
few calls we need with typed arguments; `configure(netns, fn)` runs `fn(Netlink)` in the
namespace. Deleting is idempotent everywhere: teardown must work on half-built leftovers.

"Host" (`netns=None`) is the namespace of the thread that calls: the lab process itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import ipaddress
import os
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pyroute2 import IPRoute  # type: ignore[import-untyped]
from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]

from netpolicy.errors import NetpolError

RUN_DIR = Path("/run/netns")
"""Where iproute2 (and so `ip netns exec`) looks for named namespaces."""

_CLONE_NEWNET = 0x40000000
_MS_BIND = 4096
_MS_REC = 16384
_MS_SHARED = 1 << 20
_MNT_DETACH = 2
_RT_SCOPE_LINK = 253

_libc = ctypes.CDLL(None, use_errno=True)
_rundir_lock = threading.Lock()

T = TypeVar("T")


class NetnsError(NetpolError):
    """A namespace, link, address or route operation failed (the message says which)."""


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise NetnsError(f"{what}: {os.strerror(code)}")


def _path(name: str) -> Path:
    if not name or "/" in name or name in (".", ".."):
        raise NetnsError(f"invalid network namespace name {name!r}")
    return RUN_DIR / name


def _ensure_run_dir() -> None:
    """Make /run/netns a shared mount point, as `ip netns add` does (iproute2's netns_add)."""
    with _rundir_lock:
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        target = str(RUN_DIR).encode()
        if _libc.mount(b"none", target, b"none", _MS_SHARED | _MS_REC, None) == 0:
            return
        _check(_libc.mount(target, target, b"none", _MS_BIND | _MS_REC, None), "bind /run/netns")
        shared = _libc.mount(b"none", target, b"none", _MS_SHARED | _MS_REC, None)
        _check(shared, "share /run/netns")


def run_in(netns: str | None, fn: Callable[[], T]) -> T:
    """Run `fn` in a helper thread inside the named namespace (None: the caller's) and return
    its result or raise its exception. The helper thread ends afterwards, so the namespace
    switch never leaks into a thread that someone else uses."""
    box: list[T] = []
    failure: list[BaseException] = []
    fd = os.open(_path(netns), os.O_RDONLY) if netns is not None else -1

    def work() -> None:
        try:
            if fd >= 0:
                _check(_libc.setns(fd, _CLONE_NEWNET), f"setns {netns}")
            box.append(fn())
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    try:
        thread = threading.Thread(target=work, name=f"netns:{netns}")
        thread.start()
        thread.join()
    finally:
        if fd >= 0:
            os.close(fd)
    if failure:
        raise failure[0]
    return box[0]


def create(name: str) -> None:
    """Create the named namespace (`ip netns add`); raises NetnsError if it exists.

    Inside, `lo` is brought up: every pod and node expects loopback to work."""
    path = _path(name)
    _ensure_run_dir()
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    except FileExistsError as exc:
        raise NetnsError(f"network namespace {name} already exists") from exc

    def enter_new() -> None:
        _check(_libc.unshare(_CLONE_NEWNET), f"unshare for {name}")
        # /proc/thread-self, not /proc/self: the new namespace is this thread's only.
        source = b"/proc/thread-self/ns/net"
        _check(_libc.mount(source, str(path).encode(), b"none", _MS_BIND, None), f"mount {path}")
        with IPRoute(groups=0) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")

    try:
        run_in(None, enter_new)
    except BaseException:
        _unmount_and_remove(path)
        raise


def _unmount_and_remove(path: Path) -> None:
    _libc.umount2(str(path).encode(), _MNT_DETACH)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def delete(name: str) -> bool:
    """Delete the named namespace (`ip netns delete`); False if there was none.

    The namespace itself lives on while a process or an open socket still holds it; kill the
    processes first (`kill_processes`) when the goal is that nothing of it is left."""
    path = _path(name)
    if not path.exists():
        return False
    _unmount_and_remove(path)
    return True


def exists(name: str) -> bool:
    return _path(name).exists()


def names(prefix: str = "") -> list[str]:
    """Named namespaces whose name starts with `prefix`, sorted."""
    try:
        return sorted(p.name for p in RUN_DIR.iterdir() if p.name.startswith(prefix))
    except FileNotFoundError:
        return []


def pids(name: str) -> list[int]:
    """Processes whose network namespace is the named one (`ip netns pids`); never ourselves."""
    try:
        target = os.stat(_path(name))
    except FileNotFoundError:
        return []
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            st = os.stat(f"/proc/{entry.name}/ns/net")
        except OSError:
            continue  # gone, or a kernel thread
        if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
            found.append(int(entry.name))
    return sorted(found)


def kill_processes(name: str, sig: signal.Signals = signal.SIGKILL) -> list[int]:
    """Send `sig` to every process in the named namespace; returns their pids."""
    victims = pids(name)
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    return victims


def socket_in(
    netns: str | None,
    family: socket.AddressFamily = socket.AF_INET,
    kind: socket.SocketKind = socket.SOCK_STREAM,
    proto: int = 0,
) -> socket.socket:
    """A new socket that belongs to the named namespace, usable from any thread."""
    return run_in(netns, lambda: socket.socket(family, kind, proto))


async def open_connection_in(
    netns: str | None, host: str, port: int, *, limit: int = 2**16
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """`asyncio.open_connection` from inside a namespace: the TCP connection starts there
    (a pod's node for `kubectl port-forward`), and is then driven by the caller's loop."""
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    sock = socket_in(netns, family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        return await asyncio.open_connection(sock=sock, limit=limit)
    except BaseException:
        sock.close()
        raise


def write_sysctl(key: str, value: str | int) -> None:
    """Set a sysctl of the *calling thread's* namespace (call it inside `run_in`/`configure`).

    `key` uses slashes so interface names with dots stay unambiguous:
    "net/ipv4/conf/eth0/proxy_arp"."""
    with open(Path("/proc/sys") / key, "w") as fh:
        fh.write(str(value))


@dataclass(frozen=True)
class Route:
    """One IPv4 route of the main table, as far as the lab cares."""

    dst: str  # "10.244.1.0/24", "0.0.0.0/0"
    dev: str | None
    via: str | None


class Netlink:
    """Links, addresses and routes of one namespace; obtain it through `configure`."""

    def __init__(self, ipr: IPRoute) -> None:
        self._ipr = ipr

    def _call(self, what: str, fn: Callable[[], object]) -> None:
        try:
            fn()
        except NetlinkError as exc:
            raise NetnsError(f"{what}: {os.strerror(exc.code)}") from exc

    def index(self, ifname: str) -> int:
        found: list[int] = self._ipr.link_lookup(ifname=ifname)
        if not found:
            raise NetnsError(f"no link named {ifname}")
        return found[0]

    def has_link(self, ifname: str) -> bool:
        return bool(self._ipr.link_lookup(ifname=ifname))

    def link_names(self) -> list[str]:
        return sorted(str(link.get("ifname")) for link in self._ipr.get_links())

    def add_veth(self, ifname: str, peer_ifname: str, peer_netns: str | None = None) -> None:
        """A veth pair: `ifname` here, `peer_ifname` created directly in `peer_netns` (None:
        also here). Made in place, so no temporary name ever appears in another namespace."""
        peer: dict[str, object] = {"ifname": peer_ifname}
        fd = os.open(_path(peer_netns), os.O_RDONLY) if peer_netns is not None else -1
        try:
            if fd >= 0:
                peer["net_ns_fd"] = fd
            self._call(
                f"add veth {ifname}/{peer_ifname}",
                lambda: self._ipr.link("add", ifname=ifname, kind="veth", peer=peer),
            )
        finally:
            if fd >= 0:
                os.close(fd)

    def set_up(self, ifname: str) -> None:
        index = self.index(ifname)
        self._call(f"set {ifname} up", lambda: self._ipr.link("set", index=index, state="up"))

    def mac(self, ifname: str) -> str:
        (link,) = self._ipr.get_links(self.index(ifname))
        return str(link.get("address"))

    def add_address(self, ifname: str, cidr: str) -> None:
        """Add "10.0.0.1/30" to a link."""
        iface = ipaddress.ip_interface(cidr)
        index = self.index(ifname)
        self._call(
            f"add address {cidr} to {ifname}",
            lambda: self._ipr.addr(
                "add", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen
            ),
        )

    def add_route(self, dst: str, *, dev: str, via: str | None = None, src: str | None = None) -> None:
        """A route to `dst` ("10.244.1.0/24", "0.0.0.0/0") out of `dev`, through the gateway
        `via`, or on-link (scope link) when there is none."""
        net = ipaddress.ip_network(dst)
        spec: dict[str, object] = {"dst": str(net), "oif": self.index(dev)}
        if via is not None:
            spec["gateway"] = via
        else:
            spec["scope"] = _RT_SCOPE_LINK
        if src is not None:
            spec["prefsrc"] = src
        self._call(f"add route {dst} dev {dev}", lambda: self._ipr.route("add", **spec))

    def delete_link(self, ifname: str) -> bool:
        """Delete a link (and so its veth peer); False if there was none."""
        found = self._ipr.link_lookup(ifname=ifname)
        if not found:
            return False
        try:
            self._ipr.link("del", index=found[0])
        except NetlinkError as exc:
            if exc.code != errno.ENODEV:
                raise NetnsError(f"delete link {ifname}: {os.strerror(exc.code)}") from exc
            return False
        return True

    def routes(self) -> list[Route]:
        """The IPv4 routes of the main table."""
        names = {link["index"]: str(link.get("ifname")) for link in self._ipr.get_links()}
        result = []
        for msg in self._ipr.route("dump", family=socket.AF_INET, table=254):
            dst = msg.get("dst") or "0.0.0.0"
            oif = msg.get("oif")
            result.append(
                Route(
                    dst=f"{dst}/{msg['dst_len']}",
                    dev=names.get(oif) if oif is not None else None,
                    via=msg.get("gateway"),
                )
            )
        return result

    def sysctl(self, key: str, value: str | int) -> None:
        """`write_sysctl` for this namespace (the helper thread is inside it)."""
        write_sysctl(key, value)


def configure(netns: str | None, fn: Callable[[Netlink], T]) -> T:
    """Run `fn` with a `Netlink` of the named namespace (None: the caller's)."""

    def work() -> T:
        with IPRoute(groups=0) as ipr:
            return fn(Netlink(ipr))

    return run_in(netns, work)
