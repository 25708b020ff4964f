# -*- test-case-name: tests.sim.test_fidelity -*-
"""
Behaviours of OKX that its documentation leaves open, and switches for what real OKX does
only sometimes, as one value a test or ``POST /_sim/settings`` can change.

Where OKX's docs are unclear the simulator offers each reading, so the daemon can be
tested against all of them; the defaults are the reading the docs support best.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import asdict, define, field, validators

__all__ = [
    "EXPIRED_CODES",
    "LEVERAGE_REFUSALS",
    "LOGIN_FAILURES",
    "PLACEMENTS",
    "PRIVATE_IDLE_RULES",
    "WS_CADENCES",
    "WS_CHECKSUMS",
    "WS_ENVIRONMENTS",
    "SimSettings",
]

#: Codes OKX documents for an order request that arrives after its ``expTime`` header
#: ("Error Code > REST API > Public"): 50036 "The expTime can't be earlier than the current
#: system time", 50037 "Order expired".
EXPIRED_CODES = ("50036", "50037")

#: Where that refusal is put: the top-level ``code`` of the reply, or the item's ``sCode``
#: (with top-level code ``1``), as other per-order refusals are.
PLACEMENTS = ("top", "item")

#: When ``set-leverage`` is refused because of open orders or positions on the instrument:
#: ``orders`` -- with pending orders in that margin mode (59107 cross, 59101 isolated), as
#: the 59xxx messages describe; ``strict`` -- with any pending order or open position on
#: the instrument (59000, "Close any open positions or orders before modifying settings");
#: ``never`` -- leverage may always change.
LEVERAGE_REFUSALS = ("orders", "strict", "never")

#: Which keys may log in on the private WebSocket: ``any`` -- a live or demo-trading key on
#: any connection (okxsim serves both environments at one address); ``host`` -- as OKX, a
#: demo-trading key only on a ``wspap.*`` host and a live key only elsewhere (50101).
WS_ENVIRONMENTS = ("any", "host")

#: When the private WebSocket closes an idle connection (4004 after 30 s): ``both`` --
#: nothing sent either way for 30 s, as the public paths (OKX's Connect section: "data
#: has not been pushed for more than 30 seconds", and its advice to ping only after N < 30
#: seconds without a message); ``client`` -- nothing received from the client for 30 s,
#: whatever was pushed (the close frame's wording, "No data received in 30s").
PRIVATE_IDLE_RULES = ("both", "client")

#: When the public WebSocket pushes: ``okx`` -- as OKX documents, a channel only when its
#: data changed (a ticker on a trade or a best bid/ask change; a book's changes every
#: 100 ms, an unchanged book an empty update about once a minute); ``tick`` -- every
#: channel at every 100 ms tick (okxsim's former cadence; a book's no-change update each
#: time).
WS_CADENCES = ("okx", "tick")

#: The ``books`` channel's ``checksum``: ``zero`` -- fixed to 0, as OKX's 2026 docs say;
#: ``crc32`` -- OKX's former CRC32 of the top 25 levels.
WS_CHECKSUMS = ("zero", "crc32")

#: Largest WebSocket channel cap accepted.
_MAX_CAP = 10_000
#: What follows a refused login on the private WebSocket: ``close`` -- the error event,
#: then the close frame 4001 "Login Failed" (OKX's close frames list it); ``stay`` -- the
#: error event only, the connection may log in again.
LOGIN_FAILURES = ("close", "stay")

#: Longest read-after-write lag accepted, in milliseconds.
_MAX_LAG_MS = 60_000


def _lag(instance: object, attribute: object, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_LAG_MS:
        raise ValueError(f"lag_ms must be an integer from 0 to {_MAX_LAG_MS}")


def _cap(instance: object, attribute: Any, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_CAP:
        raise ValueError(f"{attribute.name} must be an integer from 0 (no cap) to {_MAX_CAP}")


@define
class SimSettings:
    """
    :ivar lag_ms: read-after-write lag. An order placed less than this long ago is not yet
        visible to ``GET /trade/order`` (51603) or the order lists, and an accepted cancel
        takes effect only this long after it was accepted (until then the order is still
        pending, may still fill, and a second cancel is 51410). 0: off.
    :ivar lag_cancels: the lag reaches cancels too: a cancel of an order placed less than
        ``lag_ms`` ago is 51400 ("filled, canceled or does not exist") although the order
        is live, as OKX answers an order it cannot see yet where cancels are handled.
    :ivar trade_quote_ccy_required: the rule OKX applies to users in some regions: a spot
        order must name ``tradeQuoteCcy`` (51000 ``tradeQuoteCcy`` otherwise). A value
        not in the instrument's ``tradeQuoteCcyList`` is refused either way.
    :ivar expired_code: the code of an order request that arrived after its ``expTime``.
    :ivar expired_placement: where that code goes (:data:`PLACEMENTS`).
    :ivar leverage_refusal: when ``set-leverage`` is refused (:data:`LEVERAGE_REFUSALS`).
    :ivar ws_environment: which keys log in on the private WebSocket (:data:`WS_ENVIRONMENTS`).
    :ivar private_idle: when an idle private connection is closed (:data:`PRIVATE_IDLE_RULES`).
    :ivar ws_cadence: when the public WebSocket pushes (:data:`WS_CADENCES`).
    :ivar ws_checksum: what the ``books`` channel's ``checksum`` is (:data:`WS_CHECKSUMS`).
    :ivar ws_channel_cap: the most channels one WebSocket connection may hold; one more
        closes it with 4008 (OKX does not publish its number). 0: no cap.
    :ivar ws_depth_cap: the most depth channels (``books``, ``books5``, ``bbo-tbt``) one
        connection may hold; one more closes it with 4009. 0: no cap.
    :ivar login_failure: what follows a refused private login (:data:`LOGIN_FAILURES`).
    """

    lag_ms: int = field(default=0, validator=_lag)
    lag_cancels: bool = field(default=False, validator=validators.instance_of(bool))
    trade_quote_ccy_required: bool = field(
        default=False, validator=validators.instance_of(bool)
    )
    expired_code: str = field(default="50036", validator=validators.in_(EXPIRED_CODES))
    expired_placement: str = field(default="top", validator=validators.in_(PLACEMENTS))
    leverage_refusal: str = field(default="orders", validator=validators.in_(LEVERAGE_REFUSALS))
    ws_environment: str = field(default="any", validator=validators.in_(WS_ENVIRONMENTS))
    private_idle: str = field(default="both", validator=validators.in_(PRIVATE_IDLE_RULES))
    ws_cadence: str = field(default="okx", validator=validators.in_(WS_CADENCES))
    ws_checksum: str = field(default="zero", validator=validators.in_(WS_CHECKSUMS))
    ws_channel_cap: int = field(default=0, validator=_cap)
    ws_depth_cap: int = field(default=0, validator=_cap)
    login_failure: str = field(default="close", validator=validators.in_(LOGIN_FAILURES))

    def updated(self, changes: Mapping[str, Any]) -> SimSettings:
        """
        A copy with ``changes`` applied.

        :raises ValueError: for an unknown name or a value out of range.
        """
        known = asdict(self)
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise ValueError(
                f"unknown setting {', '.join(unknown)}; expected some of {', '.join(known)}"
            )
        try:
            return SimSettings(**{**known, **changes})
        except (TypeError, ValueError) as error:
            raise ValueError(str(error).split("\n")[0]) from None

    def to_json(self) -> dict[str, Any]:
        """The settings as ``GET /_sim/settings`` shows them."""
        return asdict(self)
