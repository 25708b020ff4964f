# -*- test-case-name: tests.sim.test_public,tests.sim.test_robustness -*-
"""
What an ``/api/v5`` handler gets and gives back, and the parameter checks they share.

A handler is a plain function of one :class:`Call`: the parsed request (query or body with
empty strings removed, the authenticated account, the time) and the two things it may
touch, the exchange and the market. It returns either the ``data`` list of the usual
``{"code":"0","msg":"","data":[...]}`` envelope or a complete :class:`Reply`; OKX errors
are raised as :class:`~fmzokx.sim.errors.SimApiError` and enveloped by the resource.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from attrs import frozen

from fmzokx.sim import public
from fmzokx.sim.errors import SimApiError
from fmzokx.sim.exchange import Exchange
from fmzokx.sim.instruments import SimInstrument
from fmzokx.sim.market import Market
from fmzokx.sim.model import SimAccount

__all__ = [
    "Call",
    "Handler",
    "Reply",
    "Route",
    "body",
    "cursor",
    "family_filter",
    "inst_type",
    "instrument",
    "page",
    "required",
]

INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION")


@frozen
class Call:
    """One parsed ``/api/v5`` request, and the exchange and market it is served from."""

    path: str
    params: dict[str, str]
    body: Any
    account: SimAccount | None
    now_ms: int
    exchange: Exchange
    market: Market
    #: the server clock in microseconds, for the ``inTime``/``outTime`` of order replies
    micros: Callable[[], int]

    @property
    def key(self) -> str:
        """
        The caller's account, by its first API key (private endpoints only): every key of
        one account reaches the same state and is counted against the same budgets.
        """
        assert self.account is not None
        return self.exchange.account_key(self.account.key)


@frozen
class Reply:
    """A complete response body, for endpoints whose envelope is not the plain one."""

    body: dict[str, Any]
    status: int = 200


Handler = Callable[[Call], "list[Any] | Reply"]


@frozen
class Route:
    """How one endpoint is served: ``path`` below ``/api/v5``."""

    path: str
    method: str
    private: bool
    handler: Handler


def required(params: Mapping[str, Any], name: str) -> str:
    """The non-empty parameter ``name`` (50014 when missing)."""
    value = params.get(name)
    if value is None or value == "":
        raise SimApiError("50014", name)
    return str(value)


def instrument(call: Call, params: Mapping[str, Any] | None = None) -> SimInstrument:
    """The live instrument named by ``instId`` (51001 when there is none)."""
    inst_id = required(call.params if params is None else params, "instId")
    inst = call.exchange.instrument(inst_id, call.now_ms)
    if inst is None:
        raise SimApiError("51001")
    return inst


def inst_type(call: Call, required: bool = True) -> str:
    """The ``instType`` parameter, checked against OKX's list."""
    value = call.params.get("instType", "")
    if not value:
        if required:
            raise SimApiError("50014", "instType")
        return ""
    if value not in INST_TYPES:
        raise SimApiError("51000", "instType")
    return value


def family_filter(inst: SimInstrument, params: Mapping[str, str]) -> bool:
    """Whether ``inst`` passes the ``instFamily``/``uly`` filters."""
    for name in ("instFamily", "uly"):
        if params.get(name) and inst.family != params[name]:
            return False
    return True


def body(call: Call) -> dict[str, Any]:
    """The JSON object body of a POST (50002 for anything else)."""
    if not isinstance(call.body, dict):
        raise SimApiError("50002")
    return call.body


def cursor(call: Call, name: str) -> int | None:
    """An ``after``/``before`` cursor."""
    return public.int_param(call.params, name, None, 0)


def page(call: Call, *, inst_type_required: bool) -> tuple[int | None, int | None, int]:
    """
    Validate a cursor-paged list's common params: ``instType``, ``limit`` (1-100, default
    100), ``begin``/``end``; return the ``after``/``before`` cursors and the limit.
    """
    inst_type(call, required=inst_type_required)
    limit = public.int_param(call.params, "limit", 100, 1, 100)
    assert limit is not None
    for name in ("begin", "end"):
        public.int_param(call.params, name, None, 0)
    return cursor(call, "after"), cursor(call, "before"), limit
