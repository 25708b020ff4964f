"""
The daemon's market-data stream against okxsim behaving as OKX documents it (issue 25,
"The WebSocket"): many symbols under a channel cap, quiet channels, upgrade notices,
``seqId`` resets, checksums of 0, "buffer full" closes, and what ``/healthz`` says.

Everything goes through the whole daemon in memory (docker call -> RPC server -> OKX
domain layer -> WebSocket copy or REST -> okxsim) on one fake clock.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from treq.testing import StubTreq

from fmzokx.service import health_document
from fmzokx.sim import SimSettings, public
from tests.stack import Stack
from tests.stream.test_stack import BOOKS, TICKER, check

#: Minutes of a 22-symbol market on a fake clock: two minutes of CPU in all, so these run
#: in their own tox environment (``tox -e slow``), not in every Python's fast run.
pytestmark = pytest.mark.slow

PUBLIC = "/ws/v5/public"


def fmz_symbol(inst_id: str) -> str:
    """``BTC-USDT`` -> ``BTC_USDT``, ``BTC-USDT-SWAP`` -> ``BTC_USDT.swap``..."""
    parts = inst_id.split("-")
    pair = f"{parts[0]}_{parts[1]}"
    if len(parts) == 2:
        return pair
    return f"{pair}.{'swap' if parts[2] == 'SWAP' else parts[2]}"


def rest_calls(stack: Stack) -> int:
    return stack.sim.request_counts[TICKER] + stack.sim.request_counts[BOOKS]


def fault(stack: Stack, mode: str) -> None:
    control = StubTreq(stack.sim.resource())
    response = control.post(
        "http://okxsim.test/_sim/faults",
        data=json.dumps({"path": PUBLIC, "mode": mode}).encode(),
    )
    control.flush()
    assert stack.run(response).code == 200


def ask(stack: Stack, depth: int = 25) -> None:
    check(stack, "ticker", stack.ok("ticker", symbol="BTC_USDT"))
    check(stack, "depth", stack.ok("depth", symbol="BTC_USDT", limit=str(depth)), depth)


# -- subscription caps ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "options"),
    [
        ({}, {}),  # no cap at okxsim
        ({"ws_channel_cap": 30}, {}),  # a 30-channel cap: the daemon stays under it
        ({"ws_channel_cap": 30}, {"per_connection": 100}),  # it splits on 4008
        ({"ws_depth_cap": 15}, {"per_connection": 100}),  # and on 4009
    ],
)
def test_22_symbols_are_spread_over_connections_within_the_caps(
    settings: dict[str, int], options: dict[str, int]
) -> None:
    stack = Stack(
        market_data="ws", sim_settings=SimSettings(**settings), stream_options=options
    )
    stack.run(stack.client.sync_clock())  # /healthz is about the stream alone
    inst_ids = [inst.inst_id for inst in stack.sim.exchange.instruments(stack.sim.now_ms())]
    assert len(inst_ids) == 22
    symbols = [fmz_symbol(inst_id) for inst_id in inst_ids]
    late_rest = []
    statuses = []
    for second in range(30):
        stack.advance(1.0, step=0.1)
        before = rest_calls(stack)
        for symbol in symbols:
            assert stack.ok("ticker", symbol=symbol)
            assert stack.ok("depth", symbol=symbol, limit="5")
        if second >= 20:
            late_rest.append(rest_calls(stack) - before)
        statuses.append(health_document(stack.client, stack.streams)["status"])
    assert late_rest == [0] * 10  # all 440 ticker and depth calls from the stream
    assert statuses == ["ok"] * 30  # /healthz never left ok, splits included
    sessions = stack.sim.ws.state()[PUBLIC]
    assert sum(len(s["subscriptions"]) for s in sessions) == 44
    cap = settings.get("ws_channel_cap") or 29
    assert all(len(s["subscriptions"]) <= cap for s in sessions)
    depth_cap = settings.get("ws_depth_cap") or 29
    assert all(
        sum(sub["channel"] == "books" for sub in s["subscriptions"]) <= depth_cap
        for s in sessions
    )
    assert stack.sim.ws.connections <= 8  # no reconnect loop


# -- quiet channels --------------------------------------------------------------------------


class Stillness:
    """Holds okxsim's market still (its time stays put) while the fake clock runs."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.offset = stack.sim.clock_offset_ms
        self.start = stack.clock.seconds()

    def advance(self, seconds: float, step: float = 0.05) -> None:
        for _ in range(round(seconds / step)):
            self.stack.advance(step, step=step)
            elapsed = self.stack.clock.seconds() - self.start
            self.stack.sim.set_clock_offset(self.offset - round(elapsed * 1000))


@pytest.mark.parametrize("checksum", ["zero", "crc32"])
def test_a_quiet_pair_is_answered_from_the_stream_while_its_copy_is_exact(
    checksum: str,
) -> None:
    stack = Stack(market_data="ws", sim_settings=SimSettings(ws_checksum=checksum))
    stack.ok("depth", symbol="BTC_USDT", limit="20")
    stack.advance(1.5)
    while stack.sim.now_ms() % 1000 != 500:  # the middle of a second
        stack.advance(0.05, step=0.05)
    still = Stillness(stack)
    inst = stack.sim.exchange.instrument("BTC-USDT", stack.sim.now_ms())
    assert inst is not None
    before = rest_calls(stack)
    for _ in range(20):  # 20 depth calls, one every 1.25 s, on a market that holds still
        still.advance(1.25)
        reply = stack.ok("depth", symbol="BTC_USDT", limit="20")
        (book,) = reply["raw"]["data"]
        expected = public.books(stack.sim.market, inst, stack.sim.now_ms(), 20)
        assert (book["asks"], book["bids"]) == (expected["asks"], expected["bids"])
    assert rest_calls(stack) == before  # never "stale": the connection was alive
    assert stack.streams is not None
    assert stack.streams.live.stats.fallbacks[("depth", "stale")] == 0


# -- notices and resets ----------------------------------------------------------------------


def test_an_upgrade_notice_moves_the_channels_before_the_cut() -> None:
    stack = Stack(market_data="ws")
    ask(stack)
    stack.advance(1.0)
    ask(stack)
    (old,) = stack.sim.ws.sessions[PUBLIC]
    before = rest_calls(stack)
    fault(stack, "notice")
    for _ in range(140):  # 35 s: OKX cuts 30 s after its notice
        stack.advance(0.25)
        ask(stack)
    assert rest_calls(stack) == before  # no call fell back
    assert old not in stack.sim.ws.sessions[PUBLIC]
    (new,) = stack.sim.ws.state()[PUBLIC]
    assert {s["channel"] for s in new["subscriptions"]} == {"tickers", "books"}


@pytest.mark.parametrize("mode", ["seq-reset", "buffer-full"])
def test_the_book_stays_exact_through_seq_resets_and_buffer_full_closes(mode: str) -> None:
    stack = Stack(market_data="ws")
    ask(stack, depth=400)
    stack.advance(1.0)
    fault(stack, mode)
    answered = []
    inst = stack.sim.exchange.instrument("BTC-USDT", stack.sim.now_ms())
    assert inst is not None
    for _ in range(40):
        stack.advance(0.25)
        calls = rest_calls(stack)
        # Every answer, stream or REST, is the market (after a reset the stream's seqId
        # restarts low, so only the levels are compared).
        check(stack, "ticker", stack.ok("ticker", symbol="BTC_USDT"))
        (book,) = stack.ok("depth", symbol="BTC_USDT", limit="400")["raw"]["data"]
        expected = public.books(stack.sim.market, inst, int(book["ts"]), 400)
        assert (book["asks"], book["bids"]) == (expected["asks"], expected["bids"])
        answered.append(rest_calls(stack) == calls)
    assert all(answered[-20:])  # and the stream answers again
    assert stack.streams is not None
    assert stack.streams.live.stats.resyncs == {}


# -- health ----------------------------------------------------------------------------------


def test_an_unknown_symbol_is_not_subscribed_and_leaves_healthz_ok() -> None:
    stack = Stack(market_data="ws")
    stack.run(stack.client.sync_clock())
    reply = stack.call("ticker", symbol="NOPE_USDT")
    assert "51001" in reply["error"]
    statuses = set()
    for _ in range(60):  # 5 minutes of a strategy asking for BTC
        stack.advance(5.0, step=0.25)
        ask(stack)
        statuses.add(health_document(stack.client, stack.streams)["status"])
    assert statuses == {"ok"}
    subscribed = [s["subscriptions"] for s in stack.sim.ws.state()[PUBLIC]]
    assert all(sub["instId"] != "NOPE-USDT" for subs in subscribed for sub in subs)
    again = stack.call("depth", symbol="NOPE_USDT")  # still unknown: REST says so again
    assert "51001" in again["error"]


def test_a_stream_that_keeps_reconnecting_is_degraded_steadily_and_named() -> None:
    stack = Stack(market_data="ws")
    stack.run(stack.client.sync_clock())
    ask(stack)
    stack.advance(2.0)
    samples: list[dict[str, Any]] = []
    for second in range(120):
        if second < 40 and second % 3 == 0:
            fault(stack, "disconnect")  # dropped every 3 s for 40 s
        for _ in range(2):
            stack.advance(0.5)
            stack.ok("ticker", symbol="BTC_USDT")
            samples.append(health_document(stack.client, stack.streams))
    statuses = [sample["status"] for sample in samples]
    # Degraded from 10 s into the trouble until it is over: no flapping in between.
    changes = [b for a, b in zip(statuses, statuses[1:], strict=False) if a != b]
    assert changes == ["degraded", "ok"], statuses
    assert set(statuses[24:80]) == {"degraded"}, statuses
    assert statuses[-1] == "ok"
    named = samples[60]["stream"]["live"]["unhealthy"]
    assert any(line.startswith("tickers BTC-USDT: ") for line in named), named
    top = samples[60]["stream"]["unhealthy"]  # /healthz names it at the top of the stream
    assert any(line.startswith("live: tickers BTC-USDT: ") for line in top), top
