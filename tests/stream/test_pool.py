"""Which connection carries which channel: caps, splits, retiring connections."""

from __future__ import annotations

from typing import Any

from fmzokx.okx.stream.pool import ConnectionPool


class FakeConnection:
    def __init__(self, name: int) -> None:
        self.name = name
        self.state = "idle"

    def __repr__(self) -> str:
        return f"C{self.name}"


def pool(per_connection: int) -> tuple[ConnectionPool, list[Any]]:
    made: list[Any] = []

    def make() -> Any:
        made.append(FakeConnection(len(made)))
        return made[-1]

    return ConnectionPool(make, per_connection), made


def key(n: int) -> tuple[str, str]:
    return ("books", f"I{n:02d}")


def test_channels_fill_a_connection_to_the_cap_then_open_another() -> None:
    p, made = pool(3)
    placed = [p.place(key(n)) for n in range(7)]
    assert placed == [made[0]] * 3 + [made[1]] * 3 + [made[2]]
    p.release(made[1], key(3))
    assert p.place(key(9)) is made[1]  # room again


def test_an_emptied_extra_connection_goes_but_the_first_stays() -> None:
    p, made = pool(1)
    p.place(key(0))
    p.place(key(1))
    p.release(made[1], key(1))
    assert p.connections == [made[0]]
    p.release(made[0], key(0))
    assert p.connections == [made[0]]


def test_a_split_halves_the_cap_and_names_the_channels_to_move() -> None:
    p, made = pool(100)
    for n in range(44):
        p.place(key(n))
    moving = p.split(made[0])
    assert p.cap == 22 and len(moving) == 22
    for k in moving:
        p.release(made[0], k)
        assert p.place(k) is not made[0]
    assert len(p.assigned[made[0]]) == 22 and len(p.assigned[made[1]]) == 22
    assert p.splits == 1


def test_a_retiring_connection_gets_no_new_channels() -> None:
    p, made = pool(10)
    p.place(key(0))
    assert p.retire(made[0]) == [key(0)]
    assert p.place(key(1)) is made[1]
    p.release(made[0], key(0))
    assert made[0] not in p.retiring  # the emptied first connection may serve again


def test_summary_and_clear() -> None:
    p, made = pool(1)
    assert p.summary() == "idle"
    p.place(key(0))
    p.place(key(1))
    made[0].state, made[1].state = "open", "waiting"
    assert p.summary() == "waiting" and p.states() == {"open": 1, "waiting": 1}
    made[1].state = "open"
    assert p.summary() == "open"
    p.clear()
    assert p.connections == [made[0]] and p.assigned == {made[0]: set()}
