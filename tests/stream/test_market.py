"""
The market-data copy against okxsim, in memory on a fake clock.

Every answer the copy gives is checked against the market itself: a ticker or book
answered from the stream must be exactly what okxsim's REST shows at the answer's own
``ts``, and that ``ts`` must be within the freshness budget of now. Answers that cannot
meet that must be ``None`` (the caller then asks REST), including through every fault.
"""

from __future__ import annotations

from typing import Any

import pytest

from fmzokx.sim import public

from .support import SimStream

BTC = "BTC-USDT"
SLACK = 0.002  # the simulator's timestamps are whole milliseconds


def check_ticker(stream: SimStream, answer: dict[str, Any] | None, inst_id: str = BTC) -> bool:
    """An answer is None, or the market's ticker at its ts, within the budget of now."""
    if answer is None:
        return False
    ts = int(answer["ts"])
    inst = stream.sim.exchange.instrument(inst_id, ts)
    assert inst is not None
    assert answer == public.ticker(stream.sim.market, inst, ts)
    assert stream.clock.seconds() - ts / 1000 <= stream.md.freshness + SLACK
    return True


def check_depth(stream: SimStream, answer: dict[str, Any] | None, limit: int) -> bool:
    if answer is None:
        return False
    ts = int(answer["ts"])
    inst = stream.sim.exchange.instrument(BTC, ts)
    assert inst is not None
    assert answer == public.books(stream.sim.market, inst, ts, limit)
    assert stream.clock.seconds() - ts / 1000 <= stream.md.freshness + SLACK
    return True


def run(stream: SimStream, seconds: float, limit: int = 400) -> tuple[int, int]:
    """Ask for the ticker and the book every 50 ms; check every answer; count them."""
    answered = asked = 0
    steps = round(seconds / 0.05)
    for _ in range(steps):
        stream.advance(0.05)
        asked += 1
        ticker = check_ticker(stream, stream.md.ticker(BTC))
        depth = check_depth(stream, stream.md.depth(BTC, limit), limit)
        answered += ticker and depth
    return answered, asked


def test_first_query_subscribes_then_answers_equal_rest_at_that_moment() -> None:
    stream = SimStream()
    assert stream.md.ticker(BTC) is None
    assert stream.md.depth(BTC, 20) is None
    assert stream.md.stats.fallbacks[("ticker", "cold")] == 1
    stream.settle()
    assert stream.md.ticker(BTC) == stream.rest(f"/api/v5/market/ticker?instId={BTC}")[0]
    for limit in (1, 5, 400):
        assert stream.md.depth(BTC, limit) == stream.rest(
            f"/api/v5/market/books?instId={BTC}&sz={limit}"
        )[0]
    assert stream.md.stats.answers["ticker"] == 1 and stream.md.stats.answers["depth"] == 3
    assert stream.md.depth(BTC, 401) is None and stream.md.depth(BTC, 0) is None
    assert len(stream.attempts) == 1  # both public channels on one connection


def test_answers_stay_exact_and_fresh_over_time() -> None:
    stream = SimStream()
    stream.md.ticker(BTC)
    stream.md.depth(BTC, 400)
    stream.settle()
    answered, asked = run(stream, 6.0)
    assert answered == asked
    assert stream.md.stats.last_lag["tickers"] < 0.01


def test_trades_from_the_stream_alone_then_joined_to_rest() -> None:
    stream = SimStream()
    assert stream.md.trades(BTC, 5) is None
    stream.settle()
    assert stream.md.trades(BTC, 1) is None  # no trade since the subscription yet
    stream.advance(3.0)
    three = stream.md.trades(BTC, 3)
    assert three == stream.rest(f"/api/v5/market/trades?instId={BTC}&limit=3")
    assert stream.md.trades(BTC, 100) is None
    assert stream.md.stats.fallbacks[("trades", "short")] >= 1
    mark = stream.md.trades_mark(BTC)
    rows = stream.rest(f"/api/v5/market/trades?instId={BTC}&limit=500")
    assert stream.md.seed_trades(BTC, rows, mark)
    stream.advance(2.0)
    for limit in (1, 100, 500):
        assert stream.md.trades(BTC, limit) == stream.rest(
            f"/api/v5/market/trades?instId={BTC}&limit={limit}"
        )


def test_rest_rows_that_could_leave_a_gap_are_not_joined() -> None:
    stream = SimStream()
    stream.md.trades(BTC, 5)
    assert stream.md.trades_mark(BTC) is None  # not live yet: a trade could slip between
    stream.settle()
    mark = stream.md.trades_mark(BTC)
    stream.ws.add_fault("/ws/v5/business", "disconnect")
    stream.advance(1.0)
    rows = stream.rest(f"/api/v5/market/trades?instId={BTC}&limit=100")
    assert not stream.md.seed_trades(BTC, rows, mark)  # a reconnect came in between
    assert stream.md.trades(BTC, 50) is None


@pytest.mark.parametrize(
    ("mode", "reason"), [("bad-checksum", "checksum"), ("out-of-order", "gap")]
)
def test_a_broken_book_is_resubscribed_and_never_answered_from(mode: str, reason: str) -> None:
    stream = SimStream()
    stream.md.ticker(BTC)
    stream.md.depth(BTC, 400)
    stream.settle()
    unanswered = []
    for _ in range(3):
        stream.ws.add_fault("/ws/v5/public", mode)
        answered, asked = run(stream, 5.0, limit=50)
        unanswered.append(asked - answered)
    # The first rebuild is at once; one within a minute of the last waits 1 s, then 2 s.
    assert unanswered[0] <= 4
    assert 20 <= unanswered[1] <= 26 and 40 <= unanswered[2] <= 46
    assert stream.md.stats.resyncs[("books", reason)] == 3
    assert len(stream.attempts) == 1  # rebuilt on the same connection


def test_a_book_waiting_for_its_new_snapshot_is_not_answered_from() -> None:
    stream = SimStream()
    stream.md.depth(BTC, 5)
    stream.settle()
    book = stream.md.depth(BTC, 5)
    assert book is not None
    connection = stream.md.connections["/ws/v5/public"]
    broken = {"asks": [], "bids": [], "ts": book["ts"], "checksum": 0,
              "prevSeqId": book["seqId"] + 7, "seqId": book["seqId"] + 8}
    stream.md.stream_push(connection, {"arg": {"channel": "books", "instId": BTC},
                                       "action": "update", "data": [broken]})
    assert stream.md.depth(BTC, 5) is None
    assert stream.md.stats.fallbacks[("depth", "unsynced")] == 1
    stream.advance(0.1)
    assert check_depth(stream, stream.md.depth(BTC, 5), 5)


def test_dropped_connection_falls_back_then_recovers() -> None:
    stream = SimStream()
    stream.md.ticker(BTC)
    stream.md.depth(BTC, 400)
    stream.settle()
    stream.ws.add_fault("/ws/v5/public", "disconnect")
    answered, asked = run(stream, 0.2)
    assert answered == 0
    answered, asked = run(stream, 5.0)
    assert answered >= asked - 10
    assert len(stream.attempts) == 2 and stream.md.stats.reconnects["/ws/v5/public"] == 1


def test_stalled_connection_is_stale_within_the_budget_then_replaced() -> None:
    stream = SimStream()
    stream.md.ticker(BTC)
    stream.md.depth(BTC, 400)
    stream.settle()
    stream.ws.add_fault("/ws/v5/public", "stall")
    answered, asked = run(stream, 1.5)
    assert 0 < answered < asked  # answers until the budget runs out, checked exact
    answered, asked = run(stream, 3.5)
    assert answered == 0
    assert stream.md.stats.fallbacks[("ticker", "stale")] > 0
    assert stream.md.health()["status"] == "ok"  # not yet past the grace period
    answered, asked = run(stream, 5.0)
    assert answered > asked / 2  # the query's ping went unanswered: reconnected
    assert len(stream.attempts) == 2


def test_unknown_instrument_is_left_to_rest_and_retried_later() -> None:
    stream = SimStream()
    assert stream.md.ticker("NOPE-USDT") is None
    stream.md.ticker(BTC)
    stream.settle()
    assert stream.md.ticker("NOPE-USDT") is None
    assert stream.md.stats.fallbacks[("ticker", "failed")] >= 1
    assert stream.md.ticker(BTC) is not None
    stream.advance(61.0, step=0.5)
    stream.md.ticker("NOPE-USDT")  # retried: refused again
    stream.advance(0.3)
    assert stream.md.feeds[("tickers", "NOPE-USDT")].state == "refused"


def test_channels_nobody_asks_about_are_unsubscribed() -> None:
    stream = SimStream(linger=30.0)
    stream.md.ticker(BTC)
    stream.md.ticker("ETH-USDT")
    stream.settle()
    for _ in range(20):
        stream.advance(1.0, step=0.25)
        stream.md.ticker("ETH-USDT")
    stream.advance(11.0, step=0.25)
    assert ("tickers", BTC) not in stream.md.feeds
    (session,) = stream.ws.sessions["/ws/v5/public"]
    assert list(session.feeds) == [("tickers", "ETH-USDT")]
    stream.advance(31.0, step=0.25)
    assert stream.md.feeds == {} and stream.ws.sessions["/ws/v5/public"] == []
    assert stream.md.connections["/ws/v5/public"].state == "idle"


def test_reconnect_storm_stays_within_okx_limits() -> None:
    stream = SimStream(rate_limits=True)
    for inst_id in ("BTC-USDT", "ETH-USDT", "BTC-USDT-SWAP"):
        stream.md.ticker(inst_id)
        stream.md.trades(inst_id, 10)
    stream.md.depth(BTC, 20)
    stream.settle()
    for _ in range(30):
        for path in ("/ws/v5/public", "/ws/v5/business"):
            stream.ws.add_fault(path, "disconnect")
        stream.advance(0.5)
    stream.advance(40.0, step=0.5)
    attempts = stream.attempts
    for index, moment in enumerate(attempts):
        within = [t for t in attempts[index:] if t < moment + 1.0]
        assert len(within) <= 3
    # okxsim enforces the same limits: it never had to refuse a connection (429).
    assert stream.ws.connections == len(attempts)
    assert stream.md.connections["/ws/v5/public"].state == "open"
    assert stream.md.ticker("ETH-USDT") is not None


def test_network_down_for_minutes_costs_few_attempts() -> None:
    stream = SimStream()
    stream.md.ticker(BTC)
    stream.settle()
    stream.down = True
    stream.ws.add_fault("/ws/v5/public", "disconnect")
    for _ in range(300):
        stream.advance(1.0, step=0.5)
        assert stream.md.ticker(BTC) is None  # the docker keeps asking: REST answers
    assert len(stream.attempts) <= 25
    late = stream.attempts[-8:]
    assert all(b - a >= 15 for a, b in zip(late, late[1:], strict=False))  # at the cap
    stream.down = False
    stream.advance(31.0, step=0.5)
    assert check_ticker(stream, stream.md.ticker(BTC))


def test_health_reports_a_degraded_stream() -> None:
    stream = SimStream()
    assert stream.md.health()["status"] == "idle"
    stream.md.ticker(BTC)
    stream.settle()
    assert stream.md.health() == {
        "status": "ok",
        "connections": {"/ws/v5/public": "open", "/ws/v5/business": "idle"},
        "channels": {"tickers": {"live": 1}},
    }
    stream.down = True
    stream.ws.add_fault("/ws/v5/public", "disconnect")
    stream.advance(12.0, step=0.5)
    health = stream.md.health()
    assert health["status"] == "degraded"
    assert health["channels"] == {"tickers": {"subscribing": 1}}


def test_stop_closes_everything() -> None:
    stream = SimStream()
    stream.md.ticker(BTC)
    stream.md.trades(BTC, 1)
    stream.settle()
    stream.md.stop()
    stream.advance(5.0)
    assert stream.ws.sessions == {"/ws/v5/public": [], "/ws/v5/business": [], "/ws/v5/private": []}
    assert len(stream.attempts) == 2


def test_observer_sees_every_event() -> None:
    seen: list[tuple[str, ...]] = []

    class Observer:
        def stream_message(self, channel: str, lag: float | None) -> None:
            seen.append(("message", channel))

        def stream_resync(self, channel: str, reason: str) -> None:
            seen.append(("resync", channel, reason))

        def stream_fallback(self, method: str, reason: str) -> None:
            seen.append(("fallback", method, reason))

        def stream_reconnect(self, path: str) -> None:
            seen.append(("reconnect", path))

    stream = SimStream()
    stream.md.stats.observer = Observer()
    stream.md.depth(BTC, 5)
    stream.settle()
    stream.ws.add_fault("/ws/v5/public", "bad-checksum")
    stream.advance(0.2)
    stream.ws.add_fault("/ws/v5/public", "disconnect")
    stream.advance(0.2)
    assert ("fallback", "depth", "cold") in seen
    assert ("message", "books") in seen
    assert ("resync", "books", "checksum") in seen
    assert ("reconnect", "/ws/v5/public") in seen



def test_pushes_for_another_instrument_are_not_taken() -> None:
    stream = SimStream()
    stream.md.ticker(BTC)
    stream.settle()
    connection = stream.md.connections["/ws/v5/public"]
    wrong = dict(stream.md.ticker(BTC) or {}, instId="ETH-USDT", last="1")
    stream.md.stream_push(connection, {"arg": {"channel": "tickers", "instId": BTC},
                                       "data": [wrong]})
    assert check_ticker(stream, stream.md.ticker(BTC))



def test_a_refused_handshake_is_retried_soon_and_pauses_the_pool() -> None:
    """OKX's 3 connections a second are per IP: another process behind it spends them too."""
    stream = SimStream(rate_limits=True, per_connection=2)
    start = stream.clock.seconds()
    for _ in range(3):  # another daemon on this IP takes this second's connections
        assert stream.harness.connect()[0].opened
    insts = ("BTC-USDT", "ETH-USDT", "LTC-USDT", "SOL-USDT", "XRP-USDT", "DOGE-USDT")
    for inst in insts:
        stream.md.ticker(inst)  # 6 channels: 3 connections
    stream.advance(0.1)
    assert len(stream.attempts) == 3
    assert len(stream.ws.sessions["/ws/v5/public"]) == 3  # the neighbour's only
    # The three refusals paused every new connection, once: they came together.
    assert stream.md.limiter.backoff.failures == 1
    stream.advance(3.0)
    # Retried after the pause, not after the 10 s handshake timeout.
    assert len(stream.attempts) == 6 and stream.attempts[-1] - start < 3.0, stream.attempts
    assert stream.md.health()["connections"]["/ws/v5/public"] == "open"
    assert all(stream.md.ticker(inst) is not None for inst in insts)


def test_a_cut_before_the_replacement_is_ready_falls_back_then_recovers() -> None:
    stream = SimStream(settings={})
    stream.md.ticker(BTC)
    stream.md.depth(BTC, 5)
    stream.settle()
    stream.advance(1.0)
    assert check_depth(stream, stream.md.depth(BTC, 5), 5)
    stream.ws.notice_lead = 0.2
    stream.down = True  # the replacement cannot connect before the cut
    stream.ws.add_fault("/ws/v5/public", "notice")
    stream.advance(0.1)
    assert stream.md.depth(BTC, 5) is not None  # the old connection still answers
    stream.advance(1.0)
    assert stream.md.depth(BTC, 5) is None  # cut: REST answers meanwhile
    assert set(stream.md.feeds) == {("tickers", BTC), ("books", BTC)}
    stream.down = False
    stream.advance(10.0, step=0.1)
    assert check_depth(stream, stream.md.depth(BTC, 5), 5)
    assert stream.md.successors == {}
    sessions = stream.ws.state()["/ws/v5/public"]
    assert [len(s["subscriptions"]) for s in sessions] == [2]
