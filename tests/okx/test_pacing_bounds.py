"""
The pacer's budget table stays bounded under an adversarial stream of keys and paths,
and pacing still holds for the budgets in use.
"""

from __future__ import annotations

from twisted.internet.task import Clock

from fmzokx.okx.pacing.limits import rule_for
from fmzokx.okx.pacing.pacer import MAX_BUDGETS, Pacer, budget_key

TICKER = "/api/v5/market/ticker"


def test_budgets_are_capped_under_distinct_keys_and_paths() -> None:
    """50,000 distinct (key, path) budgets within one sweep interval: at most the cap."""
    clock = Clock()
    pacer = Pacer(clock, max_budgets=1000)
    for n in range(50_000):
        clock.advance(0.0005)  # 25 s in all: no idle sweep yet
        rule = rule_for("GET", f"/api/v5/rand/p{n}", signed=True)
        pacer.reserve(rule, budget_key(rule, identity=f"key-{n % 7000}"))
    assert len(pacer.window_counts()) == 1000
    assert Pacer(clock).max_budgets == MAX_BUDGETS


def test_a_busy_budget_survives_a_flood_of_new_ones() -> None:
    """The budget in use is the most recently used: the flood evicts others, not it."""
    clock = Clock()
    pacer = Pacer(clock, max_budgets=100)
    ticker = rule_for("GET", TICKER, signed=False)
    shared = budget_key(ticker, identity="anonymous")
    waits = []
    for n in range(1000):
        rule = rule_for("GET", f"/api/v5/rand/p{n}", signed=True)
        pacer.reserve(rule, budget_key(rule, identity=f"key-{n}"))
        if n % 40 == 0:
            waits.append(pacer.reserve(ticker, shared))
    # 25 ticker reservations at the same instant: 20 now, the rest one window later.
    assert waits[:20] == [0.0] * 20 and all(w > 2 for w in waits[20:])
    assert shared in pacer.window_counts()
