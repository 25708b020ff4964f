"""
okxsim's WebSocket channels show the market its REST endpoints show, at the same moment.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from fmzokx.okx.stream.book import checksum

from .ws_support import Recorder, WsHarness


def subscribe(
    harness: WsHarness, channel: str, inst_id: str = "BTC-USDT", path: str = "/ws/v5/public"
) -> tuple[Recorder, list[dict[str, Any]]]:
    """A client subscribed to one channel, and what followed the acknowledgement."""
    client, _ = harness.connect(path)
    client.send_json({"op": "subscribe", "args": [{"channel": channel, "instId": inst_id}]})
    harness.flush()
    received = client.messages()
    assert received[0]["event"] == "subscribe", received
    return client, received[1:]


def pushes(client: Recorder) -> list[dict[str, Any]]:
    return [m for m in client.messages() if isinstance(m, dict) and "data" in m]


@pytest.mark.parametrize("cadence", ["okx", "tick"])
@pytest.mark.parametrize("inst_id", ["BTC-USDT", "ETH-USDT-SWAP", "BTC-USD-SWAP"])
def test_ticker_equals_the_rest_ticker_at_the_moment_of_the_push(
    inst_id: str, cadence: str
) -> None:
    harness = WsHarness(ws_cadence=cadence)
    client, _ = subscribe(harness, "tickers", inst_id)
    second = int(harness.sim.now_ms() // 1000)
    for _ in range(25):
        harness.clock.advance(0.1)
        harness.flush()
        now = int(harness.sim.now_ms() // 1000)
        got = pushes(client)
        if cadence == "okx" and now == second:
            # OKX pushes a ticker only on a trade or a best bid/ask change.
            assert got == []
            continue
        second = now
        (push,) = got
        (rest,) = harness.rest(f"/api/v5/market/ticker?instId={inst_id}")
        assert push["data"] == [rest]
        assert push["arg"] == {"channel": "tickers", "instId": inst_id}


def test_with_okx_cadence_a_still_market_pushes_nothing_but_the_book_keepalive() -> None:
    harness = WsHarness()
    ticker, _ = subscribe(harness, "tickers")
    books, (snapshot,) = subscribe(harness, "books")
    (item,) = snapshot["data"]
    assert item["checksum"] == 0  # OKX's 2026 docs: fixed to 0
    # The market holds still: the simulator's time stays put while the clock runs.
    offset = harness.sim.clock_offset_ms
    start = harness.clock.seconds()
    keepalives = []
    for step in range(1, 651):  # 65 s
        harness.clock.advance(0.1)
        harness.sim.set_clock_offset(offset - round((harness.clock.seconds() - start) * 1000))
        harness.flush()
        assert pushes(ticker) == []
        keepalives += pushes(books)
        if step % 100 == 0:  # keeps the connections from the 30 s idle close
            ticker.send_text("ping")
            books.send_text("ping")
    assert len(keepalives) == 1  # after about a minute
    (update,) = keepalives[0]["data"]
    assert update["asks"] == update["bids"] == []
    assert update["prevSeqId"] == update["seqId"] == item["seqId"]


def rest_book(harness: WsHarness, depth: int, inst_id: str = "BTC-USDT") -> dict[str, Any]:
    (book,) = harness.rest(f"/api/v5/market/books?instId={inst_id}&sz={depth}")
    return dict(book)


def test_books_snapshot_then_updates_track_the_rest_book_second_by_second() -> None:
    harness = WsHarness(ws_cadence="tick", ws_checksum="crc32")
    client, (snapshot,) = subscribe(harness, "books")
    assert snapshot["action"] == "snapshot"
    (item,) = snapshot["data"]
    assert {k: item[k] for k in ("asks", "bids", "ts", "seqId")} == rest_book(harness, 400)
    assert len(item["asks"]) == 400 and item["prevSeqId"] == -1
    assert item["checksum"] == checksum(item["bids"], item["asks"])

    asks = {row[0]: row for row in item["asks"]}
    bids = {row[0]: row for row in item["bids"]}
    seq = item["seqId"]
    new_seconds = 0
    for _ in range(35):
        harness.clock.advance(0.1)
        harness.flush()
        (push,) = pushes(client)
        (update,) = push["data"]
        assert push["action"] == "update"
        assert update["prevSeqId"] == seq
        if update["seqId"] != seq:
            new_seconds += 1
            assert update["asks"] or update["bids"]
        else:
            assert update["asks"] == update["bids"] == []
        seq = update["seqId"]
        for side, rows in ((asks, update["asks"]), (bids, update["bids"])):
            for row in rows:
                if row[1] == "0":
                    del side[row[0]]
                else:
                    side[row[0]] = row
        mine = {
            "asks": sorted(asks.values(), key=lambda r: Decimal(r[0])),
            "bids": sorted(bids.values(), key=lambda r: Decimal(r[0]), reverse=True),
            "ts": update["ts"],
            "seqId": seq,
        }
        assert mine == rest_book(harness, 400)
        assert update["checksum"] == checksum(mine["bids"][:25], mine["asks"][:25])
    assert new_seconds >= 3


@pytest.mark.parametrize(("channel", "depth"), [("books5", 5), ("bbo-tbt", 1)])
def test_top_of_book_channels_equal_rest(channel: str, depth: int) -> None:
    harness = WsHarness(ws_cadence="tick")
    client, _ = subscribe(harness, channel)
    for _ in range(12):
        harness.clock.advance(0.1)
        harness.flush()
        (push,) = pushes(client)
        (item,) = push["data"]
        book = rest_book(harness, depth)
        assert item["asks"] == book["asks"] and item["bids"] == book["bids"]
        assert item["ts"] == book["ts"] and item["seqId"] == book["seqId"]
        assert ("instId" in item) == (channel == "books5")


@pytest.mark.parametrize(("channel", "path"), [("trades", "/ws/v5/public"),
                                               ("trades-all", "/ws/v5/business")])
def test_trades_after_the_subscription_are_the_rest_trades(channel: str, path: str) -> None:
    harness = WsHarness()
    client, first = subscribe(harness, channel, path=path)
    assert first == []
    harness.advance(5.0)
    rows = [push["data"][0] for push in pushes(client)]
    assert len(rows) == 5
    rest = harness.rest("/api/v5/market/trades?instId=BTC-USDT&limit=5")
    for mine, theirs in zip(reversed(rows), rest, strict=True):
        extra = {"count": "1", "seqId": int(theirs["tradeId"])} if channel == "trades" else {}
        assert mine == {**theirs, **extra}


def test_candles_on_the_business_path_equal_rest() -> None:
    harness = WsHarness()
    client, (first,) = subscribe(harness, "candle1m", path="/ws/v5/business")
    assert first["data"] == harness.rest("/api/v5/market/candles?instId=BTC-USDT&bar=1m&limit=1")
    harness.clock.advance(1.0)
    harness.flush()
    (push,) = pushes(client)
    assert push["data"] == harness.rest("/api/v5/market/candles?instId=BTC-USDT&bar=1m&limit=1")
    harness.clock.advance(0.2)
    harness.flush()
    assert pushes(client) == []  # at most every 500 ms


@pytest.mark.parametrize(
    ("channel", "path"),
    [("trades-all", "/ws/v5/public"), ("books", "/ws/v5/business"),
     ("candle1H", "/ws/v5/public"), ("candle7m", "/ws/v5/business")],
)
def test_each_channel_lives_on_its_okx_path_only(channel: str, path: str) -> None:
    harness = WsHarness()
    client, _ = harness.connect(path)
    client.send_json({"op": "subscribe", "args": [{"channel": channel, "instId": "BTC-USDT"}]})
    harness.flush()
    (error,) = client.messages()
    assert error["code"] == "60018"
