# -*- test-case-name: tests.okx.test_codes -*-
"""
Every OKX response code the daemon reacts to, named by what it means for us.

OKX answers with a top-level ``code`` (``"0"`` on success) and, for place, cancel and
amend, a per-item ``sCode``. Decisions hang on a handful of them -- retry a read or not,
"outcome unknown" or "refused", reconcile an order, resynchronise the clock -- so they
are written down once, here, each with the reason it matters, and every module that
decides anything imports them from here. Codes are strings, as OKX sends them. The
source for each is OKX's API documentation ("Error Code" tables for REST).

The user-facing explanation of each authentication code lives with the error classes
(:data:`fmzokx.okx.errors.AUTH_CODES`); a test keeps its keys equal to
:data:`AUTH_REFUSED`.
"""

from __future__ import annotations

__all__ = [
    "AUTH_REFUSED",
    "BUSY",
    "CANCEL_ALREADY_FINAL",
    "CANCEL_UNDER_WAY",
    "DUPLICATE_CLORDID",
    "EXPIRED_ON_ARRIVAL",
    "INSTRUMENT_CHANGED",
    "ORDER_NOT_FOUND",
    "ORDER_TIMED_OUT",
    "OUTCOME_UNKNOWN",
    "RATE_LIMITED",
    "RATE_LIMITED_STATUS",
    "REQUEST_TIMED_OUT",
    "SUCCESS",
    "TIMESTAMP_EXPIRED",
    "UNKNOWN_INSTRUMENT",
]

#: ``code`` / ``sCode`` of success; anything else is a refusal.
SUCCESS = "0"

# -- authentication layer: refused before any business processing ---------------------

#: The request timestamp is more than 30 s from OKX's clock. Nothing was done, so the
#: client resynchronises its clock and re-signs and resends the call once, writes too.
TIMESTAMP_EXPIRED = "50102"

#: OKX refused the credentials (key, passphrase, signature, IP whitelist, permission,
#: environment). Nothing was done (outcome known), and repeating only risks a lock-out,
#: so these are never retried; each has an explanation of what to fix.
AUTH_REFUSED = frozenset(
    {
        "50030",
        "50100",
        "50101",
        TIMESTAMP_EXPIRED,
        "50103",
        "50104",
        "50105",
        "50106",
        "50107",
        "50110",
        "50111",
        "50112",
        "50113",
        "50114",
        "50119",
        "50120",
    }
)

# -- load: OKX did not get to the request, or cannot say what became of it --------------

#: Too many requests (HTTP 429). The request was not processed: a read is retried after
#: at least a second, a write is refused as rate-limited (outcome known).
RATE_LIMITED = frozenset({"50011"})

#: The HTTP status OKX pairs with :data:`RATE_LIMITED`; treated the same without a code.
RATE_LIMITED_STATUS = 429

#: Service unavailable (50001), endpoint timeout (50004), system busy (50013), system
#: error (50026). A read may succeed when repeated; a write may or may not have been
#: processed, so it is reported as outcome unknown and never resent blindly.
BUSY = frozenset({"50001", "50004", "50013", "50026"})

# -- orders ----------------------------------------------------------------------------------

#: Per item: the order request timed out inside OKX; it may or may not exist.
ORDER_TIMED_OUT = "51149"

#: "Request timed out" (HTTP 500): like 51149, says nothing of the request's fate.
REQUEST_TIMED_OUT = "51054"

#: Top-level or per-item codes after which a write's outcome is unknown: the order layer
#: reconciles by ``clOrdId`` instead of reporting a failure or resending.
OUTCOME_UNKNOWN = BUSY | {ORDER_TIMED_OUT, REQUEST_TIMED_OUT}

#: Per item: a pending order already has this ``clOrdId`` -- an earlier attempt of the
#: same request landed, so it is looked up, not reported as an error.
DUPLICATE_CLORDID = "51016"

#: Top-level or per item on an order write carrying an ``expTime`` header: the request
#: reached OKX after its ``expTime`` (50037 "Order expired"), or the ``expTime`` was
#: already behind OKX's clock (50036). OKX refuses it before doing anything, so the order
#: was not placed. When our estimate of OKX's clock was wrong (it stepped since the last
#: sync), the order layer measures the clock and sends the order once more, with the same
#: ``clOrdId`` and a fresh ``expTime``.
EXPIRED_ON_ARRIVAL = frozenset({"50036", "50037"})

#: Per item on an order: the instrument is not what the daemon's cached list says --
#: a parameter (price on the tick, size on the lot) refused (51000, 51121), not yet listed
#: (51021), suspended (51022), expired (51027). The instrument list is refreshed.
INSTRUMENT_CHANGED = frozenset({"51000", "51021", "51022", "51027", "51121"})

#: Top-level on ``GET /trade/order``: no such order. During reconciliation this means
#: "not placed (yet)"; for a caller's order query, "does not exist".
ORDER_NOT_FOUND = "51603"

#: On cancel: the order is already final -- filled, cancelled or gone (51400), cancelled
#: (51401), completed (51402) -- or being cancelled (51410). Not an answer by itself: the
#: order is read back, and a cancelled (or cancelling) order makes the cancel a success.
CANCEL_ALREADY_FINAL = frozenset({"51400", "51401", "51402", "51410"})

#: On cancel: a cancel of this order is already under way. Unlike 51400 this is an
#: answer: the order is being cancelled even while it still reads as live.
CANCEL_UNDER_WAY = "51410"

#: The instrument does not exist ("Instrument ID does not exist"): its WebSocket channels
#: are dropped and not subscribed again for a while (:mod:`fmzokx.okx.stream.market`).
UNKNOWN_INSTRUMENT = "51001"
