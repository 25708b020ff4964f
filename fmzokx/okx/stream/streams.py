# -*- test-case-name: tests.stream.test_streams -*-
"""
The daemon's market-data copies: one for live keys, one for demo-trading keys.

OKX's demo trading has its own market on its own WebSocket host (``wspap``), so a
strategy with a ``simulate`` key is answered from that copy, and one with a live key (or
no key) from the live one. Against a simulator both are the same copy: okxsim has one
market. The demo copy connects only when a demo key first asks.
"""

from __future__ import annotations

import random
from typing import Any

from twisted.internet.interfaces import IReactorTime

from fmzokx.okx.stream.client import Connector
from fmzokx.okx.stream.limits import ConnectLimiter
from fmzokx.okx.stream.market import MarketStream
from fmzokx.okx.stream.stats import StreamObserver, StreamStats
from fmzokx.okx.stream.urls import BUSINESS, PUBLIC, ws_url

__all__ = ["SHOWN_CHANNELS", "StreamSet"]

SHOWN_CHANNELS = 50
"""The most channel rows the status page gets (the snapshot keeps 50 items per list)."""


class StreamSet:
    """
    :param live_base: e.g. ``wss://ws.okx.com:8443``.
    :param demo_base: e.g. ``wss://wspap.okx.com:8443`` (the live base for a simulator).
    :param options: passed to each :class:`MarketStream` (``freshness``, ``linger``...).
    """

    def __init__(
        self,
        clock: IReactorTime,
        live_base: str,
        demo_base: str,
        connector: Connector,
        *,
        observer: StreamObserver | None = None,
        rng: random.Random | None = None,
        **options: Any,
    ) -> None:
        self.clock = clock
        self.live_base = live_base
        self.demo_base = demo_base
        self.connector = connector
        self.observer = observer
        self.rng = rng
        self.options = options
        # OKX counts new connections per IP, whichever host they go to.
        self.limiter = ConnectLimiter(clock)
        self.live = self._stream(live_base)
        self._demo: MarketStream | None = self.live if demo_base == live_base else None
        self._running = False

    def _stream(self, base: str) -> MarketStream:
        return MarketStream(
            self.clock,
            ws_url(base, PUBLIC),
            ws_url(base, BUSINESS),
            self.connector,
            stats=StreamStats(self.observer),
            limiter=self.limiter,
            rng=self.rng,
            **self.options,
        )

    def streams(self) -> list[MarketStream]:
        """The copies that exist so far."""
        return [self.live] if self._demo in (None, self.live) else [self.live, self._demo]

    def for_demo(self, demo: bool) -> MarketStream:
        """The copy for a demo-trading key (``demo``) or any other."""
        if not demo:
            return self.live
        if self._demo is None:
            self._demo = self._stream(self.demo_base)
            if self._running:
                self._demo.start()
        return self._demo

    def start(self) -> None:
        """Start each copy's housekeeping (connections open on the first query)."""
        self._running = True
        for stream in self.streams():
            stream.start()

    def stop(self) -> None:
        """Close every connection."""
        self._running = False
        for stream in self.streams():
            stream.stop()

    def status(self) -> dict[str, Any]:
        """
        For the status page: ``status`` (as in :meth:`health`), ``connections`` and
        ``channels`` (rows of :meth:`MarketStream.status`, at most :data:`SHOWN_CHANNELS`
        channels) and ``channels_total``.
        """
        connections: list[dict[str, Any]] = []
        channels: list[dict[str, Any]] = []
        for copy, stream in (("live", self.live), ("demo", self._demo)):
            if stream is None or (copy == "demo" and stream is self.live):
                continue
            rows, feeds = stream.status(copy)
            connections += rows
            channels += feeds
        return {
            "status": self.health()["status"],
            "connections": connections,
            "channels": channels[:SHOWN_CHANNELS],
            "channels_total": len(channels),
        }

    def health(self) -> dict[str, Any]:
        """
        ``{"status", "live", "demo"?, "unhealthy"?}``: degraded when either copy is;
        ``unhealthy`` names what is out of service in both (``"live: tickers BTC-USDT:
        ..."``).
        """
        result: dict[str, Any] = {"live": self.live.health()}
        if self._demo is not None and self._demo is not self.live:
            result["demo"] = self._demo.health()
        statuses = [part["status"] for part in result.values()]
        if "degraded" in statuses:
            status = "degraded"
        elif "ok" in statuses:
            status = "ok"
        else:
            status = "idle"
        named = [
            f"{mode}: {line}"
            for mode, part in result.items()
            for line in part.get("unhealthy", [])
        ]
        if named:
            return {"status": status, "unhealthy": named, **result}
        return {"status": status, **result}
