# -*- test-case-name: tests.sim.test_faults -*-
"""
Scripted failures for the control API (``POST /_sim/faults``).

Clients of a real exchange must survive lost replies, stalls, gateway errors and throttling;
a fault queued for a path makes the next ``count`` requests to it misbehave in one of these
ways, so those code paths can be tested deterministically.
"""

from __future__ import annotations

from attrs import define, field

__all__ = ["MODES", "Fault", "Faults"]

MODES = (
    "drop-after-commit",
    "hang",
    "delay",
    "http-500",
    "http-503",
    "rate-limit",
    "malformed",
    "expired-timestamp",
)


@define
class Fault:
    """One queued fault; ``remaining`` of -1 means "every request until reset"."""

    path: str
    mode: str
    remaining: int
    delay_ms: float

    def matches(self, path: str) -> bool:
        """Whether this fault applies to requests for ``path`` (``*`` ends a prefix)."""
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path

    def to_json(self) -> dict[str, object]:
        """The fault as the control API shows it."""
        return {
            "path": self.path,
            "mode": self.mode,
            "count": self.remaining,
            "delay_ms": self.delay_ms,
        }


@define
class Faults:
    """The queue of pending faults, consumed in the order they were added."""

    _queue: list[Fault] = field(factory=list)

    def add(self, path: str, mode: str, count: int = 1, delay_ms: float = 0) -> Fault:
        """
        Queue a fault.

        :raises ValueError: for an unknown mode, a path not starting with ``/``, a count of
            zero or below -1, or a negative delay.
        """
        if mode not in MODES:
            raise ValueError(f"unknown fault mode {mode!r}; expected one of {', '.join(MODES)}")
        if not path.startswith("/"):
            raise ValueError(f"fault path must start with '/', got {path!r}")
        if count == 0 or count < -1:
            raise ValueError("count must be a positive number of requests, or -1 for all")
        if delay_ms < 0:
            raise ValueError("delay_ms must not be negative")
        fault = Fault(path=path, mode=mode, remaining=count, delay_ms=delay_ms)
        self._queue.append(fault)
        return fault

    def take(self, path: str) -> Fault | None:
        """The fault for this request to ``path``, consuming one use of it; or ``None``."""
        for fault in self._queue:
            if fault.matches(path):
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
