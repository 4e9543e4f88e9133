"""The drawing of the exception tree in `netpolicy.errors` is the whole truth (STYLE.md,
"Errors"): every exception class defined anywhere in the package is drawn, under its own
parent and with its own module, and nothing else is."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import netpolicy
import netpolicy.errors

# A drawn class: a name at the drawing's left edge (a root) or after a branch ("├── ",
# "└── ", under "│   " or "    " per level), then its module. Lines that continue a
# meaning start with neither, so they do not match.
_DRAWN = re.compile(r"^    ((?:│   |    )*[├└]── )?([A-Z]\w*) +([a-z_][\w.]*) +\S")

Key = tuple[str, str]  # (module under netpolicy, class name)


def drawn() -> dict[Key, Key | None]:
    """Each class of the drawing, with its drawn parent (None: a root)."""
    found: dict[Key, Key | None] = {}
    path: list[Key] = []  # the latest class drawn at each depth
    for line in (netpolicy.errors.__doc__ or "").splitlines():
        match = _DRAWN.match(line)
        if not match:
            continue
        branch, name, module = match.groups()
        depth = len(branch or "") // 4
        key = (module, name)
        assert key not in found, f"{name} ({module}) is drawn twice"
        assert depth <= len(path), f"{name} is drawn under nothing"
        del path[depth:]
        found[key] = path[-1] if path else None
        path.append(key)
    return found


def _short(module: str) -> str:
    return module.removeprefix("netpolicy.")


def defined() -> dict[Key, Key | None]:
    """Each exception class defined in a module of netpolicy, with its parent: its first
    base that is netpolicy's own (None: it derives from Python's exceptions only)."""
    found: dict[Key, Key | None] = {}
    for info in pkgutil.walk_packages(netpolicy.__path__, "netpolicy."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue  # runs a command when imported
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if not (inspect.isclass(obj) and issubclass(obj, BaseException)
                    and obj.__module__ == module.__name__ and obj.__name__ == name):
                continue
            parent = next((b for b in obj.__bases__ if b.__module__.startswith("netpolicy.")), None)
            found[(_short(module.__name__), name)] = (
                (_short(parent.__module__), parent.__name__) if parent is not None else None
            )
    return found


def test_the_drawing_finds_the_classes_it_draws() -> None:
    tree = drawn()
    assert tree[("errors", "NetpolError")] is None
    assert tree[("errors", "LoadError")] == ("errors", "NetpolError")
    assert tree[("lab.store", "NotFound")] == ("lab.store", "ApiError")
    assert tree[("dataplane.libnftables", "LibnftablesError")] is None


def test_every_exception_class_is_drawn_in_errors_with_its_module() -> None:
    tree, classes = drawn(), defined()
    missing = sorted(set(classes) - set(tree))
    stale = sorted(set(tree) - set(classes))
    assert not missing, f"exception classes not drawn in netpolicy/errors.py: {missing}"
    assert not stale, f"drawn in netpolicy/errors.py, but defined nowhere (or elsewhere): {stale}"


def test_every_exception_class_is_drawn_under_its_parent() -> None:
    tree, classes = drawn(), defined()
    wrong = {key: (tree[key], parent) for key, parent in classes.items()
             if key in tree and tree[key] != parent}
    assert not wrong, f"drawn under another parent (drawn, defined): {wrong}"
