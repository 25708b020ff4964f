# -*- test-case-name: tests.stream.test_market -*-
"""
What the market-data stream counts, for metrics and ``/healthz``.

:class:`StreamStats` keeps plain counters (so tests read them directly) and passes every
event on to an optional :class:`StreamObserver` (the daemon's metrics registry). Label
values are OKX channel names, paths and fixed reason words: never an instrument or any
text from the network.
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol

from attrs import define, field

__all__ = ["StreamObserver", "StreamStats"]


class StreamObserver(Protocol):
    """Receives each counted event as it happens."""

    def stream_message(self, channel: str, lag: float | None) -> None:
        """A push on ``channel``; ``lag`` is local time minus the push's ``ts`` (s)."""

    def stream_resync(self, channel: str, reason: str) -> None:
        """A channel was resubscribed to rebuild it (``gap``, ``checksum``, ``malformed``)."""

    def stream_fallback(self, method: str, reason: str) -> None:
        """
        A query was left to REST (``cold``, ``stale``, ``unsynced``, ``failed``, ``short``,
        ``unknown``).
        """

    def stream_reconnect(self, path: str) -> None:
        """A connection to ``path`` was lost while still wanted."""


@define
class StreamStats:
    """Counters of messages, resyncs, fallbacks and reconnects; the last lag per channel."""

    observer: StreamObserver | None = None
    messages: Counter[str] = field(factory=Counter)
    resyncs: Counter[tuple[str, str]] = field(factory=Counter)
    fallbacks: Counter[tuple[str, str]] = field(factory=Counter)
    answers: Counter[str] = field(factory=Counter)
    reconnects: Counter[str] = field(factory=Counter)
    last_lag: dict[str, float] = field(factory=dict)

    def message(self, channel: str, lag: float | None) -> None:
        """Count one push."""
        self.messages[channel] += 1
        if lag is not None:
            self.last_lag[channel] = lag
        if self.observer is not None:
            self.observer.stream_message(channel, lag)

    def resync(self, channel: str, reason: str) -> None:
        """Count one resubscription to rebuild a channel."""
        self.resyncs[(channel, reason)] += 1
        if self.observer is not None:
            self.observer.stream_resync(channel, reason)

    def fallback(self, method: str, reason: str) -> None:
        """Count one query answered over REST instead."""
        self.fallbacks[(method, reason)] += 1
        if self.observer is not None:
            self.observer.stream_fallback(method, reason)

    def answer(self, method: str) -> None:
        """Count one query answered from the stream."""
        self.answers[method] += 1

    def reconnect(self, path: str) -> None:
        """Count one lost connection that will be reopened."""
        self.reconnects[path] += 1
        if self.observer is not None:
            self.observer.stream_reconnect(path)
