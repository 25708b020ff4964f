"""Instrument parsing, lookups by id and delivery alias, and the cache's refresh behaviour."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from fmzokx.fmz.symbols import contract_type_of, fmz_symbol_of, parse_symbol
from fmzokx.okx.instruments import (
    InstrumentCache,
    UnknownInstrument,
    decimals_of,
    delivery_alias,
    inst_type_of,
    parse_instrument,
)
from tests.helpers import drive

SPOT = {
    "instType": "SPOT", "instId": "BTC-USDT", "baseCcy": "BTC", "quoteCcy": "USDT",
    "tickSz": "0.1", "lotSz": "0.00000001", "minSz": "0.00001", "maxLmtSz": "9999999999",
    "maxMktSz": "1000000", "state": "live", "ctVal": "", "alias": "", "expTime": "",
}
SWAP = {
    "instType": "SWAP", "instId": "BTC-USDT-SWAP", "instFamily": "BTC-USDT", "uly": "BTC-USDT",
    "settleCcy": "USDT", "ctVal": "0.01", "ctValCcy": "BTC", "ctType": "linear",
    "tickSz": "0.1", "lotSz": "0.01", "minSz": "0.01", "state": "live", "alias": "",
    "baseCcy": "", "quoteCcy": "",
}
QUARTER = {
    "instType": "FUTURES", "instId": "BTC-USD-261225", "instFamily": "BTC-USD", "uly": "BTC-USD",
    "settleCcy": "BTC", "ctVal": "100", "ctValCcy": "USD", "ctType": "inverse",
    "tickSz": "0.1", "lotSz": "1", "minSz": "1", "alias": "quarter", "state": "live",
    "expTime": "1798185600000",
}
WEEK = dict(QUARTER, instId="BTC-USD-261127", alias="this_week", expTime="1795766400000")
NOW_MS = 1_795_600_000_000  # Wednesday 2026-11-25 07:06 UTC


def delivery(text: str) -> int:
    """A delivery time, 08:00 UTC on the given day, in ms."""
    moment = datetime.fromisoformat(text).replace(hour=8, tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def make_cache(tables: dict[str, list[Mapping[str, Any]]]) -> tuple[InstrumentCache, list[str]]:
    calls: list[str] = []

    async def fetch(inst_type: str) -> list[Mapping[str, Any]]:
        calls.append(inst_type)
        return tables.get(inst_type, [])

    clock = Clock()
    clock.advance(NOW_MS / 1000)
    return InstrumentCache(fetch=fetch, clock=clock), calls


def test_parse_spot_and_contracts() -> None:
    """Fields become Decimals; FMZ symbols and contract types follow the instType."""
    spot = parse_instrument(SPOT)
    swap = parse_instrument(SWAP)
    quarter = parse_instrument(QUARTER)
    assert spot is not None and swap is not None and quarter is not None
    assert (fmz_symbol_of(spot), contract_type_of(spot)) == ("BTC_USDT", "")
    assert spot.tick_size == Decimal("0.1") and spot.lot_size == Decimal("0.00000001")
    assert (spot.price_precision, spot.amount_precision) == (1, 8)
    assert (fmz_symbol_of(swap), swap.ct_val, swap.settle) == (
        "BTC_USDT.swap", Decimal("0.01"), "USDT",
    )
    assert (fmz_symbol_of(quarter, "quarter"), contract_type_of(quarter, "quarter")) == (
        "BTC_USD.quarter", "quarter",
    )
    assert (fmz_symbol_of(quarter), contract_type_of(quarter)) == ("BTC_USD.261225", "261225")
    assert quarter.expiry_ms == 1798185600000


def test_parse_rejects_incomplete_items() -> None:
    """A pre-open instrument with no sizes is skipped rather than half-parsed."""
    preopen = {"instType": "SWAP", "instId": "X-USDT-SWAP", "state": "preopen"}
    assert parse_instrument(preopen) is None


def test_decimals_of() -> None:
    """Precision is the number of decimals in the step."""
    steps = ("0.001", "1", "10", "0.10", "1E-8")
    assert [decimals_of(Decimal(s)) for s in steps] == [3, 0, 0, 1, 8]
    assert decimals_of(None) == 0


def test_find_by_alias_and_inst_id() -> None:
    """Aliases resolve through the FUTURES list; instIds look up directly; one fetch per type."""
    cache, calls = make_cache({"FUTURES": [QUARTER, WEEK], "SPOT": [SPOT]})
    quarter = drive(cache.find("FUTURES", family="BTC-USD", alias="quarter"))
    week = drive(cache.find("FUTURES", family="BTC-USD", alias="this_week"))
    spot = drive(cache.lookup("BTC-USDT"))
    assert (quarter.inst_id, week.inst_id, spot.inst_id) == (
        "BTC-USD-261225", "BTC-USD-261127", "BTC-USDT",
    )
    assert calls == ["FUTURES", "SPOT"]


def test_unknown_symbol_refreshes_once_then_errors() -> None:
    """An unknown symbol triggers at most one throttled refresh, then a clear error."""
    cache, calls = make_cache({"SPOT": [SPOT]})
    drive(cache.instruments("SPOT"))
    cache.clock.advance(60)  # type: ignore[attr-defined]
    expected = "unknown symbol DOGE_USDT: OKX lists no DOGE-USDT"
    with pytest.raises(UnknownInstrument, match=expected):
        drive(cache.find("SPOT", inst_id="DOGE-USDT", describe="DOGE_USDT"))
    with pytest.raises(UnknownInstrument, match="OKX lists no DOGE-USDT"):
        drive(cache.lookup("DOGE-USDT"))
    assert calls == ["SPOT", "SPOT"]


def test_new_listing_found_after_refresh() -> None:
    """A symbol listed after the first load is found through the refresh-on-miss."""
    tables: dict[str, list[Mapping[str, Any]]] = {"SPOT": [SPOT]}
    cache, _ = make_cache(tables)
    drive(cache.instruments("SPOT"))
    tables["SPOT"] = [SPOT, dict(SPOT, instId="DOGE-USDT", baseCcy="DOGE")]
    cache.clock.advance(31)  # type: ignore[attr-defined]
    assert drive(cache.lookup("DOGE-USDT")).inst_id == "DOGE-USDT"


def test_concurrent_loads_share_one_fetch() -> None:
    """Callers arriving while a load is running share it."""
    gate: Deferred[list[Mapping[str, Any]]] = Deferred()
    calls: list[str] = []

    async def fetch(inst_type: str) -> list[Mapping[str, Any]]:
        calls.append(inst_type)
        return await gate

    cache = InstrumentCache(fetch=fetch, clock=Clock())
    first = Deferred.fromCoroutine(cache.instruments("SPOT"))
    second = Deferred.fromCoroutine(cache.instruments("SPOT"))
    gate.callback([SPOT])
    assert list(first.result) == list(second.result) == ["BTC-USDT"]  # type: ignore[attr-defined]
    assert calls == ["SPOT"]


def test_failed_load_reaches_every_waiter_and_is_retried() -> None:
    """A failed load fails each waiter; the next call tries again."""
    attempts: list[int] = []

    async def fetch(inst_type: str) -> list[Mapping[str, Any]]:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("upstream down")
        return [SPOT]

    cache = InstrumentCache(fetch=fetch, clock=Clock())
    with pytest.raises(RuntimeError):
        drive(cache.instruments("SPOT"))
    assert list(drive(cache.instruments("SPOT"))) == ["BTC-USDT"]


def test_range_selects_by_quote_or_settlement() -> None:
    """USDT.swap covers USDT-margined swaps only."""
    inverse = dict(SWAP, instId="BTC-USD-SWAP", instFamily="BTC-USD", settleCcy="BTC")
    cache, _ = make_cache({"SWAP": [SWAP, inverse]})
    usdt = drive(cache.settled_in("SWAP", "USDT"))
    usd = drive(cache.settled_in("SWAP", "USD"))
    assert [i.inst_id for i in usdt] == ["BTC-USDT-SWAP"]
    assert [i.inst_id for i in usd] == ["BTC-USD-SWAP"]


def test_refresh_keeps_old_list_on_failure() -> None:
    """A failed timed refresh keeps serving the previous list."""
    state = {"fail": False}

    async def fetch(inst_type: str) -> list[Mapping[str, Any]]:
        if state["fail"]:
            raise RuntimeError("down")
        return [SPOT]

    cache = InstrumentCache(fetch=fetch, clock=Clock())
    drive(cache.instruments("SPOT"))
    state["fail"] = True
    drive(cache.refresh())
    assert cache.cached("BTC-USDT") is not None


def test_ccxt_fixture_swap_positions_mention_known_instruments() -> None:
    """Real OKX ids from the ccxt fixtures parse as symbols."""
    path = Path(__file__).parents[1] / "fixtures" / "okx-responses.json"
    fixture = json.loads(path.read_text())
    ids = set()
    for case in fixture["methods"]["fetchPositions"]:
        for item in case["httpResponse"]["data"]:
            ids.add(item["instId"])
    assert ids
    for inst_id in ids:
        assert parse_symbol(inst_id).inst_id == inst_id


def test_inst_type_of_shapes() -> None:
    """An instId's shape names its instType; anything else is None."""
    ids = ("BTC-USDT", "BTC-USDT-SWAP", "BTC-USD-261225", "BTC-USD-261225-90000-C", "nope")
    assert [inst_type_of(i) for i in ids] == ["SPOT", "SWAP", "FUTURES", "OPTION", None]
    with pytest.raises(UnknownInstrument, match="options are not supported"):
        drive(make_cache({})[0].lookup("BTC-USD-261225-90000-C"))


@pytest.mark.parametrize(("expiry", "alias"), [
    ("2026-11-27", "this_week"),
    ("2026-12-04", "next_week"),
    ("2026-12-11", ""),
    ("2026-12-25", "quarter"),
    ("2027-03-26", "next_quarter"),
    ("2027-06-25", "third_quarter"),
    ("2027-09-24", ""),
    ("2026-11-20", ""),
])
def test_delivery_alias_from_expiry(expiry: str, alias: str) -> None:
    """OKX's calendar: Friday 08:00 UTC deliveries, quarterlies on a quarter's last Friday."""
    assert delivery_alias(delivery(expiry), NOW_MS) == alias


def test_delivery_alias_rolls_at_delivery_time() -> None:
    """At Friday 08:00 the next week's contract becomes this week's, to the millisecond."""
    friday = delivery("2026-11-27")
    assert delivery_alias(delivery("2026-12-04"), friday - 1) == "next_week"
    assert delivery_alias(delivery("2026-12-04"), friday) == "this_week"
    assert delivery_alias(friday, friday) == ""


def test_quarterly_in_its_last_two_weeks_is_weekly() -> None:
    """A quarterly contract two weeks from delivery is next_week, then this_week."""
    quarter = delivery("2026-12-25")
    assert delivery_alias(quarter, delivery("2026-12-11") + 1) == "next_week"
    assert delivery_alias(quarter, delivery("2026-12-18") + 1) == "this_week"
    assert delivery_alias(delivery("2027-03-26"), delivery("2026-12-18") + 1) == "quarter"


def test_find_ignores_okx_alias_when_expiry_is_known() -> None:
    """OKX sends alias "" in 2026: the contract types still resolve from expTime."""
    blank = [dict(QUARTER, alias=""), dict(WEEK, alias="")]
    cache, _ = make_cache({"FUTURES": blank})
    quarter = drive(cache.find("FUTURES", family="BTC-USD", alias="quarter"))
    week = drive(cache.find("FUTURES", family="BTC-USD", alias="this_week"))
    assert (quarter.inst_id, week.inst_id) == ("BTC-USD-261225", "BTC-USD-261127")
    with pytest.raises(UnknownInstrument, match="next_week futures contract of BTC-USD"):
        drive(cache.find("FUTURES", family="BTC-USD", alias="next_week"))
