"""The method registry: declarations register nothing until a registry is built from them."""

from __future__ import annotations

import types
from typing import Any

import pytest

from fmzokx.fmz.envelope import RpcRequest
from fmzokx.fmz.methods import FAMILIES, default_registry, market
from fmzokx.fmz.registry import RpcResult, build_registry, method, spec_of
from fmzokx.okx.endpoints import TICKER, TICKERS_CHANNEL


def test_declaring_registers_nothing() -> None:
    """Two registries built from the same modules are independent and complete."""
    first, second = default_registry(), default_registry()
    assert first is not second
    assert first.names() == second.names()
    assert {"ticker", "trade", "__api_<path>", "io"} <= set(first.names())
    assert spec_of(market.ticker).okx == f"{TICKER}, {TICKERS_CHANNEL}"


def test_only_a_modules_own_handlers_are_collected() -> None:
    """A handler imported into another module is not registered twice."""
    borrowed = types.ModuleType("borrowed")
    borrowed.ticker = market.ticker  # type: ignore[attr-defined]
    registry = build_registry([market, borrowed])
    assert registry.names() == build_registry([market]).names()


def test_duplicate_names_are_refused() -> None:
    """Two handlers claiming one name (or alias) cannot both be registered."""

    @method("ticker", summary="again")
    async def ticker(context: Any, request: RpcRequest) -> RpcResult:
        return RpcResult(None)

    module = types.ModuleType("dupe")
    module.ticker = ticker  # type: ignore[attr-defined]
    ticker.__module__ = "dupe"
    with pytest.raises(ValueError, match="registered twice"):
        build_registry([market, module])


def test_families_are_documented_in_order() -> None:
    """The documentation lists families in FAMILIES order."""
    names = [spec.name for spec in default_registry().specs()]
    assert names.index("ticker") < names.index("accounts") < names.index("trade")
    assert names.index("trade") < names.index("positions") < names.index("__api_<path>")
    assert len(FAMILIES) == 5
