"""
okxsim never refuses for rate what the client paced, whatever the mix: reads and orders
on several budgets, answers that come late, requests that arrive late (okxsim's ``hold``:
in transit for up to a window) and reads retried after a 500 -- on one Clock, through
the real client and okxsim's own limiter (both from OKX's table in ``limits.py``).

OKX counts a request when it arrives, which can be well after its slot: the pacer counts
a send from its answer once it has one, so what arrived late is still in the window it
arrived in (three pollers on the balance once drew a 50011, a soak three on positions).
"""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from twisted.internet.defer import Deferred

from fmzokx.okx.errors import OkxError

from .support import CREDS, Harness

READS = [
    "/api/v5/account/balance",
    "/api/v5/account/positions",
    "/api/v5/trade/orders-pending",
]

#: Pollers' bursts: (path, how many at once, what befalls the burst's first request,
#: how long a hold keeps it in transit (ms), the gap before the next burst (s)).
bursts = st.lists(
    st.tuples(
        st.sampled_from([READS[0], READS[0], READS[1], READS[2]]),
        st.integers(min_value=1, max_value=25),
        st.sampled_from([None, None, "hold", "http-500"]),
        st.sampled_from([50, 300, 900, 1900]),
        st.sampled_from([0.0, 0.001, 0.01, 0.05, 0.2, 0.7, 2.0]),
    ),
    min_size=1,
    max_size=8,
)


BALANCE = READS[0]


@settings(max_examples=60, deadline=None)
@given(bursts=bursts, latency_ms=st.sampled_from([0, 5, 80, 400]))
# Found by this test (2026-12-07): waiters queued behind one that had to wait for room
# were let through on their old slots -- counted in the past, or (their entry pruned)
# crashing the release with a ValueError, which stranded them until their deadline.
@example(
    bursts=[(BALANCE, 21, None, 50, 0.0), (BALANCE, 21, None, 50, 2.0),
            (BALANCE, 18, "hold", 900, 0.001)],
    latency_ms=400,
)
# ... and a send in flight longer than the window (held 1.9 s, answered 0.4 s later)
# left the pacer's window while OKX had not counted it yet.
@example(
    bursts=[(BALANCE, 1, None, 50, 0.7), (BALANCE, 19, None, 50, 0.0),
            (BALANCE, 1, "hold", 1900, 0.0)],
    latency_ms=400,
)
def test_paced_reads_are_never_refused_for_rate(
    bursts: list[tuple[str, int, str | None, int, float]], latency_ms: int
) -> None:
    """
    Bursts of reads as pollers send them, the first of a burst perhaps held in transit
    or answered 500 (and retried): okxsim refuses none of them for rate. (Written as
    bursts, this finds the hole the pacer had -- a send counted from its slot, not from
    when OKX counted it -- where single calls at random gaps did not.)
    """
    h = Harness(sim_options={"rate_limits": True, "latency_ms": latency_ms}, coalesce=False)
    pending: list[Deferred[Any]] = []
    for path, count, fault, hold_ms, gap in bursts:
        if fault is not None:
            h.sim.add_fault(path, fault, delay_ms=hold_ms)
        pending.extend(
            h.start(h.client.get(path, {}, credentials=CREDS)) for _ in range(count)
        )
        h.advance(gap)
    h.advance(60)
    assert all(d.called for d in pending)
    for d in pending:  # every read answered, or failed for a reason other than the rate
        d.addErrback(lambda failure: failure.trap(OkxError))
    assert h.sim.limiter.rejections() == {}


def test_a_request_that_arrives_late_still_counts_where_it_arrived() -> None:
    """
    Twenty balance reads at once (10 per 2 s), the first held 1.9 s in transit: the
    eleventh may not go at 2.1 s, a window after the first's slot, because okxsim
    counted the first at 1.9 s; it goes a window after the first's answer.
    """
    h = Harness(sim_options={"rate_limits": True}, coalesce=False)
    path = "/api/v5/account/balance"
    h.sim.add_fault(path, "hold", delay_ms=1900)
    pending = [h.start(h.client.get(path, {}, credentials=CREDS)) for _ in range(20)]
    h.advance(30)
    assert all(d.called for d in pending)
    assert h.sim.limiter.rejections() == {}
    arrivals = sorted(h.times(path))
    assert all(arrivals[i + 10] - arrivals[i] >= 2.0 for i in range(len(arrivals) - 10))
