# -*- test-case-name: tests.status.test_page -*-
"""
The status page as one self-contained HTML document.

:func:`render_page` is a pure function of the snapshot dict
(:func:`fmzokx.status.snapshot.build_snapshot`): no I/O, no clock. The page is built as
a :mod:`twisted.web.template` tree and flattened, so every piece of text and every
attribute value is escaped by the flattener, never by hand; text is passed through
``scrub`` first when given. The page has no external assets and no script -- CSS and SVG
charts are inline, and a ``<meta http-equiv="refresh">`` reloads it -- so it works on a
box without internet and under a ``default-src 'none'`` content security policy
(:data:`CONTENT_SECURITY_POLICY`). Durations are shown in milliseconds throughout.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from twisted.python.failure import Failure
from twisted.web.template import Tag, flatten, tags

from fmzokx.status.style import STYLESHEET

__all__ = ["CONTENT_SECURITY_POLICY", "REFRESH_SECONDS", "render_page", "sparkline"]

REFRESH_SECONDS = 10
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
"""Served with the page: nothing may load from anywhere, inline CSS only, no script."""

_DASH = "\u2013"
_ORDER_NAMES = {
    "placed": "placed",
    "reconciled": "placed, found by reconciliation",
    "not-placed": "not placed (safe to retry)",
    "unknown": "outcome unknown (check open orders)",
}
_GOOD_STATES = frozenset({"ok", "connected", "open", "subscribed", "live", "shared"})
_RESTING_STATES = frozenset({"idle"})
"""Nothing wanted, nothing wrong: a grey badge, not an orange one."""

def _identity(text: str) -> str:
    return text


class _Text:
    """Scrubs every value that becomes page text (the flattener escapes it)."""

    def __init__(self, scrub: Callable[[str], str] | None) -> None:
        self.scrub = scrub or _identity

    def __call__(self, value: object) -> str:
        # A lone surrogate (JSON allows "\ud800" in a symbol, and the error quotes it)
        # cannot be encoded: shown as "?", it cannot take the whole page down.
        return self.scrub(str(value)).encode("utf-8", "replace").decode("utf-8")


def _flat(root: Tag) -> str:
    """``root`` as HTML: flattened synchronously (the tree holds no Deferred)."""
    chunks: list[bytes] = []
    failures: list[Failure] = []
    flatten(None, root, chunks.append).addErrback(failures.append)
    if failures:
        failures[0].raiseException()
    return b"".join(chunks).decode("utf-8")


def _number(value: object) -> float | None:
    """``value`` if it is a finite number (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _ms(value: object) -> str:
    number = _number(value)
    if number is None:
        return _DASH
    if abs(number) < 0.005:
        number = 0.0  # no "-0.00 ms"
    if abs(number) < 10:
        return f"{number:.2f} ms"
    if abs(number) < 100:
        return f"{number:.1f} ms"
    return f"{number:,.0f} ms"


def _rate(value: object) -> str:
    number = _number(value)
    if number is None:
        return _DASH
    return f"{number:.2f}/s" if number < 100 else f"{number:,.0f}/s"


def _count(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return _DASH
    return f"{value:,}"


_LAST_TIME = 253402300799.0  # 9999-12-31 23:59:59 UTC


def _utc(timestamp: object, form: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    number = _number(timestamp)
    if number is None or not 0 <= number <= _LAST_TIME:
        return _DASH
    return time.strftime(form, time.gmtime(number))


def _clock(timestamp: object) -> str:
    return _utc(timestamp, "%H:%M:%S")


def _duration(seconds: object) -> str:
    number = _number(seconds)
    if number is None or not 0 <= number < 1e12:
        return _DASH
    whole = int(number)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def _ago(seconds: object) -> str:
    """How long ago, from seconds: ``0.4 s ago``, ``3 min 5 s ago``."""
    number = _number(seconds)
    if number is None or not 0 <= number < 1e12:
        return _DASH
    if number < 10:
        return f"{number:.1f} s ago"
    return f"{_duration(number)} ago"


def _svg(name: str, **attributes: str) -> Tag:
    """An SVG element (``tags`` knows only HTML names)."""
    return Tag(name)(**attributes)


def sparkline_tag(
    lines: Sequence[tuple[Sequence[float | None], str]],
    *,
    label: str,
    width: int = 150,
    height: int = 34,
) -> Tag:
    """
    An inline SVG chart of one or more series sharing a y axis from zero to their peak.

    ``lines`` pairs each series (oldest first; ``None`` leaves a gap) with a CSS colour.
    ``label`` is the chart's accessible name and tooltip.
    """
    values = [v for series, _ in lines for v in series if v is not None]
    peak = max(values, default=0.0)
    scale = peak if peak > 0 else 1.0
    svg = _svg(
        "svg", **{"class": "spark", "width": str(width), "height": str(height),
                  "viewBox": f"0 0 {width} {height}", "role": "img", "aria-label": label},
    )
    svg(
        _svg("title")(label),
        _svg("line", x1="0", y1=str(height - 1), x2=str(width), y2=str(height - 1),
             stroke="#d8dde3"),
    )
    for series, colour in lines:
        count = len(series)
        step = width / (count - 1) if count > 1 else 0.0
        segment: list[str] = []
        segments: list[list[str]] = []
        for index, value in enumerate(series):
            if value is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            x = index * step
            y = (height - 2) - (value / scale) * (height - 5)
            segment.append(f"{x:.1f},{y:.1f}")
        if segment:
            segments.append(segment)
        for points in segments:
            if len(points) == 1:
                cx, cy = points[0].split(",")
                svg(_svg("circle", cx=cx, cy=cy, r="1.6", fill=colour))
            else:
                svg(_svg("polyline", fill="none", stroke=colour, **{
                    "stroke-width": "1.4", "stroke-linejoin": "round",
                    "points": " ".join(points)}))
    return svg


def sparkline(
    lines: Sequence[tuple[Sequence[float | None], str]],
    *,
    label: str,
    width: int = 150,
    height: int = 34,
) -> str:
    """:func:`sparkline_tag` as HTML (``label`` is plain text: it is escaped)."""
    return _flat(sparkline_tag(lines, label=label, width=width, height=height))


def _peak(series: Iterable[float | None]) -> float | None:
    return max((v for v in series if v is not None), default=None)


def _window(item: Mapping[str, Any], minutes: str) -> Mapping[str, Any]:
    windows = item.get("windows")
    found = windows.get(minutes) if isinstance(windows, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def _words(counts: object, text: _Text, limit: int = 6) -> list[Tag | str]:
    if not isinstance(counts, Mapping) or not counts:
        return [_DASH]
    items = list(counts.items())
    shown: list[Tag | str] = []
    for key, value in items[:limit]:
        if shown:
            shown.append(", ")
        shown += [tags.code(text(key)), f"\u00a0{_count(value)}"]
    if len(items) > limit:
        shown.append(f", +{len(items) - limit} more")
    return shown


def _points(series: object) -> list[float | None]:
    if not isinstance(series, (list, tuple)):
        return []
    return [_number(value) for value in series[:500]]


def _charts(item: Mapping[str, Any], what: str, text: _Text) -> tuple[list[Tag], list[Tag]]:
    chart = item.get("chart")
    chart = chart if isinstance(chart, Mapping) else {}
    rate, p50, p99 = (_points(chart.get(name)) for name in ("calls_per_s", "p50_ms", "p99_ms"))
    peak_rate = _peak(rate)
    peak_p99 = _peak(p99)
    rate_label = text(f"{what}: calls per second, last 60 min, peak {_rate(peak_rate)}")
    latency_label = text(f"{what}: latency p50 and p99, last 60 min, peak p99 {_ms(peak_p99)}")
    return (
        [
            sparkline_tag([(rate, "#1565c0")], label=rate_label),
            tags.span(class_="legend")("peak ", tags.b(class_="k-rate")(_rate(peak_rate))),
        ],
        [
            sparkline_tag([(p50, "#2e7d32"), (p99, "#c62828")], label=latency_label),
            tags.span(class_="legend")(
                tags.b(class_="k-p50")("p50"), " / ", tags.b(class_="k-p99")("p99"),
                f" peak {_ms(peak_p99)}",
            ),
        ],
    )


def _badge(kind: str, words: str) -> Tag:
    return tags.span(class_=f"badge {kind}")(words)


def _state_badge(state: object, text: _Text) -> Tag:
    word = str(state).lower()
    kind = "ok" if word in _GOOD_STATES else "unknown" if word in _RESTING_STATES else "warn"
    return _badge(kind, text(state))


def _header(snapshot: Mapping[str, Any], text: _Text, refresh: int) -> Tag:
    return tags.header(
        tags.h1("fmzokx status"),
        tags.span(id="version")("version ", tags.b(text(snapshot.get("version", "?")))),
        tags.span(id="uptime")(
            "up ", tags.b(_duration(snapshot.get("uptime_s"))), " ",
            tags.span(class_="muted")(f"(since {_utc(snapshot.get('started'))})"),
        ),
        tags.span(class_="muted", id="generated")(
            f"as of {_utc(snapshot.get('now'))}; refreshes every {refresh} s"
        ),
    )


def _on_off(value: object) -> str:
    return "on" if value is True else "off" if value is False else _DASH


def _okx_section(okx: Mapping[str, Any], text: _Text) -> Tag:
    reachable = okx.get("reachable")
    if reachable is None:
        badge = _badge("unknown", "not checked yet")
    elif reachable:
        badge = _badge("ok", "reachable")
    else:
        badge = _badge("bad", "unreachable")
    offset = okx.get("clock_offset_ms")
    rows: list[tuple[str, Tag | str]] = [
        ("clock offset (OKX minus ours)", _ms(offset) if offset is not None else _DASH),
        ("last clock sync", _utc(okx.get("clock_synced_at"))),
        ("sync round trip", _ms(okx.get("clock_sync_rtt_ms"))),
        ("OKX base URL", tags.code(text(okx.get("base_url") or _DASH))),
        ("requests to OKX in flight", _count(okx.get("in_flight"))),
        ("docker calls in flight", _count(okx.get("rpc_in_flight"))),
        ("rate-limit pacing", _on_off(okx.get("rate_limits"))),
    ]
    error = okx.get("clock_sync_error")
    if error:
        rows.insert(0, ("last sync error", tags.span(class_="err")(text(error))))
    items = [part for name, value in rows for part in (tags.dt(name), tags.dd(value))]
    return tags.section(id="okx")(tags.h2("OKX ", badge), tags.dl(*items))


def _num(value: Tag | str, marked: bool = False) -> Tag:
    return tags.td(class_="num err" if marked else "num")(value)


def _calls_section(
    items: Sequence[Mapping[str, Any]], key: str, title: str, text: _Text
) -> Tag:
    section = tags.section(id="services" if key == "label" else "endpoints")(tags.h2(title))
    noun = "service label" if key == "label" else "endpoint"
    kinds = "errors by kind" if key == "label" else "OKX codes and HTTP errors"
    if not items:
        return section(tags.p(class_="muted")("No calls in the last 60 minutes."))
    table = tags.table(
        tags.tr(
            tags.th(rowspan="2")(noun),
            tags.th(class_="num grp", colspan="3")("last 5 min"),
            tags.th(class_="num grp", colspan="3")("last 60 min"),
            tags.th(rowspan="2")(f"{kinds}, 60 min"),
            tags.th(rowspan="2")("calls/s, 60 min"),
            tags.th(rowspan="2")("latency, 60 min"),
        ),
        tags.tr(*[
            tags.th(class_="num")(name)
            for name in ("calls", "errors", "p50 / p99") * 2
        ]),
    )
    for item in items:
        name = text(item.get(key, ""))
        short, hour = _window(item, "5"), _window(item, "60")
        rate_chart, latency_chart = _charts(item, name, text)
        kinds_seen: dict[str, Any] = {}
        if key == "path":
            codes = hour.get("codes")
            kinds_seen.update(codes if isinstance(codes, Mapping) else {})
        statuses = hour.get("statuses")
        if isinstance(statuses, Mapping):
            kinds_seen.update({k: v for k, v in statuses.items() if k != "200"})
        row = tags.tr(**{f"data-{key}": name})(tags.td(tags.code(name)))
        for window in (short, hour):
            errors = window.get("errors")
            row(
                _num(_count(window.get("calls"))),
                _num(_count(errors), _positive(errors)),
                _num(f"{_ms(window.get('p50_ms'))} / {_ms(window.get('p99_ms'))}"),
            )
        row(tags.td(*_words(kinds_seen, text)), tags.td(*rate_chart), tags.td(*latency_chart))
        table(row)
    return section(
        table,
        tags.p(class_="note")(
            "The 5-minute window is the current minute and the four before it. "
            "Latency percentiles come from 20%-wide bins."
        ),
    )


def _positive(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _share(used: object, limit: object) -> float:
    numerator, denominator = _number(used), _number(limit)
    if numerator is None or denominator is None or denominator <= 0:
        return 0.0
    return min(1.0, max(0.0, numerator / denominator))


def _budget_bar(used: object, limit: object) -> list[Tag | str]:
    share = _share(used, limit)
    return [
        tags.span(class_="bar hot" if share >= 0.8 else "bar")(
            tags.span(style=f"width:{share * 100:.0f}%")
        ),
        f"{_count(used)} of {_count(limit)}",
    ]


def _budgets_section(
    budgets: Sequence[Mapping[str, Any]], pacing: Sequence[Mapping[str, Any]], text: _Text
) -> Tag:
    section = tags.section(id="budgets")(tags.h2("Rate-limit budgets"))
    if budgets:
        table = tags.table(tags.tr(
            tags.th("scope"), tags.th("endpoint"), tags.th(class_="num")("in the window now"),
            tags.th("peak, 5 min"), tags.th("peak, 60 min"), tags.th(class_="num")("window"),
        ))
        for budget in budgets:
            limit = budget.get("limit")
            window = _number(budget.get("window_s"))
            table(tags.tr(**{"data-scope": text(budget.get("scope", ""))})(
                tags.td(text(budget.get("scope", _DASH))),
                tags.td(tags.code(text(budget.get("path", _DASH)))),
                _num(_count(budget.get("used"))),
                tags.td(*_budget_bar(budget.get("peak_5m"), limit)),
                tags.td(*_budget_bar(budget.get("peak_60m"), limit)),
                _num(f"{window:g} s" if window is not None else _DASH),
            ))
        section(table, tags.p(class_="note")(
            "Sends held in the busiest budget of each endpoint (per key or instrument where "
            "OKX counts that way) against OKX's limit; fmzokx queues calls rather than "
            "exceed it."
        ))
    else:
        section(tags.p(class_="muted")("No rate-limited call in the last 60 minutes."))
    if pacing:
        table = tags.table(tags.tr(
            tags.th("calls that waited for budget"), tags.th(class_="num")("5 min"),
            tags.th(class_="num")("60 min"), tags.th(class_="num")("longest wait, 60 min"),
        ))
        for item in pacing:
            short, hour = _window(item, "5"), _window(item, "60")
            table(tags.tr(
                tags.td(text(item.get("scope", _DASH))),
                _num(_count(short.get("waits"))),
                _num(_count(hour.get("waits"))),
                _num(_ms(hour.get("longest_ms"))),
            ))
        section(table)
    return section


def _orders_section(orders: Mapping[str, Any]) -> Tag:
    short = _window(orders, "5")
    hour = _window(orders, "60")
    total = orders.get("total")
    total = total if isinstance(total, Mapping) else {}
    table = tags.table(tags.tr(
        tags.th("outcome"), tags.th(class_="num")("5 min"), tags.th(class_="num")("60 min"),
        tags.th(class_="num")("since start"),
    ))
    for outcome, meaning in _ORDER_NAMES.items():
        marked = outcome == "unknown" and bool(total.get(outcome))
        table(tags.tr(**{"data-outcome": outcome})(
            tags.td(meaning),
            _num(_count(short.get(outcome, 0)), marked),
            _num(_count(hour.get(outcome, 0)), marked),
            _num(_count(total.get(outcome, 0)), marked),
        ))
    return tags.section(id="orders")(tags.h2("Orders"), table)


def _value(name: str, value: object, text: _Text) -> Tag | str:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and name.endswith("_at"):
        return _utc(value)
    if number and name.endswith("_ms"):
        return _ms(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (Mapping, list, tuple)):
        shown = json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)
        if len(shown) > 300:
            shown = shown[:299] + "\u2026"
        return tags.code(text(shown))
    if value is None:
        return _DASH
    return text(value)


def _fields_section(fields: Mapping[str, Any], text: _Text, section: str, title: str) -> Tag:
    """A state badge and the other fields of a flat component (the shared budget)."""
    heading = tags.h2(title)
    state = fields.get("state")
    if state is not None:
        heading(" ", _state_badge(state, text))
    items = [
        part
        for name, value in fields.items()
        if name != "state"
        for part in (tags.dt(text(name)), tags.dd(_value(str(name), value, text)))
    ]
    result = tags.section(id=section)(heading)
    return result(tags.dl(*items)) if items else result


_PRIVATE_COLUMNS = (
    "key", "demo", "state", "why", "push_age", "heard_age", "idle", "open_orders", "positions",
    "waiting_writes",
)


def _counts_table(counts: object, columns: tuple[str, ...], empty: str, text: _Text) -> Tag:
    """
    Counters keyed ``a/b/c`` (how reads were answered, differences per view) as a table
    with one column per part of the key, not a JSON object.
    """
    rows = sorted(counts.items()) if isinstance(counts, Mapping) else []
    if not rows:
        return tags.p(class_="muted")(empty)
    header = tags.tr(*(tags.th(name) for name in columns), tags.th(class_="num")("count"))
    table = tags.table(header)
    for key, count in rows:
        parts = (str(key).split("/", len(columns) - 1) + [_DASH] * len(columns))[:len(columns)]
        table(tags.tr(*(tags.td(text(part)) for part in parts), _num(_count(count))))
    return table


def _private_section(private: Mapping[str, Any], text: _Text) -> Tag:
    """The private WebSocket sessions: totals, then one row per API key (its fingerprint)."""
    section = tags.section(id="private-stream")(
        tags.h2("Private stream (account, positions, orders)")
    )
    totals = [
        part
        for name in ("count", "logged_in", "live")
        for part in (tags.dt(text(name)), tags.dd(_value(name, private.get(name), text)))
    ]
    section(tags.dl(*totals))
    section(_counts_table(
        private.get("answers"), ("read", "answered by", "why"), "No read answered yet.", text
    ))
    section(_counts_table(
        private.get("differences"), ("view",), "Reconciliation found no difference.", text
    ))
    sessions = _list(private.get("sessions"))
    if not sessions:
        return section(tags.p(class_="muted")("No key has a private session now."))
    table = tags.table(tags.tr(*(tags.th(name) for name in _PRIVATE_COLUMNS)))
    for session in sessions:
        table(tags.tr(*(
            tags.td(_value(name, session.get(name), text)) for name in _PRIVATE_COLUMNS
        )))
    return section(table)


def _stream_section(stream: Mapping[str, Any], text: _Text) -> Tag:
    """
    The market-data stream: a table of its WebSocket connections, then, per connection,
    a table of the channels subscribed on it.
    """
    heading = tags.h2("Market-data stream")
    status = stream.get("status")
    if status is not None:
        heading(" ", _state_badge(status, text))
    section = tags.section(id="stream")(heading)
    connections = _list(stream.get("connections"))
    channels = _list(stream.get("channels"))
    if not connections:
        return section(tags.p(class_="muted")(
            "No connection yet: the stream connects on the first ticker, depth or trades "
            "query."
        ))
    table = tags.table(tags.tr(
        tags.th("copy"), tags.th("connection"), tags.th("state"), tags.th(class_="num")("up"),
        tags.th(class_="num")("last message"), tags.th(class_="num")("connects"),
        tags.th(class_="num")("reconnects"), tags.th(class_="num")("channels"),
    ))
    for connection in connections:
        table(tags.tr(**{"data-connection": text(connection.get("url", ""))})(
            tags.td(text(connection.get("copy", _DASH))),
            tags.td(tags.code(text(connection.get("url", _DASH)))),
            tags.td(_state_badge(connection.get("state", _DASH), text)),
            _num(_duration(connection.get("up_s"))),
            _num(_ago(connection.get("quiet_s"))),
            _num(_count(connection.get("connects"))),
            _num(_count(connection.get("reconnects")), _positive(connection.get("reconnects"))),
            _num(_count(connection.get("channels"))),
        ))
    section(table)
    for connection in connections:
        key = (connection.get("copy"), connection.get("url"))
        rows = [row for row in channels if (row.get("copy"), row.get("url")) == key]
        if not rows:
            continue
        on = tags.table(tags.tr(
            tags.th("channel"), tags.th("instrument"), tags.th("state"),
            tags.th(class_="num")("in this state for"), tags.th(class_="num")("last push"),
            tags.th(class_="num")("resyncs in a row"),
        ))
        for row in rows:
            on(tags.tr(**{"data-channel": text(f"{row.get('channel', '')}:"
                                               f"{row.get('inst_id', '')}")})(
                tags.td(tags.code(text(row.get("channel", _DASH)))),
                tags.td(text(row.get("inst_id", _DASH))),
                tags.td(_state_badge(row.get("state", _DASH), text)),
                _num(_duration(row.get("for_s"))),
                _num(_ago(row.get("quiet_s"))),
                _num(_count(row.get("resyncs")), _positive(row.get("resyncs"))),
            ))
        section(
            tags.h3(f"{text(connection.get('copy', ''))} ", tags.code(text(key[1] or ""))),
            on,
        )
    total = stream.get("channels_total")
    if isinstance(total, int) and not isinstance(total, bool) and total > len(channels):
        section(tags.p(class_="note")(
            f"{len(channels):,} of {total:,} channels shown."
        ))
    return section


def _errors_section(errors: Sequence[Mapping[str, Any]], text: _Text) -> Tag:
    if not errors:
        return tags.section(id="errors")(
            tags.h2("Last errors"),
            tags.p(class_="muted")("No errors since the daemon started."),
        )
    table = tags.table(tags.tr(
        tags.th(class_="num")("time"), tags.th("label"), tags.th("method"), tags.th("message"),
    ))
    for error in errors:
        table(tags.tr(
            _num(_clock(error.get("time"))),
            tags.td(tags.code(text(error.get("label", "")))),
            tags.td(tags.code(text(error.get("method", "")))),
            tags.td(class_="msg")(text(error.get("message", ""))),
        ))
    return tags.section(id="errors")(
        tags.h2(f"Last {len(errors)} errors (newest first, UTC)"), table
    )


def _list(value: object) -> list[Mapping[str, Any]]:
    if not isinstance(value, (list, tuple)):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def render_page(
    snapshot: Mapping[str, Any],
    *,
    refresh: int = REFRESH_SECONDS,
    scrub: Callable[[str], str] | None = None,
) -> str:
    """
    The whole page for ``snapshot``.

    :param refresh: seconds between automatic reloads.
    :param scrub: applied to every piece of text before escaping (the daemon passes its
        credential mask, so nothing it has seen as a secret can reach the page).
    """
    text = _Text(scrub)
    okx = snapshot.get("okx")
    orders = snapshot.get("orders")
    stream = snapshot.get("stream")
    body = tags.body(
        _header(snapshot, text, refresh),
        _okx_section(okx if isinstance(okx, Mapping) else {}, text),
        _calls_section(
            _list(snapshot.get("services")), "label", "Docker calls by service label", text
        ),
        _calls_section(_list(snapshot.get("endpoints")), "path", "OKX endpoints", text),
        _budgets_section(_list(snapshot.get("budgets")), _list(snapshot.get("pacing")), text),
        _orders_section(orders if isinstance(orders, Mapping) else {}),
    )
    if isinstance(stream, Mapping):
        body(_stream_section(stream, text))
    shared = snapshot.get("shared_state")
    if isinstance(shared, Mapping):
        body(_fields_section(shared, text, "shared-state", "Shared rate budget (Redis)"))
    journal = snapshot.get("journal")
    if isinstance(journal, Mapping):
        body(_fields_section(journal, text, "journal", "Order journal"))
    private = snapshot.get("private_stream")
    if isinstance(private, Mapping):
        body(_private_section(private, text))
    body(_errors_section(_list(snapshot.get("errors")), text))
    page = tags.html(lang="en")(
        tags.head(
            tags.meta(charset="utf-8"),
            tags.meta(**{"http-equiv": "Content-Security-Policy",
                         "content": CONTENT_SECURITY_POLICY}),
            tags.meta(**{"http-equiv": "refresh", "content": str(int(refresh))}),
            tags.meta(name="viewport", content="width=device-width, initial-scale=1"),
            tags.meta(name="referrer", content="no-referrer"),
            tags.title(f"fmzokx {text(snapshot.get('version', ''))} status"),
            tags.style(STYLESHEET),
        ),
        body,
    )
    return "<!DOCTYPE html>\n" + _flat(page) + "\n"
