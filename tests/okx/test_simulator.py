"""
The client against okxsim, the project's simulated OKX: signatures checked by the
simulator (unicode and characters needing escapes), a ±60 s clock skew corrected, bursts
paced so the simulator's own rate limiter never answers 50011, pagination over real
orders with a failing third page, and the simulator's scripted faults.
"""

from __future__ import annotations

from typing import Any

import pytest
from twisted.python.failure import Failure

from fmzokx.okx.credentials import Credentials
from fmzokx.okx.errors import (
    OkxApiError,
    OkxAuthError,
    OkxMalformedResponse,
    OkxPaginationError,
    OkxRateLimited,
    OkxTimeout,
    OkxTransportError,
)
from fmzokx.okx.rest.retry import RetryPolicy
from fmzokx.sim import DEFAULT_ACCOUNT, SimAccount, Simulator

from .support import Harness, outcome_of

SIM = Credentials(DEFAULT_ACCOUNT.key, DEFAULT_ACCOUNT.secret, DEFAULT_ACCOUNT.passphrase)
PENDING = "/api/v5/trade/orders-pending"
TICKER = "/api/v5/market/ticker"


def setup(
    *, skew: float = 0.0, sim_options: dict[str, Any] | None = None, **options: Any
) -> tuple[Simulator, Harness]:
    h = Harness(sim_options=sim_options, **options)
    h.skew(skew)
    return h.sim, h


def accounts(count: int) -> list[SimAccount]:
    return [
        SimAccount(
            key=f"key-{i}-0123456789", secret=f"secret-{i}-0123456789", passphrase=f"pass-{i}-0123"
        )
        for i in range(count)
    ]


def creds(account: SimAccount) -> Credentials:
    return Credentials(account.key, account.secret, account.passphrase)


ESCAPES = {
    "ccy": "BTC,USDT",
    "note": "a b&c=d,e/f?g#h+i%j",
    "unicode": "中文 ünïcødé €",
}


def test_signed_get_with_escaped_query_passes_simulator() -> None:
    """The simulator verifies a signed GET whose query has unicode, spaces, & = , / ? # + %."""
    sim, h = setup()
    reply = h.run(h.client.get("/api/v5/account/balance", ESCAPES, credentials=SIM))
    currencies = {d["ccy"] for d in reply.data[0]["details"]}
    assert currencies <= {"BTC", "USDT"} and currencies
    assert sim.state()["requests"]["/api/v5/account/balance"] == 1


def test_signed_post_with_unicode_body_passes_simulator() -> None:
    """The simulator verifies a signed POST whose JSON body carries unicode and escapes."""
    sim, h = setup()
    body = {
        "instId": "BTC-USDT",
        "tdMode": "cash",
        "side": "buy",
        "ordType": "limit",
        "px": "1000",
        "sz": "0.001",
        "clOrdId": "uni1",
        "note": "中文 € a b&c=d,e/f?g",
    }
    reply = h.run(h.client.post("/api/v5/trade/order", body, credentials=SIM))
    assert reply.items[0].ok
    assert reply.items[0].data["clOrdId"] == "uni1"


def test_wrong_secret_is_refused_by_simulator_and_not_retried() -> None:
    """A wrong secret: 50113 from the simulator, one request, advice in the message."""
    sim, h = setup()
    bad = Credentials(SIM.key, "not-the-secret-123", SIM.passphrase)
    error = h.failure(h.client.get("/api/v5/account/balance", {}, credentials=bad))
    assert isinstance(error, OkxAuthError) and error.code == "50113"
    assert "check the secret key" in str(error)
    assert sim.state()["requests"]["/api/v5/account/balance"] == 1


@pytest.mark.parametrize("skew", [60.0, -60.0])
def test_clock_skew_corrected(skew: float) -> None:
    """
    The simulator's clock is ±60 s from ours: the first signed call is refused with 50102,
    the client resyncs (3 samples) and re-signs, and later calls succeed first time.
    """
    sim, h = setup(skew=skew)
    for _ in range(3):
        h.run(h.client.get("/api/v5/account/balance", {}, credentials=SIM))
    requests = sim.state()["requests"]
    assert requests["/api/v5/account/balance"] == 4
    assert requests["/api/v5/public/time"] == 3
    assert h.client.clock_offset == pytest.approx(skew, abs=0.01)


def test_ticker_burst_gets_no_50011() -> None:
    """
    25 ticker reads at once with both rate limiters on: none is refused by the simulator,
    and the requests spread over two windows.
    """
    sim, h = setup(coalesce=False)
    boxes = [outcome_of(h.start(h.client.get(TICKER, {"instId": "BTC-USDT"}))) for _ in range(25)]
    h.advance(0.5)
    assert sim.state()["requests"][TICKER] == 20
    h.advance(3.0)
    assert all(box and not isinstance(box[0], Failure) for box in boxes)
    assert sim.state()["requests"][TICKER] == 25


def test_many_keys_share_the_ip_budget_without_50011() -> None:
    """
    Signed ticker reads for three keys (public: one budget per IP) plus balance reads for
    each key (private: one budget per key), all at once: every call succeeds, no 50011.
    """
    keys = accounts(3)
    sim, h = setup(sim_options={"accounts": keys}, coalesce=False)
    calls = []
    for account in keys:
        calls += [
            h.client.get(TICKER, {"instId": "ETH-USDT"}, credentials=creds(account))
            for _ in range(20)
        ]
        calls += [
            h.client.get("/api/v5/account/balance", {}, credentials=creds(account))
            for _ in range(15)
        ]
    boxes = [outcome_of(h.start(call)) for call in calls]
    h.advance(5.0, step=0.05)
    failures = [box[0] for box in boxes if box and isinstance(box[0], Failure)]
    assert failures == []
    assert all(boxes)
    state = sim.state()["requests"]
    assert state[TICKER] == 60
    assert state["/api/v5/account/balance"] == 45


def test_without_pacing_the_simulator_refuses() -> None:
    """The control case: with pacing off, a burst does meet 50011 (OkxRateLimited)."""
    sim, h = setup(rate_limits=False, coalesce=False, retry=RetryPolicy(max_attempts=1))
    boxes = [outcome_of(h.start(h.client.get(TICKER, {"instId": "BTC-USDT"}))) for _ in range(25)]
    h.advance(0.1)
    refused = [box[0] for box in boxes if box and isinstance(box[0], Failure)]
    assert len(refused) == 5
    assert all(isinstance(f.value, OkxRateLimited) for f in refused)


def place_resting_orders(sim: Simulator, count: int) -> list[str]:
    """``count`` live limit buys far below the market, placed straight into the engine."""
    ids = []
    for i in range(count):
        item = sim.exchange.place(
            DEFAULT_ACCOUNT.key,
            {
                "instId": "BTC-USDT",
                "tdMode": "cash",
                "side": "buy",
                "ordType": "limit",
                "px": "1000",
                "sz": "0.001",
                "clOrdId": f"rest{i}",
            },
            sim.now_ms(),
        )
        assert item["sCode"] == "0", item
        ids.append(item["ordId"])
    return ids


@pytest.mark.parametrize("count", [0, 1, 100, 101, 250])
def test_pagination_over_simulated_orders(count: int) -> None:
    """Every resting order comes back exactly once, newest first, whatever the count."""
    sim, h = setup()
    ids = place_resting_orders(sim, count)
    walk = h.run(h.client.paginate(PENDING, {"instType": "SPOT"}, credentials=SIM))
    assert [o["ordId"] for o in walk.items] == sorted(ids, key=int, reverse=True)
    assert len(walk.pages) == count // 100 + 1


def test_pagination_fails_loudly_on_page_three() -> None:
    """
    250 orders, and from page 3 on the simulator answers 500 (50026): after the read's
    retries the walk raises OkxPaginationError with two pages and the 50026 as cause.
    """
    sim, h = setup()
    place_resting_orders(sim, 250)
    sim.add_fault(PENDING, "http-500", count=-1, skip=2)
    error = h.failure(h.client.paginate(PENDING, {}, credentials=SIM))
    assert isinstance(error, OkxPaginationError)
    assert len(error.pages) == 2 and len(error.items) == 200
    assert isinstance(error.__cause__, OkxApiError) and error.__cause__.code == "50026"
    assert sim.state()["requests"][PENDING] == 2 + 4


def test_simulator_faults_map_to_typed_errors() -> None:
    """hang, malformed, rate-limit and expired-timestamp faults become the right errors."""
    sim, h = setup(retry=RetryPolicy(max_attempts=1))
    sim.add_fault(TICKER, "hang")
    error = h.failure(h.client.get(TICKER, {"instId": "BTC-USDT"}))
    assert isinstance(error, OkxTimeout) and error.phase == "headers"
    sim.add_fault(TICKER, "malformed")
    assert isinstance(h.failure(h.client.get(TICKER, {"instId": "BTC-USDT"})), OkxMalformedResponse)
    sim.add_fault(TICKER, "rate-limit")
    assert isinstance(h.failure(h.client.get(TICKER, {"instId": "BTC-USDT"})), OkxRateLimited)
    sim.add_fault("/api/v5/account/balance", "expired-timestamp")
    reply = h.run(h.client.get("/api/v5/account/balance", {}, credentials=SIM))
    assert reply.code == "0"
    assert sim.state()["requests"]["/api/v5/account/balance"] == 2


def test_dropped_order_reply_is_outcome_unknown_and_not_resent() -> None:
    """
    The simulator commits an order and drops the connection: the client reports a
    transport error with outcome_unknown, sends nothing more, and the order exists.
    """
    sim, h = setup()
    sim.add_fault("/api/v5/trade/order", "drop-after-commit")
    body = {
        "instId": "BTC-USDT",
        "tdMode": "cash",
        "side": "buy",
        "ordType": "limit",
        "px": "1000",
        "sz": "0.001",
        "clOrdId": "dropped1",
    }
    error = h.failure(h.client.post("/api/v5/trade/order", body, credentials=SIM))
    assert isinstance(error, OkxTransportError)
    assert error.outcome_unknown is True
    assert sim.state()["requests"]["/api/v5/trade/order"] == 1
    found = h.run(
        h.client.get(
            "/api/v5/trade/order", {"instId": "BTC-USDT", "clOrdId": "dropped1"}, credentials=SIM
        )
    )
    assert found.data[0]["clOrdId"] == "dropped1"


def test_reads_recover_from_transient_simulator_faults() -> None:
    """A read meeting http-503 then http-500 is retried and succeeds on the third try."""
    sim, h = setup()
    sim.add_fault(TICKER, "http-503")
    sim.add_fault(TICKER, "http-500")
    reply = h.run(h.client.get(TICKER, {"instId": "BTC-USDT"}))
    assert reply.data[0]["instId"] == "BTC-USDT"
    assert sim.state()["requests"][TICKER] == 3
