"""
One table of cases for the slot and presence scripts, run both through the Python fake
(:mod:`.fakestore`, which the reactor-free :class:`SharedSlots` tests rely on) and through
the real Lua scripts on a redis-server (``test_fake_agrees``), so the fake cannot drift
from what production runs.

Times are whole milliseconds. A step's ``at`` is its time from the case's start (the
real run sleeps until then); slot times are from the case's start too; ``wait`` and
``newest`` are from the call's own ``now``, as the script answers them.
"""

from __future__ import annotations

from attrs import frozen

__all__ = ["CASES", "Case", "Expect", "Heartbeat", "Reserve"]

ABSENT = -2
"""``PTTL`` of a key that does not exist."""


@frozen
class Expect:
    """
    What a reserve call answers and what the store holds right after it.

    :ivar code: 1 reserved, 0 too far away (nothing reserved), 2 past its time.
    :ivar slots: the budget's ``(member, ms from the case's start)`` in ``ZRANGE`` order.
    :ivar ttl: how long the budget key lives after the call (ms), :data:`ABSENT` if none.
    :ivar hosts: the daemons heard from.
    """

    code: int
    wait: int
    newest: int
    slots: tuple[tuple[str, int], ...] | None = None
    ttl: int | None = None
    hosts: frozenset[str] | None = None


@frozen
class Reserve:
    """One call of the slot script (its arguments built by ``reserve_args``)."""

    at: int
    member: str
    expect: Expect
    limit: int = 3
    window: int = 1000
    max_wait: int = 60_000  # -1: only carry
    carried: tuple[int, ...] = ()  # ages in ms; negative: reserved ahead
    host: str = "d1"
    hosts: int = 1
    presence_ttl: int = 1000
    not_after: int | None = None  # from ``at``; None: wanted whenever it arrives


@frozen
class Heartbeat:
    """One call of the presence script; ``hosts`` is who is heard from right after."""

    at: int
    host: str
    ttl: int
    hosts: frozenset[str]
    not_after: int | None = None


@frozen
class Case:
    name: str
    steps: tuple[Reserve | Heartbeat, ...]


def _slots(*pairs: tuple[str, int]) -> tuple[tuple[str, int], ...]:
    return pairs


_FIFO = Case("window_limit_and_fifo", (
    # 3 per 1 s: three slots now, then each caller queues behind the newest slot
    *(Reserve(0, f"m{i}", Expect(1, 0, 0)) for i in range(3)),
    *(Reserve(0, f"m{i}", Expect(1, 1000, 1000)) for i in range(3, 6)),
    Reserve(0, "m6", Expect(
        1, 2000, 2000,
        slots=_slots(("m0", 0), ("m1", 0), ("m2", 0), ("m3", 1000), ("m4", 1000),
                     ("m5", 1000), ("m6", 2000)),
        ttl=3000,  # the newest slot plus one window
    )),
))

_TOO_FAR = Case("too_far_is_refused_and_not_recorded", (
    *(Reserve(0, f"m{i}", Expect(1, 0, 0), max_wait=500) for i in range(3)),
    Reserve(0, "late", Expect(
        0, 1000, 0, slots=_slots(("m0", 0), ("m1", 0), ("m2", 0)),
        ttl=2000,  # a refusal keeps the key until the slot it would have had leaves
    ), max_wait=500),
    # refused again for a caller that waits for nothing: nothing recorded either
    Reserve(0, "zero", Expect(0, 1000, 0), max_wait=0),
))

_SLIDES = Case("window_slides_on_time", (
    *(Reserve(0, f"a{i}", Expect(1, 0, 0), window=400) for i in range(3)),
    Reserve(200, "early", Expect(0, 200, -200), window=400, max_wait=0),
    Reserve(500, "b0", Expect(1, 0, 0, slots=_slots(("b0", 500)), ttl=400), window=400),
    Reserve(500, "b1", Expect(1, 0, 0), window=400),
))

_CARRIED = Case("carried_sends_count", (
    # sends made while Redis was away, 200 and 100 ms ago, one 5 s old (outside the
    # window) and one reserved 50 ms ahead; carrying alone reserves nothing
    Reserve(0, "back", Expect(
        0, 800, 50, slots=_slots(("back:c1", -200), ("back:c2", -100), ("back:c4", 50)),
        ttl=1800,
    ), max_wait=-1, carried=(200, 100, 5000, -50)),
    Reserve(0, "n", Expect(1, 800, 800, ttl=1800)),  # when the oldest carried one leaves
    Reserve(0, "n2", Expect(1, 900, 900)),  # then the next one
))

_CARRY_NOTHING = Case("carrying_only_old_sends_leaves_no_key", (
    # sends too old to count (1 s old is already out of a 1 s window): no key at all
    Reserve(0, "old", Expect(0, 0, -1000, slots=(), ttl=ABSENT),
            max_wait=-1, carried=(5000, 1000)),
))

_NEWEST = Case("the_newest_slot_is_anyones", (
    *(Reserve(0, f"other{i}", Expect(1, 0, 0), host="d2") for i in range(3)),
    # d1 asks 300 ms later: refused, told when it could go and where d2's newest slot is
    Reserve(300, "me", Expect(0, 700, -300), max_wait=100),
    Reserve(300, "queued", Expect(1, 700, 700)),
    Reserve(300, "next", Expect(0, 700, 700), max_wait=100),
))

_PAST = Case("a_call_past_its_time_does_nothing", (
    # reaching Redis after not_after: nothing reserved, nothing carried, nobody present
    Reserve(0, "stale", Expect(2, 0, -1000, slots=(), ttl=ABSENT, hosts=frozenset()),
            not_after=-1, carried=(100,), host="d9", hosts=2),
    Heartbeat(0, "d8", 1000, frozenset(), not_after=-1),
    Reserve(0, "fresh", Expect(1, 0, 0, hosts=frozenset({"d1"})), not_after=5000,
            window=200),
    # the key expired with its last slot; an expired call reads it as empty
    Reserve(400, "late", Expect(2, 0, -200, slots=(), ttl=ABSENT), not_after=-1,
            window=200),
))

_SHARES = Case("daemons_not_heard_from_keep_their_shares", (
    # 10 per window among 3 daemons (a share is 3): only d1 heard from, so d2's and
    # d3's shares stay free and d1 gets 4
    *(Reserve(0, f"a{i}", Expect(1, 0, 0), limit=10, window=5000, max_wait=500,
              hosts=3, presence_ttl=300) for i in range(4)),
    Reserve(0, "a4", Expect(0, 5000, 0, hosts=frozenset({"d1"})), limit=10, window=5000,
            max_wait=500, hosts=3, presence_ttl=300),
    # d2's heartbeat gives its share back
    Heartbeat(0, "d2", 300, frozenset({"d1", "d2"})),
    *(Reserve(0, f"b{i}", Expect(1, 0, 0), limit=10, window=5000, max_wait=500,
              hosts=3, presence_ttl=300) for i in range(3)),
    Reserve(0, "b3", Expect(0, 5000, 0), limit=10, window=5000, max_wait=500, hosts=3,
            presence_ttl=300),
    # d2 silent for longer than the presence time: its share is kept free again
    Reserve(450, "c", Expect(0, 4550, -450, hosts=frozenset({"d1"})), limit=10,
            window=5000, max_wait=500, hosts=3, presence_ttl=300),
))

CASES: tuple[Case, ...] = (
    _FIFO, _TOO_FAR, _SLIDES, _CARRIED, _CARRY_NOTHING, _NEWEST, _PAST, _SHARES,
)
