"""
The status page's history: windowed counts and percentiles, per-minute charts, bounded
labels and memory, errors kept redacted -- all on a fake clock.
"""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from fmzokx.logs import SecretRegistry
from fmzokx.status.history import (
    LATENCY_BOUNDS,
    MAX_ERRORS,
    MAX_LABELS,
    MAX_WORDS_PER_MINUTE,
    RING_MINUTES,
    History,
    LatencyHistogram,
)

START = 1_795_600_040.0  # 20 s into a minute


def history(scrub: SecretRegistry | None = None) -> tuple[Clock, History]:
    clock = Clock()
    clock.advance(START)
    if scrub is None:
        return clock, History(clock, scrub=lambda text: text)
    return clock, History(clock, scrub=scrub.scrub)


def service(snapshot: dict[str, object], label: str) -> dict[str, object]:
    found = [s for s in snapshot["services"] if s["label"] == label]  # type: ignore[attr-defined]
    assert len(found) == 1, snapshot["services"]
    return found[0]  # type: ignore[no-any-return]


def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def test_equal_samples_give_exact_percentiles() -> None:
    latency = LatencyHistogram()
    for _ in range(100):
        latency.add(0.0123)
    assert latency.quantile(0.5) == 0.0123
    assert latency.quantile(0.99) == 0.0123
    assert LatencyHistogram().quantile(0.5) is None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.floats(min_value=0.0002, max_value=100.0, allow_nan=False), min_size=1, max_size=300
    ),
    st.sampled_from([0.5, 0.9, 0.99]),
)
def test_percentiles_are_within_a_bin_of_exact(values: list[float], q: float) -> None:
    """Any sample set: the estimate is within one 20% bin of the exact nearest-rank value."""
    latency = LatencyHistogram()
    for value in values:
        latency.add(value)
    estimate = latency.quantile(q)
    exact = exact_quantile(values, q)
    assert estimate is not None
    assert min(values) <= estimate <= max(values)
    assert exact / 1.2 - 1e-12 <= estimate <= exact * 1.2 + 1e-12


def test_uniform_spread_percentiles_are_close() -> None:
    latency = LatencyHistogram()
    for ms in range(1, 1001):
        latency.add(ms / 1000.0)
    p50, p99 = latency.quantile(0.5), latency.quantile(0.99)
    assert p50 is not None and p99 is not None
    assert abs(p50 - 0.5) / 0.5 < 0.03
    assert abs(p99 - 0.99) / 0.99 < 0.03


def test_merge_equals_adding_everything_to_one() -> None:
    rng = random.Random(5)
    values = [rng.lognormvariate(-3, 1) for _ in range(500)]
    one, left, right = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    for index, value in enumerate(values):
        one.add(value)
        (left if index % 2 else right).add(value)
    left.merge(right)
    assert left == one


def test_windows_count_calls_errors_and_latency() -> None:
    clock, h = history()
    for index in range(10):
        h.docker_call("OKX", "ok" if index < 8 else "error", 0.010 + index * 0.001)
    snap = h.snapshot()
    okx = service(snap, "OKX")
    five, hour = okx["windows"]["5"], okx["windows"]["60"]  # type: ignore[index]
    assert five["calls"] == hour["calls"] == 10
    assert five["errors"] == hour["errors"] == 2
    assert five["statuses"] == {"error": 2}
    assert 13.0 <= five["p50_ms"] <= 15.0
    assert five["p99_ms"] == 19.0  # the largest sample: clamped to the window's maximum
    assert five["per_second"] == 10 / 300.0


def test_old_minutes_leave_the_windows_and_the_ring() -> None:
    clock, h = history()
    h.docker_call("OKX", "ok", 0.01)
    clock.advance(5 * 60)  # that minute is now six minutes ago
    h.docker_call("OKX", "ok", 0.02)
    okx = service(h.snapshot(), "OKX")
    assert okx["windows"]["5"]["calls"] == 1  # type: ignore[index]
    assert okx["windows"]["60"]["calls"] == 2  # type: ignore[index]
    # A full ring later, the same slots are reused and the old counts are gone.
    clock.advance(RING_MINUTES * 60)
    h.docker_call("OKX", "ok", 0.03)
    okx = service(h.snapshot(), "OKX")
    assert okx["windows"]["60"]["calls"] == 1  # type: ignore[index]
    assert okx["windows"]["60"]["p50_ms"] == 30.0  # type: ignore[index]
    clock.advance(RING_MINUTES * 60)
    okx = service(h.snapshot(), "OKX")
    assert okx["windows"]["60"]["calls"] == 0  # type: ignore[index]
    assert okx["windows"]["60"]["p50_ms"] is None  # type: ignore[index]


def test_chart_is_one_point_per_minute_oldest_first() -> None:
    clock, h = history()
    for _ in range(120):
        h.docker_call("OKX", "ok", 0.05)
    clock.advance(60)  # next minute, 20 s in
    for _ in range(10):
        h.docker_call("OKX", "ok", 0.2)
    chart = service(h.snapshot(), "OKX")["chart"]
    rate = chart["calls_per_s"]  # type: ignore[index]
    assert len(rate) == RING_MINUTES
    assert rate[-2] == 2.0  # a full minute: 120 calls / 60 s
    assert rate[-1] == 0.5  # the current minute has had 20 s: 10 / 20
    assert rate[:-2] == [0.0] * (RING_MINUTES - 2)
    assert chart["p50_ms"][-2:] == [50.0, 200.0]  # type: ignore[index]
    assert chart["p50_ms"][:-2] == [None] * (RING_MINUTES - 2)  # type: ignore[index]


def test_upstream_codes_and_statuses_per_endpoint() -> None:
    clock, h = history()
    order = "https://www.okx.com/api/v5/trade/order?x=1"
    h.upstream_call(order, 200, 0.04)
    h.okx_code(order, "51008")  # business error on an HTTP 200: one error
    h.upstream_call(order, 401, 0.03)
    h.okx_code(order, "50113")  # HTTP error with a code: still one error
    h.upstream_call(order, "timeout-total", 10.0)
    h.upstream_call(order, 200, 0.05)
    (endpoint,) = h.snapshot()["endpoints"]
    assert endpoint["path"] == "/api/v5/trade/order"
    hour = endpoint["windows"]["60"]
    assert hour["calls"] == 4
    assert hour["errors"] == 3
    assert hour["codes"] == {"50113": 1, "51008": 1}
    assert hour["statuses"] == {"200": 2, "401": 1, "timeout-total": 1}


def test_pacing_waits_per_scope() -> None:
    clock, h = history()
    h.pacing_wait("trade", 0.2)
    h.pacing_wait("trade", 0.05)
    clock.advance(600)
    h.pacing_wait("trade", 0.1)
    (scope,) = h.snapshot()["pacing"]
    assert scope["scope"] == "trade"
    assert scope["windows"]["5"] == {"waits": 1, "seconds": 0.1, "longest_ms": 100.0}
    assert scope["windows"]["60"]["waits"] == 3
    assert scope["windows"]["60"]["longest_ms"] == 200.0


def test_order_outcomes() -> None:
    clock, h = history()
    for outcome in ("placed", "placed", "found", "reconciled", "not-placed", "unknown", "bogus"):
        h.order_outcome(outcome)
    clock.advance(3600)
    h.order_outcome("placed")
    orders = h.snapshot()["orders"]
    assert orders["total"] == {"placed": 3, "reconciled": 2, "not-placed": 1, "unknown": 1}
    assert orders["windows"]["5"] == {"placed": 1, "reconciled": 0, "not-placed": 0, "unknown": 0}


def test_errors_keep_the_latest_twenty_newest_first_redacted() -> None:
    registry = SecretRegistry()
    registry.add("s3cret-passphrase-value")
    clock, h = history(registry)
    for index in range(30):
        clock.advance(1)
        h.error("OKX", "trade", f"call {index} failed with s3cret-passphrase-value inside")
    h.error("OKX", "ticker", "x" * 5000)
    errors = h.snapshot()["errors"]
    assert len(errors) == MAX_ERRORS
    assert errors[0]["method"] == "ticker" and len(errors[0]["message"]) == 400
    assert errors[1]["message"] == "call 29 failed with <redacted> inside"
    assert errors[-1]["message"].startswith("call 11 ")
    assert errors[1]["time"] == START + 30
    assert all("s3cret" not in str(error) for error in errors)


def test_labels_are_bounded_and_never_a_secret() -> None:
    registry = SecretRegistry()
    registry.add("OKX-abcdefghijklmnopqrstuvwxyz")
    clock, h = history(registry)
    for index in range(100):
        h.docker_call(f"bot{index}", "ok", 0.01)
    h.docker_call("OKX-abcdefghijklmnopqrstuvwxyz", "ok", 0.01)
    h.docker_call("<b>", "ok", 0.01)
    labels = [s["label"] for s in h.snapshot()["services"]]
    assert len(labels) == MAX_LABELS + 1
    assert "other" in labels
    assert service(h.snapshot(), "other")["windows"]["60"]["calls"] == 100 - MAX_LABELS + 2  # type: ignore[index]
    assert h.service_label("OKX-abcdefghijklmnopqrstuvwxyz") == "other"
    assert h.service_label("") == "(none)"


def test_memory_is_bounded_whatever_the_traffic() -> None:
    """Three hours of varied, partly hostile traffic: every structure stays within its cap."""
    rng = random.Random(11)
    clock, h = history()
    for _ in range(30_000):
        clock.advance(rng.random() * 0.7)
        h.docker_call(f"label{rng.randrange(40)}", rng.choice(["ok", "error", "x" * 50]),
                      rng.lognormvariate(-3, 2))
        path = f"/api/v5/{rng.choice(['trade', 'market', 'zz'])}/p{rng.randrange(200)}"
        h.upstream_call(path, rng.choice([200, 200, 429, 503, "timeout-total"]),
                        rng.lognormvariate(-3, 2))
        h.okx_code(path, str(rng.randrange(50000, 50100)))
        h.pacing_wait(f"scope{rng.randrange(20)}", rng.random())
        h.order_outcome(rng.choice(["placed", "found", "unknown"]))
        h.error(f"label{rng.randrange(40)}", "trade", "e" * rng.randrange(1000))
    tables = [h._services, h._endpoints, h._scopes]
    assert len(h._services) <= MAX_LABELS + 1
    assert len(h._endpoints) <= 33 and len(h._scopes) <= 9
    for table in tables:
        for ring in table.values():  # type: ignore[attr-defined]
            assert len(ring.slots) == RING_MINUTES
            for slot in ring.slots:
                if slot is None or not hasattr(slot, "latency"):
                    continue
                assert len(slot.latency.counts) <= len(LATENCY_BOUNDS) + 1
                assert len(slot.codes) <= MAX_WORDS_PER_MINUTE + 1
                assert len(slot.statuses) <= MAX_WORDS_PER_MINUTE + 1
    assert len(h._errors) == MAX_ERRORS
    assert len(h._orders.slots) == RING_MINUTES
