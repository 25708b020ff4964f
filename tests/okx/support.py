"""
Wiring for the client tests: a real :class:`OkxClient` talking to okxsim in memory
(``RequestTraversalAgent`` over the simulator's resource) on one :class:`Clock`, and a way
to run a call to completion in fake time.

okxsim checks signatures as OKX does (raw request-target and body, 30 s window against its
own clock), keeps a journal of every request as it arrived, and misbehaves on cue through
its faults (scripted replies, hangs, stalls, delays) and clock offset, so the client's
tests need no second fake.
"""

from __future__ import annotations

import random
from collections.abc import Coroutine
from typing import Any

from treq.client import HTTPClient
from treq.testing import RequestTraversalAgent
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from fmzokx.okx.credentials import Credentials
from fmzokx.okx.rest.client import OkxClient
from fmzokx.okx.rest.retry import RetryPolicy
from fmzokx.okx.rest.transport import BytesProducer
from fmzokx.sim import DEFAULT_ACCOUNT, SimAccount, Simulator
from fmzokx.sim.journal import SeenRequest
from tests.helpers import advance, drive

BASE = "https://www.okx.com"
#: 2023-11-14 22:13:20 UTC
NOW = 1_700_000_000.0

KEY = DEFAULT_ACCOUNT.key
SECRET = DEFAULT_ACCOUNT.secret
PASSPHRASE = DEFAULT_ACCOUNT.passphrase
CREDS = Credentials(key=KEY, secret=SECRET, passphrase=PASSPHRASE)

#: A demo-trading key: okxsim accepts it only with ``x-simulated-trading: 1``, as OKX does.
DEMO_ACCOUNT = SimAccount(
    key="demo-key-0123456", secret="demo-secret-0123456", passphrase="demo-pass-0123",
    demo=True,
)
DEMO = Credentials(
    DEMO_ACCOUNT.key, DEMO_ACCOUNT.secret, DEMO_ACCOUNT.passphrase, simulated=True
)

#: A second funded account, for budgets that are per key.
OTHER_ACCOUNT = SimAccount(
    key="other-key-0123456", secret="other-secret-0123456", passphrase="other-pass-0123"
)
OTHER = Credentials(OTHER_ACCOUNT.key, OTHER_ACCOUNT.secret, OTHER_ACCOUNT.passphrase)

#: A limit buy far below the market: accepted, rests, costs 1 USDT.
RESTING_BUY = {
    "instId": "BTC-USDT",
    "tdMode": "cash",
    "side": "buy",
    "ordType": "limit",
    "px": "1000",
    "sz": "0.001",
}

JOURNAL_SIZE = 10_000
#: Fake-time resolution of the client tests: backoffs and round trips are checked to 0.01 s.
STEP = 0.01


class Harness:
    """
    okxsim and a client wired to it through ``RequestTraversalAgent``.

    :param sim_options: passed to :class:`Simulator` (``rate_limits``, ``accounts``...);
        by default the simulator accepts the live key and the demo key.
    :param options: passed to :class:`OkxClient`.
    """

    def __init__(
        self,
        *,
        start: float = NOW,
        seed: int = 7,
        sim_options: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        self.clock = Clock()
        self.clock.advance(start)
        sim_options = dict(sim_options or {})
        sim_options.setdefault("accounts", (DEFAULT_ACCOUNT, DEMO_ACCOUNT))
        self.sim = Simulator(self.clock, journal_size=JOURNAL_SIZE, **sim_options)
        self.agent = RequestTraversalAgent(self.sim.resource())
        http = HTTPClient(self.agent, data_to_body_producer=BytesProducer)
        options.setdefault("retry", RetryPolicy(rng=random.Random(seed)))
        self.client = OkxClient(http=http, clock=self.clock, base_url=BASE, **options)

    # -- what okxsim saw ------------------------------------------------------------------

    def requests(self, path: str | None = None) -> list[SeenRequest]:
        """The requests okxsim received (to ``path`` if given), oldest first."""
        return self.sim.requests(path)

    def count(self, path: str) -> int:
        """How many requests to ``path`` okxsim received, faulted ones included."""
        return self.sim.request_counts[path]

    def times(self, path: str) -> list[float]:
        """When each request to ``path`` arrived, on the test's clock."""
        return [seen.at for seen in self.requests(path)]

    def skew(self, seconds: float) -> None:
        """Run okxsim's clock ``seconds`` ahead of ours (behind if negative)."""
        self.sim.set_clock_offset(round(seconds * 1000))

    # -- running calls --------------------------------------------------------------------

    def start(self, work: Coroutine[Any, Any, Any] | Deferred[Any]) -> Deferred[Any]:
        d = work if isinstance(work, Deferred) else Deferred.fromCoroutine(work)
        self.agent.flush()
        return d

    def advance(self, seconds: float, step: float = STEP) -> None:
        """Let fake time pass in small steps, flushing the in-memory connection."""
        advance(self.clock, seconds, stubs=(self.agent,), step=step)

    def run(self, work: Coroutine[Any, Any, Any] | Deferred[Any], limit: float = 120.0) -> Any:
        """Run ``work`` to completion; return its result or raise its failure."""
        return drive(self.start(work), clock=self.clock, stubs=(self.agent,), step=STEP,
                     limit=limit)

    def failure(self, work: Coroutine[Any, Any, Any] | Deferred[Any], limit: float = 120.0) -> Any:
        """Run ``work``, which must fail; return the exception."""
        try:
            self.run(work, limit)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            return exc
        raise AssertionError("call succeeded but was expected to fail")


def envelope(data: list[Any], code: str = "0", msg: str = "") -> dict[str, Any]:
    """An OKX envelope, for scripted replies."""
    return {"code": code, "msg": msg, "data": data}


def outcome_of(d: Deferred[Any]) -> list[Any]:
    """Collect a Deferred's result into a list (empty while it has not fired)."""
    box: list[Any] = []
    d.addBoth(box.append)
    return box
