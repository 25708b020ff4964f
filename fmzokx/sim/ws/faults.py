# -*- test-case-name: tests.sim.test_ws_faults,tests.sim.test_ws_private_faults -*-
"""
Scripted failures of okxsim's WebSocket, for testing how a client copes.

They are queued through the same control API as the REST faults, with ``path`` set to a
WebSocket path. On every path:

- ``disconnect``: drop every open session on that path (the TCP connection goes; no
  close frame), as a network failure would;
- ``stall``: every open session stays connected but sends nothing more (no pushes, no
  ``pong``, no acknowledgements), as a frozen server would; new sessions are healthy.

On the public paths (``/ws/v5/public``, ``/ws/v5/business``):

- ``bad-checksum``: the next ``count`` ``books`` updates carry a wrong checksum;
- ``out-of-order``: the next ``count`` ``books`` updates that move the book to a new
  second are not sent, so the following message's ``prevSeqId`` names a ``seqId`` the
  client never saw;
- ``seq-reset``: the next ``books`` update that moves to a new second restarts ``seqId``
  at a low number, chained by ``prevSeqId``, as OKX does after maintenance;
- ``notice``: every open session on the path gets OKX's ``notice`` 64008 ("The
  connection will soon be closed for a service upgrade") and is closed
  :data:`NOTICE_LEAD` seconds later, as OKX announces an upgrade 30 s ahead;
- ``buffer-full``: every open session on the path is closed with 4005, as OKX closes a
  connection whose reader is too slow for its send buffer.

On the private path (``/ws/v5/private``), each taken by the next pushes of any session
on the path, in the order they are made (acknowledgements, errors and ``pong`` are never
touched):

- ``lose-push``: the next ``count`` pushes are never sent;
- ``delay``: the next ``count`` pushes are sent ``delay_ms`` late (pushes made meanwhile
  overtake them);
- ``out-of-order``: each of the next ``count`` pushes is held back and sent right after
  the push that follows it on the same session;
- ``refuse-login``: the next ``count`` logins fail with 60009 whatever their signature.

With ``apiKey`` a private fault is kept for that key: ``disconnect`` and ``stall`` hit its
sessions only, and the queued modes wait for its pushes or logins (a fault for one key is
used before one for any key).
"""

from __future__ import annotations

from attrs import define, field

from fmzokx.sim.ws.channels import BUSINESS, PUBLIC

__all__ = [
    "MODES",
    "NOTICE_LEAD",
    "PATHS",
    "PRIVATE",
    "PRIVATE_MODES",
    "PUBLIC_MODES",
    "WsFaults",
]

PRIVATE = "/ws/v5/private"
PATHS = (PUBLIC, BUSINESS, PRIVATE)
PUBLIC_MODES = (
    "disconnect",
    "stall",
    "bad-checksum",
    "out-of-order",
    "seq-reset",
    "notice",
    "buffer-full",
)
PRIVATE_MODES = ("disconnect", "stall", "lose-push", "delay", "out-of-order", "refuse-login")
MODES = tuple(dict.fromkeys(PUBLIC_MODES + PRIVATE_MODES))
_QUEUED = ("bad-checksum", "out-of-order", "seq-reset", "lose-push", "delay", "refuse-login")
_MAX_DELAY_MS = 600_000
NOTICE_LEAD = 30.0
"""Seconds between OKX's upgrade ``notice`` and the close (WebSocket › Notice)."""


@define
class WsFaults:
    """
    Faults waiting for the next update, push or login on each path; on the private path a
    fault may be kept for the sessions (and logins) of one API key.
    """

    _pending: dict[tuple[str, str, str], int] = field(factory=dict)
    _delays: dict[tuple[str, str], float] = field(factory=dict)

    @staticmethod
    def check(path: str, mode: str, count: int, delay_ms: float = 0, key: str = "") -> None:
        """
        :raises ValueError: for an unknown path or mode, a mode the path does not take, a
            count below 1, a ``delay`` without a positive ``delay_ms``, or an API key on a
            public path.
        """
        if path not in PATHS:
            raise ValueError(f"no WebSocket at {path!r}; okxsim serves {', '.join(PATHS)}")
        modes = PRIVATE_MODES if path == PRIVATE else PUBLIC_MODES
        if mode not in modes:
            raise ValueError(
                f"unknown WebSocket fault mode {mode!r} on {path}; expected one of "
                f"{', '.join(modes)}"
            )
        if count < 1:
            raise ValueError("count must be a positive number of updates")
        if mode == "delay" and not 0 < delay_ms <= _MAX_DELAY_MS:
            raise ValueError(f"a delay fault needs delay_ms from 1 to {_MAX_DELAY_MS}")
        if key and path != PRIVATE:
            raise ValueError(f"apiKey applies to {PRIVATE} only")

    def queue(self, path: str, mode: str, count: int, delay_ms: float = 0, key: str = "") -> None:
        """Queue a fault that waits for coming updates, pushes or logins (of ``key`` only)."""
        assert mode in _QUEUED
        slot = (path, mode, key)
        self._pending[slot] = self._pending.get(slot, 0) + count
        if mode == "delay":
            self._delays[(path, key)] = delay_ms

    def take(self, path: str, mode: str) -> int:
        """How many updates ``mode`` still has to spoil on ``path``; it is now handed over."""
        return self._pending.pop((path, mode, ""), 0)

    def take_one(self, path: str, mode: str, key: str | None = None) -> float | None:
        """
        Whether ``mode`` applies to this push or login on ``path`` by ``key`` (a fault kept
        for that key first, then one for any key); it is then used up. The answer is the
        fault's ``delay_ms`` (0 for the other modes), or ``None`` when none applies.
        """
        for scope in ((key, "") if key else ("",)):
            slot = (path, mode, scope)
            left = self._pending.get(slot, 0)
            if not left:
                continue
            if left == 1:
                del self._pending[slot]
            else:
                self._pending[slot] = left - 1
            return self._delays.get((path, scope), 0.0) if mode == "delay" else 0.0
        return None

    def clear(self) -> None:
        """Forget every queued fault."""
        self._pending.clear()
        self._delays.clear()

    def to_json(self) -> list[dict[str, object]]:
        """The queue, as GET /_sim/state shows it."""
        shown: list[dict[str, object]] = []
        for (path, mode, key), count in sorted(self._pending.items()):
            row: dict[str, object] = {
                "path": path,
                "mode": mode,
                "count": count,
                "delay_ms": self._delays.get((path, key), 0) if mode == "delay" else 0,
            }
            if key:
                row["apiKey"] = key
            shown.append(row)
        return shown
