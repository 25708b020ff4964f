"""
One OKX WebSocket connection against okxsim, in memory on a fake clock: connecting on
demand, batching, resubscribing after a reconnect, keepalive pings, backoff, limits.
"""

from __future__ import annotations

import random
from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory
from twisted.internet.defer import Deferred, fail, succeed

from fmzokx.okx.stream.client import StreamConnection
from fmzokx.okx.stream.limits import ConnectLimiter
from tests.sim.ws_support import WsHarness, record_requests

URL = "ws://127.0.0.1:8443/ws/v5/public"
BTC = {"channel": "tickers", "instId": "BTC-USDT"}
ETH = {"channel": "tickers", "instId": "ETH-USDT"}


class Listener:
    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []
        self.pushes: list[dict[str, Any]] = []

    def stream_opened(self, connection: StreamConnection) -> None:
        self.log.append(("opened", connection.clock.seconds()))

    def stream_closed(self, connection: StreamConnection, reason: str) -> None:
        self.log.append(("closed", reason))

    def stream_event(self, connection: StreamConnection, event: dict[str, Any],
                     args: list[dict[str, str]]) -> None:
        self.log.append((str(event.get("event")), (event, args)))

    def stream_push(self, connection: StreamConnection, message: dict[str, Any]) -> None:
        self.pushes.append(message)

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.log]


class Setup:
    """okxsim, one StreamConnection to it, and a record of what the server heard."""

    def __init__(self, rate_limits: bool = True, **options: Any) -> None:
        # okxsim's former cadence: every channel every 100 ms, so traffic is steady.
        self.harness = WsHarness(rate_limits=rate_limits, ws_cadence="tick")
        self.clock = self.harness.clock
        self.listener = Listener()
        self.attempts: list[float] = []
        self.down = False
        self.hang = False
        self.heard: list[str] = []
        self.connection = StreamConnection(
            URL, clock=self.clock, connector=self.connect, limiter=ConnectLimiter(self.clock),
            listener=self.listener, rng=random.Random(3), **options,
        )
        record_requests(self.harness.ws, self.heard)

    def connect(self, url: str, factory: WebSocketClientFactory) -> Deferred[Any]:
        self.attempts.append(self.clock.seconds())
        if self.down:
            return fail(ConnectionRefusedError("down"))
        if self.hang:
            return Deferred()
        client, _ = self.harness.join(factory)
        return succeed(client)

    def advance(self, seconds: float, step: float = 0.05) -> None:
        self.harness.advance(seconds, step)

    def requests(self) -> list[str]:
        return [text for text in self.heard if text != "ping"]


def test_nothing_wanted_nothing_connected() -> None:
    setup = Setup()
    setup.advance(5)
    assert setup.attempts == [] and setup.connection.state == "idle"


def test_subscriptions_made_together_go_out_in_one_request() -> None:
    setup = Setup()
    setup.connection.subscribe(BTC)
    setup.connection.subscribe(ETH)
    setup.connection.subscribe(BTC)  # already wanted
    setup.advance(0.2)
    assert len(setup.attempts) == 1 and setup.connection.state == "open"
    (request,) = setup.requests()
    assert '"op":"subscribe"' in request and "BTC-USDT" in request and "ETH-USDT" in request
    acks = [payload for kind, payload in setup.listener.log if kind == "subscribe"]
    assert [event["arg"] for event, _ in acks] == [BTC, ETH]
    assert all(args == [BTC, ETH] for _, args in acks)
    assert {m["arg"]["instId"] for m in setup.listener.pushes} == {"BTC-USDT", "ETH-USDT"}


def test_everything_is_resubscribed_after_a_reconnect() -> None:
    setup = Setup()
    setup.connection.subscribe(BTC)
    setup.connection.subscribe(ETH)
    setup.advance(0.2)
    dropped_at = setup.clock.seconds()
    setup.harness.ws.add_fault("/ws/v5/public", "disconnect")
    setup.advance(1.0)
    assert ("closed", "dropped") in setup.listener.log
    assert len(setup.attempts) == 2
    assert 0.25 <= setup.attempts[1] - dropped_at <= 0.55  # backoff with jitter, not at once
    assert setup.connection.state == "open"
    last = setup.requests()[-1]
    assert '"op":"subscribe"' in last and "BTC-USDT" in last and "ETH-USDT" in last


def test_silence_brings_a_ping_and_the_pong_keeps_the_connection() -> None:
    setup = Setup(ping_after=0.5)
    setup.connection.subscribe({"channel": "trades", "instId": "BTC-USDT"})  # once a second
    setup.advance(5.0)
    assert 3 <= setup.heard.count("ping") <= 6
    assert setup.connection.state == "open" and len(setup.attempts) == 1


def test_no_pong_drops_the_connection_and_it_comes_back() -> None:
    setup = Setup()
    setup.connection.subscribe(BTC)
    setup.advance(0.2)
    stalled_at = setup.clock.seconds()
    setup.harness.ws.add_fault("/ws/v5/public", "stall")
    setup.advance(20.5, step=0.5)
    assert setup.heard[-1] == "ping" and setup.connection.state == "open"
    setup.advance(6.0, step=0.25)
    assert len(setup.attempts) == 2
    assert 25 <= setup.attempts[1] - stalled_at <= 27  # 20 s silence + 5 s for the pong
    assert setup.connection.state == "open" and setup.listener.pushes[-1]["arg"] == BTC


def test_ping_now_asks_once() -> None:
    setup = Setup()
    setup.connection.subscribe({"channel": "trades", "instId": "BTC-USDT"})
    setup.advance(0.2)
    setup.connection.ping_now()
    setup.connection.ping_now()
    setup.harness.flush()
    assert setup.heard.count("ping") == 1
    setup.connection.ping_now()
    setup.harness.flush()
    assert setup.heard.count("ping") == 2


def test_refused_connections_back_off_and_respect_the_connection_limit() -> None:
    setup = Setup()
    setup.down = True
    setup.connection.subscribe(BTC)
    setup.advance(60.0, step=0.25)
    gaps = [b - a for a, b in zip(setup.attempts, setup.attempts[1:], strict=False)]
    assert len(setup.attempts) < 12
    assert all(gap >= 0.25 for gap in gaps)
    assert gaps[-1] >= 15  # grown towards the 30 s cap
    setup.down = False
    setup.advance(31.0, step=0.25)
    assert setup.connection.state == "open"
    assert setup.connection.backoff.failures == 0  # a subscription was acknowledged


def test_a_handshake_that_never_completes_is_retried() -> None:
    setup = Setup()
    setup.hang = True
    setup.connection.subscribe(BTC)
    setup.advance(11.5, step=0.5)
    assert len(setup.attempts) == 2
    setup.hang = False
    setup.advance(15.0, step=0.5)
    assert setup.connection.state == "open"


def test_the_connection_closes_when_nothing_is_wanted_and_reopens_on_demand() -> None:
    setup = Setup()
    setup.connection.subscribe(BTC)
    setup.advance(0.2)
    setup.connection.unsubscribe(BTC)
    setup.advance(0.5)
    assert setup.connection.state == "idle"
    assert setup.harness.ws.sessions["/ws/v5/public"] == []
    assert ("closed", "no subscriptions left") in setup.listener.log
    setup.advance(2.0)
    setup.connection.subscribe(ETH)
    setup.advance(0.2)
    assert setup.connection.state == "open" and len(setup.attempts) == 2


def test_unsubscribe_of_one_of_several_sends_a_request() -> None:
    setup = Setup()
    setup.connection.subscribe(BTC)
    setup.connection.subscribe(ETH)
    setup.advance(0.2)
    setup.connection.unsubscribe(ETH)
    setup.advance(0.2)
    assert '"op":"unsubscribe"' in setup.requests()[-1]
    setup.listener.pushes.clear()
    setup.advance(0.3)
    assert {m["arg"]["instId"] for m in setup.listener.pushes} == {"BTC-USDT"}


def test_requests_wait_when_the_hourly_budget_is_spent() -> None:
    setup = Setup(op_limit=2)
    setup.connection.subscribe(BTC)
    setup.advance(0.2)
    setup.connection.resubscribe(BTC)  # unsubscribe + subscribe: the second must wait
    setup.advance(1.0)
    assert len(setup.requests()) == 2
    setup.advance(3600.0, step=5.0)
    assert len(setup.attempts) == 1  # kept alive by pings all along
    assert len(setup.requests()) == 3 and '"op":"subscribe"' in setup.requests()[-1]


def test_error_events_come_with_the_request_args() -> None:
    setup = Setup()
    bad = {"channel": "tickers", "instId": "NOPE-USDT"}
    setup.connection.subscribe(bad)
    setup.connection.subscribe(BTC)
    setup.advance(0.2)
    errors = [payload for kind, payload in setup.listener.log if kind == "error"]
    ((event, args),) = errors
    assert event["code"] == "60018" and args == [bad, BTC]


def test_stop_closes_and_forgets() -> None:
    setup = Setup()
    setup.connection.subscribe(BTC)
    setup.advance(0.2)
    setup.connection.stop()
    setup.advance(5.0)
    assert setup.connection.state == "idle" and len(setup.attempts) == 1
    assert setup.harness.ws.sessions["/ws/v5/public"] == []


def test_a_connection_in_use_is_pinged_after_confirm_after_of_silence() -> None:
    setup = Setup(confirm_after=0.5)
    setup.harness.sim.configure(ws_cadence="okx")
    setup.connection.subscribe(BTC)
    setup.advance(0.3)
    # Held still (okxsim's time does not move), the market pushes nothing.
    offset, start = setup.harness.sim.clock_offset_ms, setup.clock.seconds()

    def still(seconds: float) -> None:
        for _ in range(round(seconds / 0.05)):
            setup.advance(0.05)
            elapsed = setup.clock.seconds() - start
            setup.harness.sim.set_clock_offset(offset - round(elapsed * 1000))

    setup.heard.clear()
    still(3.0)
    assert "ping" not in setup.heard  # nobody is asking: OKX's 20 s rule only
    setup.connection.keep_confirmed(setup.clock.seconds() + 3.0)
    still(3.0)
    assert 4 <= setup.heard.count("ping") <= 6  # about every 0.5 s + the round trip
    last = setup.connection.last_inbound
    assert last is not None and setup.clock.seconds() - last < 0.75
    setup.heard.clear()
    still(3.0)  # the wish has run out
    assert "ping" not in setup.heard


def test_the_backoff_resets_only_after_the_connection_stayed_open() -> None:
    setup = Setup()
    setup.connection.subscribe(BTC)
    setup.advance(0.2)
    for _ in range(3):  # acknowledged, then dropped within a few seconds, again and again
        setup.harness.ws.add_fault("/ws/v5/public", "disconnect")
        setup.advance(5.0)
    assert setup.connection.backoff.failures == 3
    setup.advance(10.5)
    assert setup.connection.backoff.failures == 0


def test_a_text_message_that_is_not_utf8_drops_the_connection(info_events: Any) -> None:
    """
    autobahn's own UTF-8 check is off (pure Python without wsaccel: ~0.5 ms for an
    account push); the client's decode makes it instead: a text message that is not
    UTF-8 is a protocol error, as it was, never read as data, and the stream comes back.
    """
    setup = Setup()
    setup.connection.subscribe(BTC)
    setup.advance(0.2)
    pushes = len(setup.listener.pushes)
    session_protocol = setup.connection._proto
    assert session_protocol is not None
    assert session_protocol.factory.utf8validateIncoming is False
    # What autobahn hands over with its check off: the text frame's bytes as they came.
    session_protocol.onMessage(
        b'{"arg":{"channel":"tickers","instId":"BTC\xff-USDT"},"data":[]}', False
    )
    setup.advance(0.01, step=0.01)
    assert ("closed", "dropped") in setup.listener.log
    assert len(setup.listener.pushes) == pushes  # nothing read from it
    assert any("not valid UTF-8" in event["log_format"] for event in info_events)
    setup.advance(1.0)
    assert setup.connection.state == "open" and len(setup.attempts) == 2
