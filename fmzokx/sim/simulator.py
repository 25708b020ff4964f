# -*- test-case-name: tests.sim.test_faults,tests.sim.test_clock,tests.sim.test_tap -*-
"""
:class:`Simulator` ties the pieces together: one market, one exchange, the rate limiter,
the fault queue and the request counters, all driven by one injected clock.

It is the object other code holds: tests wrap ``sim.resource()`` in ``StubTreq``, ``twistd
okxsim`` and ``twistd fmzokx --sandbox`` serve the same resource in a ``Site``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from attrs import asdict, fields
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.resource import IResource

from fmzokx.sim.exchange import Exchange
from fmzokx.sim.faults import Fault, Faults
from fmzokx.sim.journal import Journal, SeenRequest
from fmzokx.sim.market import Market
from fmzokx.sim.model import SimAccount
from fmzokx.sim.public import instrument_json
from fmzokx.sim.ratelimit import RateLimiter
from fmzokx.sim.resource import SimulatorApp
from fmzokx.sim.settings import SimSettings
from fmzokx.sim.ws import WsServer
from fmzokx.sim.ws.mount import WithWebSockets

__all__ = ["DEFAULT_ACCOUNT", "Simulator"]

#: The documented demo account every simulator accepts unless told otherwise; it starts
#: with 100000 USDT, 10 BTC and 100 ETH.
DEFAULT_ACCOUNT = SimAccount(
    key="okxsim-demo-key", secret="okxsim-demo-secret", passphrase="okxsim-demo-pass"
)

_MAX_OFFSET_MS = 366 * 86_400_000


class Simulator:
    """
    A simulated OKX v5 exchange: REST, and the public and private WebSocket (:attr:`ws`).

    :param clock: every timestamp, price and delay comes from here.
    :param seed: selects the deterministic market.
    :param accounts: the API keys accepted, each with its starting balances.
    :param rate_limits: enforce OKX's published limits (50011, HTTP 429).
    :param latency_ms: added to every ``/api/v5`` reply (the work happens on arrival).
    :param journal_size: keep the last this many requests in :attr:`journal` (0: none).
    :param settings: behaviours OKX's docs leave open, and the read-after-write lag
        (:class:`~fmzokx.sim.settings.SimSettings`); :meth:`configure` changes them.

    The simulator's own clock is ``clock`` plus :attr:`clock_offset_ms`, which
    :meth:`set_clock_offset` (``POST /_sim/clock``) moves, to play an exchange whose clock
    is not the client's.
    """

    log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        *,
        seed: int = 1,
        accounts: Sequence[SimAccount] = (DEFAULT_ACCOUNT,),
        rate_limits: bool = True,
        latency_ms: float = 0.0,
        journal_size: int = 0,
        settings: SimSettings | None = None,
    ) -> None:
        if not accounts:
            raise ValueError("the simulator needs at least one account")
        keys = [account.key for account in accounts]
        if len(set(keys)) != len(keys):
            raise ValueError("account keys must be unique")
        if latency_ms < 0:
            raise ValueError("latency_ms must not be negative")
        self.clock = clock
        self.clock_offset_ms = 0
        self.seed = seed
        self.latency_ms = latency_ms
        self.market = Market(seed)
        self._initial_settings = settings if settings is not None else SimSettings()
        #: the settings in force (one object, shared with the exchange)
        self.settings = SimSettings(**asdict(self._initial_settings))
        self.exchange = Exchange(self.market, accounts, self.now_ms(), self.settings)
        self.limiter = RateLimiter(clock, enabled=rate_limits)
        self.faults = Faults()
        self.request_counts: Counter[str] = Counter()
        self.journal = Journal(journal_size)
        self.ws = WsServer(self)

    def now_ms(self) -> int:
        """The simulator's time in whole milliseconds: the clock plus the offset."""
        return int(self.clock.seconds() * 1000) + self.clock_offset_ms

    def now_micros(self) -> int:
        """The simulator's time in whole microseconds (``inTime``/``outTime``)."""
        return int(self.clock.seconds() * 1_000_000) + self.clock_offset_ms * 1000

    def set_clock_offset(self, offset_ms: int) -> None:
        """
        Run the simulator's clock ``offset_ms`` ahead of the injected clock (behind if
        negative) from now on: ``/public/time``, every timestamp, the 30 s window of
        ``OK-ACCESS-TIMESTAMP`` (50102) and ``expTime`` (50037) all follow it. Delays,
        latency and rate-limit windows are durations and keep to the injected clock.

        :raises ValueError: unless ``offset_ms`` is an integer within a year.
        """
        if isinstance(offset_ms, bool) or not isinstance(offset_ms, int):
            raise ValueError("offset_ms must be an integer number of milliseconds")
        if abs(offset_ms) > _MAX_OFFSET_MS:
            raise ValueError(f"offset_ms must be within a year ({_MAX_OFFSET_MS} ms)")
        self.clock_offset_ms = offset_ms
        self.log.info("clock offset set to {offset_ms} ms", offset_ms=offset_ms)

    def configure(self, **changes: Any) -> SimSettings:
        """
        Change settings from now on (``POST /_sim/settings``), all or none.

        :raises ValueError: for an unknown setting or a bad value.
        """
        checked = self.settings.updated(changes)
        for attribute in fields(SimSettings):
            setattr(self.settings, attribute.name, getattr(checked, attribute.name))
        self.log.info("settings changed: {changes}", changes=changes)
        return self.settings

    def patch_instrument(self, inst_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """
        Change an instrument's ``state`` (live, suspend, preopen), ``tickSz`` or
        ``maxMktSz`` from now on (``POST /_sim/instruments``); returns its
        ``/public/instruments`` row.

        :raises ValueError: for an unknown instrument, field or value.
        """
        inst = self.exchange.patch_instrument(inst_id, changes, self.now_ms())
        self.log.info("instrument {inst_id} changed: {changes}", inst_id=inst_id,
                      changes=changes)
        return instrument_json(inst)

    @property
    def accounts(self) -> tuple[SimAccount, ...]:
        """The accounts this simulator accepts."""
        return self.exchange.specs

    def resource(self) -> IResource:
        """
        The web resource serving ``/api/v5/...``, the ``/_sim/...`` control API and OKX's
        WebSocket at ``/ws/v5/public``, ``/ws/v5/business`` and ``/ws/v5/private`` (one
        site, one port).
        """
        return WithWebSockets(SimulatorApp(self).app.resource(), self.ws.resources())

    def add_fault(
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
        Make the next ``count`` requests to ``path`` fail in ``mode`` (as POST /_sim/faults),
        after letting ``skip`` through; ``status``, ``body`` and ``content_type`` script a
        ``reply`` fault's answer; ``commit`` does the work before a replaced answer.

        :raises ValueError: for an unknown mode or a bad count, path, delay, skip or reply.
        """
        fault = self.faults.add(
            path, mode, count, delay_ms,
            skip=skip, status=status, body=body, content_type=content_type, commit=commit,
        )
        self.log.info("fault queued: {mode} x{count} on {path}", mode=mode, count=count, path=path)
        return fault

    def requests(self, path: str | None = None) -> list[SeenRequest]:
        """The requests in the journal (to ``path`` if given), oldest first."""
        return self.journal.requests(path)

    def reset(self) -> None:
        """
        Restore starting balances, the clock offset, the settings and the instruments;
        forget orders, positions, faults, counters, rate-limit windows and the journal;
        drop stalled WebSocket sessions and every private one.
        """
        self.clock_offset_ms = 0
        self.configure(**asdict(self._initial_settings))
        self.exchange.reset(self.now_ms())
        self.faults.clear()
        self.limiter.reset()
        self.request_counts.clear()
        self.journal.clear()
        self.ws.reset()
        self.log.info("simulator reset")

    def state(self) -> dict[str, Any]:
        """The JSON of GET /_sim/state."""
        result = self.exchange.state(self.now_ms())
        result["requests"] = dict(sorted(self.request_counts.items()))
        result["faults"] = self.faults.to_json() + self.ws.faults.to_json()
        result["rejected"] = self.limiter.rejections()
        result["websocket"] = self.ws.state()
        result["accounts"] = [account.key for account in self.accounts]
        result["clock_offset_ms"] = self.clock_offset_ms
        result["settings"] = self.settings.to_json()
        return result
