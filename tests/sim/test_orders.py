"""
Order lists: orders-pending, orders-history and orders-history-archive are newest first
with exclusive ordId cursors, and walking them page by page sees every order exactly once.
"""

from __future__ import annotations

import pytest

from .support import Harness


def place_resting(harness: Harness, count: int) -> list[str]:
    return [
        harness.placed(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                       px="30000", sz="0.001")
        for _ in range(count)
    ]


def place_filled(harness: Harness, count: int) -> list[str]:
    return [
        harness.placed(instId="ETH-USDT", tdMode="cash", side="buy", ordType="market", sz="5")
        for _ in range(count)
    ]


def walk_back(harness: Harness, base: str, limit: int = 100) -> list[list[str]]:
    """Pages of ordIds, following after=<oldest ordId seen> until a short page."""
    pages: list[list[str]] = []
    cursor = ""
    while True:
        query = f"{base}&limit={limit}" + (f"&after={cursor}" if cursor else "")
        page = [row["ordId"] for row in harness.ok(query)]
        pages.append(page)
        if len(page) < limit:
            return pages
        cursor = page[-1]


def walk_forward(harness: Harness, base: str, limit: int = 100) -> list[list[str]]:
    """Pages of ordIds, following before=<newest ordId seen>, starting from before=0."""
    pages: list[list[str]] = []
    cursor = "0"
    while True:
        page = [row["ordId"] for row in harness.ok(f"{base}&limit={limit}&before={cursor}")]
        pages.append(page)
        if len(page) < limit:
            return pages
        cursor = page[0]


@pytest.mark.parametrize("count", [0, 1, 100, 101, 250])
def test_pending_pagination(count: int) -> None:
    """orders-pending pages cover all live orders, newest first, without gaps or repeats."""
    harness = Harness()
    ids = place_resting(harness, count)
    pages = walk_back(harness, "/api/v5/trade/orders-pending?instType=SPOT")
    flat = [i for page in pages for i in page]
    assert flat == list(reversed(ids))
    assert [len(p) for p in pages] == [100] * (count // 100) + [count % 100]
    forward = walk_forward(harness, "/api/v5/trade/orders-pending?instType=SPOT")
    assert sorted((i for page in forward for i in page), key=int) == ids
    for page in forward:
        assert page == sorted(page, key=int, reverse=True)


@pytest.mark.parametrize("count", [0, 1, 100, 101, 250])
def test_history_and_archive_pagination(count: int) -> None:
    """Filled orders page identically through orders-history and orders-history-archive."""
    harness = Harness()
    ids = place_filled(harness, count)
    for path in ("orders-history", "orders-history-archive"):
        pages = walk_back(harness, f"/api/v5/trade/{path}?instType=SPOT")
        assert [i for page in pages for i in page] == list(reversed(ids)), path


def test_cursors_are_exclusive() -> None:
    """after and before exclude the cursor itself; both together bound a window."""
    harness = Harness()
    ids = place_resting(harness, 10)
    base = "/api/v5/trade/orders-pending?instId=BTC-USDT"
    older = [r["ordId"] for r in harness.ok(f"{base}&after={ids[5]}")]
    assert older == list(reversed(ids[:5]))
    newer = [r["ordId"] for r in harness.ok(f"{base}&before={ids[5]}")]
    assert newer == list(reversed(ids[6:]))
    window = [r["ordId"] for r in harness.ok(f"{base}&after={ids[7]}&before={ids[2]}")]
    assert window == list(reversed(ids[3:7]))
    nearest = [r["ordId"] for r in harness.ok(f"{base}&before={ids[2]}&limit=2")]
    assert nearest == [ids[4], ids[3]]


def test_limits() -> None:
    """limit defaults to 100, is capped at 100, and must be a positive integer."""
    harness = Harness()
    place_resting(harness, 120)
    assert len(harness.ok("/api/v5/trade/orders-pending")) == 100
    assert len(harness.ok("/api/v5/trade/orders-pending?limit=500")) == 100
    assert len(harness.ok("/api/v5/trade/orders-pending?limit=7")) == 7
    for bad in ("0", "-1", "ten"):
        status, body = harness.get(f"/api/v5/trade/orders-pending?limit={bad}")
        assert (status, body["code"]) == (400, "51000")


def test_history_requires_inst_type_and_filters() -> None:
    """orders-history needs instType (50014) and filters by instId, state and ordType."""
    harness = Harness()
    status, body = harness.get("/api/v5/trade/orders-history")
    assert (status, body["code"]) == (400, "50014")
    filled = place_filled(harness, 2)
    live = place_resting(harness, 1)
    harness.post("/api/v5/trade/cancel-order", {"instId": "BTC-USDT", "ordId": live[0]})
    rows = harness.ok("/api/v5/trade/orders-history?instType=SPOT")
    assert [r["ordId"] for r in rows] == [live[0], filled[1], filled[0]]
    rows = harness.ok("/api/v5/trade/orders-history?instType=SPOT&state=filled")
    assert [r["ordId"] for r in rows] == [filled[1], filled[0]]
    rows = harness.ok("/api/v5/trade/orders-history?instType=SPOT&instId=BTC-USDT")
    assert [r["ordId"] for r in rows] == [live[0]]
    rows = harness.ok("/api/v5/trade/orders-history?instType=SPOT&ordType=limit%2Cpost_only")
    assert [r["ordId"] for r in rows] == [live[0]]
    assert harness.ok("/api/v5/trade/orders-history?instType=SWAP") == []


def test_retention() -> None:
    """
    Canceled orders without fills disappear after 2 hours and never reach the archive;
    orders-history covers 7 days, the archive 3 months.
    """
    harness = Harness()
    filled = place_filled(harness, 1)
    canceled = place_resting(harness, 1)
    harness.post("/api/v5/trade/cancel-order", {"instId": "BTC-USDT", "ordId": canceled[0]})
    archive = harness.ok("/api/v5/trade/orders-history-archive?instType=SPOT")
    assert [r["ordId"] for r in archive] == filled
    harness.clock.advance(2 * 3600 + 1)
    history = harness.ok("/api/v5/trade/orders-history?instType=SPOT")
    assert [r["ordId"] for r in history] == filled
    status, body = harness.get(f"/api/v5/trade/order?instId=BTC-USDT&ordId={canceled[0]}")
    assert body["code"] == "51603"
    harness.clock.advance(8 * 86400)
    assert harness.ok("/api/v5/trade/orders-history?instType=SPOT") == []
    archive = harness.ok("/api/v5/trade/orders-history-archive?instType=SPOT")
    assert [r["ordId"] for r in archive] == filled
    harness.clock.advance(90 * 86400)
    assert harness.ok("/api/v5/trade/orders-history-archive?instType=SPOT") == []


def test_orders_belong_to_their_account() -> None:
    """Another account sees none of the first account's orders."""
    from fmzokx.sim import DEFAULT_ACCOUNT, SimAccount

    other = SimAccount(key="k2", secret="s2", passphrase="p2")
    harness = Harness(accounts=[DEFAULT_ACCOUNT, other])
    ids = place_resting(harness, 2)
    headers = harness.headers("GET", "/api/v5/trade/orders-pending", b"", account=other)
    status, body = harness.send("GET", "/api/v5/trade/orders-pending", None, headers)
    assert (status, body["data"]) == (200, [])
    target = f"/api/v5/trade/order?instId=BTC-USDT&ordId={ids[0]}"
    headers = harness.headers("GET", target, b"", account=other)
    status, body = harness.send("GET", target, None, headers)
    assert body["code"] == "51603"
