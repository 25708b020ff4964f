"""
Graceful shutdown: reads and unsent writes are cancelled, sent writes are allowed to
finish, timers stop, and the connection pool is closed.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from fmzokx.okx.errors import OkxTransportError
from fmzokx.okx.rest.client import OkxClientService
from tests.helpers import success_result_of

from .support import CREDS, RESTING_BUY, Harness, outcome_of

TIME = "/api/v5/public/time"
ORDER = "/api/v5/trade/order"


class RecordingPool:
    """Stands in for HTTPConnectionPool: records that it was closed."""

    def __init__(self) -> None:
        self.closed = 0

    def closeCachedConnections(self) -> Deferred[None]:
        self.closed += 1
        return succeed(None)


def setup(**options: Any) -> tuple[Harness, RecordingPool]:
    pool = RecordingPool()
    return Harness(pool=pool, **options), pool


def test_stop_cancels_reads_and_closes_pool() -> None:
    """A hung read is cancelled at once with a clear error; the pool is closed."""
    h, pool = setup()
    h.sim.add_fault(TIME, "hang")
    read = outcome_of(h.start(h.client.get(TIME)))
    h.advance(1.0)
    assert read == []
    stopped = outcome_of(h.start(h.client.stop()))
    assert stopped == [None]
    assert isinstance(read[0], Failure)
    assert isinstance(read[0].value, OkxTransportError)
    assert "client stopped" in str(read[0].value)
    assert pool.closed == 1
    assert h.clock.getDelayedCalls() == []


def test_stop_lets_a_sent_write_finish() -> None:
    """
    An order already sent is not abandoned mid-flight (that would make its outcome
    unknown): stop() waits for its reply, then closes the pool.
    """
    h, pool = setup()
    h.sim.add_fault(ORDER, "delay", delay_ms=1000)
    write = h.start(h.client.post(ORDER, RESTING_BUY, credentials=CREDS))
    h.clock.advance(0.2)
    stopped = h.start(h.client.stop())
    h.clock.advance(0.799)
    h.agent.flush()
    assert not write.called and not stopped.called
    assert pool.closed == 0
    h.clock.advance(0.001)
    h.agent.flush()
    assert success_result_of(write).items[0].ok
    assert success_result_of(stopped) is None
    assert pool.closed == 1


def test_stop_cancels_a_write_still_queued_for_pacing() -> None:
    """A write waiting for a rate-limit slot was never sent, so stop() cancels it."""
    h, pool = setup()
    path = "/api/v5/account/set-leverage"
    body = {"instId": "BTC-USDT-SWAP", "lever": "5", "mgnMode": "cross"}
    writes = [outcome_of(h.start(h.client.post(path, body, credentials=CREDS))) for _ in range(21)]
    assert sum(1 for w in writes if w) == 20
    stopped = outcome_of(h.start(h.client.stop()))
    assert stopped == [None]
    last = writes[-1][0]
    assert isinstance(last.value, OkxTransportError)
    assert last.value.outcome_unknown is False
    h.advance(5)
    assert h.count(path) == 20
    assert all(w[0].code == "0" for w in writes[:20])


def test_service_starts_sync_and_stops_client() -> None:
    """OkxClientService syncs the clock on start and stops the client on shutdown."""
    h, pool = setup()
    h.skew(2.0)
    parent = MultiService()
    OkxClientService(h.client).setServiceParent(parent)
    parent.startService()
    h.advance(0.1)
    assert h.client.health()["clock_synced"] is True
    done = outcome_of(parent.stopService())
    assert len(done) == 1 and not isinstance(done[0], Failure)
    assert pool.closed == 1
    assert h.client.health()["stopped"] is True
    assert h.clock.getDelayedCalls() == []
