"""The open-files budget: the soft limit is raised to the hard one, and the cap fits it."""

from __future__ import annotations

import resource

import pytest

from fmzokx.descriptors import (
    DEFAULT_CEILING,
    HEADROOM,
    connection_cap,
    raise_soft_limit,
    soft_limit,
)


class FakeLimits:
    def __init__(self, soft: int, hard: int, refuse: bool = False) -> None:
        self.soft, self.hard, self.refuse = soft, hard, refuse
        self.calls: list[tuple[int, int]] = []

    def get(self, kind: int) -> tuple[int, int]:
        assert kind == resource.RLIMIT_NOFILE
        return self.soft, self.hard

    def set(self, kind: int, limits: tuple[int, int]) -> None:
        assert kind == resource.RLIMIT_NOFILE
        self.calls.append(limits)
        if self.refuse:
            raise ValueError("not allowed")
        self.soft, self.hard = limits


def test_the_soft_limit_is_raised_to_the_hard_one() -> None:
    """systemd's default: soft 1,024, hard 524,288."""
    limits = FakeLimits(1024, 524288)
    found = raise_soft_limit(limits.get, limits.set)
    assert limits.calls == [(524288, 524288)]
    assert (found.soft, found.hard, found.before, found.raised) == (524288, 524288, 1024, True)
    assert found.error == ""


def test_an_unlimited_hard_limit_raises_to_a_finite_one() -> None:
    limits = FakeLimits(1024, resource.RLIM_INFINITY)
    found = raise_soft_limit(limits.get, limits.set)
    assert limits.calls == [(1 << 20, resource.RLIM_INFINITY)]
    assert found.soft == 1 << 20 and found.hard is None


def test_nothing_changes_at_the_hard_limit() -> None:
    limits = FakeLimits(4096, 4096)
    found = raise_soft_limit(limits.get, limits.set)
    assert limits.calls == [] and found.soft == 4096 and not found.raised


def test_a_refusal_keeps_the_limit_and_says_why() -> None:
    limits = FakeLimits(1024, 4096, refuse=True)
    found = raise_soft_limit(limits.get, limits.set)
    assert found.soft == 1024 and not found.raised
    assert found.error == "ValueError: not allowed"


def test_the_real_limit_can_be_read() -> None:
    soft = soft_limit()
    assert soft is None or soft == resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@pytest.mark.parametrize(("soft", "requested", "cap"), [
    (1024, None, 1024 - HEADROOM),       # systemd's default soft limit
    (256, None, 128),
    (100, None, 50),                     # tiny limits keep half for connections
    (65536, None, DEFAULT_CEILING),      # a high limit: the default ceiling
    (65536, 20000, 20000),               # asked for more: honoured within the limit
    (1024, 5000, 1024 - HEADROOM),       # asked for more than fits: lowered
    (1024, 10, 10),
    (None, None, DEFAULT_CEILING),       # unknown limit
    (None, 50000, 50000),
])
def test_connection_cap(soft: int | None, requested: int | None, cap: int) -> None:
    assert connection_cap(soft, requested) == cap
