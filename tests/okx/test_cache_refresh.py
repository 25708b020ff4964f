"""
After warm-up no trade waits for a cache refresh: the position mode and the instrument
lists are re-read in the background, before they expire (issue 17).

Driven through the whole in-memory stack on a fake clock, with the service's two timers
(position-mode sweep, instrument refresh) running on that clock; okxsim counts the
requests, so a trade that paid a read shows up as a request made while it ran.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import LoopingCall

from fmzokx.okx import endpoints
from fmzokx.okx.account import POSITION_MODE_IDLE, POSITION_MODE_TTL
from fmzokx.okx.credentials import Credentials
from fmzokx.service import INSTRUMENT_REFRESH, POSITION_MODE_SWEEP
from fmzokx.sim import DEFAULT_ACCOUNT, SimAccount
from tests.stack import Stack

CONFIG = endpoints.CONFIG.path
INSTRUMENTS = endpoints.INSTRUMENTS.path


@pytest.fixture
def stack() -> Iterator[Stack]:
    stack = Stack(accounts=(DEFAULT_ACCOUNT, SimAccount("once-key", "once-secret", "once-pass")))
    modes = LoopingCall(stack.okx.account.refresh_due)
    modes.clock = stack.clock
    modes.start(POSITION_MODE_SWEEP, now=False)
    instruments = LoopingCall(lambda: ensureDeferred(stack.okx.instruments.refresh()))
    instruments.clock = stack.clock
    instruments.start(INSTRUMENT_REFRESH, now=False)
    yield stack
    modes.stop()
    instruments.stop()


def reads(stack: Stack) -> tuple[int, int]:
    counts = stack.sim.request_counts
    return counts.get(CONFIG, 0), counts.get(INSTRUMENTS, 0)


def trade_paid_reads(stack: Stack) -> tuple[int, int]:
    """Place a resting swap buy; the (config, instruments) reads made while it ran."""
    before = reads(stack)
    stack.place("BTC_USDT.swap", "buy", 1000, 1)
    after = reads(stack)
    return after[0] - before[0], after[1] - before[1]


def test_no_trade_waits_for_a_refresh_after_warm_up(stack: Stack) -> None:
    """
    Trades 37 s apart (so some land just past each 60 s expiry of the mode read before)
    for 25 minutes: the first reads the mode and the swap list, every later one reads
    nothing itself, while the timers keep both fresh in the background.
    """
    stack.advance(2.5)  # off the sweep's 5 s grid: no timer fires while a trade runs
    assert trade_paid_reads(stack) == (1, 1)  # warm-up
    paid = []
    for _ in range(40):
        stack.advance(37.0, step=0.5)
        paid.append(trade_paid_reads(stack))
    assert paid == [(0, 0)] * 40
    config, instruments = reads(stack)
    assert config > 40 * 37 / POSITION_MODE_TTL  # the mode was re-read, in the background
    assert instruments > 1  # and the swap list


def test_one_off_keys_are_not_kept_fresh(stack: Stack) -> None:
    """A key that traded once is left to expire: a stream of new keys costs no reads."""
    once = Credentials(key="once-key", secret="once-secret", passphrase="once-pass")
    assert stack.run(stack.okx.account.position_mode(once)) == "net_mode"
    before = reads(stack)[0]
    stack.advance(3 * POSITION_MODE_TTL, step=0.5)
    assert reads(stack)[0] == before


def test_idle_keys_stop_being_refreshed(stack: Stack) -> None:
    """A key that stopped trading is refreshed for POSITION_MODE_IDLE seconds, then not."""
    stack.advance(2.5)
    trade_paid_reads(stack)
    trade_paid_reads(stack)
    stack.advance(POSITION_MODE_IDLE + POSITION_MODE_TTL, step=0.5)
    before = reads(stack)[0]
    stack.advance(5 * POSITION_MODE_TTL, step=0.5)
    assert reads(stack)[0] == before
    assert trade_paid_reads(stack)[0] == 1  # expired: this trade reads it again


def test_a_failed_background_read_keeps_the_mode_and_retries(stack: Stack) -> None:
    """
    OKX failing the background reads fails no trade: the cached mode serves until it
    expires, and the next sweep reads again, so a trade past that expiry still pays nothing.
    """
    stack.advance(2.5)
    trade_paid_reads(stack)
    trade_paid_reads(stack)
    before = reads(stack)[0]
    stack.sim.add_fault(CONFIG, "http-500", count=10)
    stack.advance(POSITION_MODE_TTL - 5, step=0.5)
    assert trade_paid_reads(stack) == (0, 0)
    stack.advance(30, step=0.5)  # past the expiry of the mode read at warm-up
    assert trade_paid_reads(stack) == (0, 0)
    assert reads(stack)[0] > before + 10  # every failed attempt, then a good read
