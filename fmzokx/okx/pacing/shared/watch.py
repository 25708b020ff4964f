# -*- test-case-name: tests.okx.sharedbudget.test_watch -*-
"""
Keep the shared budget's Redis hearing from this daemon, and notice that Redis is gone,
while nothing asks it for a slot.

:class:`~fmzokx.okx.pacing.shared.slots.SharedSlots` learns that Redis is away from the
slot requests themselves, and every slot request tells Redis that this daemon is present
(the other daemons keep the share of one not heard from free). A daemon with no traffic
makes none, so with Redis stopped it kept saying "shared" on ``/healthz`` and
``fmzokx_shared_state_degraded 0`` for as long as it stayed idle, and the others would
stop counting it. :class:`SharedWatch` checks every :data:`CHECK_EVERY` seconds (a
quarter of the presence time) on the injected clock while the budget is shared: a lost
connection degrades at once; otherwise it says "present"
(:meth:`~fmzokx.okx.pacing.shared.slots.SharedSlots.say_present`), and an answer that
does not come within the call deadline (by the same patience rules as a slot request,
:mod:`.patience`) degrades too. A check is skipped when Redis answered a slot request
since the last one (which said "present" itself), so a busy daemon sends no extra
command. Once degraded, the slots' own probe brings the budget back.
"""

from __future__ import annotations

from attrs import define, field
from twisted.internet.defer import CancelledError, Deferred, ensureDeferred
from twisted.internet.task import LoopingCall

from fmzokx.okx.pacing.shared.connection import RedisUnavailable
from fmzokx.okx.pacing.shared.slots import SharedSlots

__all__ = ["CHECK_EVERY", "SharedWatch"]

CHECK_EVERY = 0.25
"""Seconds between checks of an idle shared budget: a quarter of the presence time."""


@define(eq=False)
class SharedWatch:
    """Degrade ``slots`` when its Redis goes away between slot requests."""

    slots: SharedSlots
    every: float = CHECK_EVERY
    checks: int = field(default=0, init=False)
    _loop: LoopingCall | None = field(default=None, init=False)
    _checking: Deferred[None] | None = field(default=None, init=False)
    _last_check: float = field(default=float("-inf"), init=False)

    def start(self) -> None:
        """Check every :attr:`every` seconds until :meth:`stop`."""
        if self._loop is not None:
            return
        loop = self._loop = LoopingCall(self._tick)
        loop.clock = self.slots.clock
        self._last_check = self.slots.clock.seconds()
        loop.start(self.every, now=False)

    def stop(self) -> None:
        """Stop checking."""
        loop, self._loop = self._loop, None
        if loop is not None and loop.running:
            loop.stop()
        checking, self._checking = self._checking, None
        if checking is not None:
            checking.cancel()

    def _tick(self) -> None:
        slots = self.slots
        previous, self._last_check = self._last_check, slots.clock.seconds()
        if slots.degraded or self._checking is not None:
            return  # the slots' own probe is watching Redis (or a check is under way)
        if not slots.store.ready:
            slots.check_failed(RedisUnavailable("connection lost"))
            return
        if slots.answered_since(previous):
            return  # a slot request has just heard from Redis
        self.checks += 1
        checking = self._checking = ensureDeferred(self._ping())
        checking.addBoth(self._done)

    async def _ping(self) -> None:
        slots = self.slots
        try:
            await slots.say_present()
        except CancelledError:
            return  # stopped
        except Exception as error:
            if not slots.degraded:
                slots.check_failed(error)

    def _done(self, _: object) -> None:
        self._checking = None
