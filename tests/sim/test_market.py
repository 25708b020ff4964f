"""
The deterministic market: same seed and time give the same prices, candles of every
size agree with each other and with the trade tape, and the book brackets the last price.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from fmzokx.sim.instruments import catalogue, future_expiries
from fmzokx.sim.market import Market
from fmzokx.sim.numbers import parse_decimal, render

from .support import START

NOW_MS = int(START * 1000)
INSTRUMENTS = {inst.inst_id: inst for inst in catalogue(NOW_MS)}
BTC = INSTRUMENTS["BTC-USDT"]


def test_prices_are_a_function_of_seed_and_time() -> None:
    """Two markets with one seed agree; another seed gives another path."""
    times = [START + k * 3600.5 for k in range(24)]
    first = [Market(7).last(BTC, t) for t in times]
    assert first == [Market(7).last(BTC, t) for t in times]
    assert first != [Market(8).last(BTC, t) for t in times]
    assert len(set(first)) > 12


def test_prices_are_on_the_tick_and_realistic() -> None:
    """Every trade price is a multiple of tickSz and stays near the instrument's level."""
    market = Market(1)
    for trade in market.trades(BTC, START, 500):
        assert trade.px % BTC.tick_sz == 0
        assert Decimal(30000) < trade.px < Decimal(120000)
        assert trade.sz > 0 and trade.sz % BTC.lot_sz == 0


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=90 * 86400), st.integers(1, 7200))
def test_spans_merge(offset: int, width: int) -> None:
    """OHLCV over [a, c) equals the merge of [a, b) and [b, c), for any split."""
    walk = Market(3).walk(BTC)
    start = int(START) - offset
    middle = start + width // 2 + 1
    end = start + width + 2
    whole = walk.span(start, end)
    left, right = walk.span(start, middle), walk.span(middle, end)
    assert whole == left.merge(right)
    assert whole.low <= min(whole.open, whole.close) <= max(whole.open, whole.close) <= whole.high


def test_one_minute_candles_match_the_trades() -> None:
    """Each 1m bar's close is its last trade, and all its trades lie within high/low."""
    market = Market(1)
    second = int(START)
    trades = market.trades(BTC, START, 600)
    minute = second - second % 60 - 60
    inside = [t for t in trades if minute * 1000 <= t.ts_ms < (minute + 60) * 1000]
    o, h, lo, c, vol = market.span(BTC, minute, minute + 60)
    assert len(inside) == 60
    assert inside[0].px == c
    assert all(lo <= t.px <= h for t in inside)
    assert sum(t.sz for t in inside) == vol
    assert max(t.px for t in inside) == h or o == h
    assert min(t.px for t in inside) == lo or o == lo


def test_bars_of_different_sizes_agree() -> None:
    """An hour bar equals the aggregate of its sixty minute bars and its twelve 5m bars."""
    market = Market(5)
    hour = int(START) // 3600 * 3600 - 3600
    minutes = [market.span(BTC, hour + 60 * k, hour + 60 * (k + 1)) for k in range(60)]
    fives = [market.span(BTC, hour + 300 * k, hour + 300 * (k + 1)) for k in range(12)]
    whole = market.span(BTC, hour, hour + 3600)
    for parts in (minutes, fives):
        assert parts[0][0] == whole[0]
        assert max(p[1] for p in parts) == whole[1]
        assert min(p[2] for p in parts) == whole[2]
        assert parts[-1][3] == whole[3]
        assert sum(p[4] for p in parts) == whole[4]


def test_spot_and_swap_share_the_underlying_path() -> None:
    """BTC-USDT and BTC-USDT-SWAP (same tick) trade at the same price."""
    market = Market(1)
    swap = INSTRUMENTS["BTC-USDT-SWAP"]
    assert market.last(BTC, START) == market.last(swap, START)


def test_book_brackets_the_last_price() -> None:
    """Best bid is the last price, asks ascend from one tick above, bids descend."""
    market = Market(1)
    asks, bids = market.book(BTC, START, 20)
    last = market.last(BTC, START)
    assert bids[0].px == last
    assert asks[0].px == last + BTC.tick_sz
    assert [a.px for a in asks] == sorted(a.px for a in asks)
    assert [b.px for b in bids] == sorted((b.px for b in bids), reverse=True)


def test_first_touch_finds_the_first_crossing() -> None:
    """first_touch returns the first second whose trade reaches the price, not a later one."""
    market = Market(2)
    start = int(START) + 1
    lowest = market.span(BTC, start + 1, start + 7200)[2]
    hit = market.first_touch(BTC, start, start + 7200, lowest, buy=True)
    assert hit is not None
    assert market.last(BTC, hit) == lowest
    assert all(market.last(BTC, s) > lowest for s in range(start, hit))
    assert market.first_touch(BTC, start, start + 7200, lowest - 1, buy=True) is None


def test_long_clock_jumps_are_cheap() -> None:
    """Prices a year ahead are computed directly, without walking every second."""
    market = Market(1)
    later = START + 365 * 86400
    assert market.last(BTC, later) > 0
    assert market.span(BTC, int(later) - 86400, int(later) + 1)[4] > 0


def test_futures_expiries_roll_on_friday_0800() -> None:
    """this_week is the next Friday 08:00 UTC; quarter is the last Friday of the quarter."""
    expiries = dict(future_expiries(NOW_MS))
    assert expiries["this_week"] == 1_764_316_800_000  # Fri 2025-11-28 08:00 UTC
    assert expiries["next_week"] == expiries["this_week"] + 7 * 86_400_000
    assert expiries["quarter"] == 1_766_736_000_000  # Fri 2025-12-26 08:00 UTC
    assert expiries["next_quarter"] == 1_774_598_400_000  # Fri 2026-03-27 08:00 UTC
    friday_morning = 1_764_316_800_000
    assert dict(future_expiries(friday_morning))["this_week"] == friday_morning + 7 * 86_400_000


def test_render_never_uses_exponents() -> None:
    """Decimals render plainly: no exponent, no trailing zeros, zero as "0"."""
    assert render(Decimal("1E+2")) == "100"
    assert render(Decimal("0.000000010")) == "0.00000001"
    assert render(Decimal("-0.00")) == "0"
    assert render(Decimal("59042.60")) == "59042.6"
    assert parse_decimal("1e-3") == Decimal("0.001")
    assert parse_decimal(0.1) == Decimal("0.1")
    assert parse_decimal("nan") is None
    assert parse_decimal(True) is None
