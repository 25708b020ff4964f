"""
Cursor pagination: complete lists for 0/1/100/101/250 items, deduplication, and an
explicit error (never a silent truncation) when a page fails or the walk cannot end.

The orders are real resting orders in okxsim; pages that misbehave are okxsim faults
(``skip`` picks the page, a ``reply`` fault scripts it).
"""

from __future__ import annotations

from typing import Any

import pytest

from fmzokx.okx.errors import OkxApiError, OkxMalformedResponse, OkxPaginationError
from fmzokx.okx.rest.client import PageWalk
from fmzokx.sim import DEFAULT_ACCOUNT

from .support import CREDS, RESTING_BUY, Harness, envelope

PENDING = "/api/v5/trade/orders-pending"
CANDLES = "/api/v5/market/history-candles"


def with_orders(count: int, **options: Any) -> tuple[Harness, list[dict[str, Any]]]:
    """A harness whose account has ``count`` resting orders; and those orders, newest first."""
    h = Harness(**options)
    # post_only: a resting order that never walks the book, so setting up is quick
    order = {**RESTING_BUY, "ordType": "post_only"}
    for i in range(count):
        item = h.sim.exchange.place(
            DEFAULT_ACCOUNT.key, {**order, "clOrdId": f"rest{i}"}, h.sim.now_ms()
        )
        assert item["sCode"] == "0", item
    orders: list[dict[str, Any]] = h.sim.state()["orders"]
    assert len(orders) == count
    return h, orders


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["ordId"] for row in rows]


@pytest.mark.parametrize(("count", "requests"), [(0, 1), (1, 1), (100, 2), (101, 2), (250, 3)])
def test_walk_returns_every_item(count: int, requests: int) -> None:
    """
    Every order comes back, newest first, in as many requests as needed (a full page is
    followed by one more request to prove the end); cursors are the last ordId seen.
    """
    h, orders = with_orders(count)
    walk = h.run(h.client.paginate(PENDING, {"instType": "SPOT"}, credentials=CREDS))
    assert isinstance(walk, PageWalk)
    assert ids(walk.items) == ids(orders)
    assert len(walk.pages) == requests == h.count(PENDING)
    queries = [seen.query.decode() for seen in h.requests(PENDING)]
    assert queries[0] == "instType=SPOT&limit=100"
    for page, query in enumerate(queries[1:], start=1):
        assert query == f"instType=SPOT&after={orders[100 * page - 1]['ordId']}&limit=100"


def test_failure_on_page_three_is_an_error() -> None:
    """
    250 orders, and page 3 is refused: OkxPaginationError with the two pages fetched and
    OKX's error as the cause; no partial list is returned.
    """
    h, _ = with_orders(250)
    h.sim.add_fault(PENDING, "reply", skip=2,
                    body=envelope([], code="50000", msg="Body can not be empty"))
    error = h.failure(h.client.paginate(PENDING, {}, credentials=CREDS))
    assert isinstance(error, OkxPaginationError)
    assert len(error.pages) == 2
    assert len(error.items) == 200
    assert isinstance(error.__cause__, OkxApiError)
    assert error.__cause__.code == "50000"
    assert "page 3 failed" in str(error) and "incomplete" in str(error)


def test_transient_page_failure_is_retried_within_the_walk() -> None:
    """A page that fails once with a 503 is retried by get(); the walk still completes."""
    h, orders = with_orders(150)
    h.sim.add_fault(PENDING, "reply", status=503, body="busy", content_type="text/plain")
    walk = h.run(h.client.paginate(PENDING, {}, credentials=CREDS))
    assert ids(walk.items) == ids(orders)
    assert h.count(PENDING) == 3


def test_duplicates_across_pages_are_dropped() -> None:
    """An order repeated on the next page (it moved while we paged) appears once."""
    h, orders = with_orders(150)
    h.sim.add_fault(PENDING, "reply", skip=1, body=envelope(orders[99:150]))
    walk = h.run(h.client.paginate(PENDING, {}, credentials=CREDS))
    assert ids(walk.items) == ids(orders)
    assert h.count(PENDING) == 2


def test_max_pages_is_an_error_not_a_truncation() -> None:
    """Reaching max_pages before the end raises instead of returning what was fetched."""
    h, _ = with_orders(250)
    error = h.failure(h.client.paginate(PENDING, {}, credentials=CREDS, max_pages=2))
    assert isinstance(error, OkxPaginationError)
    assert "2 pages" in str(error)
    assert len(error.items) == 200


def test_stuck_cursor_is_an_error() -> None:
    """An upstream that serves the same full page forever is detected, not looped on."""
    h, orders = with_orders(100)
    h.sim.add_fault(PENDING, "reply", count=-1, body=envelope(orders))
    error = h.failure(h.client.paginate(PENDING, {}, credentials=CREDS))
    assert isinstance(error, OkxPaginationError)
    assert "did not advance" in str(error)
    assert h.count(PENDING) == 2


def test_item_without_cursor_is_an_error() -> None:
    """A row lacking the cursor field stops the walk with an explicit error."""
    h = Harness()
    h.sim.add_fault(PENDING, "reply", body=envelope([{"state": "live"}]))
    error = h.failure(h.client.paginate(PENDING, {}, credentials=CREDS))
    assert isinstance(error, OkxPaginationError)
    assert "without cursor" in str(error)


def test_array_rows_page_by_index() -> None:
    """Candle-style array rows page with ``cursor=0`` (the timestamp column)."""
    h = Harness()
    rows = [[str(1_700_000_000_000 - 60_000 * i), "1", "2", "0.5", "1.5"] for i in range(5)]
    for page in (rows[0:2], rows[2:4], rows[4:5]):
        h.sim.add_fault(CANDLES, "reply", body=envelope(page))
    walk = h.run(
        h.client.paginate(
            CANDLES,
            {"instId": "BTC-USDT", "bar": "1m"},
            credentials=None,
            cursor=0,
            limit=2,
        )
    )
    assert walk.items == rows
    assert [seen.query.decode() for seen in h.requests(CANDLES)] == [
        "instId=BTC-USDT&bar=1m&limit=2",
        f"instId=BTC-USDT&bar=1m&after={rows[1][0]}&limit=2",
        f"instId=BTC-USDT&bar=1m&after={rows[3][0]}&limit=2",
    ]


def test_starting_cursor_is_honoured() -> None:
    """An ``after`` in the caller's params starts the walk there."""
    h, orders = with_orders(10)
    walk = h.run(h.client.paginate(PENDING, {"after": orders[3]["ordId"]}, credentials=CREDS))
    assert ids(walk.items) == ids(orders[4:])


@pytest.mark.parametrize(
    "page",
    [{"code": "0", "msg": ""}, {"code": "0", "msg": "", "data": None},
     {"code": "0", "msg": "", "data": {}}],
    ids=["no data", "data null", "data object"],
)
def test_page_without_a_data_array_is_an_error(page: dict[str, Any]) -> None:
    """
    260 orders, and page 2's envelope has no ``data`` array: an error naming the page,
    never the first 100 orders as if they were all (a missing ``data`` once ended the
    walk as a short page would).
    """
    h, _ = with_orders(260)
    h.sim.add_fault(PENDING, "reply", skip=1, count=-1, body=page)
    error = h.failure(h.client.paginate(PENDING, {}, credentials=CREDS))
    assert isinstance(error, OkxPaginationError)
    assert "page 2 failed" in str(error) and "data field" in str(error)
    assert len(error.items) == 100


def test_single_read_without_data_is_an_error() -> None:
    """A one-request read (the balance) whose envelope has no ``data`` is malformed."""
    h = Harness()
    h.sim.add_fault("/api/v5/account/balance", "reply", count=-1, body={"code": "0", "msg": ""})
    error = h.failure(h.client.get("/api/v5/account/balance", {}, credentials=CREDS))
    assert isinstance(error, OkxMalformedResponse)
    assert "no data field" in str(error)
