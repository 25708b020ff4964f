"""
Wiring for the client tests: a real :class:`OkxClient` over an in-memory agent and a
:class:`Clock`, and a way to run a call to completion in fake time.
"""

from __future__ import annotations

import random
from collections.abc import Coroutine
from typing import Any

from treq.client import HTTPClient
from treq.testing import RequestTraversalAgent
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.web.resource import IResource

from fmzokx.okx.client import OkxClient
from fmzokx.okx.credentials import Credentials
from fmzokx.okx.retry import RetryPolicy
from fmzokx.okx.transport import BytesProducer

from .fakeokx import KEY, PASSPHRASE, SECRET

BASE = "https://www.okx.com"

CREDS = Credentials(key=KEY, secret=SECRET, passphrase=PASSPHRASE)
DEMO = Credentials(key=KEY, secret=SECRET, passphrase=PASSPHRASE, simulated=True)


class Harness:
    """A client wired to ``resource`` through ``RequestTraversalAgent``."""

    def __init__(
        self,
        resource: IResource,
        clock: Clock | None = None,
        *,
        seed: int = 7,
        **options: Any,
    ) -> None:
        self.clock = clock or Clock()
        self.agent = RequestTraversalAgent(resource)
        http = HTTPClient(self.agent, data_to_body_producer=BytesProducer)
        options.setdefault("retry", RetryPolicy(rng=random.Random(seed)))
        self.client = OkxClient(http=http, clock=self.clock, base_url=BASE, **options)

    def start(self, work: Coroutine[Any, Any, Any] | Deferred[Any]) -> Deferred[Any]:
        d = work if isinstance(work, Deferred) else Deferred.fromCoroutine(work)
        self.agent.flush()
        return d

    def advance(self, seconds: float, step: float = 0.01) -> None:
        """Advance fake time in small steps, flushing the in-memory connections."""
        target = self.clock.seconds() + seconds
        while self.clock.seconds() < target - 1e-9:
            self.clock.advance(min(step, target - self.clock.seconds()))
            self.agent.flush()
        self.agent.flush()

    def run(self, work: Coroutine[Any, Any, Any] | Deferred[Any], limit: float = 120.0) -> Any:
        """Run ``work`` to completion; return its result or raise its failure."""
        d = self.start(work)
        outcome: list[Any] = []
        d.addBoth(outcome.append)
        elapsed = 0.0
        while not outcome:
            if elapsed > limit:
                raise AssertionError(f"call did not finish within {limit} s of fake time")
            self.advance(0.05)
            elapsed += 0.05
        result = outcome[0]
        if isinstance(result, Failure):
            result.raiseException()
        return result

    def failure(self, work: Coroutine[Any, Any, Any] | Deferred[Any], limit: float = 120.0) -> Any:
        """Run ``work``, which must fail; return the exception."""
        try:
            self.run(work, limit)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            return exc
        raise AssertionError("call succeeded but was expected to fail")


def outcome_of(d: Deferred[Any]) -> list[Any]:
    """Collect a Deferred's result into a list (empty while it has not fired)."""
    box: list[Any] = []
    d.addBoth(box.append)
    return box
