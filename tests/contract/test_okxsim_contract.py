"""
okxsim against real OKX: every OKX endpoint the daemon uses, answered by an in-memory
okxsim, checked against the recorded real payloads in ``tests/fixtures/okx-responses.json``
(ccxt's static OKX v5 responses).

For each recorded payload the simulator's reply must have OKX's envelope and, in ``data``:
every field name the real payload has (recursively, nested objects and rows included),
the same JSON type for each, numbers as strings (a plain decimal or integer, never a
JSON number or an exponent), and empty values as ``""`` (never ``null``). The daemon's
endpoints are found by reading ``fmzokx/`` for ``/api/v5/`` paths, so a new endpoint
must be classified here: checked against a recording, or listed in :data:`UNRECORDED`
with the reason it cannot be.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from attrs import frozen

from tests.sim.support import Harness

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = json.loads((ROOT / "tests" / "fixtures" / "okx-responses.json").read_text())["methods"]

#: An OKX number: a plain decimal string, as OKX writes it.
OKX_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
#: A number in exponent form, which OKX never writes (Decimal's str() can).
EXPONENT = re.compile(r"^-?\d+(\.\d+)?[eE][+-]?\d+$")

P = "/api/v5"


def recorded(method: str, description: str) -> dict[str, Any]:
    """The real OKX reply ccxt recorded for ``method`` under ``description``."""
    for case in FIXTURE[method]:
        if case["description"] == description:
            reply: dict[str, Any] = case["httpResponse"]
            return reply
    raise KeyError(f"{method}: no recording {description!r}")


# -- state for the simulator to answer from ----------------------------------------------


def spot_order(harness: Harness) -> str:
    """A filled spot market buy; returns its ordId."""
    return harness.placed(
        instId="BTC-USDT",
        tdMode="cash",
        side="buy",
        ordType="market",
        sz="0.01",
        tgtCcy="base_ccy",
    )


def swap_position(harness: Harness) -> None:
    """An open linear swap position."""
    harness.placed(instId="BTC-USDT-SWAP", tdMode="cross", side="buy", ordType="market", sz="1")


def resting_swap_order(harness: Harness) -> None:
    """A swap limit buy far below the market, so it rests."""
    harness.placed(
        instId="BTC-USDT-SWAP", tdMode="cross", side="buy", ordType="limit", px="1000", sz="1"
    )


def closed_swap_order(harness: Harness) -> None:
    """A filled swap order, so the history lists have something final."""
    swap_position(harness)
    harness.clock.advance(1)


Probe = Callable[[Harness], tuple[int, Any]]


def public(target: str) -> Probe:
    return lambda harness: harness.get(target, private=False)


def private(target: str, setup: Callable[[Harness], object] | None = None) -> Probe:
    def probe(harness: Harness) -> tuple[int, Any]:
        if setup is not None:
            setup(harness)
        return harness.get(target)

    return probe


def order_details(harness: Harness) -> tuple[int, Any]:
    ord_id = spot_order(harness)
    return harness.get(f"{P}/trade/order?instId=BTC-USDT&ordId={ord_id}")


#: (method, path, probe, [(fixture method, description)]) -- each endpoint the daemon uses
#: that ccxt recorded, with how to make okxsim answer it with data.
RECORDED: list[tuple[str, str, Probe, list[tuple[str, str]]]] = [
    (
        "GET",
        f"{P}/account/balance",
        private(f"{P}/account/balance"),
        [("fetchBalance", "spot balance")],
    ),
    (
        "GET",
        f"{P}/account/positions",
        private(f"{P}/account/positions", swap_position),
        [
            ("fetchPosition", "fetch position"),
            ("fetchPosition", "Inverse swap cross fetch position"),
            ("fetchPosition", "Inverse swap isolated fetch position"),
            ("fetchPositions", "linear swap position"),
        ],
    ),
    (
        "GET",
        f"{P}/market/books",
        public(f"{P}/market/books?instId=BTC-USDT&sz=5"),
        [("fetchOrderBook", "spot orderbook"), ("fetchOrderBook", "Swap orderbook")],
    ),
    (
        "GET",
        f"{P}/market/candles",
        public(f"{P}/market/candles?instId=BTC-USDT&bar=1H&limit=3"),
        [("fetchOHLCV", "spot ohlcv with limit and since")],
    ),
    # Same row layout as /market/candles (OKX documents one candle array for both).
    (
        "GET",
        f"{P}/market/history-candles",
        public(f"{P}/market/history-candles?instId=BTC-USDT&bar=1H&limit=3"),
        [("fetchOHLCV", "spot ohlcv with limit and since")],
    ),
    (
        "GET",
        f"{P}/market/ticker",
        public(f"{P}/market/ticker?instId=BTC-USDT"),
        [("fetchTicker", "public spot ticker")],
    ),
    # /market/tickers answers a list of the same ticker object.
    (
        "GET",
        f"{P}/market/tickers",
        public(f"{P}/market/tickers?instType=SPOT"),
        [("fetchTicker", "public spot ticker")],
    ),
    (
        "GET",
        f"{P}/market/trades",
        public(f"{P}/market/trades?instId=BTC-USDT&limit=5"),
        [("fetchTrades", "public spot trades")],
    ),
    ("GET", f"{P}/trade/order", order_details, [("fetchOrder", "fetch spot order")]),
    (
        "GET",
        f"{P}/trade/orders-pending",
        private(f"{P}/trade/orders-pending?instType=SWAP", resting_swap_order),
        [("fetchOpenOrders", "fetch swap limit open order with take profit and stop loss")],
    ),
    (
        "GET",
        f"{P}/trade/orders-history",
        private(f"{P}/trade/orders-history?instType=SWAP", closed_swap_order),
        [("fetchClosedOrders", "Swap closed orders")],
    ),
    # The archive holds the same order object as orders-history.
    (
        "GET",
        f"{P}/trade/orders-history-archive",
        private(f"{P}/trade/orders-history-archive?instType=SWAP", closed_swap_order),
        [("fetchClosedOrders", "Swap closed orders")],
    ),
]


def signed_post(path: str, body: object, setup: Callable[[Harness], object] | None = None) -> Probe:
    def probe(harness: Harness) -> tuple[int, Any]:
        if setup is not None:
            setup(harness)
        return harness.post(path, body)

    return probe


def cancel_resting(harness: Harness) -> tuple[int, Any]:
    ord_id = harness.placed(
        instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit", px="1000", sz="0.01"
    )
    return harness.post(f"{P}/trade/cancel-order", {"instId": "BTC-USDT", "ordId": ord_id})


#: Endpoints the daemon uses that ccxt's fixture has no real reply for: why, and how to
#: make okxsim answer (still checked for OKX's string encoding, without a recording).
UNRECORDED: dict[tuple[str, str], tuple[str, Probe]] = {
    ("GET", f"{P}/public/time"): (
        "ccxt's fixture has no server-time reply",
        public(f"{P}/public/time"),
    ),
    ("GET", f"{P}/public/instruments"): (
        "ccxt loads markets from its own fixtures, not from this response file",
        public(f"{P}/public/instruments?instType=SPOT"),
    ),
    ("GET", f"{P}/public/funding-rate"): (
        "fetchFundingRate is not in the fixture",
        public(f"{P}/public/funding-rate?instId=BTC-USDT-SWAP"),
    ),
    ("GET", f"{P}/account/config"): (
        "ccxt's fixture has no account-config reply",
        private(f"{P}/account/config"),
    ),
    ("GET", f"{P}/account/leverage-info"): (
        "fetchLeverage is not in the fixture (read back after a set-leverage reply is lost)",
        private(f"{P}/account/leverage-info?instId=BTC-USDT-SWAP&mgnMode=cross"),
    ),
    ("POST", f"{P}/account/set-leverage"): (
        "setLeverage is not in the fixture",
        signed_post(
            f"{P}/account/set-leverage",
            {"instId": "BTC-USDT-SWAP", "lever": "5", "mgnMode": "cross"},
        ),
    ),
    ("POST", f"{P}/trade/order"): (
        "createOrder is not in the trimmed fixture (the order object itself is checked "
        "through GET /trade/order)",
        signed_post(
            f"{P}/trade/order",
            {
                "instId": "BTC-USDT",
                "tdMode": "cash",
                "side": "buy",
                "ordType": "market",
                "sz": "0.01",
                "tgtCcy": "base_ccy",
            },
        ),
    ),
    ("POST", f"{P}/trade/cancel-order"): ("cancelOrder is not in the fixture", cancel_resting),
}

#: Recorded payloads of endpoints the daemon does not call (so not part of the contract).
NOT_USED = {
    ("fetchBalance", "funding balance"): "GET /asset/balances",
    ("fetchPositions", "fetch history positions"): "GET /account/positions-history",
    ("fetchOpenOrders", "fetchOpenOrders trigger with since = 0"): "GET /trade/orders-algo-pending",
}

#: Where OKX's own paths live in the daemon; okxsim serves them, it does not use them.
_NOT_THE_DAEMON = ("fmzokx/sim/", "fmzokx/okx/pacing/limits.py")
_PATH = re.compile(r"/api/v5/[a-z][a-z0-9/-]*[a-z0-9]")


def daemon_paths() -> set[str]:
    """Every ``/api/v5/...`` path written in the daemon's source."""
    found: set[str] = set()
    for source in sorted((ROOT / "fmzokx").rglob("*.py")):
        relative = source.relative_to(ROOT).as_posix()
        if relative.startswith(_NOT_THE_DAEMON):
            continue
        found.update(_PATH.findall(source.read_text()))
    return found


def conformance(sim: Any, real: Any, where: str) -> list[str]:
    """How ``sim`` deviates from ``real`` (OKX's recorded value); ``[]`` when it conforms."""
    if isinstance(real, dict):
        if not isinstance(sim, dict):
            return [f"{where}: {type(sim).__name__} where OKX sends an object"]
        problems = []
        for name, value in real.items():
            if name not in sim:
                problems.append(f"{where}.{name}: missing")
            else:
                problems.extend(conformance(sim[name], value, f"{where}.{name}"))
        return problems
    if isinstance(real, list):
        if not isinstance(sim, list):
            return [f"{where}: {type(sim).__name__} where OKX sends an array"]
        if not real or not sim:
            return []
        if isinstance(real[0], list):
            return [
                problem
                for index, row in enumerate(sim)
                for problem in conformance_row(row, real[0], f"{where}[{index}]")
            ]
        return [
            problem
            for index, element in enumerate(sim)
            for problem in conformance(element, real[0], f"{where}[{index}]")
        ]
    if isinstance(real, bool):
        return [] if isinstance(sim, bool) else [f"{where}: {sim!r} where OKX sends a boolean"]
    if isinstance(real, str):
        if not isinstance(sim, str):
            return [f"{where}: {sim!r} where OKX sends a string"]
        if OKX_NUMBER.match(real) and sim != "" and not OKX_NUMBER.match(sim):
            return [f"{where}: {sim!r} where OKX sends a number as a plain decimal string"]
        return []
    return [f"{where}: the recording has an unexpected {type(real).__name__}"]


def conformance_row(sim: Any, real: list[Any], where: str) -> list[str]:
    """An array row (a candle, a book level): same length, element by element."""
    if not isinstance(sim, list):
        return [f"{where}: {type(sim).__name__} where OKX sends an array row"]
    if len(sim) != len(real):
        return [f"{where}: {len(sim)} columns where OKX sends {len(real)}"]
    return [
        problem
        for index, (mine, theirs) in enumerate(zip(sim, real, strict=True))
        for problem in conformance(mine, theirs, f"{where}[{index}]")
    ]


#: The fields OKX's API docs give as JSON integers: the book's ``seqId`` and an
#: instrument's ``instIdCode``. ccxt's book recordings predate ``seqId``, so it is
#: checked against the documentation instead.
DOCUMENTED_INTEGERS = frozenset({"seqId", "instIdCode"})


def json_hygiene(value: Any, where: str) -> list[str]:
    """No JSON numbers and no nulls anywhere: OKX writes numbers and empties as strings."""
    if value is None:
        return [f'{where}: null where OKX sends ""']
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        if isinstance(value, int) and where.rsplit(".", 1)[-1] in DOCUMENTED_INTEGERS:
            return []
        return [f"{where}: JSON number {value!r} where OKX sends a string"]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in json_hygiene(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in json_hygiene(v, f"{where}[{i}]")]
    if isinstance(value, str) and EXPONENT.match(value):
        return [f"{where}: {value!r} is in exponent form"]
    return []


class Deviates(AssertionError):
    """okxsim deviates from the recording exactly as :data:`DEVIATIONS` documents."""


@frozen
class Deviation:
    """A known deviation: why, and the fields okxsim lacks (in ``data[0]``)."""

    reason: str
    missing: tuple[str, ...]

    def problems(self) -> list[str]:
        return [f"data[0].{name}: missing" for name in self.missing]


#: Known deviations of okxsim from the recordings, by (path, recording). Each is an
#: expected failure that must fail exactly as described (strict, and only by raising
#: :class:`Deviates`): fixing okxsim makes the case fail loudly until its entry is removed.
#: None is known today.
DEVIATIONS: dict[tuple[str, str], Deviation] = {}


def cases() -> list[Any]:
    params = []
    for method, path, probe, recordings in RECORDED:
        for fixture_method, description in recordings:
            marks = []
            deviation = DEVIATIONS.get((path, description))
            if deviation is not None:
                marks.append(
                    pytest.mark.xfail(strict=True, raises=Deviates, reason=deviation.reason)
                )
            params.append(
                pytest.param(
                    method,
                    path,
                    probe,
                    fixture_method,
                    description,
                    id=f"{method} {path} ~ {fixture_method}: {description}",
                    marks=marks,
                )
            )
    return params


@pytest.mark.parametrize(("method", "path", "probe", "fixture_method", "description"), cases())
def test_okxsim_reply_matches_the_recording(
    method: str, path: str, probe: Probe, fixture_method: str, description: str
) -> None:
    """okxsim's reply has the recorded envelope, fields, types and string encodings."""
    real = recorded(fixture_method, description)
    status, reply = probe(Harness())
    assert status == 200, reply
    assert reply["code"] == "0" and reply["msg"] == "", reply
    assert set(real) <= set(reply), f"envelope keys {sorted(reply)} lack some of {sorted(real)}"
    assert reply["data"], "okxsim answered an empty list; the probe must produce data"
    problems = conformance(reply["data"], real["data"], "data")
    problems += json_hygiene(reply["data"], "data")
    deviation = DEVIATIONS.get((path, description))
    if deviation is not None:
        assert sorted(problems) == sorted(deviation.problems())
        raise Deviates(deviation.reason)
    assert problems == []


@pytest.mark.parametrize(
    ("method", "path"), sorted(UNRECORDED), ids=[f"{m} {p}" for m, p in sorted(UNRECORDED)]
)
def test_unrecorded_endpoints_still_answer_in_okx_encoding(method: str, path: str) -> None:
    """Without a recording, okxsim's reply is still OKX's envelope with string numbers."""
    _, probe = UNRECORDED[(method, path)]
    status, reply = probe(Harness())
    assert status == 200, reply
    assert reply["code"] == "0" and reply["msg"] == "", reply
    assert isinstance(reply["data"], list) and reply["data"], reply
    assert json_hygiene(reply["data"], "data") == []


def test_every_daemon_endpoint_is_classified() -> None:
    """Every /api/v5 path in the daemon is checked against a recording or explained."""
    classified = {path for _, path, _, _ in RECORDED} | {path for _, path in UNRECORDED}
    assert daemon_paths() <= classified, sorted(daemon_paths() - classified)


def test_the_classification_names_only_daemon_endpoints() -> None:
    """No stale entries: each classified path is still used by the daemon."""
    classified = {path for _, path, _, _ in RECORDED} | {path for _, path in UNRECORDED}
    assert classified <= daemon_paths(), sorted(classified - daemon_paths())


def test_every_recording_is_used_or_explained() -> None:
    """Each payload in the fixture is either a contract case or names the unused endpoint."""
    used = {pair for _, _, _, recordings in RECORDED for pair in recordings}
    every = {(method, case["description"]) for method, cs in FIXTURE.items() for case in cs}
    assert every == used | set(NOT_USED)
    assert not used & set(NOT_USED)


def test_the_checker_catches_each_kind_of_deviation() -> None:
    """The comparison itself: missing fields, wrong types, numbers, nulls and exponents."""
    real = {"px": "1.5", "state": "live", "flag": False, "rows": [["1", "2"]], "items": [{"a": ""}]}
    good = {
        "px": "",
        "state": "filled",
        "flag": True,
        "rows": [["3", "4"]],
        "items": [{"a": "x"}],
        "extra": "ok",
    }
    assert conformance(good, real, "d") == [] and json_hygiene(good, "d") == []
    assert conformance({**good, "px": "n/a"}, real, "d") == [
        "d.px: 'n/a' where OKX sends a number as a plain decimal string"
    ]
    assert conformance({k: v for k, v in good.items() if k != "state"}, real, "d") == [
        "d.state: missing"
    ]
    assert conformance({**good, "flag": "false"}, real, "d") == [
        "d.flag: 'false' where OKX sends a boolean"
    ]
    assert conformance({**good, "rows": [["3"]]}, real, "d") == [
        "d.rows[0]: 1 columns where OKX sends 2"
    ]
    assert conformance({**good, "items": [{}]}, real, "d") == ["d.items[0].a: missing"]
    assert json_hygiene({"px": 1.5, "n": None, "e": "1E-8", "seqId": 7}, "d") == [
        "d.px: JSON number 1.5 where OKX sends a string",
        'd.n: null where OKX sends ""',
        "d.e: '1E-8' is in exponent form",
    ]
