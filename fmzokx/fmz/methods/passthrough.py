# -*- test-case-name: tests.fmz.methods.test_trading -*-
"""
``exchange.IO("api", VERB, PATH, QUERY)``: the signed pass-through.

The docker sends ``method = "__api_" + PATH`` with the query parsed into ``params`` and
the verb in an ``Http-Method`` header. The path is everything after the exact prefix
(the widely copied example's ``split('_')`` broke on paths containing ``_``); the OKX side
checks that it is an OKX v5 path. The reply's ``data`` is OKX's JSON as returned; when
OKX's ``code`` is not ``"0"`` and no item succeeded, the reply is an ``error`` instead, so
a strategy's ``if (!ret)`` check sees the refusal.
"""

from __future__ import annotations

from fmzokx.fmz.context import CallContext
from fmzokx.fmz.envelope import RpcRequest
from fmzokx.fmz.registry import Param, RpcResult, prefix
from fmzokx.okx.endpoints import ORDERS_PENDING
from fmzokx.okx.passthrough import refusal

PREFIX = "__api_"


@prefix(
    PREFIX,
    summary="Signed pass-through to any OKX v5 endpoint (FMZ exchange.IO(\"api\", ...)).",
    params=[Param("(any)", "query parameters for GET, the JSON body for other verbs",
                  required=False)],
    data="OKX's JSON envelope as returned ({code, msg, data}) when anything succeeded "
    "(a batch with some failed items keeps them in data); an error with OKX's code and "
    "message when nothing did",
    okx=f"the path after __api_, e.g. __api_{ORDERS_PENDING.path}; verb from the "
    "Http-Method header (default GET)",
    private=False,
)
async def passthrough(context: CallContext, request: RpcRequest) -> RpcResult:
    path = request.method[len(PREFIX):]
    context.okx.passthrough.check_path(path)
    verb = (request.http_method or "GET").strip().upper()
    params = {
        key: value
        for key, value in request.params.values.items()
        if value is not None
    }
    credentials = request.require_credentials() if verb == "POST" else request.credentials
    reply = await context.okx.passthrough.call(verb, path, params, credentials)
    refused = refusal(verb, path, reply)
    if refused is not None:
        # Nothing succeeded: an error the strategy's `if (!ret)` sees, worded as for any
        # other call OKX refused, and logged with OKX's code, message and endpoint.
        raise refused
    return RpcResult(dict(reply.raw), None)
