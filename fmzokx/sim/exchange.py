# -*- test-case-name: tests.sim.test_trading,tests.sim.test_conservation -*-
"""
The simulated exchange: every account, order and position, behind one front.

Pure state and arithmetic, no HTTP and no clock: every call gets the time in ms from the
caller (the :class:`~fmzokx.sim.simulator.Simulator` reads its injected clock), which keeps
the exchange easy to drive from property tests. :class:`Exchange` only wires the parts and
brings time forward before each call; the work is done by

* :mod:`~fmzokx.sim.ledger`: cash, the house and fee ledgers, bills, ids;
* :mod:`~fmzokx.sim.positions`: margin, PnL, positions history, leverage settings;
* :mod:`~fmzokx.sim.matching` and :mod:`~fmzokx.sim.execution`: orders and fills;
* :mod:`~fmzokx.sim.timeline`: resting fills, funding, liquidation, delivery, purges;
* :mod:`~fmzokx.sim.paging`: the cursor-paged lists;
* :mod:`~fmzokx.sim.views`: OKX's JSON for all of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from fmzokx.sim import paging, views
from fmzokx.sim.changes import Change
from fmzokx.sim.execution import Executor
from fmzokx.sim.instruments import LiveCatalogue, SimInstrument
from fmzokx.sim.ledger import Ledger
from fmzokx.sim.market import Market
from fmzokx.sim.matching import Matcher
from fmzokx.sim.model import Account, Bill, Fill, Order, Position, SimAccount
from fmzokx.sim.numbers import ZERO
from fmzokx.sim.positions import PositionBook
from fmzokx.sim.settings import SimSettings
from fmzokx.sim.timeline import Timeline

__all__ = ["Exchange"]


class Exchange:
    """
    All accounts, orders and positions of one simulated exchange.
    """

    def __init__(
        self,
        market: Market,
        accounts: Sequence[SimAccount],
        now_ms: int,
        settings: SimSettings | None = None,
    ) -> None:
        self.market = market
        #: behaviours OKX leaves open (shared with the simulator, read at every call)
        self.settings = settings if settings is not None else SimSettings()
        self._specs = tuple(accounts)
        #: every key's account, by the key of the account's first key (one entry per
        #: account, whatever number of keys reach it)
        self.accounts: dict[str, Account] = {}
        #: each API key -> the key its account is filed under in :attr:`accounts`
        self._owners: dict[str, str] = _owners(self._specs)
        #: every order of every account, by id
        self.orders: dict[int, Order] = {}
        self.catalogue = LiveCatalogue()
        self.ledger = Ledger()
        self.position_book = PositionBook(market, self.catalogue, self.ledger)
        self.executor = Executor(self.ledger, self.position_book)
        #: every change REST would show, as it happens (:mod:`fmzokx.sim.changes`)
        self.changes = self.executor.changes
        self.matcher = Matcher(
            market, self.catalogue, self.ledger, self.position_book, self.executor, self.orders,
            self.settings,
        )
        self.timeline = Timeline(
            market, self.accounts, self.orders, self.ledger, self.position_book, self.executor,
            now_ms,
        )
        self.reset(now_ms)

    @property
    def house(self) -> dict[str, Decimal]:
        """The synthetic counterparty's balances (negative of what it paid out)."""
        return self.ledger.house

    @property
    def fees(self) -> dict[str, Decimal]:
        """Fees collected, per currency."""
        return self.ledger.fees

    # -- lifecycle -------------------------------------------------------------------------

    def reset(self, now_ms: int) -> None:
        """Forget every order and position and restore the starting balances."""
        self.accounts.clear()
        for index, spec in enumerate(self._specs):
            if spec.account_of:
                continue
            account = Account(spec=spec, uid=str(374_579_799_097_793_561 + index), u_time=now_ms)
            for ccy, amount in spec.balances:
                account.cash[ccy] = account.cash.get(ccy, ZERO) + Decimal(amount)
            self.accounts[spec.key] = account
        self.orders.clear()
        self.ledger.reset()
        self.catalogue.reset()
        self.timeline.reset(now_ms)

    def spec(self, key: str) -> SimAccount | None:
        """The account configured for API key ``key``."""
        for spec in self._specs:
            if spec.key == key:
                return spec
        return None

    @property
    def specs(self) -> tuple[SimAccount, ...]:
        """Every API key the exchange accepts, in the order configured."""
        return self._specs

    def account_key(self, key: str) -> str:
        """The key API key ``key``'s account is filed under (itself, for a first key)."""
        return self._owners.get(key, key)

    def _account(self, key: str) -> Account:
        return self.accounts[self.account_key(key)]

    def advance(self, now_ms: int) -> None:
        """Apply everything that happened up to ``now_ms`` (see :class:`Timeline`)."""
        self.timeline.advance(now_ms)

    # -- instruments -----------------------------------------------------------------------

    def instruments(self, now_ms: int) -> list[SimInstrument]:
        """Instruments live at ``now_ms``."""
        return self.catalogue.at(now_ms)

    def instrument(self, inst_id: str, now_ms: int) -> SimInstrument | None:
        """The live instrument ``inst_id``, or ``None``."""
        return self.catalogue.get(inst_id, now_ms)

    def patch_instrument(
        self, inst_id: str, changes: Mapping[str, Any], now_ms: int
    ) -> SimInstrument:
        """Change an instrument's state, tick size or market cap (POST /_sim/instruments)."""
        self.advance(now_ms)
        return self.catalogue.patch(inst_id, now_ms, changes)

    def price_limits(self, inst: SimInstrument, now_ms: int) -> tuple[Decimal, Decimal]:
        """``(highest buy price, lowest sell price)`` accepted now (51006 beyond them)."""
        return self.matcher.price_limits(inst, now_ms)

    # -- trading ---------------------------------------------------------------------------

    def place(self, key: str, params: Mapping[str, Any], now_ms: int) -> dict[str, str]:
        """
        Place one order for ``key``; return OKX's per-order result item.

        :raises SimApiError: for request-level problems (a required parameter missing or malformed).
        """
        self.advance(now_ms)
        return self.matcher.place(self._account(key), params, now_ms)

    def cancel(self, key: str, params: Mapping[str, Any], now_ms: int) -> dict[str, str]:
        """Cancel one order; return OKX's per-order result item."""
        self.advance(now_ms)
        return self.matcher.cancel(self._account(key), params, now_ms)

    def amend(self, key: str, params: Mapping[str, Any], now_ms: int) -> dict[str, str]:
        """Change the price and/or size of a pending order (POST /trade/amend-order)."""
        self.advance(now_ms)
        return self.matcher.amend(self._account(key), params, now_ms)

    def close_position(self, key: str, params: Mapping[str, Any], now_ms: int) -> dict[str, str]:
        """Close a whole position at market (POST /trade/close-position)."""
        self.advance(now_ms)
        return self.matcher.close_position(self._account(key), params, now_ms)

    # -- queries ---------------------------------------------------------------------------

    def find(
        self, key: str, inst_id: str, ord_id: str, cl_ord_id: str, now_ms: int
    ) -> Order | None:
        """The order by ``ordId`` (preferred) or latest by ``clOrdId``, on ``inst_id``."""
        self.advance(now_ms)
        return paging.find_order(self._account(key), inst_id, ord_id, cl_ord_id, now_ms)

    def list_orders(
        self,
        key: str,
        kind: str,
        filters: Mapping[str, str],
        after: int | None,
        before: int | None,
        limit: int,
        now_ms: int,
    ) -> list[Order]:
        """Orders for orders-pending, orders-history or orders-history-archive."""
        self.advance(now_ms)
        return paging.list_orders(
            self._account(key), kind, filters, after, before, limit, now_ms
        )

    def fills(
        self,
        key: str,
        history: bool,
        filters: Mapping[str, str],
        after: int | None,
        before: int | None,
        limit: int,
        now_ms: int,
    ) -> list[Fill]:
        """Executions for GET /trade/fills or /trade/fills-history."""
        self.advance(now_ms)
        return paging.list_fills(
            self._account(key), history, filters, after, before, limit, now_ms
        )

    def bills(
        self,
        key: str,
        archive: bool,
        filters: Mapping[str, str],
        after: int | None,
        before: int | None,
        limit: int,
        now_ms: int,
    ) -> list[Bill]:
        """Balance changes for GET /account/bills or /account/bills-archive."""
        self.advance(now_ms)
        return paging.list_bills(
            self._account(key), archive, filters, after, before, limit, now_ms
        )

    def positions_history(
        self, key: str, filters: Mapping[str, str], after: int | None, before: int | None,
        limit: int, now_ms: int,
    ) -> list[dict[str, Any]]:
        """GET /account/positions-history rows, newest first by uTime."""
        self.advance(now_ms)
        return self.position_book.history(
            self._account(key), filters, after, before, limit, now_ms
        )

    # -- account ---------------------------------------------------------------------------

    def balance(self, key: str, ccys: Sequence[str], now_ms: int) -> dict[str, Any]:
        """The one-element ``data`` of GET /account/balance."""
        self.advance(now_ms)
        return views.balance_json(self.position_book, self._account(key), ccys, now_ms)

    def max_size(
        self, key: str, inst: SimInstrument, td_mode: str, px: Decimal | None, now_ms: int
    ) -> dict[str, str]:
        """One row of GET /account/max-size and /account/max-avail-size, combined."""
        self.advance(now_ms)
        return self.position_book.max_size(self._account(key), inst, td_mode, px, now_ms)

    def positions(
        self, key: str, inst_type: str, inst_ids: Sequence[str], now_ms: int
    ) -> list[dict[str, Any]]:
        """Rows of GET /account/positions, newest first."""
        self.advance(now_ms)
        account = self._account(key)
        rows = []
        for pos in sorted(account.positions.values(), key=lambda p: p.c_time, reverse=True):
            inst = pos.instrument
            if inst_type and inst.inst_type != inst_type:
                continue
            if inst_ids and inst.inst_id not in inst_ids:
                continue
            rows.append(views.position_json(self.position_book, account, pos, now_ms))
        return rows

    def liquidation_px(self, account: Account, pos: Position) -> Decimal:
        """The price at which an isolated position is liquidated."""
        return self.position_book.liquidation_px(account, pos)

    def config(self, key: str) -> dict[str, Any]:
        """The one-element ``data`` of GET /account/config."""
        return views.config_json(self._account(key))

    def set_position_mode(self, key: str, mode: str, now_ms: int) -> None:
        """Switch between ``net_mode`` and ``long_short_mode`` (59000 with positions/orders)."""
        self.advance(now_ms)
        self.position_book.set_position_mode(self._account(key), mode)

    def set_leverage(self, key: str, params: Mapping[str, Any], now_ms: int) -> dict[str, str]:
        """POST /account/set-leverage for one instrument."""
        self.advance(now_ms)
        account = self._account(key)
        result = self.position_book.set_leverage(
            account, params, now_ms, self.settings.leverage_refusal
        )
        self.changes.emit(Change(account, "set_leverage", now_ms, inst_id=result["instId"]))
        return result

    def leverage_info(
        self, key: str, mgn_mode: str, inst_ids: Sequence[str], now_ms: int
    ) -> list[dict[str, str]]:
        """Rows of GET /account/leverage-info."""
        return self.position_book.leverage_info(self._account(key), mgn_mode, inst_ids, now_ms)

    # -- inspection ------------------------------------------------------------------------

    def state(self, now_ms: int) -> dict[str, Any]:
        """Everything, for GET /_sim/state."""
        self.advance(now_ms)
        return views.state_json(
            self.position_book, self.accounts, self.orders.values(), self.house, self.fees,
            now_ms,
        )


def _owners(specs: Sequence[SimAccount]) -> dict[str, str]:
    """Each key's account key; a key may only name an account of its own."""
    own = {spec.key for spec in specs if not spec.account_of}
    owners: dict[str, str] = {}
    for spec in specs:
        if spec.account_of and spec.account_of not in own:
            raise ValueError(
                f"key {spec.key!r} names account {spec.account_of!r}, which is not a key "
                "with an account of its own"
            )
        owners[spec.key] = spec.account_of or spec.key
    return owners
