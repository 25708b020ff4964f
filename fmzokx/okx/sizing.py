# -*- test-case-name: tests.fmz.test_formatting -*-
"""
Order prices and sizes on the instrument's grid, never more aggressive than asked.

A buy price rounds *down* to ``tickSz`` and a sell price *up* (so a limit never pays
more, or accepts less, than the strategy said); sizes round *down* to ``lotSz`` (never
more than asked). Anything that ends up below ``minSz`` or above the instrument's caps is
refused here, with a message naming the numbers, before OKX is asked.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from attrs import frozen

from fmzokx.numbers import plain as number
from fmzokx.okx.errors import LocalRefusal
from fmzokx.okx.instruments import Instrument

__all__ = ["InvalidOrder", "OrderSize", "round_price", "round_size", "size_order"]


class InvalidOrder(LocalRefusal):
    """An order OKX would refuse (size or price off its rules), refused before sending."""


def _to_step(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    if step <= 0:
        return value
    units = (value / step).to_integral_value(rounding=rounding)
    return units * step


def round_price(price: Decimal, tick: Decimal, side: str) -> Decimal:
    """``price`` on the tick grid: down for a buy, up for a sell."""
    rounding = ROUND_FLOOR if side == "buy" else ROUND_CEILING
    return _to_step(price, tick, rounding).normalize() if price else price


def round_size(size: Decimal, lot: Decimal) -> Decimal:
    """``size`` rounded down to a whole number of lots."""
    return _to_step(size, lot, ROUND_FLOOR)


@frozen
class OrderSize:
    """
    What to send OKX for one order.

    :ivar px: the limit price as OKX's string, ``None`` for a market order.
    :ivar sz: the size as OKX's string (base, quote or contracts: see ``tgt_ccy``).
    :ivar tgt_ccy: ``base_ccy``/``quote_ccy`` for spot market orders, else ``None``.
    """

    px: str | None
    sz: str
    tgt_ccy: str | None


def size_order(
    instrument: Instrument, side: str, price: Decimal, amount: Decimal, name: str = ""
) -> OrderSize:
    """
    Turn the docker's price and amount into OKX's ``px``/``sz``/``tgtCcy``.

    ``price <= 0`` means a market order. A spot market buy's amount is in the quote
    currency (FMZ's and OKX's shared convention); everything else is base currency for
    spot and contracts for swaps and futures.

    :param name: how the strategy named the instrument, for error messages (default:
        the instId).
    :raises InvalidOrder: for a non-positive amount, or one below ``minSz`` or above the
        instrument's maximum once rounded.
    """
    if amount <= 0:
        raise InvalidOrder(f"amount must be positive, got {number(amount)}")
    market = price <= 0
    symbol = name or instrument.inst_id
    if market and instrument.inst_type == "SPOT" and side == "buy":
        # Quote-currency size: OKX takes it to the quote's precision (the tick's decimals).
        quote_step = Decimal(1).scaleb(-instrument.price_precision)
        sz = round_size(amount, quote_step)
        if sz <= 0:
            raise InvalidOrder(
                f"market buy amount {number(amount)} {instrument.quote} rounds to 0 at "
                f"{instrument.price_precision} decimals"
            )
        # OKX gives a spot pair's maxMktSz in USDT (Get instruments), so it can be
        # checked here only when the amount is in USDT too.
        cap = instrument.max_market_size
        if instrument.quote == "USDT" and cap is not None and cap > 0 and sz > cap:
            raise InvalidOrder(
                f"market buy amount {number(sz)} {instrument.quote} is above {symbol}'s "
                f"maximum market order of {number(cap)} USDT"
            )
        return OrderSize(px=None, sz=number(sz), tgt_ccy="quote_ccy")

    unit = "contracts" if instrument.is_contract else instrument.base
    sz = round_size(amount, instrument.lot_size)
    if sz < instrument.min_size:
        raise InvalidOrder(
            f"amount {number(amount)} {unit} is below {symbol}'s minimum order size of "
            f"{number(instrument.min_size)} {unit} (lot size {number(instrument.lot_size)})"
        )
    # A spot market sell is sized in the base currency but capped in USDT by OKX: the
    # notional is not known here, so OKX is left to judge it.
    spot_market = market and instrument.inst_type == "SPOT"
    cap = instrument.max_market_size if market else instrument.max_limit_size
    if not spot_market and cap is not None and cap > 0 and sz > cap:
        kind = "market" if market else "limit"
        raise InvalidOrder(
            f"amount {number(sz)} {unit} is above {symbol}'s maximum {kind} order of "
            f"{number(cap)} {unit}"
        )
    if market:
        tgt = "base_ccy" if instrument.inst_type == "SPOT" else None
        return OrderSize(px=None, sz=number(sz), tgt_ccy=tgt)
    px = round_price(price, instrument.tick_size, side)
    if px <= 0:
        raise InvalidOrder(
            f"price {number(price)} is below {symbol}'s tick size {number(instrument.tick_size)}"
        )
    return OrderSize(px=number(px), sz=number(sz), tgt_ccy=None)
