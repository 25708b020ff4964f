"""
The OKX domain layer: it owns every path, body field and item field, and the FMZ side
names none.

Driven against okxsim in memory (the real client, signing and all), so each typed call is
checked against what a faithful OKX does with it.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

import fmzokx.fmz
import fmzokx.okx
from fmzokx.okx import endpoints
from fmzokx.okx.credentials import Credentials
from fmzokx.okx.instruments import Instrument
from fmzokx.okx.market import BAR_SIZES, CANDLE_PAGE
from fmzokx.okx.passthrough import BadPassThrough, PassThrough
from fmzokx.okx.records import okx_field_names
from fmzokx.okx.trade import OrderIntent
from fmzokx.sim import DEFAULT_ACCOUNT
from tests.stack import Stack

CREDENTIALS = Credentials(
    key=DEFAULT_ACCOUNT.key, secret=DEFAULT_ACCOUNT.secret,
    passphrase=DEFAULT_ACCOUNT.passphrase,
)


def test_every_endpoint_is_a_v5_path() -> None:
    """Each named endpoint is a GET or POST under /api/v5/ and no two share a name."""
    named = [value for value in vars(endpoints).values()
             if isinstance(value, endpoints.Endpoint)]
    assert len(named) == len(set(named)) >= 19
    for endpoint in named:
        assert endpoint.method in ("GET", "POST")
        assert endpoint.path.startswith(endpoints.V5_PREFIX)
        assert str(endpoint) == f"{endpoint.method} {endpoint.path}"


FMZ_SIDE = Path(fmzokx.fmz.__file__).parent
OKX_SIDE = Path(fmzokx.okx.__file__).parent

FMZ_WORDS = frozenset({"asks", "bids", "last", "margin"})
"""Keys of FMZ's own shapes (the article's) that OKX happens to use too."""


def _quoted(name: str) -> re.Pattern[str]:
    return re.compile(rf"""(["']){re.escape(name)}\1""")


def okx_names() -> set[str]:
    """
    Every OKX field name: the ones the records read, and every camelCase name the OKX
    side spells as a literal (request bodies, headers, instrument and envelope fields).
    """
    camel = re.compile(r"""(["'])([a-z][a-z0-9]*[A-Z][A-Za-z0-9]*)\1""")
    spelled = {
        match.group(2)
        for path in OKX_SIDE.rglob("*.py")
        for match in camel.finditer(path.read_text(encoding="utf-8"))
    }
    return (okx_field_names() | spelled) - FMZ_WORDS


def test_okx_names_are_found() -> None:
    """The list the boundary is checked against holds the names the FMZ side once read."""
    assert {
        "instId", "ordId", "clOrdId", "bidPx", "askPx", "availEq", "availBal", "ordFrozen",
        "accFillSz", "avgPx", "sCode", "sMsg", "posSide", "maxLmtAmt", "tdMode", "ordType",
        "tgtCcy", "high24h", "vol24h", "fundingRate", "cTime", "tradeId", "upl", "imr",
    } <= okx_names()


def test_fmz_side_names_no_okx_path() -> None:
    """No module of the FMZ side spells an /api/v5 path: they all live on the OKX side."""
    offenders = [
        str(path.relative_to(FMZ_SIDE))
        for path in FMZ_SIDE.rglob("*.py")
        if "/api/v5" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_fmz_side_reads_no_okx_field() -> None:
    """
    No module of the FMZ side spells an OKX field name as a string (a dict key, a
    ``.get``, a body field): it maps the OKX side's records, which read OKX's items. Prose
    may still name a field (the method descriptions say which OKX field a value is).
    """
    names = okx_names()
    offenders = sorted(
        f"{path.relative_to(FMZ_SIDE)}: {name}"
        for path in FMZ_SIDE.rglob("*.py")
        for name in names
        if _quoted(name).search(path.read_text(encoding="utf-8"))
    )
    assert offenders == []


@pytest.fixture
def stack() -> Stack:
    return Stack()


def instrument(stack: Stack, inst_id: str) -> Instrument:
    found: Instrument = stack.run(stack.okx.instruments.lookup(inst_id))
    return found


def set_mode(stack: Stack, mode: str) -> None:
    stack.run(stack.client.post(
        "/api/v5/account/set-position-mode", {"posMode": mode}, credentials=CREDENTIALS
    ))
    stack.okx.account.forget_position_mode(CREDENTIALS)


def test_spot_bodies(stack: Stack) -> None:
    """Spot trades in cash; a market buy is sized in the quote currency."""
    spot = instrument(stack, "BTC-USDT")
    limit = stack.run(stack.okx.trade.order_body(
        CREDENTIALS, spot, OrderIntent(side="sell", price=Decimal("70000.04"),
                                       amount=Decimal("0.5"))
    ))
    assert limit == {"instId": "BTC-USDT", "side": "sell", "tdMode": "cash",
                     "tradeQuoteCcy": "USDT", "ordType": "limit", "px": limit["px"], "sz": "0.5"}
    assert Decimal(limit["px"]) >= Decimal("70000.04")
    market = stack.run(stack.okx.trade.order_body(
        CREDENTIALS, spot, OrderIntent(side="buy", price=Decimal(-1), amount=Decimal("100"))
    ))
    assert (market["ordType"], market["sz"], market["tgtCcy"]) == ("market", "100", "quote_ccy")


def test_contract_bodies_follow_the_position_mode(stack: Stack) -> None:
    """Net mode closes with reduceOnly; long/short mode names the side with posSide."""
    swap = instrument(stack, "BTC-USDT-SWAP")
    close_long = OrderIntent(side="sell", price=Decimal(-1), amount=Decimal("1"),
                             position="long", closing=True, margin_mode="isolated")
    net = stack.run(stack.okx.trade.order_body(CREDENTIALS, swap, close_long))
    assert net["reduceOnly"] is True and "posSide" not in net
    assert (net["tdMode"], net["ordType"], net["sz"]) == ("isolated", "market", "1")
    set_mode(stack, "long_short_mode")
    hedged = stack.run(stack.okx.trade.order_body(CREDENTIALS, swap, close_long))
    assert hedged["posSide"] == "long" and "reduceOnly" not in hedged


def test_candles_walk_into_history(stack: Stack) -> None:
    """More bars than one page come from /market/candles then /market/history-candles."""
    history = stack.run(stack.okx.market.candles("BTC-USDT", 1, CANDLE_PAGE + 50))
    assert len(history.records) == CANDLE_PAGE + 50
    assert len(history.pages) == 2
    times = [candle.ts for candle in history.records]
    assert len(set(times)) == len(times)
    assert stack.sim.request_counts[endpoints.HISTORY_CANDLES.path] == 1
    with pytest.raises(KeyError):
        stack.run(stack.okx.market.candles("BTC-USDT", 7, 10))
    assert 7 not in BAR_SIZES


PATH_ATTACKS = [
    # outside /api/v5/ or not a path
    "/api/v4/x", "trade/order", "api/v5/trade/order", "/API/V5/trade/order", "", "/",
    "/api/v5", "/api/v5/", "//api/v5/trade/order",
    # query, fragment
    "/api/v5/trade/order?x=1", "/api/v5/trade/order#f", "/api/v5/trade/order%3Fx=1",
    # dot segments, plain and encoded in every case and depth
    "/api/v5/../_sim/reset", "/api/v5/./trade/order", "/api/v5/trade/..",
    "/api/v5/%2e%2e/%2e%2e/_sim/reset", "/api/v5/%2E%2E/%2E%2E/_sim/reset",
    "/api/v5/%2e./_sim/reset", "/api/v5/.%2E/_sim/reset", "/api/v5/%2e/trade/order",
    "/api/v5/%252e%252e/%252e%252e/_sim/reset", "/api/v5/%25252e%25252e/_sim/reset",
    # encoded and alternative separators
    "/api/v5/trade%2forder", "/api/v5/trade%2Forder", "/api/v5/..%2f..%2f_sim/reset",
    "/api/v5/..%5c..%5c_sim/reset", "/api/v5/trade%5Corder", "/api/v5/..\\..\\_sim/reset",
    "/api/v5/trade\\order", "/api/v5/%252f_sim",
    # empty segments
    "/api/v5//trade/order", "/api/v5/trade//order", "/api/v5/trade/order/",
    # control characters, raw and encoded
    "/api/v5/trade/order\r\nX-Injected: 1", "/api/v5/trade/order\n", "/api/v5/trade\t/order",
    "/api/v5/trade/order\x00", "/api/v5/trade/order\x7f", "/api/v5/trade/order\x85",
    "/api/v5/trade/order%0d%0aX-Injected:%201", "/api/v5/trade/order%00",
    # other escapes, non-ASCII look-alikes, oversize
    "/api/v5/trade/%6frder", "/api/v5/trade/order%", "/api/v5/trade/or%zzder",
    "/api/v5/\uff0e\uff0e/_sim/reset", "/api/v5/trade\uff0forder", "/api/v5/tr\u00e4de/order",
    "/api/v5/trade order", "/api/v5/" + "a/" * 10 + "b", "/api/v5/" + "a" * 300,
]


@pytest.mark.parametrize("path", PATH_ATTACKS)
def test_passthrough_refuses_paths_outside_v5(path: str) -> None:
    """The pass-through sends nothing but a plain OKX v5 path."""
    with pytest.raises(BadPassThrough, match="invalid pass-through path") as caught:
        PassThrough.check_path(path)
    message = str(caught.value)
    assert not any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in message), message
    assert len(message) < 400


@pytest.mark.parametrize(("path", "reason"), [
    ("/api/v5/%2e%2e/%2e%2e/_sim/reset", "encoded dot or separator"),
    ("/api/v5/%252e%252e/_sim/reset", "encoded dot or separator"),
    ("/api/v5/%25252e%25252e/_sim/reset", "percent-encoded more times"),
    ("/api/v5/../_sim/reset", "'.' or '..' segment"),
    ("/api/v5/trade\\order", "backslash"),
    ("/api/v5/trade/order\r\n", "control character"),
    ("/api/v5/trade/order%0a", "control character"),
    ("/api/v5/trade//order", "empty segment"),
    ("/api/v5/trade/%6frder", "percent-escapes"),
    ("/api/v4/x", "does not start with /api/v5/"),
])
def test_passthrough_refusal_says_why(path: str, reason: str) -> None:
    with pytest.raises(BadPassThrough, match=re.escape(reason)):
        PassThrough.check_path(path)


@pytest.mark.parametrize("path", [
    "/api/v5/trade/orders-pending", "/api/v5/account/set-position-mode",
    "/api/v5/tradingBot/grid/orders-algo-pending", "/api/v5/rubik/stat/contracts/"
    "open-interest-volume", "/api/v5/public/time",
])
def test_passthrough_accepts_okx_paths(path: str) -> None:
    """Real OKX paths (camelCase ones included) pass unchanged."""
    assert PassThrough.check_path(path) == path


@pytest.mark.parametrize("verb", ["GET", "POST"])
def test_passthrough_attacks_send_nothing_upstream(verb: str) -> None:
    """
    Through the whole RPC stack: every attack path gets a clear error, okxsim receives
    no request at all, and its state (an open order) is untouched -- the encoded ``..``
    that once reached ``/_sim/reset`` included.
    """
    stack = Stack()
    order_id = stack.place("BTC_USDT", "buy", "1000", "0.001")
    stack.sim.request_counts.clear()
    for path in PATH_ATTACKS:
        reply = stack.call("__api_" + path, headers={"Http-Method": verb})
        assert set(reply) == {"error"}, (path, reply)
        # A control character is refused with the method field, before the path check.
        expected = "control character" if re.search(r"[\x00-\x1f\x7f-\x9f]", path) else (
            "invalid pass-through path"
        )
        assert expected in reply["error"], (path, reply)
    assert sum(stack.sim.request_counts.values()) == 0, dict(stack.sim.request_counts)
    assert stack.ok("order", id=order_id)["data"]["status"] == "pending"


def test_passthrough_refuses_other_verbs(stack: Stack) -> None:
    """OKX's REST API takes GET and POST only."""
    with pytest.raises(BadPassThrough, match="use GET or POST"):
        stack.run(stack.okx.passthrough.call("DELETE", "/api/v5/trade/order", {}, CREDENTIALS))


def test_position_modes_are_cached_for_a_bounded_number_of_keys() -> None:
    """
    The per-key position-mode cache keeps the POSITION_MODE_KEYS most recent keys: a
    stream of keys cannot grow it, and an evicted key is simply read again.
    """
    from fmzokx.lru import LruDict
    from fmzokx.okx.account import POSITION_MODE_KEYS
    from fmzokx.sim import SimAccount

    accounts = tuple(SimAccount(f"key-{n:03d}", f"secret-{n:03d}", f"pass-{n:03d}")
                     for n in range(12))
    stack = Stack(accounts=accounts)
    cache = stack.okx.account._position_modes
    assert isinstance(cache, LruDict) and cache.capacity == POSITION_MODE_KEYS
    stack.okx.account._position_modes = cache = LruDict(5)
    keys = [Credentials(key=a.key, secret=a.secret, passphrase=a.passphrase) for a in accounts]
    for credentials in keys:
        assert stack.run(stack.okx.account.position_mode(credentials)) in (
            "net_mode", "long_short_mode")
    assert len(cache) == 5 and cache.evictions == 7
    reads = stack.sim.request_counts[endpoints.CONFIG.path]
    stack.run(stack.okx.account.position_mode(keys[-1]))   # cached
    assert stack.sim.request_counts[endpoints.CONFIG.path] == reads
    stack.run(stack.okx.account.position_mode(keys[0]))    # evicted: read again
    assert stack.sim.request_counts[endpoints.CONFIG.path] == reads + 1
