# -*- test-case-name: tests.okx.test_domain -*-
"""
The OKX domain layer in one object: what the FMZ side may ask of OKX.

:class:`OkxApi` groups the typed calls (market, account, trade, pass-through) and the
instrument cache over the one :class:`~fmzokx.okx.rest.client.OkxClient`. The FMZ handlers
hold this, never the client: every OKX path, body field, item field and code stays on
this side, and the calls answer with records (:mod:`fmzokx.okx.records`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import define, field
from twisted.internet.interfaces import IReactorTime

from fmzokx.journal import Journal
from fmzokx.okx.account import AccountCalls
from fmzokx.okx.endpoints import INSTRUMENTS
from fmzokx.okx.instruments import InstrumentCache
from fmzokx.okx.market import MarketData
from fmzokx.okx.passthrough import PassThrough
from fmzokx.okx.placement.orders import OrderPlacer
from fmzokx.okx.placement.reconcile import Reconciler
from fmzokx.okx.rest.client import OkxClient
from fmzokx.okx.stream.privatesessions import PrivateSessions
from fmzokx.okx.stream.streams import StreamSet
from fmzokx.okx.trade import TradeCalls

__all__ = ["OkxApi"]


@define
class OkxApi:
    """
    :ivar client: the one OKX client (transport, signing, pacing, retries).
    :ivar clock: the reactor's clock.
    :ivar placer: exactly-once order placement (its journal, reconciliation).
    :ivar streams: the WebSocket market-data copies (``None``: REST only).
    :ivar private: the private WebSocket copies of each key's balance, positions and
        orders (``None``: REST only); the account and trade calls consult them.
    """

    client: OkxClient
    clock: IReactorTime
    placer: OrderPlacer = field()
    streams: StreamSet | None = None
    private: PrivateSessions | None = None
    instruments: InstrumentCache = field(init=False)
    market: MarketData = field(init=False)
    account: AccountCalls = field(init=False)
    trade: TradeCalls = field(init=False)
    passthrough: PassThrough = field(init=False)

    @placer.default
    def _default_placer(self) -> OrderPlacer:
        return OrderPlacer(client=self.client, clock=self.clock)

    def __attrs_post_init__(self) -> None:
        client = self.client

        async def fetch(inst_type: str) -> list[Mapping[str, Any]]:
            reply = await client.get(INSTRUMENTS.path, {"instType": inst_type})
            return [item for item in reply.data if isinstance(item, Mapping)]

        self.instruments = InstrumentCache(fetch=fetch, clock=self.clock, now=client.server_time)
        self.market = MarketData(client, self.streams)
        self.account = AccountCalls(client, self.clock, private=self.private)
        self.trade = TradeCalls(
            client, self.account, self.placer, self.instruments, private=self.private
        )
        self.passthrough = PassThrough(client, private=self.private)

    def attach_journal(self, journal: Journal) -> Reconciler:
        """
        Journal orders, cancels and leverage changes from now on, and let every signed
        call start the reconciliation of its key's orders left unresolved by a restart.
        """
        reconciler = self.placer.attach(journal)
        self.account.journal = journal
        self.client.on_credentials = reconciler.credentials_seen
        return reconciler
