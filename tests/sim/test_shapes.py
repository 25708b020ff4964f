"""
Payload shapes: the simulator's objects carry at least every field of the real OKX
payloads captured in ccxt's response fixtures, with the same JSON types.
"""

from __future__ import annotations

from typing import Any

from .support import Harness

# Field names of real responses (ccxt ts/src/test/static/response/okx.json).
ORDER = """accFillSz algoClOrdId algoId attachAlgoClOrdId attachAlgoOrds avgPx cTime cancelSource
cancelSourceReason category ccy clOrdId fee feeCcy fillPx fillSz fillTime instId instType
isTpLimit lever linkedAlgoOrd ordId ordType pnl posSide px pxType pxUsd pxVol quickMgnType
rebate rebateCcy reduceOnly side slOrdPx slTriggerPx slTriggerPxType source state stpId
stpMode sz tag tdMode tgtCcy tpOrdPx tpTriggerPx tpTriggerPxType tradeId uTime""".split()
POSITION = """adl availPos avgPx baseBal baseBorrowed baseInterest bePx bizRefId bizRefType cTime
ccy closeOrderAlgo deltaBS deltaPA fee fundingFee gammaBS gammaPA idxPx imr instId instType
interest last lever liab liabCcy liqPenalty liqPx margin markPx mgnMode mgnRatio mmr
notionalUsd optVal pendingCloseOrdLiabVal pnl pos posCcy posId posSide quoteBal
quoteBorrowed quoteInterest realizedPnl spotInUseAmt spotInUseCcy thetaBS thetaPA tradeId
uTime upl uplLastPx uplRatio uplRatioLastPx usdPx vegaBS vegaPA""".split()
ACCOUNT = """adjEq availEq borrowFroz details imr isoEq mgnRatio mmr notionalUsd
notionalUsdForBorrow notionalUsdForFutures notionalUsdForOption notionalUsdForSwap ordFroz
totalEq uTime upl""".split()
DETAIL = """accAvgPx availBal availEq borrowFroz cashBal ccy clSpotInUseAmt colBorrAutoConversion
collateralEnabled collateralRestrict crossLiab disEq eq eqUsd fixedBal frozenBal imr interest
isoEq isoLiab isoUpl liab maxLoan maxSpotInUse mgnRatio mmr notionalLever openAvgPx ordFrozen
rewardBal smtSyncEq spotBal spotCopyTradingEq spotInUseAmt spotIsoBal spotUpl spotUplRatio
stgyEq totalPnl totalPnlRatio twap uTime upl uplLiab""".split()
TICKER = """askPx askSz bidPx bidSz high24h instId instType last lastSz low24h open24h sodUtc0
sodUtc8 ts vol24h volCcy24h""".split()
NOT_STRINGS = {"attachAlgoOrds", "linkedAlgoOrd", "closeOrderAlgo", "details",
               "collateralEnabled", "collateralRestrict"}


def check(row: dict[str, Any], fields: list[str]) -> None:
    missing = set(fields) - set(row)
    assert not missing, sorted(missing)
    for name in fields:
        if name not in NOT_STRINGS:
            assert isinstance(row[name], str), name


def test_order_position_balance_ticker_fields() -> None:
    """Orders, positions, balances and tickers have every real field, strings as strings."""
    harness = Harness()
    spot = harness.placed(instId="LTC-USDT", tdMode="cash", side="buy", ordType="market",
                          sz="0.1", tgtCcy="base_ccy")
    order = harness.details("LTC-USDT", spot)
    check(order, ORDER)
    assert (order["posSide"], order["lever"], order["reduceOnly"]) == ("net", "", "false")
    harness.placed(instId="LTC-USDT-SWAP", tdMode="cross", side="buy", ordType="market", sz="1")
    (position,) = harness.ok("/api/v5/account/positions")
    check(position, POSITION)
    (account,) = harness.ok("/api/v5/account/balance")
    check(account, ACCOUNT)
    for detail in account["details"]:
        check(detail, DETAIL)
    (ticker,) = harness.ok("/api/v5/market/ticker?instId=BTC-USDT", private=False)
    check(ticker, TICKER)
