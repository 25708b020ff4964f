"""
The daemon's Prometheus metrics: private registries, the exposition format, and label
values that stay bounded and secret-free whatever the docker sends.
"""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from fmzokx.fmz.envelope import RpcRequest
from fmzokx.fmz.registry import MethodRegistry, RpcResult
from fmzokx.logs import secrets
from fmzokx.metrics import (
    LATENCY_BUCKETS,
    Metrics,
    known_methods,
    label_for_method,
    label_for_path,
    label_for_status,
)

SECRET = "metric-secret-value-0123456789"


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parse ``render()`` back into {(sample name, sorted labels): value}."""
    body, _ = metrics.render()
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(body.decode("utf-8")):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    """One sample's value from the metrics' own registry (``None`` when absent)."""
    found: float | None = metrics.registry.get_sample_value(name, labels)
    return found


def test_registry_is_private() -> None:
    """Two Metrics never share series, and nothing lands in prometheus_client's global registry."""
    first, second = Metrics.create(["ticker"]), Metrics.create(["ticker"])
    first.observe_rpc("ticker", "ok", 0.01)
    assert value(first, "fmzokx_rpc_requests_total", method="ticker", outcome="ok") == 1
    assert value(second, "fmzokx_rpc_requests_total", method="ticker", outcome="ok") is None
    labels = {"method": "ticker", "outcome": "ok"}
    assert REGISTRY.get_sample_value("fmzokx_rpc_requests_total", labels) is None


def test_render_is_prometheus_text_with_every_metric() -> None:
    """render() returns the text format, its content type, and every documented metric name."""
    metrics = Metrics.create(["ticker"])
    metrics.observe_rpc("ticker", "ok", 0.002)
    metrics.rpc_started()
    metrics.observe_upstream("/api/v5/market/ticker", 200, 0.05)
    metrics.count_retry("/api/v5/market/ticker", "timeout")
    metrics.count_okx_code("/api/v5/trade/order", "50011")
    metrics.count_okx_code("/api/v5/trade/order", 50102)
    metrics.count_reconciliation("found")
    metrics.set_clock_offset(-0.25)
    metrics.observe_pacing_wait("trade", 0.3)
    metrics.count_joined("/api/v5/account/balance?ccy=BTC")
    metrics.count_access_denied("token-mismatch")
    metrics.set_connections(7)
    metrics.count_connection_closed("evicted-idle")
    metrics.stream_message("books", 0.004)
    metrics.stream_resync("books", "checksum")
    metrics.stream_fallback("depth", "unsynced")
    metrics.stream_reconnect("/ws/v5/public")
    metrics.private_answer("balance", "copy", "")
    metrics.private_difference("orders")
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    families = text_string_to_metric_families(body.decode())
    names = {
        family.name
        for family in families
        if family.name.startswith("fmzokx_") and not family.name.endswith("_created")
    }
    assert names == {
        "fmzokx_build_info",
        "fmzokx_rpc_requests",
        "fmzokx_rpc_duration_seconds",
        "fmzokx_rpc_inflight",
        "fmzokx_upstream_requests",
        "fmzokx_upstream_duration_seconds",
        "fmzokx_upstream_retries",
        "fmzokx_okx_rate_limited",
        "fmzokx_okx_timestamp_rejected",
        "fmzokx_reconciliations",
        "fmzokx_clock_offset_seconds",
        "fmzokx_pacing_wait_seconds",
        "fmzokx_upstream_joined",
        "fmzokx_access_denied",
        "fmzokx_rpc_connections",
        "fmzokx_rpc_connections_closed",
        "fmzokx_stream_messages",
        "fmzokx_stream_lag_seconds",
        "fmzokx_stream_resyncs",
        "fmzokx_stream_fallbacks",
        "fmzokx_stream_reconnects",
        "fmzokx_private_answers",
        "fmzokx_private_differences",
    }
    ticker = "/api/v5/market/ticker"
    assert value(metrics, "fmzokx_rpc_inflight") == 1
    assert value(metrics, "fmzokx_upstream_requests_total", path=ticker, status="200") == 1
    assert value(metrics, "fmzokx_upstream_duration_seconds_count", path=ticker) == 1
    assert value(metrics, "fmzokx_upstream_retries_total", path=ticker, reason="timeout") == 1
    assert value(metrics, "fmzokx_okx_rate_limited_total", path="/api/v5/trade/order") == 1
    assert value(metrics, "fmzokx_okx_timestamp_rejected_total") == 1
    assert value(metrics, "fmzokx_reconciliations_total", outcome="found") == 1
    assert value(metrics, "fmzokx_clock_offset_seconds") == -0.25
    assert value(metrics, "fmzokx_rpc_connections") == 7
    assert value(metrics, "fmzokx_rpc_connections_closed_total", reason="evicted-idle") == 1
    assert value(metrics, "fmzokx_pacing_wait_seconds_count", scope="trade") == 1
    balance = "/api/v5/account/balance"
    assert value(metrics, "fmzokx_upstream_joined_total", path=balance) == 1
    assert value(metrics, "fmzokx_access_denied_total", reason="token-mismatch") == 1
    assert value(metrics, "fmzokx_stream_messages_total", channel="books") == 1
    assert value(metrics, "fmzokx_stream_lag_seconds_bucket", channel="books", le="0.005") == 1
    assert value(metrics, "fmzokx_stream_resyncs_total", channel="books", reason="checksum") == 1
    assert value(metrics, "fmzokx_stream_fallbacks_total", method="depth", reason="unsynced") == 1
    assert value(metrics, "fmzokx_stream_reconnects_total", path="public") == 1


def test_rpc_duration_lands_in_the_right_bucket() -> None:
    """A 3 ms RPC is counted in the 5 ms bucket but not the 2.5 ms one; buckets span 0.5 ms-30 s."""
    assert LATENCY_BUCKETS[0] == 0.0005 and LATENCY_BUCKETS[-1] == 30.0
    metrics = Metrics.create(["ticker"])
    metrics.observe_rpc("TICKER", "ok", 0.003)
    found = samples(metrics)
    labels = (("le", "0.005"), ("method", "ticker"), ("outcome", "ok"))
    assert found[("fmzokx_rpc_duration_seconds_bucket", labels)] == 1
    labels = (("le", "0.0025"), ("method", "ticker"), ("outcome", "ok"))
    assert found[("fmzokx_rpc_duration_seconds_bucket", labels)] == 0


def test_inflight_goes_up_and_down() -> None:
    """rpc_started/rpc_finished move the in-flight gauge."""
    metrics = Metrics.create()
    metrics.rpc_started()
    metrics.rpc_started()
    metrics.rpc_finished()
    assert samples(metrics)[("fmzokx_rpc_inflight", ())] == 1


def test_other_okx_codes_are_not_counted_as_50011_or_50102() -> None:
    """count_okx_code ignores codes other than 50011 and 50102."""
    metrics = Metrics.create()
    metrics.count_okx_code("/api/v5/trade/order", "51008")
    found = samples(metrics)
    assert not any(name.startswith("fmzokx_okx_rate_limited_total") for name, _ in found)
    assert found[("fmzokx_okx_timestamp_rejected_total", ())] == 0


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ticker", "ticker"),
        ("Ticker", "ticker"),
        (" TICKER ", "ticker"),
        ("nosuch", "unknown"),
        ("-", "unknown"),
        ("__api_/api/v5/account/balance?ccy=BTC", "__api_"),
        ("__api_" + SECRET, "__api_"),
        (SECRET, "unknown"),
    ],
)
def test_label_for_method_with_names(name: str, expected: str) -> None:
    """Registered names fold to lower case; the pass-through and anything else are fixed words."""
    assert label_for_method(name, {"ticker", "accounts"}) == expected


def test_label_for_method_maps_aliases_to_canonical_names() -> None:
    """With known_methods(), an alias is labelled with its method's canonical name."""
    registry: MethodRegistry[Any] = MethodRegistry()

    @registry.method("positions", summary="positions", aliases=("position",))
    async def positions(context: Any, request: RpcRequest) -> RpcResult:
        return RpcResult(data=[])

    @registry.prefix("__api_", summary="pass-through")
    async def passthrough(context: Any, request: RpcRequest) -> RpcResult:
        return RpcResult(data=None)

    known = known_methods(registry.specs())
    assert known == {"positions": "positions", "position": "positions"}
    assert label_for_method("Position", known) == "positions"
    metrics = Metrics.create(known)
    metrics.observe_rpc("POSITION", "ok", 0.1)
    metrics.observe_rpc("__api_/api/v5/x", "ok", 0.1)
    found = samples(metrics)
    assert found[("fmzokx_rpc_requests_total", (("method", "positions"), ("outcome", "ok")))] == 1
    assert found[("fmzokx_rpc_requests_total", (("method", "__api_"), ("outcome", "ok")))] == 1


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v5/market/ticker", "/api/v5/market/ticker"),
        ("/api/v5/market/ticker?instId=BTC-USDT", "/api/v5/market/ticker"),
        ("https://www.okx.com/api/v5/trade/orders-pending?after=1", "/api/v5/trade/orders-pending"),
        ("http://127.0.0.1:8443/api/v5/public/time#frag", "/api/v5/public/time"),
        ("/api/v5/market/ticker/", "/api/v5/market/ticker"),
        ("/api/v5/Market/Ticker", "other"),
        ("/api/v4/market/ticker", "other"),
        ("/etc/passwd", "other"),
        ("/api/v5/" + SECRET + "x" * 40, "other"),
        ("https://www.okx.com", "other"),
    ],
)
def test_label_for_path(path: str, expected: str) -> None:
    """Upstream paths lose host and query; anything not shaped like an OKX v5 path is "other"."""
    assert label_for_path(path) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, "200"),
        (429, "429"),
        (0, "other"),
        (True, "true"),
        ("timeout", "timeout"),
        ("Connection-Error", "connection-error"),
        ("two words", "other"),
        ("", "other"),
    ],
)
def test_label_for_status(status: int | str, expected: str) -> None:
    """HTTP statuses become their digits, transport failures short lower-case words."""
    assert label_for_status(status) == expected


def test_labels_never_carry_a_seen_secret() -> None:
    """A free-form label value containing a credential the process has seen becomes "other"."""
    secret = "metricsecretword42"
    secrets.add(secret)
    try:
        metrics = Metrics.create()
        metrics.count_retry("/api/v5/market/ticker", secret)
        metrics.count_reconciliation(secret)
        metrics.observe_pacing_wait(secret, 0.1)
        metrics.count_access_denied(secret)
        metrics.observe_rpc(secret, secret, 0.1)
        metrics.observe_upstream("/api/v5/market/ticker?sign=" + secret, secret, 0.1)
        body, _ = metrics.render()
        assert secret.encode() not in body
        assert b'reason="other"' in body
    finally:
        secrets.clear()


def test_label_cardinality_is_capped() -> None:
    """Past 64 distinct values of one label, new values are recorded as "other"."""
    metrics = Metrics.create()
    for index in range(100):
        metrics.count_reconciliation(f"outcome{index}")
    found = samples(metrics)
    outcomes = {
        dict(labels)["outcome"] for name, labels in found if name == "fmzokx_reconciliations_total"
    }
    assert len(outcomes) == 65
    assert found[("fmzokx_reconciliations_total", (("outcome", "other"),))] == 36
    metrics.count_reconciliation("outcome3")
    assert samples(metrics)[("fmzokx_reconciliations_total", (("outcome", "outcome3"),))] == 2


def test_paths_share_one_vocabulary_across_metrics() -> None:
    """A path admitted for one upstream metric is labelled the same way in the others."""
    metrics = Metrics.create()
    for index in range(64):
        metrics.observe_upstream(f"/api/v5/a/p{index}", 200, 0.01)
    metrics.count_okx_code("/api/v5/a/p3", "50011")
    metrics.count_okx_code("/api/v5/a/new", "50011")
    found = samples(metrics)
    assert found[("fmzokx_okx_rate_limited_total", (("path", "/api/v5/a/p3"),))] == 1
    assert found[("fmzokx_okx_rate_limited_total", (("path", "other"),))] == 1


def test_negative_durations_are_clamped() -> None:
    """A clock step backwards records 0 s rather than a negative duration."""
    metrics = Metrics.create(["ticker"])
    metrics.observe_rpc("ticker", "ok", -1.0)
    assert value(metrics, "fmzokx_rpc_duration_seconds_sum", method="ticker", outcome="ok") == 0


def test_labelled_children_are_cached_and_bounded() -> None:
    """Observations reuse one child per label tuple; unbounded inputs cannot grow the cache."""
    metrics = Metrics.create(["ticker"])
    for index in range(500):
        metrics.observe_rpc(f"junk-{index}", "ok", 0.001)
        metrics.observe_rpc("ticker", "ok", 0.001)
    assert len(metrics._children) <= 4
    text = metrics.render()[0].decode()
    assert 'fmzokx_rpc_requests_total{method="ticker",outcome="ok"} 500.0' in text


def test_random_passthrough_paths_neither_grow_series_nor_crowd_out_endpoints() -> None:
    """
    10,000 distinct pass-through paths: at most PASSTHROUGH_PATHS of them get a label,
    the rest are "other", and the daemon's own endpoints keep their labels even when
    they are first seen afterwards.
    """
    from fmzokx.metrics import PASSTHROUGH_PATHS

    metrics = Metrics.create()
    for index in range(10_000):
        path = f"/api/v5/rand{index % 97}/p{index}"
        metrics.observe_upstream(path, 404, 0.01)
        metrics.count_retry(path, "timeout")
        metrics.count_okx_code(path, "50011")
    metrics.observe_upstream("/api/v5/trade/order", 200, 0.01)
    metrics.observe_upstream("/api/v5/public/time", 200, 0.01)
    found = samples(metrics)
    paths = {dict(labels)["path"] for name, labels in found
             if name == "fmzokx_upstream_requests_total"}
    assert {"/api/v5/trade/order", "/api/v5/public/time", "other"} <= paths
    assert len(paths) == PASSTHROUGH_PATHS + 3
    assert found[("fmzokx_upstream_requests_total",
                  (("path", "other"), ("status", "404")))] == 10_000 - PASSTHROUGH_PATHS
    assert len(metrics._children) <= 2 * (PASSTHROUGH_PATHS + 3)
    assert len(metrics.render()[0]) < 200_000

def test_process_metrics_are_on_the_daemons_registry() -> None:
    """
    Memory, CPU, open files and start time of this process (prometheus_client's process
    collector) and the Python build (platform collector) are on each daemon's registry.
    """
    import time

    metrics = Metrics.create(["ticker"])
    found = samples(metrics)
    rss = found[("process_resident_memory_bytes", ())]
    assert 1 << 20 < rss < 1 << 40
    assert found[("process_open_fds", ())] >= 3
    assert found[("process_max_fds", ())] >= found[("process_open_fds", ())]
    assert found[("process_cpu_seconds_total", ())] > 0
    start = found[("process_start_time_seconds", ())]
    assert time.time() - 7 * 86400 < start <= time.time()
    assert any(name == "python_info" for name, _ in found)


def test_metrics_endpoint_serves_process_metrics() -> None:
    """GET /metrics on the daemon's resource carries the process series."""
    from tests.stack import Stack

    stack = Stack()
    stack.server.metrics = Metrics.create(known_methods(stack.server.registry.specs()))

    async def scrape() -> str:
        response = await stack.rpc.get("http://127.0.0.1:6666/metrics")
        assert response.code == 200
        return (await response.content()).decode()

    text = stack.run(scrape())
    for name in (
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
        "process_cpu_seconds_total",
        "python_info",
    ):
        assert f"\n{name}" in text, name


def test_stream_state_is_read_at_each_scrape() -> None:
    """fmzokx_stream_channels and fmzokx_stream_connection follow the copies' health."""
    health: dict[str, Any] = {
        "status": "ok",
        "live": {
            "status": "ok",
            "connections": {"/ws/v5/public": "open", "/ws/v5/business": "idle"},
            "channels": {"tickers": {"live": 2, "stale": 1}, "books": {"resyncing": 1}},
        },
    }
    metrics = Metrics.create()
    metrics.watch_streams(lambda: health)
    found = samples(metrics)
    assert found[("fmzokx_stream_channels", (("channel", "tickers"), ("mode", "live"),
                                              ("state", "live")))] == 2
    assert found[("fmzokx_stream_channels", (("channel", "books"), ("mode", "live"),
                                              ("state", "resyncing")))] == 1
    assert found[("fmzokx_stream_connection", (("mode", "live"), ("path", "public"),
                                                ("state", "open")))] == 1
    health["live"]["channels"] = {}
    health["demo"] = {"connections": {"/ws/v5/public": "waiting"}, "channels": {}}
    found = samples(metrics)
    assert not any(name == "fmzokx_stream_channels" for name, _ in found)
    assert found[("fmzokx_stream_connection", (("mode", "demo"), ("path", "public"),
                                                ("state", "waiting")))] == 1


def test_stream_labels_stay_bounded() -> None:
    metrics = Metrics.create()
    metrics.stream_fallback("depth", "Not A Word!")
    metrics.stream_message("x" * 80, None)
    assert value(metrics, "fmzokx_stream_fallbacks_total", method="depth", reason="other") == 1
    assert value(metrics, "fmzokx_stream_messages_total", channel="other") == 1


def test_private_stream_metrics_name_no_key() -> None:
    """Answers by source and reason, differences by view, sessions by state; no key."""
    metrics = Metrics.create(["accounts"])
    metrics.private_answer("balance", "copy", "")
    metrics.private_answer("balance", "rest", "write")
    metrics.private_difference("orders")
    sessions = [
        {"key": "key-0123abcd", "state": "live", "logged_in": True, "push_age": 0.5,
         "heard_age": 0.1},
        {"key": "key-4567ef01", "state": "refused", "logged_in": False, "push_age": None,
         "heard_age": None},
    ]
    metrics.watch_private(lambda: {"sessions": sessions, "logged_in": 1})
    assert value(metrics, "fmzokx_private_answers_total", read="balance", source="copy",
                 reason="none") == 1
    assert value(metrics, "fmzokx_private_answers_total", read="balance", source="rest",
                 reason="write") == 1
    assert value(metrics, "fmzokx_private_differences_total", view="orders") == 1
    assert value(metrics, "fmzokx_private_sessions", state="live") == 1
    assert value(metrics, "fmzokx_private_sessions", state="refused") == 1
    assert value(metrics, "fmzokx_private_logged_in") == 1
    assert value(metrics, "fmzokx_private_push_age_seconds", what="push", which="oldest") == 0.5
    assert "key-" not in metrics.render()[0].decode()
