"""
A Redis stand-in for the reactor-free :class:`SharedSlots` tests: it runs the slot
script's algorithm in Python on the test's clock, and can answer late, never, or not be
connected. ``test_fake_agrees`` runs one table of cases (``cases``) through it and through
the real script on a redis-server, so the two cannot drift apart.
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
    expiries: dict[str, int] = field(factory=dict)  # budget key -> when it expires (ms)
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
            return self._later(lambda: self._heartbeat(args[0], int(args[1]), int(args[2])))
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

    def _heartbeat(self, host: str, ttl: int, not_after: int) -> int:
        now = self._now()
        if not_after > 0 and now > not_after:
            return now
        return self._present(host, ttl)

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
        if self.expiries.get(key, now) < now:  # Redis: a key lives until its time has passed
            del self.windows[key], self.expiries[key]
        slots = self.windows.get(key, [])

        def newest() -> int:
            return max(s[0] for s in slots) - now if slots else -window

        if not_after > 0 and now > not_after:
            return [2, 0, now, newest()]
        self._present(host, ttl)
        absent = hosts - len(self.hosts) - self.others
        if absent > 0:
            limit = max(share, limit - absent * share)
        for i, age in enumerate(args[9:], start=1):
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
            self._keep(key, slots, max(wait, 0) + window, now)
            return [0, wait, now, newest()]
        slots.append((when, member))
        self._keep(key, slots, wait + window, now)
        return [1, wait, now, wait]

    def _keep(self, key: str, slots: list[tuple[int, str]], ttl: int, now: int) -> None:
        """Store the budget with its PEXPIRE; Redis deletes a sorted set left empty."""
        if slots:
            self.windows[key] = slots
            self.expiries[key] = now + ttl
        else:
            self.windows.pop(key, None)
            self.expiries.pop(key, None)
