"""
Robustness: whatever a client sends, the simulator answers with an OKX-shaped JSON
envelope (never a crash page), and internal errors surface as 50026.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fmzokx.okx.rest.signing import encode_body

from .support import Harness

FIELDS = ["instId", "tdMode", "side", "ordType", "sz", "px", "clOrdId", "tgtCcy", "posSide",
          "reduceOnly", "tag", "ordId", "newSz", "newPx", "lever", "mgnMode", "posMode"]
VALUES = st.one_of(
    st.sampled_from(["BTC-USDT", "BTC-USDT-SWAP", "BTC-USD-SWAP", "cash", "cross", "buy",
                     "sell", "limit", "market", "post_only", "ioc", "fok", "base_ccy",
                     "quote_ccy", "long", "net", "true", "1e1000", "-1", "0", "NaN", "",
                     "0.00000001", "30000", "1e-30", "long_short_mode"]),
    st.text(max_size=20),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)
BODIES = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=8),
    st.lists(st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=6), max_size=3),
    st.integers(),
    st.text(max_size=10),
)
POSTS = ["/api/v5/trade/order", "/api/v5/trade/batch-orders", "/api/v5/trade/cancel-order",
         "/api/v5/trade/amend-order", "/api/v5/account/set-leverage",
         "/api/v5/account/set-position-mode", "/api/v5/trade/close-position"]
GETS = ["/api/v5/market/candles", "/api/v5/market/history-candles", "/api/v5/trade/order",
        "/api/v5/trade/orders-history", "/api/v5/market/books", "/api/v5/market/trades",
        "/api/v5/market/history-trades", "/api/v5/public/funding-rate-history",
        "/api/v5/account/leverage-info", "/api/v5/trade/orders-pending", "/api/v5/trade/fills"]
PARAMS = ["instId", "bar", "after", "before", "limit", "sz", "ordId", "clOrdId", "instType",
          "mgnMode", "state", "type", "begin", "end", "ordType"]
QUERY_VALUES = st.one_of(
    st.sampled_from(["BTC-USDT", "BTC-USDT-SWAP", "SPOT", "1m", "1Dutc", "3M", "1s", "cross",
                     "-5", "0", "99999999999999999999999999", "1.5", "abc", "1", "2"]),
    st.integers(min_value=-10, max_value=10**20).map(str),
)


def assert_okx_shaped(status: int, payload: bytes) -> None:
    body = json.loads(payload)
    assert status != 500, body
    assert isinstance(body["code"], str) and isinstance(body["msg"], str)
    if status != 401:
        assert isinstance(body.get("data", []), list)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(POSTS), BODIES)
def test_any_post_body_gets_an_okx_answer(path: str, payload: Any) -> None:
    """Random, malformed and hostile POST bodies are answered with OKX envelopes."""
    harness = Harness()
    body = encode_body(payload)
    (result,) = harness.settle(harness.raw("POST", path, body, harness.headers("POST", path,
                                                                             body)))
    assert_okx_shaped(*result)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(GETS), st.dictionaries(st.sampled_from(PARAMS), QUERY_VALUES,
                                              max_size=5))
def test_any_query_gets_an_okx_answer(path: str, params: dict[str, str]) -> None:
    """Random query parameters are answered with OKX envelopes, never a server error."""
    harness = Harness()
    target = path + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")
    (result,) = harness.settle(harness.raw("GET", target, None,
                                           harness.headers("GET", target, b"")))
    assert_okx_shaped(*result)


def test_internal_errors_are_50026(monkeypatch: Any) -> None:
    """An unexpected exception in a handler is answered 500 with code 50026 and logged."""
    from fmzokx.sim.handlers import ROUTES, Route

    def broken(call: Any) -> list[Any]:
        raise RuntimeError("boom")

    route = ROUTES["/api/v5/public/time"]["GET"]
    monkeypatch.setitem(ROUTES["/api/v5/public/time"], "GET",
                        Route(route.path, route.method, route.private, broken))
    harness = Harness()
    status, body = harness.get("/api/v5/public/time", private=False)
    assert (status, body["code"]) == (500, "50026")
