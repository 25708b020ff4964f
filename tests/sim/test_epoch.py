"""
A test Clock that starts near the epoch (``Clock()`` barely advanced) still gives
OKX-shaped data: 18-19 digit ids, no negative timestamps.
"""

from __future__ import annotations

from .support import Harness


def test_epoch_clock() -> None:
    """Two minutes after 0: ordIds are 18 digits; candles and trades start at time 0."""
    harness = Harness(start=120)
    ord_id = harness.placed(instId="BTC-USDT", tdMode="cash", side="buy", ordType="market",
                            sz="100")
    assert len(ord_id) == 18 and ord_id.isdigit()
    rows = harness.ok("/api/v5/market/candles?instId=BTC-USDT&bar=1m", private=False)
    assert [int(r[0]) for r in rows] == [120_000, 60_000, 0]
    trades = harness.ok("/api/v5/market/trades?instId=BTC-USDT&limit=500", private=False)
    assert len(trades) == 121 and min(int(t["ts"]) for t in trades) == 0
