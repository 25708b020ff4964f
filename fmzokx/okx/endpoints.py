# -*- test-case-name: tests.okx.test_domain -*-
"""
Every OKX v5 REST endpoint the daemon calls, and every WebSocket channel it subscribes,
named once.

The domain calls (:mod:`fmzokx.okx.market`, :mod:`~fmzokx.okx.account`,
:mod:`~fmzokx.okx.trade`) use these; the FMZ side names them only to document which
endpoint a method uses (the protocol reference shows ``str(endpoint)``), never to build a
request.
"""

from __future__ import annotations

from attrs import frozen

__all__ = [
    "BALANCE",
    "CANCEL_ORDER",
    "CANDLES",
    "CONFIG",
    "Endpoint",
    "FUNDING_RATE",
    "HISTORY_CANDLES",
    "INSTRUMENTS",
    "LEVERAGE_INFO",
    "ORDERS_ARCHIVE",
    "ORDERS_HISTORY",
    "ORDERS_PENDING",
    "ORDER_DETAILS",
    "PLACE_ORDER",
    "POSITIONS",
    "SET_LEVERAGE",
    "TICKER",
    "TICKERS",
    "TIME",
    "TRADES",
    "BOOKS",
    "ACCOUNT_CHANNEL",
    "BOOKS_CHANNEL",
    "Channel",
    "ORDERS_CHANNEL",
    "POSITIONS_CHANNEL",
    "TICKERS_CHANNEL",
    "TRADES_ALL_CHANNEL",
    "V5_PREFIX",
]

V5_PREFIX = "/api/v5/"
"""Every REST path of OKX's v5 API starts with this."""


@frozen
class Endpoint:
    """One OKX endpoint: the verb and the path (no query string)."""

    method: str
    path: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


TIME = Endpoint("GET", "/api/v5/public/time")
INSTRUMENTS = Endpoint("GET", "/api/v5/public/instruments")
FUNDING_RATE = Endpoint("GET", "/api/v5/public/funding-rate")
TICKER = Endpoint("GET", "/api/v5/market/ticker")
TICKERS = Endpoint("GET", "/api/v5/market/tickers")
BOOKS = Endpoint("GET", "/api/v5/market/books")
TRADES = Endpoint("GET", "/api/v5/market/trades")
CANDLES = Endpoint("GET", "/api/v5/market/candles")
HISTORY_CANDLES = Endpoint("GET", "/api/v5/market/history-candles")
BALANCE = Endpoint("GET", "/api/v5/account/balance")
POSITIONS = Endpoint("GET", "/api/v5/account/positions")
CONFIG = Endpoint("GET", "/api/v5/account/config")
SET_LEVERAGE = Endpoint("POST", "/api/v5/account/set-leverage")
LEVERAGE_INFO = Endpoint("GET", "/api/v5/account/leverage-info")
PLACE_ORDER = Endpoint("POST", "/api/v5/trade/order")
ORDER_DETAILS = Endpoint("GET", "/api/v5/trade/order")
CANCEL_ORDER = Endpoint("POST", "/api/v5/trade/cancel-order")
ORDERS_PENDING = Endpoint("GET", "/api/v5/trade/orders-pending")
ORDERS_HISTORY = Endpoint("GET", "/api/v5/trade/orders-history")
ORDERS_ARCHIVE = Endpoint("GET", "/api/v5/trade/orders-history-archive")


@frozen
class Channel:
    """One OKX WebSocket channel: the URL path that serves it and its name."""

    path: str
    name: str

    def __str__(self) -> str:
        return f"WebSocket {self.name} ({self.path})"


TICKERS_CHANNEL = Channel("/ws/v5/public", "tickers")
BOOKS_CHANNEL = Channel("/ws/v5/public", "books")
TRADES_ALL_CHANNEL = Channel("/ws/v5/business", "trades-all")
ACCOUNT_CHANNEL = Channel("/ws/v5/private", "account")
POSITIONS_CHANNEL = Channel("/ws/v5/private", "positions")
ORDERS_CHANNEL = Channel("/ws/v5/private", "orders")
