# -*- test-case-name: tests.fmz.test_answer_bounds -*-
"""
How long each kind of docker call may take to answer, computed from ``--timeout`` in one
place, so the code that enforces a bound, the documentation that promises it
(``docs/reliability.rst``) and the tests that measure it cannot disagree.

With ``T`` the total deadline of one upstream call (``--timeout``):

* **reads** -- every read of one docker call, list pages included, share one deadline of
  ``READ_FACTOR × T``;
* **placement** -- from sending an order to the answer: the POST (at most ``T``, a 50102
  or 50037 resend included), then reconciliation up to the point where "not found" is
  definite (``ttl + margin`` after sending), then at most ``give_up`` more seconds of
  trying to reach OKX: ``max(T, ttl + margin) + give_up``;
* **trade** -- the whole call: at most two reads before the order (the instrument list
  and, for contracts, the account's position mode; both normally cached), each within
  ``T``, then the placement: ``2T + placement``;
* **cancel** and **leverage** -- their reads (the read-back after an ambiguous reply
  included) share the read deadline, and each write adds ``T``: a cancel sends at most
  two (the cancel and one resend after a read-back found the order still live), a
  leverage change at most two per position side; each also waits at most
  ``JOURNAL_WRITE`` for its intent to be journalled (then goes ahead unrecorded).

An order's intent is journalled *inside* the placement bound: the placement's clock and
its ``expTime`` start before the intent is written, and an intent not durable within
``JOURNAL_WRITE`` means the order is not placed (it is never sent later).
"""

from __future__ import annotations

from attrs import frozen

__all__ = [
    "AnswerBounds",
    "GIVE_UP",
    "JOURNAL_WRITE",
    "MARGIN",
    "READ_FACTOR",
    "TTL",
    "read_budget",
]

READ_FACTOR = 3
"""The reads of one docker call share a deadline of this many ``--timeout``."""

TTL = 5.0
"""Seconds an order request stays valid at OKX (its ``expTime``)."""

MARGIN = 3.0
"""Seconds past ``expTime`` before "not found" is definite (OKX's read-after-write lag)."""

GIVE_UP = 10.0
"""Seconds past the definite point spent trying to reach OKX before "outcome unknown"."""


JOURNAL_WRITE = 2.0
"""
Seconds a journal write or read the answer waits for may take (a stalled disk: fsfreeze,
a hung NFS server). An order's intent not durable by then is "not placed"; the order
still has most of its ``expTime`` left when it is durable in time.
"""


def read_budget(timeout: float) -> float:
    """The one deadline shared by every read of a docker call."""
    return READ_FACTOR * timeout


@frozen
class AnswerBounds:
    """
    The answer bounds for one ``--timeout`` (and the placer's settings), in seconds.

    :ivar timeout: ``T``, the total deadline of one upstream call.
    """

    timeout: float
    ttl: float = TTL
    margin: float = MARGIN
    give_up: float = GIVE_UP
    journal: float = JOURNAL_WRITE
    """``J``: how long a journal write the call waits for may take."""

    @property
    def read(self) -> float:
        """Any read call, lists included: ``3T``."""
        return read_budget(self.timeout)

    @property
    def placement(self) -> float:
        """
        From an order's intent (its journal write included) to the answer:
        ``max(T, ttl + margin) + give_up``.
        """
        return max(self.timeout, self.ttl + self.margin) + self.give_up

    @property
    def trade(self) -> float:
        """A whole ``trade`` call: ``2T + placement``."""
        return 2 * self.timeout + self.placement

    @property
    def cancel(self) -> float:
        """A whole ``cancel`` call: ``3T`` of reads, two writes and its intent: ``5T + J``."""
        return self.read + 2 * self.timeout + self.journal

    def leverage(self, sides: int = 1) -> float:
        """
        A whole ``setmarginlevel`` call on ``sides`` position sides:
        ``3T + (2T + J) × sides``.
        """
        return self.read + sides * (2 * self.timeout + self.journal)
