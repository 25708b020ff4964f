# -*- test-case-name: tests.protocol.methods.test_account -*-
"""Account methods: accounts and assets (both from ``/account/balance``)."""

from __future__ import annotations

from collections.abc import Mapping

from fmzokx.protocol.envelope import RpcRequest
from fmzokx.protocol.formatting import balance_rows
from fmzokx.protocol.gateway import Gateway
from fmzokx.protocol.methods import registry
from fmzokx.protocol.registry import RpcResult

BALANCE = "/api/v5/account/balance"
SHAPE = (
    "[{currency, free, frozen}] as OKX's strings: free = availBal (spot mode) or availEq "
    "(margin modes), frozen = frozenBal; only currencies OKX reports (non-zero balances)"
)


async def _balances(gateway: Gateway, request: RpcRequest) -> RpcResult:
    credentials = request.require_credentials()
    reply = await gateway.client.get(BALANCE, credentials=credentials)
    rows = []
    for account in reply.data:
        if isinstance(account, Mapping):
            rows.extend(balance_rows(account))
    return RpcResult(rows, reply.raw)


@registry.method(
    "accounts",
    summary="Balances of the trading account (FMZ GetAccount).",
    data=SHAPE,
    okx=f"GET {BALANCE}",
    private=True,
)
async def accounts(gateway: Gateway, request: RpcRequest) -> RpcResult:
    return await _balances(gateway, request)


@registry.method(
    "assets",
    summary="Every asset of the trading account (FMZ GetAssets).",
    data=SHAPE,
    okx=f"GET {BALANCE}",
    private=True,
)
async def assets(gateway: Gateway, request: RpcRequest) -> RpcResult:
    return await _balances(gateway, request)
