"""YAML documents built straight from libyaml's parse events.

PyYAML's C loader parses in C but then builds a node graph and constructs every value
in Python through generators and per-node dispatch: for the manifests of 500 pods that
is 0.27 s, twice what the parse itself costs. Manifests as kubectl prints them and people
write them use a small part of YAML: mappings, sequences and plain or quoted scalars.
`load_all` builds those in one pass over the events, resolving scalars with PyYAML's own
YAML 1.1 rules (`yes` is true, `010` is 8, as kubectl reads them) and its own
constructors.

Anything else -- anchors and aliases, merge keys, explicit tags, timestamps, keys that
are not scalars, any error -- makes `load_all` return None, and the caller parses the
text with PyYAML as before, which gives the same values or the same error. A property
test holds the two readings equal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

# libyaml's parser (CBaseLoader adds nothing that runs here); None when PyYAML was built
# without libyaml, and then the caller's loader is all there is.
_CParser: Any = getattr(yaml, "CBaseLoader", None)

_RESOLVERS: dict[str, list[tuple[str, Any]]] = Resolver.yaml_implicit_resolvers
_CONSTRUCTOR = SafeConstructor()
_SCALARS: dict[str, Callable[[ScalarNode], Any]] = {
    "tag:yaml.org,2002:null": _CONSTRUCTOR.construct_yaml_null,
    "tag:yaml.org,2002:bool": _CONSTRUCTOR.construct_yaml_bool,
    "tag:yaml.org,2002:int": _CONSTRUCTOR.construct_yaml_int,
    "tag:yaml.org,2002:float": _CONSTRUCTOR.construct_yaml_float,
}


class Unsupported(Exception):
    """The text uses YAML this module leaves to PyYAML."""


def resolve_plain(value: str) -> Any:
    """A plain scalar by YAML 1.1's implicit rules and PyYAML's constructors. The rules
    are keyed by first character (`y`, `0`, `~`, `.`, ...): any other text is a string."""
    for tag, regexp in _RESOLVERS.get(value[:1], ()):
        if regexp.match(value):
            construct = _SCALARS.get(tag)
            if construct is None:  # timestamp, merge key, `=`, ...
                raise Unsupported
            if tag == "tag:yaml.org,2002:int" and value.isdigit() and value[0] != "0":
                return int(value)  # the common case, without building a node
            return construct(ScalarNode(tag, value))
    return value


def _documents(get: Callable[[], Event]) -> list[Any]:
    # The hot loop: 60 events per pod. Scalars, most of the events, are read inline
    # (a call per scalar costs a tenth of the time), with the names used bound locally.
    scalar_event, resolvable, plain = ScalarEvent, _RESOLVERS.keys(), resolve_plain

    def collection(event: Event) -> Any:
        # An anchor, a tag, or an alias (whose `anchor` names the node it repeats).
        if event.anchor is not None or getattr(event, "tag", None) is not None:  # type: ignore[attr-defined]
            raise Unsupported
        if type(event) is MappingStartEvent:
            mapping: dict[Any, Any] = {}
            while True:
                event = get()
                if type(event) is not scalar_event:
                    if type(event) is MappingEndEvent:
                        return mapping
                    raise Unsupported  # a key that is a collection or an alias
                if event.anchor is not None or event.tag is not None:
                    raise Unsupported
                key = event.value
                if event.implicit[0] and key[:1] in resolvable:
                    key = plain(key)
                event = get()
                if type(event) is not scalar_event:
                    mapping[key] = collection(event)
                elif event.anchor is not None or event.tag is not None:
                    raise Unsupported
                elif event.implicit[0] and event.value[:1] in resolvable:
                    mapping[key] = plain(event.value)
                else:
                    mapping[key] = event.value
        if type(event) is SequenceStartEvent:
            sequence: list[Any] = []
            while True:
                event = get()
                if type(event) is not scalar_event:
                    if type(event) is SequenceEndEvent:
                        return sequence
                    sequence.append(collection(event))
                elif event.anchor is not None or event.tag is not None:
                    raise Unsupported
                elif event.implicit[0] and event.value[:1] in resolvable:
                    sequence.append(plain(event.value))
                else:
                    sequence.append(event.value)
        raise Unsupported  # not reached: aliases have an anchor

    documents: list[Any] = []
    get()  # StreamStartEvent
    while True:
        event = get()
        if type(event) is StreamEndEvent:
            return documents
        assert type(event) is DocumentStartEvent
        event = get()
        if type(event) is not scalar_event:
            documents.append(collection(event))
        elif event.anchor is not None or event.tag is not None:
            raise Unsupported
        else:  # a document that is one scalar, or empty (null)
            documents.append(plain(event.value) if event.implicit[0] else event.value)
        get()  # DocumentEndEvent


def load_all(text: str) -> list[Any] | None:
    """Every document of `text`, as `list(yaml.load_all(text, CSafeLoader))` gives them;
    None when the text needs PyYAML's loader (see the module's docstring)."""
    if _CParser is None:
        return None
    parser = _CParser(text)
    try:
        return _documents(parser.get_event)
    except (Unsupported, yaml.YAMLError, RecursionError):
        return None
    finally:
        parser.dispose()

