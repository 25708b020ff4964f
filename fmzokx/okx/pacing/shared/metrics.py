# -*- test-case-name: tests.okx.sharedbudget.test_slots -*-
"""
The shared budget's Prometheus series, registered on the daemon's own registry.

Every label value comes from a fixed vocabulary chosen here (a reason or an outcome
word), never from a caller, a key or Redis's reply, so no series can leak or multiply.
"""

from __future__ import annotations

from attrs import frozen
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["REASONS", "ROUND_TRIP_BUCKETS", "SharedStateMetrics"]

ROUND_TRIP_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
)
"""Redis round trips: 0.1 ms (same host) to the per-call deadline and a little past."""

REASONS = ("connecting", "unavailable", "timeout", "refused", "malformed")
"""Why the daemon paces on its local share (label ``reason``)."""

_OUTCOMES = ("ok", "timeout", "error")


@frozen
class SharedStateMetrics:
    """``fmzokx_shared_state_*``: degraded or not, fallbacks, local slots, round trips."""

    degraded: Gauge
    fallbacks: Counter
    local_slots: Counter
    round_trip: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry) -> SharedStateMetrics:
        """Register the series on ``registry`` (the daemon's :class:`fmzokx.metrics.Metrics`)."""
        return cls(
            degraded=Gauge(
                "fmzokx_shared_state_degraded",
                "1 while the shared rate budget (Redis) is out of reach and this daemon "
                "paces on its local share of each budget, else 0.",
                registry=registry,
            ),
            fallbacks=Counter(
                "fmzokx_shared_state_fallbacks",
                "Times this daemon fell back from the shared budget to its local share, "
                "by reason.",
                ["reason"],
                registry=registry,
            ),
            local_slots=Counter(
                "fmzokx_shared_state_local_slots",
                "Send slots taken from the local share while the shared budget was out "
                "of reach.",
                registry=registry,
            ),
            round_trip=Histogram(
                "fmzokx_shared_state_round_trip_seconds",
                "Duration of each slot request to Redis, by outcome (ok, timeout, error).",
                ["outcome"],
                buckets=ROUND_TRIP_BUCKETS,
                registry=registry,
            ),
        )

    def set_degraded(self, degraded: bool) -> None:
        """Publish whether the daemon is on its local share."""
        self.degraded.set(1 if degraded else 0)

    def count_fallback(self, reason: str) -> None:
        """Count one fall back to the local share."""
        self.fallbacks.labels(reason if reason in REASONS else "unavailable").inc()

    def count_local_slot(self) -> None:
        """Count one slot taken from the local share."""
        self.local_slots.inc()

    def observe_round_trip(self, seconds: float, outcome: str) -> None:
        """Record one slot request's round trip to Redis."""
        label = outcome if outcome in _OUTCOMES else "error"
        self.round_trip.labels(label).observe(max(seconds, 0.0))
