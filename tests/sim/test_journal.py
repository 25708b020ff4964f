"""
The request journal: what the simulator received, byte for byte, for a client's tests.
"""

from __future__ import annotations

import pytest

from fmzokx.okx.rest.signing import encode_body
from fmzokx.sim.journal import Journal

from .support import START, Harness


def test_journal_is_off_by_default() -> None:
    """A simulator keeps no requests unless asked to (a long-running okxsim keeps nothing)."""
    harness = Harness()
    harness.get("/api/v5/public/time", private=False)
    assert harness.sim.requests() == []
    assert harness.sim.state()["requests"] == {"/api/v5/public/time": 1}


def test_requests_are_recorded_as_received() -> None:
    """Method, raw target, headers, body and arrival time, faulted requests included."""
    harness = Harness(journal_size=10)
    target = "/api/v5/account/balance?ccy=BTC,USDT&note=a%20b"
    harness.get(target)
    harness.clock.advance(1.5)
    harness.sim.add_fault("/api/v5/trade/order", "http-500")
    payload = {"instId": "BTC-USDT", "note": "中文"}
    harness.post("/api/v5/trade/order", payload)
    first, second = harness.sim.requests()
    assert (first.method, first.target, first.path) == (
        "GET", target.encode(), "/api/v5/account/balance")
    assert first.query == b"ccy=BTC,USDT&note=a%20b"
    assert first.headers["ok-access-key"] == "okxsim-demo-key"
    assert (first.body, first.at) == (b"", START)
    assert (second.method, second.body, second.at) == ("POST", encode_body(payload), START + 1.5)
    assert second.headers["content-type"] == "application/json"
    assert harness.sim.requests("/api/v5/trade/order") == [second]


def test_journal_keeps_the_newest_and_reset_clears_it() -> None:
    """Beyond its size the journal forgets the oldest; a reset forgets all."""
    harness = Harness(journal_size=2)
    for i in range(3):
        harness.get(f"/api/v5/market/ticker?instId=BTC-USDT&n={i}", private=False)
    assert [seen.query for seen in harness.sim.requests()] == [
        b"instId=BTC-USDT&n=1", b"instId=BTC-USDT&n=2"]
    harness.sim.reset()
    assert harness.sim.requests() == []


def test_negative_size_is_refused() -> None:
    with pytest.raises(ValueError):
        Journal(-1)
