"""Run one command and report its wall time and resource usage as one JSON line.

    python3 -I -S bench/spawn.py '{"cmd": [...], "stdout": PATH, "stderr": PATH, "timeout": S}'

Why a launcher: on Linux a child's `ru_maxrss` (from `wait4`, or `getrusage` with
RUSAGE_CHILDREN or RUSAGE_SELF) is at least the resident size its *parent* had when it
forked it, because `execve` keeps the old address space's high-water mark. The benchmark
process grows to hundreds of MiB (it generates clusters and compares answers), so its
children's peaks would be wrong. This launcher starts small (no site packages), so the
commands it forks report their own peak (plus at most this launcher's few MiB).

Output: {"seconds", "max_rss_kib", "user", "system", "returncode"}; returncode is null
when the command was killed at the timeout.
"""

import json
import os
import sys
import time


def main() -> int:
    spec = json.loads(sys.argv[1])
    stdin = os.open(os.devnull, os.O_RDONLY)
    out = os.open(spec["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    err = os.open(spec["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    timeout = spec.get("timeout")
    start = time.perf_counter()
    pid = os.posix_spawnp(spec["cmd"][0], spec["cmd"], os.environ, file_actions=[
        (os.POSIX_SPAWN_DUP2, stdin, 0), (os.POSIX_SPAWN_DUP2, out, 1),
        (os.POSIX_SPAWN_DUP2, err, 2)])
    killed = False
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if timeout is not None and time.perf_counter() - start > timeout:
            os.kill(pid, 9)
            _, status, usage = os.wait4(pid, 0)
            killed = True
            break
        time.sleep(0.005)
    seconds = time.perf_counter() - start
    json.dump({"seconds": seconds, "max_rss_kib": usage.ru_maxrss, "user": usage.ru_utime,
               "system": usage.ru_stime,
               "returncode": None if killed else os.waitstatus_to_exitcode(status)}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
