"""
Cursor pagination: complete lists for 0/1/100/101/250 items, deduplication, and an
explicit error (never a silent truncation) when a page fails or the walk cannot end.
"""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.task import Clock

from fmzokx.okx.client import PageWalk
from fmzokx.okx.errors import OkxApiError, OkxPaginationError

from .fakeokx import Behaviour, FakeOkx, envelope, make_orders
from .support import CREDS, Harness

NOW = 1_700_000_000.0
PENDING = "/api/v5/trade/orders-pending"


def setup(**options: Any) -> tuple[FakeOkx, Harness]:
    clock = Clock()
    clock.advance(NOW)
    fake = FakeOkx(clock)
    return fake, Harness(fake, clock, **options)


@pytest.mark.parametrize(("count", "requests"), [(0, 1), (1, 1), (100, 2), (101, 2), (250, 3)])
def test_walk_returns_every_item(count: int, requests: int) -> None:
    """
    Every order comes back, newest first, in as many requests as needed (a full page is
    followed by one more request to prove the end); cursors are the last ordId seen.
    """
    fake, h = setup()
    fake.orders = make_orders(count)
    walk = h.run(h.client.paginate(PENDING, {"instType": "SPOT"}, credentials=CREDS))
    assert isinstance(walk, PageWalk)
    assert [o["ordId"] for o in walk.items] == [o["ordId"] for o in fake.orders]
    assert len(walk.pages) == requests == fake.count(PENDING)
    queries = [seen.query.decode() for seen in fake.requests]
    assert queries[0] == "instType=SPOT&limit=100"
    for page, query in enumerate(queries[1:], start=1):
        assert query == f"instType=SPOT&after={fake.orders[100 * page - 1]['ordId']}&limit=100"


def test_failure_on_page_three_is_an_error() -> None:
    """
    250 orders, and page 3 is refused: OkxPaginationError with the two pages fetched and
    OKX's error as the cause; no partial list is returned.
    """
    fake, h = setup()
    fake.orders = make_orders(250)
    original = fake.routes[("GET", PENDING)]
    served: list[int] = []

    def third_page_fails(seen: Any) -> tuple[int, Any]:
        served.append(1)
        if len(served) == 3:
            return 200, {"code": "50000", "msg": "Body can not be empty", "data": []}
        return original(seen)

    fake.routes[("GET", PENDING)] = third_page_fails
    error = h.failure(h.client.paginate(PENDING, {}, credentials=CREDS))
    assert isinstance(error, OkxPaginationError)
    assert len(error.pages) == 2
    assert len(error.items) == 200
    assert isinstance(error.__cause__, OkxApiError)
    assert error.__cause__.code == "50000"
    assert "page 3 failed" in str(error) and "incomplete" in str(error)


def test_transient_page_failure_is_retried_within_the_walk() -> None:
    """A page that fails once with a 503 is retried by get(); the walk still completes."""
    fake, h = setup()
    fake.orders = make_orders(150)
    fake.then(PENDING, Behaviour("raw", status=503, raw=b"busy"))
    walk = h.run(h.client.paginate(PENDING, {}, credentials=CREDS))
    assert len(walk.items) == 150
    assert fake.count(PENDING) == 3


def test_duplicates_across_pages_are_dropped() -> None:
    """An order repeated on the next page (it moved while we paged) appears once."""
    fake, h = setup()
    orders = make_orders(150)
    pages = [orders[:100], orders[99:150]]

    def overlapping(seen: Any) -> tuple[int, Any]:
        return 200, envelope(pages.pop(0))

    fake.routes[("GET", PENDING)] = overlapping
    walk = h.run(h.client.paginate(PENDING, {}, credentials=CREDS))
    assert [o["ordId"] for o in walk.items] == [o["ordId"] for o in orders]


def test_max_pages_is_an_error_not_a_truncation() -> None:
    """Reaching max_pages before the end raises instead of returning what was fetched."""
    fake, h = setup()
    fake.orders = make_orders(250)
    error = h.failure(h.client.paginate(PENDING, {}, credentials=CREDS, max_pages=2))
    assert isinstance(error, OkxPaginationError)
    assert "2 pages" in str(error)
    assert len(error.items) == 200


def test_stuck_cursor_is_an_error() -> None:
    """An upstream that serves the same full page forever is detected, not looped on."""
    fake, h = setup()
    page = make_orders(100)
    fake.routes[("GET", PENDING)] = lambda seen: (200, envelope(page))
    error = h.failure(h.client.paginate(PENDING, {}, credentials=CREDS))
    assert isinstance(error, OkxPaginationError)
    assert "did not advance" in str(error)
    assert fake.count(PENDING) == 2


def test_item_without_cursor_is_an_error() -> None:
    """A row lacking the cursor field stops the walk with an explicit error."""
    fake, h = setup()
    fake.routes[("GET", PENDING)] = lambda seen: (200, envelope([{"state": "live"}]))
    error = h.failure(h.client.paginate(PENDING, {}, credentials=CREDS))
    assert isinstance(error, OkxPaginationError)
    assert "without cursor" in str(error)


def test_array_rows_page_by_index() -> None:
    """Candle-style array rows page with ``cursor=0`` (the timestamp column)."""
    fake, h = setup()
    rows = [[str(1_700_000_000_000 - 60_000 * i), "1", "2", "0.5", "1.5"] for i in range(5)]
    served: list[str] = []

    def candles(seen: Any) -> tuple[int, Any]:
        served.append(seen.query.decode())
        after = [part[6:] for part in seen.query.decode().split("&") if part.startswith("after=")]
        remaining = [r for r in rows if not after or int(r[0]) < int(after[0])]
        return 200, envelope(remaining[:2])

    fake.routes[("GET", "/api/v5/market/history-candles")] = candles
    walk = h.run(
        h.client.paginate(
            "/api/v5/market/history-candles",
            {"instId": "BTC-USDT", "bar": "1m"},
            credentials=None,
            cursor=0,
            limit=2,
        )
    )
    assert walk.items == rows
    assert served[1] == f"instId=BTC-USDT&bar=1m&after={rows[1][0]}&limit=2"


def test_starting_cursor_is_honoured() -> None:
    """An ``after`` in the caller's params starts the walk there."""
    fake, h = setup()
    fake.orders = make_orders(10)
    start = fake.orders[3]["ordId"]
    walk = h.run(h.client.paginate(PENDING, {"after": start}, credentials=CREDS))
    assert [o["ordId"] for o in walk.items] == [o["ordId"] for o in fake.orders[4:]]
