# -*- test-case-name: tests.stream.test_pool -*-
"""
Which connection to one OKX WebSocket URL carries which channel.

OKX closes a connection that holds too many channels (close codes 4008 and 4009; the
number is not published) and advises fewer than 30 depth channels per connection, so
channels are spread over several connections of at most ``per_connection`` channels
(default :data:`PER_CONNECTION`, inside that advice). A connection closed with 4008 or
4009 is *split*: the cap drops to half of what that connection held and the channels over
it move to other connections, never "reconnect and subscribe the same set again".

A connection that OKX announced it will close (``notice`` 64008) is *retiring*: new
channels avoid it while its own move to a replacement.

The pool only decides; :class:`~fmzokx.okx.stream.market.MarketStream` moves the channels
(and their copies) and every connection keeps OKX's connection limit through the one
shared :class:`~fmzokx.okx.stream.limits.ConnectLimiter`.
"""

from __future__ import annotations

from collections.abc import Callable

from fmzokx.okx.stream.client import Key, StreamConnection

__all__ = ["DEPTH_CHANNELS", "PER_CONNECTION", "SPLIT_CODES", "ConnectionPool"]

PER_CONNECTION = 20
"""Channels per connection: well under OKX's advice of fewer than 30 depth channels."""
SPLIT_CODES = (4008, 4009)
"""OKX's close codes for a connection that holds too many channels."""
DEPTH_CHANNELS = ("books", "books5", "bbo-tbt", "books50-l2-tbt", "books-l2-tbt")


class ConnectionPool:
    """
    The connections to one URL and the channels each carries.

    :param make: opens a new (idle) :class:`StreamConnection` to the URL.
    :param per_connection: the most channels put on one connection.
    :ivar cap: the current most channels per connection (lowered by each split).
    """

    def __init__(
        self, make: Callable[[], StreamConnection], per_connection: int = PER_CONNECTION
    ) -> None:
        self._make = make
        self.cap = max(1, per_connection)
        first = make()
        self.connections: list[StreamConnection] = [first]
        self.assigned: dict[StreamConnection, set[Key]] = {first: set()}
        self.retiring: set[StreamConnection] = set()
        self.splits = 0

    @property
    def primary(self) -> StreamConnection:
        """The first connection (always kept, even when idle)."""
        return self.connections[0]

    def place(self, key: Key) -> StreamConnection:
        """The connection to carry ``key`` from now on (a new one when all are full)."""
        for connection in self.connections:
            if connection in self.retiring:
                continue
            if len(self.assigned[connection]) < self.cap:
                self.assigned[connection].add(key)
                return connection
        connection = self._make()
        self.connections.append(connection)
        self.assigned[connection] = {key}
        return connection

    def release(self, connection: StreamConnection, key: Key) -> None:
        """``key`` no longer rides on ``connection``; an emptied extra connection goes."""
        keys = self.assigned.get(connection)
        if keys is None:
            return
        keys.discard(key)
        if not keys and connection is not self.primary:
            self.connections.remove(connection)
            del self.assigned[connection]
            self.retiring.discard(connection)
        elif not keys and connection in self.retiring:
            self.retiring.discard(connection)  # the primary, emptied: it may serve again

    def split(self, connection: StreamConnection) -> list[Key]:
        """
        OKX closed ``connection`` for holding too many channels: lower the cap to half of
        what it held and return the keys to move elsewhere (those over the new cap).
        """
        keys = sorted(self.assigned.get(connection, set()))
        self.splits += 1
        self.cap = max(1, min(self.cap, len(keys) // 2))
        return keys[self.cap:]

    def retire(self, connection: StreamConnection) -> list[Key]:
        """OKX will close ``connection`` soon: new channels avoid it; returns what it carries."""
        self.retiring.add(connection)
        return sorted(self.assigned.get(connection, set()))

    def clear(self) -> None:
        """Forget every assignment and extra connection (all of them were stopped)."""
        del self.connections[1:]
        self.assigned = {self.primary: set()}
        self.retiring.clear()

    def states(self) -> dict[str, int]:
        """How many connections are in each state (``open``, ``waiting``...)."""
        counts: dict[str, int] = {}
        for connection in self.connections:
            if connection.state == "idle" and not self.assigned[connection]:
                continue
            counts[connection.state] = counts.get(connection.state, 0) + 1
        return counts

    def summary(self) -> str:
        """One word for the whole pool: ``idle``, ``open``, or the state holding it back."""
        counts = self.states()
        if not counts:
            return "idle"
        for state in ("waiting", "connecting", "idle"):
            if counts.get(state):
                return state
        return "open"
