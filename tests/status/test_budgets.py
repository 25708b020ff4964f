"""Rate-limit budget use for the status page: the pacer's now and its per-minute peaks."""

from __future__ import annotations

from twisted.internet.task import Clock

from fmzokx.okx.pacing.limits import RateRule, Scope
from fmzokx.okx.pacing.pacer import Pacer, budget_key

ORDER = RateRule("POST", "/api/v5/trade/order", 60, Scope.USER_INST_ID)
TICKER = RateRule("GET", "/api/v5/market/ticker", 20, Scope.IP)


def test_usage_reports_now_and_peaks_per_endpoint_without_keys() -> None:
    clock = Clock()
    clock.advance(1_000_020.0)
    pacer = Pacer(clock)
    for _ in range(30):
        pacer.reserve(ORDER, budget_key(ORDER, identity="key-a", params={"instId": "BTC-USDT"}))
    for _ in range(5):
        pacer.reserve(ORDER, budget_key(ORDER, identity="key-b", params={"instId": "ETH-USDT"}))
    pacer.reserve(TICKER, budget_key(TICKER, identity="key-a"))
    usage = {(row["scope"], row["path"]): row for row in pacer.usage()}
    order = usage[("trade", ORDER.path)]
    assert order == {"scope": "trade", "path": ORDER.path, "used": 30, "limit": 60,
                     "window_s": 2.0, "peak_5m": 30, "peak_60m": 30}
    assert usage[("public", TICKER.path)]["peak_60m"] == 1
    assert "key-a" not in str(usage) and "BTC-USDT" not in str(usage)

    clock.advance(10 * 60)  # the window is empty now; the peak is 10 minutes old
    pacer.reserve(ORDER, budget_key(ORDER, identity="key-a", params={"instId": "BTC-USDT"}))
    order = {(r["scope"], r["path"]): r for r in pacer.usage()}[("trade", ORDER.path)]
    assert (order["used"], order["peak_5m"], order["peak_60m"]) == (1, 1, 30)
    clock.advance(60)  # its window is empty; the peaks and the window length remain
    order = {(r["scope"], r["path"]): r for r in pacer.usage()}[("trade", ORDER.path)]
    assert (order["used"], order["peak_60m"], order["window_s"]) == (0, 30, 2.0)

    clock.advance(61 * 60)  # a quiet hour: nothing to report
    assert pacer.usage() == []


def test_disabled_pacer_reports_nothing() -> None:
    clock = Clock()
    pacer = Pacer(clock, enabled=False)
    pacer.reserve(ORDER, budget_key(ORDER, identity="k", params={"instId": "BTC-USDT"}))
    assert pacer.usage() == []
