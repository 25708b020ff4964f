"""The journal's records and their rules, through :class:`Journal` (inline executor)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.defer import CancelledError

from fmzokx.fmz.identity import request_fingerprint
from fmzokx.journal import (
    AuditFilter,
    CancelEntry,
    CancelRecord,
    Journal,
    JournalStalled,
    JournalUnavailable,
    LeverageEntry,
    LeverageRecord,
    OrderEntry,
    OrderRecord,
)
from fmzokx.okx.credentials import Credentials
from tests.journal.support import (
    KEY_FP,
    START,
    StalledExecutor,
    clock_at,
    intent,
    open_journal,
    result,
)

START_MS = int(START * 1000)


def test_intent_then_outcome(tmp_path: Path) -> None:
    """An intent is stored as sent, without an outcome; the outcome is added to it."""
    clock = clock_at()
    journal = open_journal(tmp_path / "j.sqlite3", clock)
    assert result(journal.record_order_intent(intent("c1", exp_time=START_MS + 5000))) is True
    entry = result(journal.find_order(KEY_FP, "c1"))
    assert isinstance(entry, OrderEntry)
    assert (entry.inst_id, entry.side, entry.ord_type, entry.size, entry.price) == (
        "BTC-USDT", "buy", "limit", "0.01", "30000")
    assert (entry.td_mode, entry.nonce, entry.exp_time, entry.created) == (
        "cash", 42, START_MS + 5000, START_MS)
    assert json.loads(entry.body)["clOrdId"] == "c1"
    assert entry.outcome is None and not entry.settled

    clock.advance(0.25)
    reply = '{"code":"0","data":[{"ordId":"777"}]}'
    assert result(journal.record_order_outcome(KEY_FP, "c1", "placed", ord_id="777",
                                               reply=reply)) is True
    entry = result(journal.find_order(KEY_FP, "c1"))
    assert (entry.outcome, entry.ord_id, entry.outcome_at, entry.reply) == (
        "placed", "777", START_MS + 250, reply)
    assert entry.settled and entry.unknown_at is None


def test_same_clordid_is_not_written_twice(tmp_path: Path) -> None:
    journal = open_journal(tmp_path / "j.sqlite3")
    assert result(journal.record_order_intent(intent("c1"))) is True
    result(journal.record_order_outcome(KEY_FP, "c1", "placed", ord_id="1"))
    assert result(journal.record_order_intent(intent("c1", body={"sz": "5"}))) is False
    entry = result(journal.find_order(KEY_FP, "c1"))
    assert (entry.size, entry.outcome) == ("0.01", "placed")


def test_lookup_is_by_key_and_clordid(tmp_path: Path) -> None:
    journal = open_journal(tmp_path / "j.sqlite3")
    result(journal.record_order_intent(intent("c1")))
    assert result(journal.find_order("key-other", "c1")) is None
    assert result(journal.find_order(KEY_FP, "c2")) is None
    assert result(journal.record_order_intent(intent("c1", key_fp="key-other"))) is True


def test_unknown_is_resolved_later_and_remembered(tmp_path: Path) -> None:
    clock = clock_at()
    journal = open_journal(tmp_path / "j.sqlite3", clock)
    result(journal.record_order_intent(intent("c1")))
    clock.advance(10)
    assert result(journal.record_order_outcome(KEY_FP, "c1", "unknown", reason="timeout"))
    clock.advance(5)
    assert result(journal.record_order_outcome(KEY_FP, "c1", "unknown", reason="still"))
    entry = result(journal.find_order(KEY_FP, "c1"))
    assert (entry.outcome, entry.unknown_at, entry.reason) == (
        "unknown", START_MS + 10_000, "still")
    clock.advance(60)
    assert result(journal.record_order_outcome(KEY_FP, "c1", "placed", ord_id="9"))
    entry = result(journal.find_order(KEY_FP, "c1"))
    assert (entry.outcome, entry.ord_id, entry.outcome_at, entry.unknown_at) == (
        "placed", "9", START_MS + 75_000, START_MS + 10_000)


def test_final_outcomes_never_change(tmp_path: Path) -> None:
    journal = open_journal(tmp_path / "j.sqlite3")
    result(journal.record_order_intent(intent("c1")))
    result(journal.record_order_outcome(KEY_FP, "c1", "placed", ord_id="1"))
    assert result(journal.record_order_outcome(KEY_FP, "c1", "not_placed", reason="x")) is False
    assert result(journal.record_order_outcome(KEY_FP, "c1", "unknown")) is False
    assert result(journal.find_order(KEY_FP, "c1")).outcome == "placed"
    assert result(journal.record_order_outcome(KEY_FP, "absent", "placed")) is False


def test_outcome_must_be_one_of_the_kind(tmp_path: Path) -> None:
    journal = open_journal(tmp_path / "j.sqlite3")
    result(journal.record_order_intent(intent("c1")))
    with pytest.raises(ValueError, match="order outcome must be one of"):
        result(journal.record_order_outcome(KEY_FP, "c1", "canceled"))
    assert result(journal.find_order(KEY_FP, "c1")).outcome is None


def test_cancels_and_leverage_changes(tmp_path: Path) -> None:
    clock = clock_at()
    journal = open_journal(tmp_path / "j.sqlite3", clock)
    first = result(journal.record_cancel_intent(CancelRecord(KEY_FP, "BTC-USDT", ord_id="5")))
    second = result(journal.record_cancel_intent(
        CancelRecord(KEY_FP, "BTC-USDT", cl_ord_id="c1")))
    assert second == first + 1
    clock.advance(1)
    assert result(journal.record_cancel_outcome(first, "canceled"))
    assert result(journal.record_cancel_outcome(second, "not_canceled", "51400 filled"))
    assert not result(journal.record_cancel_outcome(second, "canceled"))
    lever = result(journal.record_leverage_intent(
        LeverageRecord(KEY_FP, "BTC-USDT-SWAP", "10", "isolated", "long")))
    assert result(journal.record_leverage_outcome(lever, "unknown", "timeout"))
    assert result(journal.record_leverage_outcome(lever, "set"))

    found = result(journal.audit(AuditFilter(kinds=("cancel", "leverage"))))
    assert [type(e) for e in found] == [CancelEntry, CancelEntry, LeverageEntry]
    assert (found[0].ord_id, found[0].outcome, found[0].outcome_at) == (
        "5", "canceled", START_MS + 1000)
    assert (found[1].cl_ord_id, found[1].outcome, found[1].reason) == (
        "c1", "not_canceled", "51400 filled")
    assert (found[2].lever, found[2].mgn_mode, found[2].pos_side, found[2].outcome) == (
        "10", "isolated", "long", "set")
    with pytest.raises(ValueError, match="ordId or clOrdId"):
        CancelRecord(KEY_FP, "BTC-USDT")


def test_unresolved_lists_pending_and_unknown_oldest_first(tmp_path: Path) -> None:
    clock = clock_at()
    journal = open_journal(tmp_path / "j.sqlite3", clock)
    for name in ("a", "b", "c", "d"):
        result(journal.record_order_intent(intent(name)))
        clock.advance(1)
    result(journal.record_order_outcome(KEY_FP, "a", "unknown"))
    result(journal.record_order_outcome(KEY_FP, "b", "placed", ord_id="1"))
    result(journal.record_order_outcome(KEY_FP, "c", "not_placed", reason="51008"))
    assert [e.cl_ord_id for e in result(journal.unresolved())] == ["a", "d"]
    assert [e.cl_ord_id for e in result(journal.unresolved(limit=1))] == ["a"]
    cancel = result(journal.record_cancel_intent(CancelRecord(KEY_FP, "BTC-USDT", ord_id="1")))
    assert [e.id for e in result(journal.unresolved("cancel"))] == [cancel]
    assert result(journal.unresolved("leverage")) == []


def test_audit_filters(tmp_path: Path) -> None:
    clock = clock_at()
    journal = open_journal(tmp_path / "j.sqlite3", clock)
    result(journal.record_order_intent(intent("old", inst_id="ETH-USDT")))
    clock.advance(3600)
    result(journal.record_order_intent(intent("mid")))
    result(journal.record_order_outcome(KEY_FP, "mid", "placed", ord_id="1"))
    clock.advance(3600)
    result(journal.record_order_intent(intent("new")))
    result(journal.record_cancel_intent(CancelRecord(KEY_FP, "BTC-USDT", ord_id="1")))

    def ids(**wanted: object) -> list[str]:
        return [
            e.cl_ord_id if isinstance(e, OrderEntry) else e.kind
            for e in result(journal.audit(AuditFilter(**wanted)))  # type: ignore[arg-type]
        ]

    assert ids() == ["old", "mid", "new", "cancel"]
    assert ids(since=START_MS + 3600_000) == ["mid", "new", "cancel"]
    assert ids(until=START_MS + 3600_000) == ["old"]
    assert ids(since=START_MS + 1, until=START_MS + 7200_000) == ["mid"]
    assert ids(inst_id="ETH-USDT") == ["old"]
    assert ids(outcome="placed") == ["mid"]
    assert ids(outcome="pending") == ["old", "new", "cancel"]
    assert ids(outcome="canceled") == []
    assert ids(kinds=("order",), limit=2) == ["mid", "new"]
    assert ids(limit=1) == ["cancel"]
    with pytest.raises(ValueError, match="unknown outcome 'filled'"):
        AuditFilter(outcome="filled")
    with pytest.raises(ValueError, match="unknown kind"):
        AuditFilter(kinds=("trade",))


def test_no_secret_reaches_the_file(tmp_path: Path) -> None:
    """Only the key's fingerprint is stored; the key, secret and passphrase are not."""
    credentials = Credentials(key="api-key-3f9a7c21", secret="SECRET-0123456789abcdef",
                              passphrase="Passphrase!42")
    path = tmp_path / "j.sqlite3"
    journal = open_journal(path)
    made = OrderRecord.from_body(
        credentials.fingerprint,
        {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "market",
         "sz": "10", "tgtCcy": "quote_ccy", "clOrdId": "c9"},
        nonce=7, request_fp=request_fingerprint("trade", {"symbol": "BTC_USDT", "amount": 10}),
    )
    result(journal.record_order_intent(made))
    result(journal.record_order_outcome(credentials.fingerprint, "c9", "placed", ord_id="1"))
    result(journal.close())
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert credentials.fingerprint.encode() in stored
    for secret in (credentials.key, credentials.secret, credentials.passphrase):
        assert secret.encode() not in stored


def test_closed_journal_refuses_everything(tmp_path: Path) -> None:
    journal = open_journal(tmp_path / "j.sqlite3")
    result(journal.close())
    result(journal.close())
    assert journal.lock is not None and not journal.lock.held
    with pytest.raises(JournalUnavailable, match="is closed"):
        result(journal.record_order_intent(intent("c1")))
    with pytest.raises(JournalUnavailable, match="is closed"):
        result(journal.find_order(KEY_FP, "c1"))


def test_reopened_journal_keeps_everything(tmp_path: Path) -> None:
    """What was committed is there after closing and opening again (same file)."""
    path = tmp_path / "j.sqlite3"
    journal = open_journal(path)
    result(journal.record_order_intent(intent("c1")))
    result(journal.record_order_outcome(KEY_FP, "c1", "placed", ord_id="1"))
    result(journal.record_order_intent(intent("c2")))
    result(journal.close())
    again = open_journal(path)
    assert result(again.find_order(KEY_FP, "c1")).ord_id == "1"
    assert [e.cl_ord_id for e in result(again.unresolved())] == ["c2"]
    result(again.close())


def test_a_stalled_disk_answers_within_the_deadline_and_never_late(tmp_path: Path) -> None:
    """
    The journal's thread stuck (a frozen disk): the caller of an intent is answered
    JournalStalled at the deadline, the journal reports itself stalled, and work whose
    caller gave up is dropped, never written after the thaw.
    """


    clock = clock_at()
    executor = StalledExecutor(frozen=False)
    journal = Journal.open(str(tmp_path / "j.sqlite3"), clock, executor)
    journal.deadline = 2.0
    executor.frozen = True
    first = journal.record_order_intent(intent("c1"))
    second = journal.record_order_intent(intent("c2"))
    clock.advance(1.9)
    assert not first.called and journal.health()["stalled"] is False
    clock.advance(0.1)
    for waiting in (first, second):
        failure = []
        waiting.addErrback(failure.append)
        assert failure and failure[0].check(JournalStalled), failure
        assert "did not answer within 2 s" in str(failure[0].value)
    clock.advance(3.0)
    assert journal.health() == {
        "path": journal.path, "writable": True, "stalled": True, "stalled_for_s": 5.0,
    }
    assert not journal.healthy
    executor.thaw()  # the disk comes back
    assert journal.healthy and journal.health()["stalled"] is False
    # Neither had started when its caller gave up: neither is ever written. (An intent
    # already inside fsync when the disk froze becomes durable at the thaw and is then
    # marked not placed: tests/integration/test_journal_faults.py freezes a real disk.)
    assert executor.ran == 2
    assert result(journal.audit(AuditFilter(kinds=("order",)))) == []
    assert result(journal.record_order_intent(intent("c3"))) is True
    result(journal.close())


def test_an_intent_durable_after_its_caller_left_is_marked_not_placed(
    tmp_path: Path,
) -> None:
    """
    A caller that stops waiting before the deadline (its wait is cancelled) never sends
    the order; the intent, durable only afterwards, is marked not placed at once instead
    of being left open for the reconciler, and no stall is reported for it.
    """
    clock = clock_at()
    executor = StalledExecutor(frozen=False)
    journal = Journal.open(str(tmp_path / "j.sqlite3"), clock, executor)
    journal.deadline = 2.0
    executor.frozen = True
    waiting = journal.record_order_intent(intent("c1"))
    failure: list[Any] = []
    waiting.addErrback(failure.append)
    waiting.cancel()
    assert failure and failure[0].check(CancelledError), failure
    assert clock.getDelayedCalls() == []
    executor.thaw()
    entry = result(journal.find_order(KEY_FP, "c1"))
    assert entry.outcome == "not_placed"
    assert "it was never sent" in (entry.reason or "")
    result(journal.close())
