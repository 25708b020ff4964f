# -*- test-case-name: tests.sim.test_faults -*-
"""
Scripted failures for the control API (``POST /_sim/faults``).

Clients of a real exchange must survive lost replies, stalls, gateway errors, throttling
and answers that are not what the documentation promises; a fault queued for a path makes
the next ``count`` requests to it misbehave in one of these ways, so those code paths can
be tested deterministically. Faults for a path act in the order they were queued, which
makes a list of faults a script: ``skip`` lets that many requests through untouched
before a fault acts, so "the third page fails" is one fault.

Besides the generic ``reply``, named modes play what OKX and the CDN in front of it really
send: ``html`` (an error page, 403 by default), ``empty`` (no body, 429 by default), and
the codes whose outcome OKX itself calls unknown or busy ("Error Code > REST API >
Public"): ``busy-50004`` (HTTP 400), ``busy-50013`` (HTTP 429), ``order-timeout-51149``
(per item, HTTP 500) and ``timeout-51054`` (HTTP 500). With ``commit`` a fault that
replaces the answer does the work first, so "the order was placed but the reply says
otherwise" can be scripted.
"""

from __future__ import annotations

import json
from typing import Any

from attrs import define, field

__all__ = [
    "COMMITTABLE",
    "DEFAULT_STATUS",
    "MODES",
    "REPLY_DEFAULT_TYPE",
    "Fault",
    "Faults",
    "reply_body",
]

MODES = (
    "drop-after-commit",
    "hang",
    "delay",
    "hold",
    "stall",
    "http-500",
    "http-503",
    "rate-limit",
    "malformed",
    "expired-timestamp",
    "reply",
    "html",
    "empty",
    "busy-50004",
    "busy-50013",
    "order-timeout-51149",
    "timeout-51054",
)

REPLY_DEFAULT_TYPE = "application/json"

#: Modes that take a ``status``, and the one they answer with unless told otherwise
#: (OKX's HTTP status for each code; a CDN's usual one for ``html`` and ``empty``).
DEFAULT_STATUS: dict[str, int] = {
    "reply": 200,
    "html": 403,
    "empty": 429,
    "busy-50004": 400,
    "busy-50013": 429,
    "order-timeout-51149": 500,
    "timeout-51054": 500,
}

#: Modes that replace the answer and may do the work first (``commit``). A 50102 or 50011
#: is OKX's promise that nothing was done, so those modes cannot.
COMMITTABLE = frozenset(
    {"http-500", "http-503", "malformed", "reply", *DEFAULT_STATUS}
)


def reply_body(body: object) -> bytes:
    """
    The bytes of a scripted reply: bytes as given, text as UTF-8, anything else as
    compact JSON (so a scripted OKX envelope can be written as a dict).

    :raises ValueError: when ``body`` cannot be serialised.
    """
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    try:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise ValueError(f"a reply body must be bytes, text or JSON: {error}") from None


@define
class Fault:
    """
    One queued fault; ``remaining`` of -1 means "every request until reset".

    ``status``, ``body`` and ``content_type`` are the scripted answer of a ``reply``
    fault (``status`` also of the named modes in :data:`DEFAULT_STATUS`); ``skip`` counts
    the matching requests still to let through before it acts; ``commit`` does the work
    before answering.
    """

    path: str
    mode: str
    remaining: int
    delay_ms: float
    skip: int = 0
    status: int = 200
    body: bytes = b""
    content_type: str = REPLY_DEFAULT_TYPE
    commit: bool = False

    def matches(self, path: str) -> bool:
        """Whether this fault applies to requests for ``path`` (``*`` ends a prefix)."""
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path

    def to_json(self) -> dict[str, object]:
        """The fault as the control API shows it (the reply fields for ``reply`` only)."""
        shown: dict[str, object] = {
            "path": self.path,
            "mode": self.mode,
            "count": self.remaining,
            "delay_ms": self.delay_ms,
            "skip": self.skip,
        }
        if self.mode in DEFAULT_STATUS:
            shown["status"] = self.status
        if self.mode == "reply":
            shown["content_type"] = self.content_type
            shown["body"] = self.body.decode("utf-8", "replace")
        if self.commit:
            shown["commit"] = True
        return shown


@define
class Faults:
    """The queue of pending faults, consumed in the order they were added."""

    _queue: list[Fault] = field(factory=list)

    def add(
        self,
        path: str,
        mode: str,
        count: int = 1,
        delay_ms: float = 0,
        *,
        skip: int = 0,
        status: int | None = None,
        body: Any = None,
        content_type: str | None = None,
        commit: bool = False,
    ) -> Fault:
        """
        Queue a fault.

        :param skip: matching requests to let through untouched before the fault acts.
        :param status: a ``reply`` fault's HTTP status (default 200).
        :param body: a ``reply`` fault's body: bytes, text (sent as UTF-8) or a JSON value
            (sent as compact JSON).
        :param content_type: a ``reply`` fault's content type (default application/json).
        :param commit: do the work before answering (modes in :data:`COMMITTABLE`).
        :raises ValueError: for an unknown mode, a path not starting with ``/``, a count of
            zero or below -1, a negative delay or skip, a status outside 100-599, a content
            type that is empty or not printable ASCII, reply fields given to a fault
            that is not a ``reply`` (a status to one not in :data:`DEFAULT_STATUS`), or
            ``commit`` on a mode that does not replace the answer.
        """
        if mode not in MODES:
            raise ValueError(f"unknown fault mode {mode!r}; expected one of {', '.join(MODES)}")
        if not path.startswith("/"):
            raise ValueError(f"fault path must start with '/', got {path!r}")
        if count == 0 or count < -1:
            raise ValueError("count must be a positive number of requests, or -1 for all")
        if delay_ms < 0:
            raise ValueError("delay_ms must not be negative")
        if skip < 0:
            raise ValueError("skip must not be negative")
        if mode != "reply" and (body, content_type) != (None, None):
            raise ValueError("body and content_type belong to the reply mode only")
        if mode not in DEFAULT_STATUS and status is not None:
            raise ValueError(
                f"status belongs to the modes {', '.join(DEFAULT_STATUS)} only"
            )
        if not isinstance(commit, bool):
            raise ValueError("commit must be true or false")
        if commit and mode not in COMMITTABLE:
            raise ValueError(f"commit belongs to the modes {', '.join(sorted(COMMITTABLE))}")
        if status is not None and not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status from 100 to 599")
        if content_type is not None and not (
            content_type.isascii() and content_type.isprintable() and content_type.strip()
        ):
            raise ValueError("content_type must be non-empty printable ASCII")
        fault = Fault(
            path=path,
            mode=mode,
            remaining=count,
            delay_ms=delay_ms,
            skip=skip,
            status=DEFAULT_STATUS.get(mode, 200) if status is None else status,
            body=b"" if body is None else reply_body(body),
            content_type=REPLY_DEFAULT_TYPE if content_type is None else content_type,
            commit=commit,
        )
        self._queue.append(fault)
        return fault

    def take(self, path: str) -> Fault | None:
        """
        The fault for this request to ``path``, consuming one use of it; or ``None``.

        The first queued fault matching ``path`` decides: while it still has requests to
        skip, the request passes untouched (and later faults for the path wait their turn).
        """
        for fault in self._queue:
            if fault.matches(path):
                if fault.skip > 0:
                    fault.skip -= 1
                    return None
                if fault.remaining > 0:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._queue.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        """Drop every queued fault."""
        self._queue.clear()

    def to_json(self) -> list[dict[str, object]]:
        """The queue, for GET /_sim/state."""
        return [fault.to_json() for fault in self._queue]
