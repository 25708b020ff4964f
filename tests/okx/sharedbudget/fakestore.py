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
from fmzokx.okx.pacing.shared.script import PRESENCE_SCRIPT, Script


@define(eq=False)
class FakeStore:
    clock: Clock
    connected: bool = True
    latency: float = 0.001
    hang: bool = False
    on_ready: Callable[[], None] | None = None
    last_error: str = ""
    windows: dict[str, list[tuple[int, str]]] = field(factory=dict)
    hosts: dict[str, int] = field(factory=dict)
    calls: list[tuple[str, list[str]]] = field(factory=list)
    pings: int = 0
    offset_ms: int = 0
    others: int = 0  # other daemons always heard from (their heartbeats are not played)
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
        if script == PRESENCE_SCRIPT:
            self.pings += 1
            return self._later(lambda: self._present(args[0], int(args[1])))
        key = keys[0]
        self.calls.append((key, list(args)))
        return self._later(lambda: self._reserve(key, list(args)))

    def ping(self) -> Deferred[Any]:
        self.pings += 1
        return self._later(lambda: "PONG")

    def drop(self) -> None:
        self.drops += 1

    def _now(self) -> int:
        return int(self.clock.seconds() * 1000) + self.offset_ms

    def _present(self, host: str, ttl: int) -> int:
        now = self._now()
        self.hosts[host] = now
        for name in [h for h, at in self.hosts.items() if at <= now - ttl]:
            del self.hosts[name]
        return now

    def _reserve(self, key: str, args: list[str]) -> list[int]:
        limit, window, max_wait = int(args[0]), int(args[1]), int(args[2])
        member, not_after = args[3], int(args[4])
        host, hosts, share, ttl = args[5], int(args[6]), int(args[7]), int(args[8])
        now = self._now()
        slots = self.windows.setdefault(key, [])

        def newest() -> int:
            return max(s[0] for s in slots) - now if slots else -window

        if not_after > 0 and now > not_after:
            return [2, 0, now, newest()]
        self._present(host, ttl)
        absent = hosts - len(self.hosts) - self.others
        if absent > 0:
            limit = max(share, limit - absent * share)
        for i, age in enumerate(args[9:]):
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
            return [0, wait, now, newest()]
        slots.append((when, member))
        return [1, wait, now, wait]
