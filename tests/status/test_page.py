"""
The status page's HTML: what it shows for a snapshot, that every value is escaped, that
no secret reaches it, and that it is self-contained (no script, no external asset).
"""

from __future__ import annotations

import random
import re
from html.parser import HTMLParser
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from fmzokx.logs import SecretRegistry
from fmzokx.okx.stream.streams import StreamSet
from fmzokx.status.history import History
from fmzokx.status.page import CONTENT_SECURITY_POLICY, render_page, sparkline
from fmzokx.status.snapshot import build_snapshot
from tests.sim.ws_support import WsHarness

START = 1_795_600_040.0
SECRET = "page-test-secret-0123456789"
PASSPHRASE = "page-test-passphrase-abc"
HOSTILE = '<script>alert("x")</script>" onmouseover="alert(1)\' &amp; </td></table>'

VOID = {"meta", "br", "hr", "img", "input", "link", "line", "circle", "polyline", "col"}


class Structure(HTMLParser):
    """Collects tags, attributes and text, and checks that elements nest properly."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:]}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Structure:
    parser = Structure()
    parser.feed(page)
    parser.close()
    assert not parser.problems, parser.problems[:5]
    assert parser.stack == [], parser.stack
    return parser


def busy_snapshot(scrub: Any = lambda text: text) -> dict[str, Any]:
    clock = Clock()
    clock.advance(START)
    history = History(clock, scrub=scrub)
    for index in range(200):
        clock.advance(0.5)
        history.docker_call("OKX", "ok" if index % 10 else "error", 0.02 + (index % 7) / 1000)
        history.upstream_call("/api/v5/trade/order", 200, 0.015)
        if index % 10 == 0:
            history.okx_code("/api/v5/trade/order", "51008")
    history.pacing_wait("trade", 0.25)
    history.order_outcome("placed")
    history.order_outcome("unknown")
    history.error("OKX", "trade", "code 51008 Insufficient USDT balance")
    health = {
        "status": "ok",
        "okx": {
            "clock_offset_s": -0.0123, "clock_synced": True, "clock_synced_at": START,
            "clock_sync_rtt_s": 0.081, "clock_sync_error": None,
            "okx_base_url": "https://www.okx.com", "in_flight": 1, "rate_limits": True,
        },
        "rpc_in_flight": 2,
    }
    return build_snapshot(
        history,
        version="9.8.7",
        started=START - 3 * 3600 - 120,
        health=health,
        budgets=[{"scope": "trade", "path": "/api/v5/trade/order", "used": 50, "limit": 60,
                  "window_s": 2, "peak_5m": 52, "peak_60m": 55}],
        scrub=scrub,
    )


def text_of(page: str) -> str:
    return " ".join(" ".join(parse(page).text).split())


def test_page_shows_the_snapshot() -> None:
    page = render_page(busy_snapshot())
    text = text_of(page)
    assert "version 9.8.7" in text
    assert "up 3 h 3 min" in text  # 3 h 2 min before START, 100 s of traffic
    assert "OKX reachable" in text
    assert "-12.3 ms" in text  # clock offset
    assert re.search(r"OKX 200 20 ", text)  # label, calls and errors over 5 minutes
    assert "/api/v5/trade/order" in text and "51008 20" in text
    assert "/api/v5/trade/order 50 52 of 60 55 of 60 2 s" in text
    assert "code 51008 Insufficient USDT balance" in text
    assert "outcome unknown (check open orders) 1 1 1" in text
    assert 'data-label="OKX"' in page and 'data-path="/api/v5/trade/order"' in page
    assert "Market-data stream" not in text  # no stream in this snapshot


def test_page_is_self_contained_and_refreshes() -> None:
    page = render_page(busy_snapshot(), refresh=7)
    structure = parse(page)
    tags = {tag for tag, _ in structure.tags}
    assert "script" not in tags and "link" not in tags and "img" not in tags
    assert "iframe" not in tags and "object" not in tags
    for _, attrs in structure.tags:
        for name in ("src", "href", "action", "srcset"):
            assert name not in attrs
        assert not any(name.startswith("on") for name in attrs)
    metas = [attrs for tag, attrs in structure.tags if tag == "meta"]
    assert {"http-equiv": "refresh", "content": "7"} in metas
    assert {"http-equiv": "Content-Security-Policy", "content": CONTENT_SECURITY_POLICY} in metas
    assert "url(" not in page and "@import" not in page
    assert sum(1 for tag, _ in structure.tags if tag == "svg") == 4  # 2 charts x 2 rows


def test_every_value_is_escaped() -> None:
    snapshot = busy_snapshot()
    snapshot["version"] = HOSTILE
    snapshot["services"][0]["label"] = HOSTILE
    snapshot["endpoints"][0]["windows"]["60"]["codes"] = {HOSTILE: 1}
    snapshot["errors"].append({"time": START, "label": HOSTILE, "method": HOSTILE,
                               "message": HOSTILE})
    snapshot["okx"]["clock_sync_error"] = HOSTILE
    snapshot["okx"]["base_url"] = HOSTILE
    snapshot["budgets"][0]["scope"] = HOSTILE
    snapshot["stream"] = {
        "status": HOSTILE,
        "connections": [{"copy": HOSTILE, "url": HOSTILE, "state": HOSTILE}],
        "channels": [{"copy": HOSTILE, "url": HOSTILE, "channel": HOSTILE,
                      "inst_id": HOSTILE, "state": HOSTILE}],
    }
    snapshot["shared_state"] = {"state": HOSTILE, HOSTILE: [HOSTILE], "where": HOSTILE}
    page = render_page(snapshot)
    structure = parse(page)
    assert "<script" not in page
    assert not any(tag == "script" for tag, _ in structure.tags)
    for _, attrs in structure.tags:
        assert not any(name.startswith("on") for name in attrs)
    # The hostile text comes back as text, intact, wherever it was shown.
    assert " ".join(structure.text).count('<script>alert("x")</script>') >= 20


def test_unencodable_text_does_not_break_the_page() -> None:
    """A symbol with a lone surrogate (valid JSON) quoted in an error still renders."""
    snapshot = busy_snapshot()
    snapshot["errors"].append({"time": START, "label": "OKX", "method": "ticker",
                               "message": "invalid symbol '\ud800x'"})
    page = render_page(snapshot)
    page.encode("utf-8")
    assert "invalid symbol '?x'" in text_of(page)


def test_no_secret_ever_reaches_the_page() -> None:
    """Secrets in every free-text field are masked by the scrub the daemon passes."""
    registry = SecretRegistry()
    registry.add(SECRET, PASSPHRASE)
    snapshot = busy_snapshot(registry.scrub)
    snapshot["errors"].append({"time": START, "label": "OKX", "method": "trade",
                               "message": f"signed with {SECRET},{PASSPHRASE}"})
    snapshot["services"][0]["label"] = f"OKX-{SECRET}"
    snapshot["stream"] = dict(stream_status(), status=f"x{SECRET}")
    snapshot["stream"]["channels"][0]["inst_id"] = PASSPHRASE
    snapshot["shared_state"] = {"state": "shared", "login": {"passphrase": PASSPHRASE}}
    page = render_page(snapshot, scrub=registry.scrub)
    assert SECRET not in page and PASSPHRASE not in page
    assert "signed with &lt;redacted&gt;,&lt;redacted&gt;" in page


def test_history_errors_are_redacted_before_the_page() -> None:
    registry = SecretRegistry()
    registry.add(SECRET)
    clock = Clock()
    history = History(clock, scrub=registry.scrub)
    history.error("OKX", "accounts", f"bad key {SECRET}")
    snapshot = build_snapshot(history, version="1", started=0.0, scrub=registry.scrub)
    assert SECRET not in str(snapshot)
    assert SECRET not in render_page(snapshot)  # even without the page's own scrub


def test_empty_snapshot_renders_placeholders() -> None:
    text = text_of(render_page({}))
    assert "OKX not checked yet" in text
    assert "No calls in the last 60 minutes." in text
    assert "No errors since the daemon started." in text
    assert "No rate-limited call in the last 60 minutes." in text


PUBLIC = "wss://ws.okx.com:8443/ws/v5/public"
BUSINESS = "wss://ws.okx.com:8443/ws/v5/business"


def stream_status() -> dict[str, Any]:
    """A stream as :meth:`StreamSet.status` reports it: two connections, three channels."""
    return {
        "status": "ok",
        "connections": [
            {"copy": "live", "url": PUBLIC, "state": "open", "up_s": 754.2, "quiet_s": 0.31,
             "connects": 3, "reconnects": 2, "channels": 2},
            {"copy": "live", "url": BUSINESS, "state": "waiting", "up_s": None,
             "quiet_s": None, "connects": 1, "reconnects": 0, "channels": 1},
        ],
        "channels": [
            {"copy": "live", "url": PUBLIC, "channel": "tickers", "inst_id": "BTC-USDT",
             "state": "live", "for_s": 750.0, "quiet_s": 0.31, "resyncs": 0},
            {"copy": "live", "url": PUBLIC, "channel": "books", "inst_id": "ETH-USDT",
             "state": "resyncing", "for_s": 1.5, "quiet_s": 12.0, "resyncs": 2},
            {"copy": "live", "url": BUSINESS, "channel": "trades-all", "inst_id": "BTC-USDT",
             "state": "subscribing", "for_s": 4.0, "quiet_s": None, "resyncs": 0},
        ],
        "channels_total": 3,
    }


def test_stream_is_a_table_of_connections_and_one_of_channels_per_connection() -> None:
    """The stream section is readable tables, not a JSON dump."""
    snapshot = busy_snapshot()
    snapshot["stream"] = stream_status()
    page = render_page(snapshot)
    structure = parse(page)
    text = text_of(page)
    assert "Market-data stream ok" in text
    # One row per connection: copy, URL, state, up, last message, connects, reconnects,
    # channels.
    assert f"live {PUBLIC} open 12 min 34 s 0.3 s ago 3 2 2" in text
    assert f"live {BUSINESS} waiting \u2013 \u2013 1 0 1" in text
    # Then a table per connection of the channels on it.
    assert (f"live {PUBLIC} channel instrument state in this state for last push resyncs "
            "in a row tickers BTC-USDT live 12 min 30 s 0.3 s ago 0 books ETH-USDT resyncing "
            "1 s 12 s ago 2") in text
    assert f"live {BUSINESS} channel" in text and "trades-all BTC-USDT subscribing 4 s" in text
    stream_html = page.split('<section id="stream">')[1].split("</section>")[0]
    assert stream_html.count("<table>") == 3  # the connections, then one per connection
    rows = {attrs.get("data-channel") for tag, attrs in structure.tags if tag == "tr"}
    assert {"tickers:BTC-USDT", "books:ETH-USDT", "trades-all:BTC-USDT"} <= rows
    assert "{" not in text.split("Market-data stream")[1].split("Last")[0]  # no JSON
    assert "channels shown" not in text


def test_stream_without_connections_and_with_more_channels_than_shown() -> None:
    snapshot = busy_snapshot()
    snapshot["stream"] = {"status": "idle", "connections": [], "channels": []}
    text = text_of(render_page(snapshot))
    assert "Market-data stream idle No connection yet" in text
    assert '<span class="badge unknown">idle</span>' in render_page(snapshot)  # grey: at rest
    snapshot["stream"] = dict(stream_status(), channels_total=120)
    assert "3 of 120 channels shown." in text_of(render_page(snapshot))


def test_private_stream_counters_are_tables_not_json() -> None:
    """How reads were answered and what reconciliation found read as tables, not JSON."""
    snapshot = busy_snapshot()
    snapshot["private_stream"] = {
        "count": 1, "logged_in": 1, "live": 1,
        "answers": {"balance/copy": 1200, "balance/rest/stale": 3, "orders/rest/write": 2},
        "differences": {"orders": 1},
        "sessions": [{"key": "key-0a1b2c", "demo": False, "state": "live"}],
    }
    page = render_page(snapshot)
    assert not parse(page).problems
    section = text_of(page.split('<section id="private-stream">')[1].split("</section>")[0])
    assert "read answered by why count balance copy \u2013 1,200 balance rest stale 3 " \
           "orders rest write 2" in section
    assert "view count orders 1" in section
    assert "{" not in section and '"' not in section
    snapshot["private_stream"] = dict(snapshot["private_stream"], answers={}, differences={})
    page = render_page(snapshot)
    section = text_of(page.split('<section id="private-stream">')[1].split("</section>")[0])
    assert "No read answered yet." in section
    assert "Reconciliation found no difference." in section


def test_live_stream_status_renders() -> None:
    """The page shows what a real StreamSet reports (the shape is not only this file's)."""
    harness = WsHarness()
    streams = StreamSet(harness.clock, "ws://127.0.0.1:8443", "ws://127.0.0.1:8443",
                        harness.link.connect, rng=random.Random(3))
    streams.start()
    streams.live.ticker("BTC-USDT")
    harness.advance(0.5)
    snapshot = busy_snapshot()
    snapshot["stream"] = streams.status()
    text = text_of(render_page(snapshot))
    streams.stop()
    assert "Market-data stream ok" in text
    assert "live ws://127.0.0.1:8443/ws/v5/public open" in text
    assert "tickers BTC-USDT live" in text


def test_shared_budget_state_is_shown_when_present() -> None:
    """With --shared-state the page shows Redis's state: shared, or degraded and why."""
    snapshot = busy_snapshot()
    snapshot["shared_state"] = {"state": "degraded", "reason": "redis unreachable",
                                "hosts": 3, "fallbacks": 7, "where": "redis://10.0.0.5:6379/0"}
    text = text_of(render_page(snapshot))
    assert "Shared rate budget (Redis) degraded" in text
    assert "reason redis unreachable" in text and "fallbacks 7" in text
    assert "Shared rate budget" not in text_of(render_page(busy_snapshot()))


def test_sparkline_scales_to_the_peak_and_leaves_gaps() -> None:
    svg = sparkline([([0.0, 2.0, None, 1.0, 1.0], "#000")], label="calls", width=100, height=20)
    # y runs from 18 (zero) up to 3 (the peak, 2.0); the gap splits the line in two.
    assert re.findall(r'points="([^"]+)"', svg) == ["0.0,18.0 25.0,3.0", "75.0,10.5 100.0,10.5"]
    svg = sparkline([([None, 4.0, None], "#000")], label="one point", width=100, height=20)
    assert '<circle cx="50.0" cy="3.0"' in svg and "<polyline" not in svg
    svg = sparkline([([None, None], "#000")], label="idle")
    assert "<polyline" not in svg and "<title>idle</title>" in svg


@settings(max_examples=150, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["services", "endpoints", "windows", "5", "60", "okx", "orders",
                             "errors", "stream", "budgets", "pacing", "chart", "label", "path",
                             "calls", "p50_ms", "total", "state", "now", "uptime_s",
                             "calls_per_s", "message", "time", "used", "limit"]),
            inner,
            max_size=6,
        ),
        max_leaves=30,
    )
)
def test_any_snapshot_renders_without_error(snapshot: Any) -> None:
    """Whatever shape the snapshot has, the page renders and is well-formed."""
    page = render_page(snapshot if isinstance(snapshot, dict) else {"services": snapshot})
    parse(page)


def test_a_tiny_negative_offset_is_not_minus_zero() -> None:
    text = text_of(render_page({"okx": {"reachable": True, "clock_offset_ms": -0.001}}))
    assert "clock offset (OKX minus ours) 0.00 ms" in text
