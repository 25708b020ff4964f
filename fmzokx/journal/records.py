# -*- test-case-name: tests.journal.test_store -*-
"""
What the journal stores: one intent per write the daemon sends to OKX, and its outcome.

Intents are written before the request goes out; entries are what a read gives back,
the intent plus the outcome known so far (``None`` while nobody knows yet). Times are
milliseconds since the epoch, like OKX's. Nothing here can hold a credential: an entry
names its API key by :func:`~fmzokx.okx.credentials.fingerprint` only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from attrs import frozen

__all__ = [
    "CANCEL_OUTCOMES",
    "KINDS",
    "LEVERAGE_OUTCOMES",
    "ORDER_OUTCOMES",
    "PENDING",
    "UNKNOWN",
    "CancelEntry",
    "CancelRecord",
    "Entry",
    "LeverageEntry",
    "LeverageRecord",
    "OrderEntry",
    "OrderRecord",
]

UNKNOWN = "unknown"
"""The outcome of a request OKX may or may not have processed; reconciled later."""

PENDING = "pending"
"""How a reader shows an entry without an outcome (sent, or about to be, and not settled)."""

ORDER_OUTCOMES = ("placed", "not_placed", UNKNOWN)
CANCEL_OUTCOMES = ("canceled", "not_canceled", UNKNOWN)
LEVERAGE_OUTCOMES = ("set", "not_set", UNKNOWN)
KINDS = ("order", "cancel", "leverage")


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


@frozen
class OrderRecord:
    """
    An order about to be POSTed: who (key fingerprint), which clOrdId, what, and the
    docker request it answers.
    """

    key_fp: str
    cl_ord_id: str
    inst_id: str
    side: str
    ord_type: str
    size: str
    td_mode: str
    price: str | None = None
    pos_side: str | None = None
    nonce: int | None = None
    request_fp: str = ""
    exp_time: int | None = None
    body: str = "{}"

    @classmethod
    def from_body(
        cls,
        key_fp: str,
        body: Mapping[str, Any],
        *,
        nonce: int | None = None,
        request_fp: str = "",
        exp_time: int | None = None,
    ) -> OrderRecord:
        """The intent for an OKX ``/trade/order`` body (which carries the clOrdId)."""
        return cls(
            key_fp=key_fp,
            cl_ord_id=str(body["clOrdId"]),
            inst_id=str(body["instId"]),
            side=str(body.get("side", "")),
            ord_type=str(body.get("ordType", "")),
            size=str(body.get("sz", "")),
            td_mode=str(body.get("tdMode", "")),
            price=_text(body.get("px")),
            pos_side=_text(body.get("posSide")),
            nonce=nonce,
            request_fp=request_fp,
            exp_time=exp_time,
            body=json.dumps(body, sort_keys=True, separators=(",", ":"), default=str),
        )


@frozen
class OrderEntry:
    """An order intent and what became of it."""

    key_fp: str
    cl_ord_id: str
    inst_id: str
    side: str
    ord_type: str
    size: str
    td_mode: str
    price: str | None
    pos_side: str | None
    nonce: int | None
    request_fp: str
    exp_time: int | None
    body: str
    created: int
    outcome: str | None
    ord_id: str | None
    reason: str | None
    outcome_at: int | None
    unknown_at: int | None
    reply: str | None

    kind: ClassVar[str] = "order"

    @property
    def settled(self) -> bool:
        """Whether the outcome is final (placed or definitely not placed)."""
        return self.outcome is not None and self.outcome != UNKNOWN


@frozen
class CancelRecord:
    """A cancel about to be POSTed, by ordId or clOrdId."""

    key_fp: str
    inst_id: str
    ord_id: str | None = None
    cl_ord_id: str | None = None

    def __attrs_post_init__(self) -> None:
        if not self.ord_id and not self.cl_ord_id:
            raise ValueError("a cancel names the order by ordId or clOrdId")


@frozen
class CancelEntry:
    id: int
    key_fp: str
    inst_id: str
    ord_id: str | None
    cl_ord_id: str | None
    created: int
    outcome: str | None
    reason: str | None
    outcome_at: int | None

    kind: ClassVar[str] = "cancel"


@frozen
class LeverageRecord:
    """A set-leverage about to be POSTed."""

    key_fp: str
    inst_id: str
    lever: str
    mgn_mode: str
    pos_side: str | None = None


@frozen
class LeverageEntry:
    id: int
    key_fp: str
    inst_id: str
    lever: str
    mgn_mode: str
    pos_side: str | None
    created: int
    outcome: str | None
    reason: str | None
    outcome_at: int | None

    kind: ClassVar[str] = "leverage"


Entry = OrderEntry | CancelEntry | LeverageEntry
"""Any journal entry (each carries its ``kind``)."""
