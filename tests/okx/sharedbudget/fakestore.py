"""
A Redis stand-in for the reactor-free :class:`SharedSlots` tests: it runs the slot
script's algorithm in Python on the test's clock (the script itself is tested against a
real redis-server in ``test_script``), and can answer late, never, or not be connected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from attrs import define, field
from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock

from fmzokx.okx.pacing.shared.connection import RedisUnavailable
from fmzokx.okx.pacing.shared.script import Script


@define(eq=False)
class FakeStore:
    clock: Clock
    connected: bool = True
    latency: float = 0.001
    hang: bool = False
    on_ready: Callable[[], None] | None = None
    last_error: str = ""
    windows: dict[str, list[tuple[int, str]]] = field(factory=dict)
    calls: list[tuple[str, list[str]]] = field(factory=list)
    pings: int = 0
    drops: int = 0

    @property
    def ready(self) -> bool:
        return self.connected

    def _later(self, compute: Callable[[], Any]) -> Deferred[Any]:
        if not self.connected:
            return fail(RedisUnavailable("no connection to redis://fake:6379/0 yet"))
        result: Deferred[Any] = Deferred()
        if not self.hang:
            self.clock.callLater(self.latency, lambda: result.callback(compute()))
        return result

    def run(self, script: Script, keys: Sequence[str], args: Sequence[str]) -> Deferred[Any]:
        (key,) = keys
        self.calls.append((key, list(args)))
        return self._later(lambda: self._reserve(key, list(args)))

    def ping(self) -> Deferred[Any]:
        self.pings += 1
        return self._later(lambda: "PONG")

    def drop(self) -> None:
        self.drops += 1

    def _reserve(self, key: str, args: list[str]) -> list[int]:
        limit, window, max_wait = int(args[0]), int(args[1]), int(args[2])
        member = args[3]
        now = int(self.clock.seconds() * 1000)
        slots = self.windows.setdefault(key, [])
        for i, age in enumerate(args[4:]):
            at = now - int(age)
            if at > now - window:
                slots.append((at, f"{member}:c{i}"))
        slots.sort()
        slots[:] = [s for s in slots if s[0] > now - window]
        when = now
        if slots:
            when = max(when, slots[-1][0])
        if len(slots) >= limit:
            when = max(when, slots[-limit][0] + window)
        wait = when - now
        if wait > max_wait:
            return [0, wait]
        slots.append((when, member))
        return [1, wait]
