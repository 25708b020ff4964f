# -*- test-case-name: tests.sim.test_trading -*-
"""
OKX error codes the simulator produces, and the exception that carries a top-level one.

Keeping codes and messages in one table makes it easy to check them against OKX's list
("Error Code > REST API": Public, 50000-53999, and Account, 59000-59999), which also gives
the HTTP status of each (:data:`STATUS`).
The exception is :class:`SimApiError`, not ``OkxError``: the daemon's client raises its own
:class:`fmzokx.okx.errors.OkxError` for the same codes, and a test that uses both must be
able to tell the exchange's refusal from the client's report of it.
"""

from __future__ import annotations

__all__ = ["MESSAGES", "STATUS", "SimApiError", "message"]

MESSAGES: dict[str, str] = {
    "1": "All operations failed",
    "2": "Bulk operation partially succeeded",
    "50000": "Body can not be empty",
    "50001": "Service temporarily unavailable. Please try again later",
    "50002": "JSON syntax error",
    "50004": (
        "API endpoint request timeout. (does not mean that the request was successful or "
        "failed, please check the request result)."
    ),
    "50006": "Invalid Content-Type, please use application/json format",
    "50011": "Too Many Requests",
    "50013": "Systems are busy. Please try again later.",
    "50014": "Parameter {0} can not be empty",
    "50015": "Either parameter {0} or {1} is required",
    "50026": "System error. Try again later",
    "50036": (
        "The expTime can't be earlier than the current system time. Please adjust the "
        "expTime and try again."
    ),
    "50037": "Order expired.",
    "50101": "APIKey does not match current environment.",
    "50102": "Timestamp request expired",
    "50103": 'Request header "OK-ACCESS-KEY" can not be empty.',
    "50104": 'Request header "OK-ACCESS-PASSPHRASE" can not be empty.',
    "50105": 'Request header "OK-ACCESS-PASSPHRASE" incorrect.',
    "50106": 'Request header "OK-ACCESS-SIGN" can not be empty.',
    "50107": 'Request header "OK-ACCESS-TIMESTAMP" can not be empty.',
    "50111": "Invalid OK-ACCESS-KEY",
    "50112": "Invalid OK-ACCESS-TIMESTAMP",
    "50113": "Invalid Sign",
    "50115": "Invalid request method.",
    "51000": "Parameter {0} error",
    "51001": "Instrument ID does not exist",
    "51006": "Order price is not within the price limit (max buy price: {0} min sell price: {1})",
    "51008": "Order failed. Insufficient {0} {1} in account",
    "51010": "Request unsupported under current account mode",
    "51016": "Client order ID already exists",
    "51020": "Order amount should be greater than the min available amount",
    "51021": "The pair or contract is not yet listed",
    "51022": "Contract suspended.",
    "51054": "Request timed out. Please try again.",
    "51111": "Maximum {0} orders can be placed in bulk",
    "51023": "Position does not exist",
    "51112": "Close order size exceeds your available size",
    "51121": "Order count should be the integer multiples of the lot size",
    "51137": "The highest price limit for buy orders is {0}.",
    "51138": "The lowest price limit for sell orders is {0}.",
    "51148": "reduceOnly cannot increase the position quantity",
    "51149": (
        "Order timed out. Please try again. (does not mean that the request was successful "
        "or failed, please check the request result)"
    ),
    "51169": (
        "Order failed because you don't have any positions in this direction for this "
        "contract to reduce or close."
    ),
    "51201": "The value of a market order can't exceed {0}.",
    "51202": "Market order amount exceeds the maximum amount",
    "51203": "Order amount exceeds the limit {0}",
    "51204": "The price for the limit order can not be empty",
    "51400": (
        "Order cancellation failed as the order has been filled, canceled or does not exist."
    ),
    "51410": (
        "Cancellation failed as the order is already in canceling status or pending "
        "settlement."
    ),
    "51500": "Either order price or amount is required",
    "51502": "Order modification failed for insufficient margin",
    "51503": (
        "Order modification failed as the order has been filled, canceled or does not exist"
    ),
    "51603": "Order does not exist",
    "59000": "Settings failed. Close any open positions or orders before modifying settings.",
    "59101": (
        "Leverage can't be modified. Please cancel all pending isolated margin orders before "
        "adjusting the leverage."
    ),
    "59102": "Leverage exceeds the maximum limit",
    "59107": (
        "Leverage can't be modified. Please cancel all pending cross-margin orders before "
        "adjusting the leverage."
    ),
}

#: HTTP status for codes that are not answered with 200.
STATUS: dict[str, int] = {
    "50000": 400,
    "50001": 503,
    "50002": 400,
    "50004": 400,
    "50006": 400,
    "50011": 429,
    "50013": 429,
    "50014": 400,
    "50015": 400,
    "50026": 500,
    "51054": 500,
    "50115": 405,
    "51000": 400,
    **{code: 401 for code in ("50101", "50102", "50103", "50104", "50105", "50106", "50107")},
    **{code: 401 for code in ("50111", "50112", "50113")},
}


def message(code: str, *args: object) -> str:
    """The message for ``code`` with ``args`` substituted."""
    return MESSAGES[code].format(*args)


class SimApiError(Exception):
    """
    A request-level (top-level ``code``) OKX error, as the simulated exchange answers it.

    :ivar code: the OKX code, a string as on the wire.
    :ivar msg: the message.
    :ivar status: the HTTP status it is answered with.
    """

    def __init__(self, code: str, *args: object, msg: str | None = None) -> None:
        self.code = code
        self.msg = msg if msg is not None else message(code, *args)
        self.status = STATUS.get(code, 200)
        super().__init__(f"{code}: {self.msg}")
