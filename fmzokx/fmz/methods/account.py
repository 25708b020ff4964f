# -*- test-case-name: tests.fmz.methods.test_trading -*-
"""Account methods: accounts and assets (both from ``/account/balance``)."""

from __future__ import annotations

from fmzokx.fmz.context import CallContext
from fmzokx.fmz.envelope import RpcRequest
from fmzokx.fmz.formatting import balance_rows
from fmzokx.fmz.registry import RpcResult, method
from fmzokx.okx.endpoints import ACCOUNT_CHANNEL, BALANCE

SHAPE = (
    "[{currency, free, frozen}] as OKX's strings: free = availBal (spot mode) or availEq "
    "(margin modes), frozen = ordFrozen (what open orders hold); only currencies OKX "
    "reports (non-zero balances)"
)


async def _balances(context: CallContext, request: RpcRequest) -> RpcResult:
    credentials = request.require_credentials()
    fetched = await context.okx.account.balance(credentials)
    rows = []
    for account in fetched.records:
        rows.extend(balance_rows(account))
    return RpcResult(rows, fetched.raw)


@method(
    "accounts",
    summary="Balances of the trading account (FMZ GetAccount).",
    data=SHAPE,
    okx=[BALANCE, ACCOUNT_CHANNEL],
    private=True,
)
async def accounts(context: CallContext, request: RpcRequest) -> RpcResult:
    return await _balances(context, request)


@method(
    "assets",
    summary="Every asset of the trading account (FMZ GetAssets).",
    data=SHAPE,
    okx=[BALANCE, ACCOUNT_CHANNEL],
    private=True,
)
async def assets(context: CallContext, request: RpcRequest) -> RpcResult:
    return await _balances(context, request)
