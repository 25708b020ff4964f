# -*- test-case-name: tests.sim.test_ws_faults -*-
"""
Scripted failures of okxsim's WebSocket, for testing how a client copes.

They are queued through the same control API as the REST faults, with ``path`` set to a
WebSocket path:

- ``disconnect``: drop every open session on that path (the TCP connection goes; no
  close frame), as a network failure would;
- ``stall``: every open session stays connected but sends nothing more (no pushes, no
  ``pong``, no acknowledgements), as a frozen server would; new sessions are healthy;
- ``bad-checksum``: the next ``count`` ``books`` updates carry a wrong checksum;
- ``out-of-order``: the next ``count`` ``books`` updates that move the book to a new
  second are not sent, so the following message's ``prevSeqId`` names a ``seqId`` the
  client never saw.
"""

from __future__ import annotations

from attrs import define, field

from fmzokx.sim.ws.channels import BUSINESS, PUBLIC

__all__ = ["MODES", "PATHS", "WsFaults"]

MODES = ("disconnect", "stall", "bad-checksum", "out-of-order")
PATHS = (PUBLIC, BUSINESS)
_BOOK_MODES = ("bad-checksum", "out-of-order")


@define
class WsFaults:
    """Book faults waiting for the next ``books`` update on each path."""

    _pending: dict[tuple[str, str], int] = field(factory=dict)

    @staticmethod
    def check(path: str, mode: str, count: int) -> None:
        """
        :raises ValueError: for an unknown path or mode, or a count below 1.
        """
        if path not in PATHS:
            raise ValueError(f"no WebSocket at {path!r}; okxsim serves {', '.join(PATHS)}")
        if mode not in MODES:
            raise ValueError(
                f"unknown WebSocket fault mode {mode!r}; expected one of {', '.join(MODES)}"
            )
        if count < 1:
            raise ValueError("count must be a positive number of updates")

    def queue(self, path: str, mode: str, count: int) -> None:
        """Queue a book fault (``bad-checksum`` or ``out-of-order``)."""
        assert mode in _BOOK_MODES
        key = (path, mode)
        self._pending[key] = self._pending.get(key, 0) + count

    def take(self, path: str, mode: str) -> int:
        """How many updates ``mode`` still has to spoil on ``path``; it is now handed over."""
        return self._pending.pop((path, mode), 0)

    def clear(self) -> None:
        """Forget every queued fault."""
        self._pending.clear()

    def to_json(self) -> list[dict[str, object]]:
        """The queue, as GET /_sim/state shows it."""
        return [
            {"path": path, "mode": mode, "count": count, "delay_ms": 0}
            for (path, mode), count in sorted(self._pending.items())
        ]
