"""
A taker's walk starts on a short book and builds the deep one only when it runs out: the
fills must be exactly those of a walk over all of ``BOOK_DEPTH`` levels.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from fmzokx.sim.matching import BOOK_DEPTH, SHORT_BOOK_DEPTH
from fmzokx.sim.numbers import quantize_down
from tests.sim.support import START, Harness

HARNESS = Harness()
EXCHANGE = HARNESS.sim.exchange
NOW_MS = int(START * 1000)


def _reference(inst_id: str, buy: bool, limit: Decimal | None, qty: Decimal | None,
               budget: Decimal | None) -> list[tuple[Decimal, Decimal]]:
    inst = EXCHANGE.catalogue.get(inst_id, NOW_MS)
    assert inst is not None
    asks, bids = EXCHANGE.market.book(inst, NOW_MS / 1000, BOOK_DEPTH)
    fills: list[tuple[Decimal, Decimal]] = []
    for level in asks if buy else bids:
        if limit is not None and (level.px > limit if buy else level.px < limit):
            break
        if qty is not None:
            take = min(qty, level.sz)
            qty -= take
        else:
            assert budget is not None
            take = min(level.sz, quantize_down(budget / level.px, inst.lot_sz))
            budget -= take * level.px
        if take <= 0:
            break
        fills.append((level.px, take))
        if (qty is not None and qty <= 0) or (budget is not None and budget <= 0):
            break
    return fills


@settings(max_examples=150, deadline=None)
@given(
    inst_id=st.sampled_from(["BTC-USDT", "ETH-USDT", "BTC-USDT-SWAP"]),
    buy=st.booleans(),
    levels=st.integers(min_value=0, max_value=3 * SHORT_BOOK_DEPTH),
    deep=st.integers(min_value=0, max_value=3 * SHORT_BOOK_DEPTH),
    part=st.fractions(min_value=0, max_value=1),
    by_budget=st.booleans(),
    limited=st.booleans(),
)
def test_short_first_walk_fills_exactly_as_the_deep_walk(
    inst_id: str, buy: bool, levels: int, deep: int, part: object, by_budget: bool,
    limited: bool,
) -> None:
    """Sizes reach ``deep`` levels and part of the next, often past the short book."""
    inst = EXCHANGE.catalogue.get(inst_id, NOW_MS)
    assert inst is not None
    asks, bids = EXCHANGE.market.book(inst, NOW_MS / 1000, BOOK_DEPTH)
    side = asks if buy else bids
    limit = side[min(levels, len(side) - 1)].px if limited else None
    fraction = Decimal(str(float(part)))  # type: ignore[arg-type]
    size = sum((level.sz for level in side[:deep]), Decimal(0)) + side[deep].sz * fraction
    qty = None if by_budget else max(inst.lot_sz, size)
    budget = None
    if by_budget:
        cost = sum((level.sz * level.px for level in side[:deep]), Decimal(0))
        budget = max(side[0].px * inst.lot_sz, cost + side[deep].sz * side[deep].px * fraction)
    ours = EXCHANGE.matcher._take(inst, buy, NOW_MS, limit, qty=qty, budget=budget)
    assert ours == _reference(inst_id, buy, limit, qty, budget)
    if not limited and deep > SHORT_BOOK_DEPTH:
        assert len(ours) > SHORT_BOOK_DEPTH  # the deep book was built
