# -*- test-case-name: tests.sim.test_conservation -*-
"""
Where the simulator's money is: account cash, the house and fee ledgers, bills and funds
frozen by pending orders.

Every movement of money is a transfer between an account and either the *house* (the
synthetic counterparty behind the order book) or the *fee* ledger, so the sum of each
currency over accounts, house and fees never changes; the conservation tests check
exactly that. Ids (orders, positions, bills, trades) are handed out here too, because
they must stay unique across resets.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fmzokx.sim.instruments import SimInstrument
from fmzokx.sim.model import Account, Bill
from fmzokx.sim.numbers import ZERO

__all__ = ["Ledger"]

#: ids stay 18-19 digits even on a test clock that starts at the epoch
_MIN_ID = 10**17


class Ledger:
    """The house and fee ledgers, the bill log writer and the id counters."""

    def __init__(self) -> None:
        self.house: dict[str, Decimal] = {}
        self.fees: dict[str, Decimal] = {}
        self._next_id = 0
        self._next_trade = 1_000_000_000_000

    def reset(self) -> None:
        """Empty the house and fee ledgers (ids keep counting up)."""
        self.house.clear()
        self.fees.clear()

    def new_id(self, now_ms: int) -> int:
        """A fresh id that sorts after every earlier one and starts with the time."""
        self._next_id = max(self._next_id + 1, now_ms * 1_000_000, _MIN_ID)
        return self._next_id

    def new_trade_id(self) -> int:
        """A fresh trade id."""
        self._next_trade += 1
        return self._next_trade

    def move(self, account: Account, ccy: str, amount: Decimal, to_fees: bool = False) -> None:
        """Credit ``amount`` of ``ccy`` to ``account``, debiting the house (or fee ledger)."""
        if amount == 0:
            return
        account.cash[ccy] = account.cash.get(ccy, ZERO) + amount
        ledger = self.fees if to_fees else self.house
        ledger[ccy] = ledger.get(ccy, ZERO) - amount

    def bill(
        self,
        account: Account,
        ccy: str,
        change: Decimal,
        kind: str,
        sub_type: str,
        ts_ms: int,
        inst: SimInstrument | None,
        **details: Any,
    ) -> None:
        """Record a change of ``ccy`` that has already been applied to the account's cash."""
        account.bills.append(
            Bill(
                bill_id=self.new_id(ts_ms),
                ccy=ccy,
                bal_chg=change,
                bal=account.cash.get(ccy, ZERO),
                kind=kind,
                sub_type=sub_type,
                ts=ts_ms,
                inst=inst,
                **details,
            )
        )

    @staticmethod
    def order_frozen(account: Account, ccy: str) -> Decimal:
        """Funds held by ``account``'s pending orders in ``ccy``."""
        return sum(
            (o.frozen for o in account.pending.values() if o.frozen_ccy == ccy), ZERO
        )
