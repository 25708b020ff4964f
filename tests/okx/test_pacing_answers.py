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

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.defer import Deferred

from fmzokx.okx.errors import OkxError

from .support import CREDS, Harness

READS = [
    "/api/v5/account/balance",
    "/api/v5/account/positions",
    "/api/v5/trade/orders-pending",
]

calls = st.lists(
    st.tuples(
        st.sampled_from([READS[0], READS[0], READS[1], READS[2]]),
        st.sampled_from([0.0, 0.0, 0.0, 0.001, 0.01, 0.05, 0.2, 0.7]),  # gap before it
        st.sampled_from([None, None, "hold", "http-500"]),  # what befalls its path next
        st.sampled_from([50, 300, 900, 1900]),  # how long a hold keeps it in transit (ms)
    ),
    min_size=1,
    max_size=80,
)


@settings(max_examples=60, deadline=None)
@given(calls=calls, latency_ms=st.sampled_from([0, 5, 80, 400]))
def test_paced_reads_are_never_refused_for_rate(
    calls: list[tuple[str, float, str | None, int]], latency_ms: int
) -> None:
    h = Harness(sim_options={"rate_limits": True, "latency_ms": latency_ms}, coalesce=False)
    pending: list[Deferred[Any]] = []
    for path, gap, fault, hold_ms in calls:
        if fault is not None:
            h.sim.add_fault(path, fault, delay_ms=hold_ms)
        pending.append(h.start(h.client.get(path, {}, credentials=CREDS)))
        h.advance(gap)
    h.advance(40)
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
