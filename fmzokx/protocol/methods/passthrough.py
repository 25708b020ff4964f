# -*- test-case-name: tests.protocol.methods.test_passthrough -*-
"""
``exchange.IO("api", VERB, PATH, QUERY)``: the signed pass-through.

The docker sends ``method = "__api_" + PATH`` with the query parsed into ``params`` and
the verb in an ``Http-Method`` header. The path is everything after the exact prefix
(the widely copied example's ``split('_')`` broke on paths containing ``_``); it must be
an OKX v5 path. The reply's ``data`` is OKX's JSON as returned, ``code`` and all.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fmzokx.protocol.envelope import RpcError, RpcRequest
from fmzokx.protocol.gateway import Gateway
from fmzokx.protocol.methods import registry
from fmzokx.protocol.registry import Param, RpcResult

PREFIX = "__api_"
VERBS = ("GET", "POST")


@registry.prefix(
    PREFIX,
    summary="Signed pass-through to any OKX v5 endpoint (FMZ exchange.IO(\"api\", ...)).",
    params=[Param("(any)", "query parameters for GET, the JSON body for other verbs",
                  required=False)],
    data="OKX's JSON envelope as returned ({code, msg, data}), even when code is not 0",
    okx="the path after __api_, e.g. __api_/api/v5/trade/orders-pending; verb from the "
    "Http-Method header (default GET)",
    private=False,
)
async def passthrough(gateway: Gateway, request: RpcRequest) -> RpcResult:
    path = request.method[len(PREFIX):]
    parts = urlsplit(path)
    if not path.startswith("/api/v5/") or parts.query or parts.fragment or ".." in path:
        raise RpcError(
            f"invalid pass-through path {path[:80]!r}: expected an OKX v5 path such as "
            "/api/v5/trade/orders-pending after the __api_ prefix (parameters go in params)"
        )
    verb = (request.http_method or "GET").strip().upper()
    if verb not in VERBS:
        raise RpcError(f"Http-Method {verb[:10]!r} is not supported by OKX: use GET or POST")
    params = {
        key: value
        for key, value in request.params.values.items()
        if value is not None
    }
    if verb == "GET":
        for key, value in params.items():
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise RpcError(f"GET pass-through param {key!r} must be a string or number")
        reply = await gateway.client.request(
            "GET", path, params, credentials=request.credentials, check_code=False
        )
    else:
        reply = await gateway.client.request(
            verb, path, params, credentials=request.require_credentials(), check_code=False
        )
    return RpcResult(dict(reply.raw), None)
