"""
The order journal in the daemon, in memory: okxsim, the real client, placer and RPC
server on one fake clock, the journal on a real file. A "restart" throws the process's
objects away (nothing more is answered or written by them, as after SIGKILL) and builds
new ones over the same okxsim and the same journal file.
"""

from __future__ import annotations

import hashlib
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from treq.client import HTTPClient
from treq.testing import RequestTraversalAgent
from twisted.internet.defer import Deferred, ensureDeferred

from fmzokx.fmz.context import CallContext
from fmzokx.fmz.methods import default_registry
from fmzokx.fmz.resource import RpcServer
from fmzokx.journal import (
    AuditFilter,
    CancelEntry,
    ImmediateExecutor,
    Journal,
    LeverageEntry,
    OrderEntry,
    OrderRecord,
)
from fmzokx.okx.api import OkxApi
from fmzokx.okx.credentials import fingerprint
from fmzokx.okx.errors import OkxError
from fmzokx.okx.placement.reconcile import Reconciler
from fmzokx.okx.rest.client import OkxClient
from fmzokx.okx.rest.retry import RetryPolicy
from fmzokx.okx.rest.transport import BytesProducer
from tests.journal.support import read_only_underneath, result
from tests.stack import KEY, Stack

ORDER = "/api/v5/trade/order"
KEY_FP = fingerprint(KEY)


class Daemon:
    """A :class:`Stack` whose daemon half can be killed and started again."""

    def __init__(self, path: Path) -> None:
        self.stack = Stack()
        self.path = path
        self.journal: Journal
        self.reconciler: Reconciler
        self.start()

    def start(self) -> None:
        s = self.stack
        # A fresh agent: the killed process's requests are never answered to it.
        s.okx_agent = RequestTraversalAgent(s.sim.resource())
        s.client = OkxClient(
            http=HTTPClient(s.okx_agent, data_to_body_producer=BytesProducer),
            clock=s.clock, base_url="https://www.okx.com",
            retry=RetryPolicy(rng=random.Random(1)),
        )
        s.okx = OkxApi(s.client, s.clock)
        s.okx.placer.require_journal = True
        self.journal = Journal.open(str(self.path), s.clock, ImmediateExecutor())
        self.reconciler = s.okx.attach_journal(self.journal)
        result(ensureDeferred(self.reconciler.load()))
        s.context = CallContext(s.okx, s.clock)
        s.server = RpcServer(registry=default_registry(), context=s.context, clock=s.clock,
                             public_errors=(OkxError,), call_scope=s.client.read_scope)
        s.rpc_agent = RequestTraversalAgent(s.server.resource())
        s.rpc = HTTPClient(s.rpc_agent, data_to_body_producer=BytesProducer)
        s.stubs = (s.okx_agent, s.rpc_agent)

    def kill(self) -> None:
        """Like SIGKILL: the process answers nothing more and writes nothing more."""
        self.reconciler.stop()
        result(self.journal.close())

    def restart(self) -> None:
        self.kill()
        self.start()

    def send(self, body: dict[str, Any]) -> Deferred[Any]:
        """Send a docker request without waiting for the answer."""
        return self.stack.rpc.post("http://127.0.0.1:6666/OKX", data=json.dumps(body).encode())

    def orders(self) -> list[dict[str, Any]]:
        orders: list[dict[str, Any]] = self.stack.sim.state()["orders"]
        return orders

    def entry(self, cl_ord_id: str | None = None) -> OrderEntry:
        entries = [e for e in result(self.journal.audit(AuditFilter(kinds=("order",))))
                   if cl_ord_id is None or e.cl_ord_id == cl_ord_id]
        assert len(entries) == 1, entries
        entry = entries[0]
        assert isinstance(entry, OrderEntry)
        return entry


@pytest.fixture
def daemon(tmp_path: Path) -> Daemon:
    return Daemon(tmp_path / "journal.sqlite3")


def market_buy(daemon: Daemon, nonce: int) -> dict[str, Any]:
    return daemon.stack.envelope(
        "trade", {"symbol": "BTC_USDT", "type": "buy", "price": "-1", "amount": "20"},
        nonce=nonce,
    )


def test_intent_and_outcome_are_journalled(daemon: Daemon) -> None:
    reply = daemon.stack.post(market_buy(daemon, nonce=11))
    (order,) = daemon.orders()
    assert reply["data"]["id"] == f"BTC-USDT,{order['ordId']}"
    entry = daemon.entry()
    assert (entry.key_fp, entry.inst_id, entry.side, entry.ord_type, entry.size) == (
        KEY_FP, "BTC-USDT", "buy", "market", "20")
    assert (entry.outcome, entry.ord_id, entry.nonce) == ("placed", order["ordId"], 11)
    assert entry.cl_ord_id == order["clOrdId"]
    assert json.loads(entry.body)["tgtCcy"] == "quote_ccy"
    assert entry.exp_time is not None and entry.exp_time > entry.created
    assert json.loads(entry.reply or "")["data"][0]["ordId"] == order["ordId"]
    assert len(entry.request_fp) == 16


def test_repeat_after_restart_is_answered_from_the_journal(daemon: Daemon) -> None:
    """The order filled at once; after a restart the same request gets the same id."""
    first = daemon.stack.post(market_buy(daemon, nonce=12))
    assert daemon.orders()[0]["state"] == "filled"
    daemon.restart()
    again = daemon.stack.post(market_buy(daemon, nonce=12))
    assert again["data"]["id"] == first["data"]["id"]
    assert len(daemon.orders()) == 1
    # A new request is a new order.
    other = daemon.stack.post(market_buy(daemon, nonce=13))
    assert other["data"]["id"] != first["data"]["id"]
    assert len(daemon.orders()) == 2


def test_repeat_beyond_memory_is_answered_from_the_journal(daemon: Daemon) -> None:
    """
    With a journal, memory keeps only the last few replies (a long run stays flat); an
    older repeat is answered from the journal, and is still not a second order.
    """
    placer = daemon.stack.okx.placer
    placer.journalled_memory_size = 2
    first = daemon.stack.post(market_buy(daemon, nonce=21))
    for nonce in (22, 23, 24):
        daemon.stack.post(market_buy(daemon, nonce=nonce))
    assert len(placer._recent) == 2
    again = daemon.stack.post(market_buy(daemon, nonce=21))
    assert again["data"]["id"] == first["data"]["id"]
    assert len(daemon.orders()) == 4


def test_journal_written_before_the_identity_moved_still_answers(daemon: Daemon) -> None:
    """
    A journal entry whose clOrdId was made the way fmzokx made it before the request's
    identity moved to the FMZ side (a hash of key, nonce, method and params) answers the
    same docker request: no second POST, the journalled order comes back.
    """
    params = {"symbol": "BTC_USDT", "type": "buy", "price": "-1", "amount": "20"}
    canonical = json.dumps([KEY, 14, "trade", params], sort_keys=True, separators=(",", ":"),
                           ensure_ascii=True)
    earlier = hashlib.sha256(canonical.encode("ascii")).hexdigest()[:32]
    body = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "market",
            "sz": "20", "tgtCcy": "quote_ccy", "clOrdId": earlier}
    result(daemon.journal.record_order_intent(
        OrderRecord.from_body(KEY_FP, body, nonce=14, request_fp="f" * 16)))
    result(daemon.journal.record_order_outcome(KEY_FP, earlier, "placed", ord_id="777"))
    daemon.stack.sim.request_counts.clear()
    reply = daemon.stack.post(market_buy(daemon, nonce=14))
    assert reply["data"]["id"] == "BTC-USDT,777"
    assert daemon.stack.sim.request_counts[ORDER] == 0 and daemon.orders() == []


def test_killed_in_flight_then_repeated(daemon: Daemon) -> None:
    """OKX took the order and held its reply; the daemon died; the repeat gets the order."""
    daemon.stack.sim.add_fault(ORDER, "delay", count=1, delay_ms=30_000)
    daemon.send(market_buy(daemon, nonce=21))
    daemon.stack.advance(1)
    (order,) = daemon.orders()
    assert daemon.entry().outcome is None, "the intent is on disk, nothing else"
    daemon.restart()
    assert daemon.reconciler.awaiting == 1
    reply = daemon.stack.post(market_buy(daemon, nonce=21))
    assert reply["data"]["id"] == f"BTC-USDT,{order['ordId']}"
    assert len(daemon.orders()) == 1
    entry = daemon.entry()
    assert (entry.outcome, entry.ord_id) == ("placed", order["ordId"])
    assert daemon.reconciler.awaiting == 0


def test_any_call_with_the_key_reconciles_in_the_background(daemon: Daemon) -> None:
    daemon.stack.sim.add_fault(ORDER, "delay", count=1, delay_ms=30_000)
    daemon.send(market_buy(daemon, nonce=22))
    daemon.stack.advance(1)
    daemon.restart()
    daemon.stack.ok("ticker", symbol="BTC_USDT")  # no key: nothing to reconcile with
    assert daemon.entry().outcome is None
    daemon.stack.ok("accounts")  # the key: its orders are looked up
    daemon.stack.advance(1)
    assert (daemon.entry().outcome, daemon.entry().ord_id) == (
        "placed", daemon.orders()[0]["ordId"])


def test_killed_before_okx_took_it_is_not_placed(daemon: Daemon) -> None:
    """
    The POST never got through: once no attempt of it can still arrive (the placement
    bound after it was sent, plus the margin), the answer is a definite 'not placed';
    a repeat before that hears 'unknown' within the bound, and the lookups go on.
    """
    daemon.stack.sim.add_fault(ORDER, "hang", count=1)
    daemon.send(market_buy(daemon, nonce=23))
    daemon.stack.advance(1)
    daemon.restart()
    placer = daemon.stack.okx.placer
    started = daemon.stack.clock.seconds()
    early = daemon.stack.post(market_buy(daemon, nonce=23), limit=300)
    assert "order outcome unknown" in early["error"] and "keeps asking" in early["error"]
    assert daemon.stack.clock.seconds() - started <= placer.bounds.placement + 0.1
    daemon.stack.advance(10)
    assert daemon.entry().outcome == "not_placed", "settled in the background"
    reply = daemon.stack.post(market_buy(daemon, nonce=23), limit=300)
    assert "order not placed" in reply["error"] and "safe to place it again" in reply["error"]
    assert daemon.orders() == []
    assert daemon.entry().outcome == "not_placed"
    # The same request again: the same answer, from the journal, without asking OKX.
    counts = dict(daemon.stack.sim.state()["requests"])
    again = daemon.stack.post(market_buy(daemon, nonce=23))
    assert "answered from the order journal" in again["error"]
    assert daemon.stack.sim.state()["requests"].get(ORDER) == counts.get(ORDER)


def test_outcome_unknown_names_getorder_and_is_settled_later(daemon: Daemon) -> None:
    """
    OKX took the order but stayed unreachable through the whole window: the answer names
    GetOrder with an id that works, the order is settled in the background, and the
    repeat gets it.
    """
    sim = daemon.stack.sim
    sim.add_fault(ORDER, "drop-after-commit", count=1)
    sim.add_fault(ORDER, "hang", count=-1)
    reply = daemon.stack.post(market_buy(daemon, nonce=31), limit=300)
    (order,) = daemon.orders()
    message = reply["error"]
    assert "order outcome unknown" in message and "GetOrders" not in message
    ref = f"BTC-USDT,cl:{order['clOrdId']}"
    assert f'GetOrder("{ref}")' in message
    assert daemon.entry().outcome == "unknown"
    sim.faults.clear()  # OKX is back
    daemon.stack.advance(60)
    entry = daemon.entry()
    assert (entry.outcome, entry.ord_id, entry.unknown_at is not None) == (
        "placed", order["ordId"], True)
    again = daemon.stack.post(market_buy(daemon, nonce=31))
    assert again["data"]["id"] == f"BTC-USDT,{order['ordId']}"
    # The id from the error finds the (filled) order.
    found = daemon.stack.ok("order", id=ref)["data"]
    assert found["id"] == f"BTC-USDT,{order['ordId']}" and found["status"] == "filled"
    assert len(daemon.orders()) == 1


def test_getorder_by_clordid_ids(daemon: Daemon) -> None:
    reply = daemon.stack.post(market_buy(daemon, nonce=32))
    (order,) = daemon.orders()
    found = daemon.stack.ok("order", id=f"BTC-USDT,cl:{order['clOrdId']}")["data"]
    assert found["id"] == reply["data"]["id"]
    missing = daemon.stack.error("order", id="BTC-USDT,cl:0123456789abcdef0123456789abcdef")
    assert "does not exist" in missing and "clOrdId 0123456789abcdef0123456789abcdef" in missing
    bad = daemon.stack.error("order", id="BTC-USDT,cl:not-a-clordid!")
    assert "is not cl: followed by a clOrdId" in bad


def test_journal_cannot_be_written_orders_fail_closed(daemon: Daemon) -> None:
    with read_only_underneath(daemon.journal):
        message = daemon.stack.error("trade", symbol="BTC_USDT", type="buy", price="-1",
                                     amount="20")
        assert message.startswith("BTC_USDT: order not placed: order journal ")
        assert "cannot be written" in message and "new orders are refused" in message
        assert daemon.orders() == []
        # Reads keep working.
        assert daemon.stack.ok("ticker", symbol="BTC_USDT")["data"]["last"]
        assert daemon.stack.ok("accounts")["data"]
    assert daemon.stack.ok("trade", symbol="BTC_USDT", type="buy", price="-1", amount="20")
    assert len(daemon.orders()) == 1


def test_outcome_not_written_is_reconciled_after_restart(daemon: Daemon) -> None:
    """The POST succeeded but its outcome could not be written: the answer stands."""
    daemon.stack.sim.add_fault(ORDER, "delay", count=1, delay_ms=5_000)
    pending = daemon.send(market_buy(daemon, nonce=41))
    replies: list[Any] = []
    pending.addCallback(lambda response: response.json()).addCallback(replies.append)
    daemon.stack.advance(1)
    with read_only_underneath(daemon.journal):
        daemon.stack.advance(10)
    assert replies and replies[0]["data"]["id"] == f"BTC-USDT,{daemon.orders()[0]['ordId']}"
    assert daemon.entry().outcome is None
    daemon.restart()
    again = daemon.stack.post(market_buy(daemon, nonce=41))
    assert again["data"] == replies[0]["data"]
    assert len(daemon.orders()) == 1 and daemon.entry().outcome == "placed"


def test_no_journal_no_orders(daemon: Daemon) -> None:
    """A daemon whose journal is not open refuses orders instead of sending them bare."""
    daemon.kill()
    daemon.stack.okx.placer.journal = None
    message = daemon.stack.error("trade", symbol="BTC_USDT", type="buy", price="-1",
                                 amount="20")
    assert "the order journal is not open" in message
    assert daemon.orders() == []


def test_cancels_and_leverage_are_journalled(daemon: Daemon) -> None:
    stack = daemon.stack
    last = Decimal(stack.ok("ticker", symbol="BTC_USDT")["data"]["last"])
    resting = stack.place("BTC_USDT", "buy", (last / 2).quantize(Decimal("0.1")), "0.01")
    assert stack.ok("cancel", id=resting)["data"] is True
    filled = stack.place("BTC_USDT", "buy", -1, "20")
    assert "cannot be canceled" in stack.error("cancel", id=filled)
    # By the clOrdId id too.
    resting2 = stack.place("BTC_USDT", "buy", (last / 2).quantize(Decimal("0.1")), "0.01")
    cl_ord_id = next(o["clOrdId"] for o in daemon.orders()
                     if f"BTC-USDT,{o['ordId']}" == resting2)
    assert stack.ok("cancel", id=f"BTC-USDT,cl:{cl_ord_id}")["data"] is True
    assert stack.ok("setmarginlevel", symbol="BTC_USDT.swap", margin_level="7")["data"] is True

    cancels = result(daemon.journal.audit(AuditFilter(kinds=("cancel",))))
    assert [(c.ord_id, c.cl_ord_id, c.outcome) for c in cancels if isinstance(c, CancelEntry)] \
        == [(resting.split(",")[1], None, "canceled"),
            (filled.split(",")[1], None, "not_canceled"),
            (None, cl_ord_id, "canceled")]
    assert cancels[1].reason == "already filled"
    (lever,) = result(daemon.journal.audit(AuditFilter(kinds=("leverage",))))
    assert isinstance(lever, LeverageEntry)
    assert (lever.inst_id, lever.lever, lever.mgn_mode, lever.outcome) == (
        "BTC-USDT-SWAP", "7", "cross", "set")


def test_cancel_goes_ahead_when_the_journal_cannot_be_written(daemon: Daemon) -> None:
    stack = daemon.stack
    last = Decimal(stack.ok("ticker", symbol="BTC_USDT")["data"]["last"])
    resting = stack.place("BTC_USDT", "buy", (last / 2).quantize(Decimal("0.1")), "0.01")
    with read_only_underneath(daemon.journal):
        assert stack.ok("cancel", id=resting)["data"] is True
    assert daemon.orders()[0]["state"] == "canceled"
    assert result(daemon.journal.audit(AuditFilter(kinds=("cancel",)))) == []


def test_background_lookup_measures_the_clock_before_not_placed(daemon: Daemon) -> None:
    """
    OKX's clock steps 25 s back after the last sync and the order POST is held 27 s in
    transit; the daemon dies meanwhile. The restarted daemon's estimate of OKX's clock is
    the stale one, on which the order's definite point (first send + placement bound +
    margin, 21 s) passes before the order arrives. The background lookup measures OKX's
    clock afresh before concluding, keeps looking, and finds the order -- it never
    writes "not placed" for an order that then goes live.
    """
    s = daemon.stack
    s.run(s.client.sync_clock())
    s.sim.set_clock_offset(-25_000)
    s.sim.add_fault(ORDER, "hold", count=1, delay_ms=27_000)
    started = s.clock.seconds()
    daemon.send(market_buy(daemon, nonce=24))
    s.advance(1)
    daemon.restart()
    s.ok("accounts")  # the key: the pending order is looked up in the background
    s.advance(started + 26 - s.clock.seconds(), step=0.25)
    assert daemon.entry().outcome is None, "past the stale definite point, not concluded"
    assert daemon.orders() == []
    s.advance(40, step=0.25)  # the lookups back off to every 30 s at most
    (order,) = daemon.orders()
    entry = daemon.entry()
    assert (entry.outcome, entry.ord_id) == ("placed", order["ordId"])
    assert s.client.clock_offset == pytest.approx(-25.0, abs=0.05)
    again = s.post(market_buy(daemon, nonce=24))
    assert again["data"]["id"] == f"BTC-USDT,{order['ordId']}" and len(daemon.orders()) == 1


def test_set_direction_is_kept_across_a_restart_or_the_order_refused(daemon: Daemon) -> None:
    """
    A legacy io SetDirection is journalled: after a restart a contradicting trade type is
    still refused, and where the journal cannot be read in time (stalled) a plain sell on
    a contract is refused naming SetDirection rather than sent as a new short.
    """
    from tests.journal.support import StalledExecutor

    s = daemon.stack
    assert s.ok("io", code="1", args='["closebuy"]')["data"] is True
    daemon.restart()
    mismatch = s.error("trade", symbol="BTC_USDT.swap", type="buy", price="-1", amount="1")
    assert "does not match the direction closebuy set with SetDirection" in mismatch
    daemon.restart()
    stalled = daemon.journal.executor = StalledExecutor()
    refused = s.error("trade", symbol="BTC_USDT.swap", type="sell", price="-1", amount="1")
    assert "cannot tell whether SetDirection applies to this order" in refused
    assert "did not answer within 2 s" in refused
    assert daemon.orders() == []
    stalled.thaw()
    mismatch = s.error("trade", symbol="BTC_USDT.swap", type="buy", price="-1", amount="1")
    assert "does not match the direction closebuy" in mismatch
