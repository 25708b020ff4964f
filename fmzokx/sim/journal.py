# -*- test-case-name: tests.sim.test_journal,tests.okx.test_client -*-
"""
The simulator's record of the requests it received, byte for byte.

A client's tests need to see what actually went over the wire (the query string and body
that were signed, the headers, when each request arrived) as well as how the exchange
answered. The journal keeps the last ``size`` requests in memory; it is off (size 0)
unless asked for, so a long-running ``twistd okxsim`` keeps nothing.
"""

from __future__ import annotations

from collections import deque

from attrs import frozen

__all__ = ["Journal", "SeenRequest"]


@frozen
class SeenRequest:
    """
    One ``/api/v5`` request as it arrived.

    :ivar target: the request-target exactly as received (path and query).
    :ivar headers: the first value of each header, by lower-case name.
    :ivar at: the injected clock's seconds at arrival (without any clock offset).
    """

    method: str
    target: bytes
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def query(self) -> bytes:
        """The query string as sent (without the ``?``)."""
        return self.target.partition(b"?")[2]


class Journal:
    """The last ``size`` requests, oldest first."""

    def __init__(self, size: int = 0) -> None:
        if size < 0:
            raise ValueError("the journal size must not be negative")
        self._seen: deque[SeenRequest] = deque(maxlen=size)

    def record(self, seen: SeenRequest) -> None:
        """Remember ``seen`` (forgetting the oldest beyond the size)."""
        if self._seen.maxlen:
            self._seen.append(seen)

    def requests(self, path: str | None = None) -> list[SeenRequest]:
        """The remembered requests, oldest first; only those to ``path`` if given."""
        return [seen for seen in self._seen if path is None or seen.path == path]

    def clear(self) -> None:
        """Forget everything."""
        self._seen.clear()
