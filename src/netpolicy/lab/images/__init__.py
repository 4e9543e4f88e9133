"""The lab's image catalogue: which program a container of a given image runs.

The lab pulls nothing. An image reference names an entry of this built-in catalogue, whatever
its registry, tag or digest: `nginx`, `nginx:1.25`, `docker.io/library/nginx:1.25` and
`nginx@sha256:…` are all `nginx`; `registry.k8s.io/e2e-test-images/agnhost:2.47` is
`e2e-test-images/agnhost`. An unknown image raises `UnknownImageError`, whose message names the
catalogue, for the kubelet to report as `ErrImagePull`.

Each entry mirrors the real image's ENTRYPOINT and CMD, so a pod spec's `command` and `args`
combine as in Kubernetes (`command` replaces the entrypoint; `args` replace CMD; `command`
alone drops CMD). The resulting argv[0] is then looked up in the entry's `programs`, which maps
the image's own binaries to the lab's stand-ins (`/agnhost` → agnhost.py); anything else is run
from the host (`sh`, `curl`, `nc`, `wget`, `ping`, ...). The stand-ins are single-file Python
scripts run with `python -I -S` for a fast start: nginx.py, agnhost.py, echo.py, demo_*.py.

    nginx                     HTTP/1.1 on :80, nginx's welcome page (nginx.py)
    e2e-test-images/agnhost   serve-hostname, netexec, porter, connect, pause, ... (agnhost.py)
    netpol/echo               TCP and UDP echo on every declared container port (echo.py)
    netpol/demo-rng, netpol/demo-hasher, netpol/demo-redis, netpol/demo-worker,
    netpol/demo-webui         the coins demo app of examples/microservices (demo_*.py): random
                              bytes, SHA-256, a tiny Redis (with redis-cli), the worker that
                              uses the three, the web page showing its count
    pause                     sleeps until stopped
    busybox, alpine, ubuntu, debian, centos, nicolaka/netshoot, curlimages/curl
                              the host's tools; the image's default command (a shell exits at
                              once without stdin)
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from netpolicy.errors import NetpolError

_HERE = Path(__file__).resolve().parent


class UnknownImageError(NetpolError):
    """The image is not in the lab's catalogue (the lab pulls nothing)."""


def _script(name: str, *args: str) -> tuple[str, ...]:
    return (sys.executable, "-I", "-S", str(_HERE / f"{name}.py"), *args)


@dataclass(frozen=True)
class Image:
    name: str
    """The catalogue key, e.g. "nginx" or "e2e-test-images/agnhost"."""
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    programs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """argv[0] as the image knows it → the lab's command line prefix that replaces it."""
    serves_declared_ports: bool = False
    """Append `tcp:PORT`/`udp:PORT` for each declared container port (netpol/echo)."""
    description: str = ""


_AGNHOST = _script("agnhost")
_SHELL_TOOLS = {"zsh": ("/bin/bash",)}  # netshoot's default shell; the host may lack zsh
_DEMO_REDIS = {
    program: (*_script("demo_redis"), program.rsplit("/", 1)[-1])
    for program in ("redis-server", "redis-cli", "/usr/local/bin/redis-server", "/usr/local/bin/redis-cli")
}

_IMAGES = [
    Image(
        "nginx",
        cmd=("nginx", "-g", "daemon off;"),
        programs={"nginx": _script("nginx"), "/usr/sbin/nginx": _script("nginx")},
        description="HTTP/1.1 on port 80 answering the nginx welcome page",
    ),
    Image(
        "e2e-test-images/agnhost",
        entrypoint=("/agnhost",),
        cmd=("pause",),
        programs={"/agnhost": _AGNHOST, "agnhost": _AGNHOST},
        description="Kubernetes e2e test image: serve-hostname, netexec, porter, connect, pause",
    ),
    Image(
        "netpol/echo",
        entrypoint=("/echo",),
        programs={"/echo": _script("echo")},
        serves_declared_ports=True,
        description="TCP and UDP echo on every declared container port",
    ),
    Image(
        "netpol/demo-rng",
        entrypoint=("/rng",),
        programs={"/rng": _script("demo_rng")},
        description="coins demo: HTTP on :80 ($PORT), GET /N answers N random bytes (N ≤ 1024)",
    ),
    Image(
        "netpol/demo-hasher",
        entrypoint=("/hasher",),
        programs={"/hasher": _script("demo_hasher")},
        description="coins demo: HTTP on :80 ($PORT), POST / answers the body's SHA-256 in hex",
    ),
    Image(
        "netpol/demo-redis",
        cmd=("redis-server",),
        programs=_DEMO_REDIS,
        description="coins demo: a tiny in-memory Redis on :6379 (GET, SET, INCR, DEL, KEYS...) "
        "and redis-cli",
    ),
    Image(
        "netpol/demo-worker",
        entrypoint=("/worker",),
        programs={"/worker": _script("demo_worker")},
        description="coins demo: loops GET $RNG_URL, POST to $HASHER_URL, INCR hashes at "
        "$REDIS_HOST; never stops on network errors",
    ),
    Image(
        "netpol/demo-webui",
        entrypoint=("/webui",),
        programs={"/webui": _script("demo_webui")},
        description='coins demo: HTTP on :80 ($PORT), the "hashes" count from $REDIS_HOST at / '
        "(HTML) and /json",
    ),
    Image(
        "pause",
        entrypoint=("/pause",),
        programs={"/pause": (*_AGNHOST, "pause")},
        description="sleeps until stopped",
    ),
    Image("busybox", cmd=("sh",), description="shell (the host's tools)"),
    Image("alpine", cmd=("/bin/sh",), description="shell (the host's tools)"),
    Image("ubuntu", cmd=("/bin/bash",), description="shell (the host's tools)"),
    Image("debian", cmd=("bash",), description="shell (the host's tools)"),
    Image("centos", cmd=("/bin/bash",), description="shell (the host's tools)"),
    Image(
        "nicolaka/netshoot",
        cmd=("zsh",),
        programs=_SHELL_TOOLS,
        description="network troubleshooting shell (the host's tools)",
    ),
    Image("curlimages/curl", entrypoint=("curl",), description="curl (the host's)"),
]

CATALOGUE: Mapping[str, Image] = {image.name: image for image in _IMAGES}
_ALIASES = {
    "agnhost": "e2e-test-images/agnhost",
    "kubernetes-e2e-test-images/agnhost": "e2e-test-images/agnhost",
    "google_containers/pause": "pause",
}


def normalize(reference: str) -> str:
    """The catalogue key of an image reference: without registry, `library/`, tag or digest."""
    name = reference.strip().split("@", 1)[0]
    if name.rfind(":") > name.rfind("/"):
        name = name[: name.rfind(":")]
    parts = name.lower().split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if len(parts) == 2 and parts[0] == "library":
        parts = parts[1:]
    key = "/".join(parts)
    return _ALIASES.get(key, key)


def resolve(reference: str) -> Image:
    """The catalogue entry for an image reference, or UnknownImageError."""
    image = CATALOGUE.get(normalize(reference))
    if image is None:
        known = ", ".join(sorted(CATALOGUE))
        raise UnknownImageError(
            f'image "{reference}" is not in the lab\'s image catalogue '
            f"(netpolicy.lab.images; the lab pulls nothing): known images are {known}"
        )
    return image


def command_line(
    image: Image,
    command: Sequence[str] = (),
    args: Sequence[str] = (),
    ports: Sequence[tuple[str, int]] = (),
) -> list[str]:
    """The argv to run for a container: Kubernetes' command/args rules, then the image's
    program stand-ins. `ports` are the declared (protocol, port) pairs."""
    if command:
        argv = [*command, *args]
    elif args:
        argv = [*image.entrypoint, *args]
    else:
        argv = [*image.entrypoint, *image.cmd]
        if image.serves_declared_ports:
            argv += sorted({f"{protocol.lower()}:{port}" for protocol, port in ports})
    return rewrite(image, argv)


def rewrite(image: Image, argv: Sequence[str]) -> list[str]:
    """Replace argv[0] by the lab's stand-in when the image provides one (also for exec)."""
    if argv and argv[0] in image.programs:
        return [*image.programs[argv[0]], *argv[1:]]
    return list(argv)
