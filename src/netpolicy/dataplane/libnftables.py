"""The `nft` tool's own library, libnftables, called in-process (ctypes).

It takes the same script and command text as `nft` and prints the same output, so it is
a drop-in for running the binary, without the two costs that dominate a small change on
a busy node (measured here: about 7 ms to start `ip netns exec nft` and another 10 ms
when `nft` exits after a transaction that deleted something: closing its netlink socket
waits for the kernel to free the old objects). With one context kept open, a transaction
costs what the kernel's commit costs (0.1-0.5 ms for a few operations).

A context's netlink socket belongs to the network namespace of the thread that created
it, and keeps that namespace alive while it is open: `close()` it before deleting the
namespace. One context serves one command at a time (a lock), from any thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import tempfile
import threading
from collections.abc import Callable

_OUTPUT_JSON = 1 << 4  # NFT_CTX_OUTPUT_JSON
_SCRATCH = "/dev/shm"


class LibnftablesError(Exception):
    """A command failed; the message is what `nft` would print on stderr."""


@functools.cache
def _library() -> ctypes.CDLL | None:
    try:
        lib = ctypes.CDLL("libnftables.so.1")  # the soname: no `ldconfig -p` to run
    except OSError:
        name = ctypes.util.find_library("nftables")
        try:
            lib = ctypes.CDLL(name or "libnftables.so")
        except OSError:
            return None
    ptr, text = ctypes.c_void_p, ctypes.c_char_p
    signatures: dict[str, tuple[list[object], object]] = {
        "nft_ctx_new": ([ctypes.c_uint32], ptr),
        "nft_ctx_free": ([ptr], None),
        "nft_ctx_buffer_output": ([ptr], ctypes.c_int),
        "nft_ctx_buffer_error": ([ptr], ctypes.c_int),
        "nft_ctx_get_output_buffer": ([ptr], text),
        "nft_ctx_get_error_buffer": ([ptr], text),
        "nft_ctx_output_get_flags": ([ptr], ctypes.c_uint),
        "nft_ctx_output_set_flags": ([ptr, ctypes.c_uint], None),
        "nft_ctx_set_dry_run": ([ptr, ctypes.c_bool], None),
        "nft_run_cmd_from_buffer": ([ptr, text], ctypes.c_int),
        "nft_run_cmd_from_filename": ([ptr, text], ctypes.c_int),
    }
    for fn, (args, result) in signatures.items():
        getattr(lib, fn).argtypes = args
        getattr(lib, fn).restype = result
    return lib


def available() -> bool:
    return _library() is not None


class Libnftables:
    """One libnftables context, created by `opener` (which runs the creation in the right
    network namespace; by default the calling thread's)."""

    def __init__(self, opener: Callable[[Callable[[], int]], int] | None = None) -> None:
        lib = _library()
        if lib is None:
            raise LibnftablesError("libnftables is not installed")
        self._lib = lib
        self._lock = threading.Lock()

        def create() -> int:
            ctx = lib.nft_ctx_new(0)
            if not ctx:
                raise LibnftablesError("nft_ctx_new failed")
            lib.nft_ctx_buffer_output(ctx)
            lib.nft_ctx_buffer_error(ctx)
            return int(ctx)

        def open_context() -> int:
            return opener(create) if opener else create()

        self._create: Callable[[], int] = open_context
        self._ctx: int | None = open_context()

    def run(self, command: str, *, json: bool = False, dry_run: bool = False) -> str:
        """Run a command (as `nft <command>` would) and return its output; raise
        LibnftablesError with nft's error text when it fails."""
        return self._run(lambda ctx: self._lib.nft_run_cmd_from_buffer(ctx, command.encode()),
                         json, dry_run)

    def run_script(self, script: str, *, dry_run: bool = False) -> str:
        """Run a script as `nft -f` does. It goes through a file (in memory) because
        libnftables reports errors in a buffer at the wrong line (1.0.6 shows line 1)."""
        with tempfile.NamedTemporaryFile("w", prefix="netpol-", suffix=".nft",
                                         dir=_SCRATCH if os.path.isdir(_SCRATCH) else None) as f:
            f.write(script)
            f.flush()
            path = f.name.encode()
            return self._run(lambda ctx: self._lib.nft_run_cmd_from_filename(ctx, path), False,
                             dry_run)

    def _run(self, call: Callable[[int], int], json: bool, dry_run: bool) -> str:
        lib = self._lib
        with self._lock:
            ctx = self._ctx
            if ctx is None:
                raise LibnftablesError("the nftables context is closed")
            flags = lib.nft_ctx_output_get_flags(ctx)
            lib.nft_ctx_output_set_flags(ctx, flags | _OUTPUT_JSON if json else flags)
            lib.nft_ctx_set_dry_run(ctx, dry_run)
            try:
                code = call(ctx)
                output = (lib.nft_ctx_get_output_buffer(ctx) or b"").decode()
                error = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode()
            finally:
                lib.nft_ctx_output_set_flags(ctx, flags)
                lib.nft_ctx_set_dry_run(ctx, False)
            if code != 0 or dry_run:
                # The context's cache now holds what the kernel never committed (and the
                # kernel's generation did not move, so it would be trusted): start afresh.
                lib.nft_ctx_free(ctx)
                self._ctx = None
                self._ctx = self._create()
        if code != 0:
            raise LibnftablesError(error.strip() or f"nft failed ({code})")
        return output

    def close(self) -> None:
        with self._lock:
            if self._ctx is not None:
                self._lib.nft_ctx_free(self._ctx)
                self._ctx = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter exit, ctypes may be gone
            self.close()
