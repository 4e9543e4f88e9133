"""nftables transactions: rendering, the fake's checks, and the fake against the real nft."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from netpolicy.dataplane.nft import (
    Chain,
    ChainType,
    Counter,
    Element,
    FakeNft,
    Family,
    Hook,
    Map,
    Nft,
    NftError,
    Priority,
    Rule,
    Set,
    Table,
    Transaction,
)
from tests.dataplane.support import make_netns, needs_root, needs_tools

__all__ = ["make_netns"]

T = "t"


@pytest.fixture(params=[False, True], ids=["nft-binary", "libnftables"])
def real_nft(request: pytest.FixtureRequest,
             make_netns: Callable[[str], str]) -> Iterator[Callable[[str], Nft]]:
    """Real runners in fresh namespaces, through the `nft` binary or in-process (closed
    before their namespaces go: an open context would keep a namespace alive)."""
    made: list[Nft] = []

    def make(name: str) -> Nft:
        runner = Nft(make_netns(name), in_process=request.param)
        assert (runner._lib is not None) == request.param
        made.append(runner)
        return runner

    yield make
    for runner in made:
        runner.close()


def tx(*ops: tuple[str, object], family: Family = Family.INET) -> Transaction:
    t = Transaction(family, T)
    for verb, obj in ops:
        getattr(t, verb)(obj)
    return t


BASE = tx(
    ("add", Table("lab")),
    ("add", Chain("forward", ChainType.FILTER, Hook.FORWARD, Priority.FILTER, "accept")),
    ("add", Chain("pods", comment="per pod")),
    ("add", Chain("deny")),
    ("add", Set("allowed", "ipv4_addr", flags=("interval",), comment="cidrs")),
    ("add", Set("ports", "inet_proto . inet_service")),
    ("add", Map("by-pod", "ipv4_addr", "verdict")),
    ("add", Rule("deny", "drop")),
    ("add", Rule("forward", "ct state established,related accept")),
    ("add", Rule("forward", "ip daddr vmap @by-pod", comment="dispatch")),
    ("add", Rule("pods", "ip saddr @allowed meta l4proto . th dport @ports accept")),
    ("add", Rule("pods", "jump deny")),
    ("add", Element("allowed", "10.0.0.0/8")),
    ("add", Element("allowed", "192.168.1.1")),
    ("add", Element("ports", "tcp . 80")),
    ("add", Element("by-pod", "10.244.1.5", "goto pods")),
)


def test_a_transaction_renders_one_nft_line_per_operation() -> None:
    t = Transaction(Family.IP, "p")
    t.add(Table("c")).delete(Table()).add(Chain("x", ChainType.NAT, Hook.OUTPUT, -100))
    t.add(Map("m", "ipv4_addr . inet_proto . inet_service", "verdict", comment="m"))
    t.add(Element("m", "10.96.0.1 . tcp . 443", "goto x")).delete(Element("m", "10.0.0.1 . udp . 1"))
    t.add(Rule("x", "meta l4proto tcp dnat to 10.0.0.1:80", comment="r"))
    t.flush(Chain("x"))
    assert t.render().splitlines() == [
        'add table ip p { comment "c" ; }',
        "delete table ip p",
        "add chain ip p x { type nat hook output priority -100 ; }",
        'add map ip p m { type ipv4_addr . inet_proto . inet_service : verdict ; comment "m" ; }',
        "add element ip p m { 10.96.0.1 . tcp . 443 : goto x }",
        "delete element ip p m { 10.0.0.1 . udp . 1 }",
        'add rule ip p x meta l4proto tcp dnat to 10.0.0.1:80 comment "r"',
        "flush chain ip p x",
    ]


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: Chain("c", ChainType.FILTER), id="base chain without hook"),
        pytest.param(lambda: Chain("c", policy="drop"), id="policy on a regular chain"),
        pytest.param(lambda: Chain("bad name"), id="name that needs quoting"),
        pytest.param(lambda: Rule("c", "accept; drop"), id="two rules in one"),
        pytest.param(lambda: Set("s", "ipv4_addr", comment='say "hi"'), id="quote in comment"),
        pytest.param(lambda: Element("s", "1.2.3.4, 5.6.7.8"), id="two elements in one"),
        pytest.param(
            lambda: Transaction(Family.IP, "t").delete(Rule("c", "accept")),  # type: ignore[arg-type]
            id="deleting a rule",
        ),
        pytest.param(
            lambda: Transaction(Family.IP, "t").flush(Element("s", "1.2.3.4")),  # type: ignore[arg-type]
            id="flushing an element",
        ),
    ],
)
def test_invalid_operations_are_refused_when_added(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        build()


# Each case: a transaction applied on top of BASE, and whether nft accepts it. The same table
# runs against the fake (always) and the real nft (as root), which must agree.
CASES: list[tuple[str, Transaction, bool]] = [
    (
        "adding what exists and agrees is a no-op",
        tx(
            ("add", Table()),
            ("add", Chain("pods")),
            ("add", Set("ports", "inet_proto . inet_service")),
            ("add", Element("by-pod", "10.244.1.5", "goto pods")),
        ),
        True,
    ),
    (
        "a base chain's policy can change",
        tx(("add", Chain("forward", ChainType.FILTER, Hook.FORWARD, Priority.FILTER, "drop"))),
        True,
    ),
    (
        "a rule jumping to a missing chain rejects the transaction",
        tx(("add", Element("allowed", "172.16.0.0/12")), ("add", Rule("pods", "jump nowhere"))),
        False,
    ),
    (
        "a rule using a missing set rejects the transaction",
        tx(("add", Rule("pods", "ip daddr @nowhere accept"))),
        False,
    ),
    (
        "a verdict element naming a missing chain is rejected",
        tx(("add", Element("by-pod", "10.244.1.6", "goto nowhere"))),
        False,
    ),
    ("a rule in a missing chain is rejected", tx(("add", Rule("nowhere", "accept"))), False),
    ("creating an existing table fails", tx(("create", Table())), False),
    ("creating an existing chain fails", tx(("create", Chain("pods"))), False),
    (
        "another base spec for an existing chain fails",
        tx(("add", Chain("forward", ChainType.FILTER, Hook.INPUT, Priority.FILTER))),
        False,
    ),
    ("another type for an existing set fails", tx(("add", Set("ports", "ipv4_addr"))), False),
    (
        "another value for an existing map key fails",
        tx(("add", Element("by-pod", "10.244.1.5", "goto deny"))),
        False,
    ),
    ("deleting a missing element fails", tx(("delete", Element("allowed", "1.1.1.1"))), False),
    ("deleting a chain still jumped to fails", tx(("delete", Chain("deny"))), False),
    ("deleting a chain still named by a map element fails", tx(("delete", Chain("pods"))), False),
    (
        "deleting a set still used by a rule fails",
        tx(("delete", Set("allowed", "ipv4_addr"))),
        False,
    ),
    ("deleting a missing table fails", Transaction(Family.INET, "nowhere").delete(Table()), False),
    (
        "flushing a chain then deleting it works",
        tx(
            ("flush", Chain("pods")),
            ("delete", Element("by-pod", "10.244.1.5")),
            ("delete", Chain("pods")),
        ),
        True,
    ),
    (
        "elements are added and deleted by key",
        tx(
            ("add", Element("allowed", "172.16.0.0/12")),
            ("delete", Element("allowed", "192.168.1.1")),
            ("add", Element("ports", "udp . 53")),
        ),
        True,
    ),
    ("flushing a table empties chains but keeps set elements", tx(("flush", Table())), True),
    ("flushing a map empties it", tx(("flush", Map("by-pod", "ipv4_addr", "verdict"))), True),
    (
        "a table is replaced whole by add, delete, add",
        tx(
            ("add", Table()),
            ("delete", Table()),
            ("add", Table()),
            ("add", Chain("fresh")),
            ("add", Rule("fresh", "accept")),
        ),
        True,
    ),
    (
        "a second table in another family is independent",
        Transaction(Family.IP, T).add(Table()).add(Chain("pods")),
        True,
    ),
]


@pytest.mark.parametrize(("name", "change", "accepted"), CASES, ids=[c[0] for c in CASES])
def test_fake_nft_commits_all_or_nothing(name: str, change: Transaction, accepted: bool) -> None:
    fake = FakeNft()
    fake.run(BASE)
    before = fake.dump()
    if accepted:
        fake.run(change)
    else:
        with pytest.raises(NftError):
            fake.run(change)
        assert fake.dump() == before


def test_fake_nft_dump_is_the_sorted_script_that_rebuilds_it() -> None:
    fake = FakeNft()
    fake.run(BASE)
    rebuilt = FakeNft()
    script = fake.dump()
    assert script.splitlines()[0] == 'add table inet t { comment "lab" ; }'
    again = Transaction(Family.INET, T)
    for op in BASE.operations:
        getattr(again, op.verb)(op.obj)
    rebuilt.run(again)
    assert rebuilt.dump() == script


@pytest.mark.root
@needs_root
@needs_tools("nft", "ip")
@pytest.mark.parametrize(("name", "change", "accepted"), CASES, ids=[c[0] for c in CASES])
def test_the_fake_and_the_real_nft_agree(
    real_nft: Callable[[str], Nft], name: str, change: Transaction, accepted: bool
) -> None:
    real, fake = real_nft("nft"), FakeNft()
    real.run(BASE)
    fake.run(BASE)
    assert real.dump() == fake.dump()
    outcomes = []
    for runner in (real, fake):
        try:
            runner.run(change)
            outcomes.append(True)
        except NftError:
            outcomes.append(False)
    assert outcomes == [accepted, accepted]
    assert real.dump() == fake.dump()


@pytest.mark.root
@needs_root
@needs_tools("nft", "ip")
def test_a_failing_transaction_leaves_the_previous_real_ruleset_untouched(
    real_nft: Callable[[str], Nft],
) -> None:
    real = real_nft("nft")
    real.run(BASE)
    before = real.list_table(Family.INET, T)
    half_good = tx(
        ("add", Element("allowed", "172.16.0.0/12")),
        ("flush", Chain("pods")),
        ("add", Rule("forward", "jump nowhere")),
    )
    with pytest.raises(NftError, match="nowhere"):
        real.run(half_good)
    assert real.list_table(Family.INET, T) == before


@pytest.mark.root
@needs_root
@needs_tools("nft", "ip")
def test_nft_runs_in_the_given_namespace_only(real_nft: Callable[[str], Nft]) -> None:
    one, two = real_nft("one"), real_nft("two")
    one.run(BASE)
    assert two.dump() == ""
    assert "by-pod" in one.list_table(Family.INET, T)
    assert Nft(in_process=False).dump().count("by-pod") == 0  # not in the host's either


@pytest.mark.root
@needs_root
@needs_tools("nft", "ip")
def test_checks_counters_and_a_closed_context(real_nft: Callable[[str], Nft]) -> None:
    real = real_nft("nft")
    real.check(BASE)  # --check: validated, not applied
    assert real.dump() == ""
    real.run(BASE)
    real.run(tx(("add", Counter("hits")), ("add", Rule("pods", 'counter name "hits" accept'))))
    assert real.counters(Family.INET, T) == {"hits": 0}
    with pytest.raises(NftError):  # what a failed transaction added is not remembered...
        real.run(tx(("add", Element("allowed", "172.16.0.0/12")), ("add", Rule("pods", "jump x"))))
    real.run(tx(("add", Element("allowed", "172.16.0.0/12"))))  # ...so this is no overlap
    assert "172.16.0.0/12" in real.list_table(Family.INET, T)
    real.close()
    if real._lib is not None:
        with pytest.raises(NftError, match="closed"):
            real.run(BASE)
