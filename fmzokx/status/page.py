# -*- test-case-name: tests.status.test_page -*-
"""
The status page as one self-contained HTML document.

:func:`render_page` is a pure function of the snapshot dict
(:func:`fmzokx.status.snapshot.build_snapshot`): no I/O, no clock. The page has no
external assets and no script -- CSS and SVG charts are inline, and a
``<meta http-equiv="refresh">`` reloads it -- so it works on a box without internet and
under a ``default-src 'none'`` content security policy (:data:`CONTENT_SECURITY_POLICY`).
Every piece of text is HTML-escaped, and passed through ``scrub`` first when given.
Durations are shown in milliseconds throughout.
"""

from __future__ import annotations

import html
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

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

_CSS = """
:root { color-scheme: light; --ok: #1a7f37; --bad: #c62828; --warn: #b26a00;
  --muted: #5f6368; --line: #d8dde3; --rate: #1565c0; --p50: #2e7d32; --p99: #c62828; }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 20px 32px; font: 14px/1.45 system-ui, -apple-system,
  "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1f2328; background: #f6f8fa; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 18px;
  margin-bottom: 14px; }
h1 { font-size: 22px; margin: 0; }
h2 { font-size: 16px; margin: 0 0 8px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 12px 14px; margin-bottom: 14px; overflow-x: auto; }
.muted, .note { color: var(--muted); }
.note { font-size: 12px; margin: 6px 0 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 10px 4px 0; border-bottom: 1px solid var(--line);
  vertical-align: middle; white-space: nowrap; }
th { font-weight: 600; font-size: 12px; color: var(--muted); white-space: normal; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
th.grp { text-align: center; border-bottom: 1px solid var(--muted); }
table + table { margin-top: 12px; }
td.msg { white-space: normal; word-break: break-word; max-width: 70ch; }
tr:last-child td { border-bottom: 0; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 600;
  font-size: 12px; color: #fff; }
.badge.ok { background: var(--ok); } .badge.bad { background: var(--bad); }
.badge.unknown { background: var(--muted); } .badge.warn { background: var(--warn); }
.err { color: var(--bad); font-weight: 600; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 8px 0 0; }
dt { color: var(--muted); } dd { margin: 0; }
svg.spark { display: block; }
.legend { font-size: 11px; color: var(--muted); }
.legend b { font-weight: 600; }
.k-rate { color: var(--rate); } .k-p50 { color: var(--p50); } .k-p99 { color: var(--p99); }
.bar { display: inline-block; width: 120px; height: 10px; background: #e8ebef;
  border-radius: 5px; overflow: hidden; vertical-align: middle; margin-right: 6px; }
.bar > span { display: block; height: 100%; background: var(--rate); }
.bar.hot > span { background: var(--bad); }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
"""


def _identity(text: str) -> str:
    return text


class _Text:
    """Escapes (and scrubs) every value that becomes page text."""

    def __init__(self, scrub: Callable[[str], str] | None) -> None:
        self.scrub = scrub or _identity

    def __call__(self, value: object) -> str:
        return html.escape(self.scrub(str(value)), quote=True)


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


def sparkline(
    lines: Sequence[tuple[Sequence[float | None], str]],
    *,
    label: str,
    width: int = 150,
    height: int = 34,
) -> str:
    """
    An inline SVG chart of one or more series sharing a y axis from zero to their peak.

    ``lines`` pairs each series (oldest first; ``None`` leaves a gap) with a CSS colour.
    ``label`` (already escaped) is the chart's accessible name and tooltip.
    """
    values = [v for series, _ in lines for v in series if v is not None]
    peak = max(values, default=0.0)
    scale = peak if peak > 0 else 1.0
    parts = [
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{label}"><title>{label}</title>',
        f'<line x1="0" y1="{height - 1}" x2="{width}" y2="{height - 1}" stroke="#d8dde3"/>',
    ]
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
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="1.6" fill="{colour}"/>')
            else:
                parts.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="1.4" '
                    f'stroke-linejoin="round" points="{" ".join(points)}"/>'
                )
    parts.append("</svg>")
    return "".join(parts)


def _peak(series: Iterable[float | None]) -> float | None:
    return max((v for v in series if v is not None), default=None)


def _window(item: Mapping[str, Any], minutes: str) -> Mapping[str, Any]:
    windows = item.get("windows")
    found = windows.get(minutes) if isinstance(windows, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def _words(counts: object, text: _Text, limit: int = 6) -> str:
    if not isinstance(counts, Mapping) or not counts:
        return _DASH
    items = list(counts.items())
    shown = ", ".join(f"<code>{text(k)}</code>&nbsp;{_count(v)}" for k, v in items[:limit])
    return shown + (f", +{len(items) - limit} more" if len(items) > limit else "")


def _points(series: object) -> list[float | None]:
    if not isinstance(series, (list, tuple)):
        return []
    return [_number(value) for value in series[:500]]


def _charts(item: Mapping[str, Any], what: str, text: _Text) -> tuple[str, str]:
    chart = item.get("chart")
    chart = chart if isinstance(chart, Mapping) else {}
    rate, p50, p99 = (_points(chart.get(name)) for name in ("calls_per_s", "p50_ms", "p99_ms"))
    peak_rate = _peak(rate)
    peak_p99 = _peak(p99)
    rate_label = text(f"{what}: calls per second, last 60 min, peak {_rate(peak_rate)}")
    latency_label = text(f"{what}: latency p50 and p99, last 60 min, peak p99 {_ms(peak_p99)}")
    rate_svg = sparkline([(rate, "#1565c0")], label=rate_label)
    latency_svg = sparkline([(p50, "#2e7d32"), (p99, "#c62828")], label=latency_label)
    return (
        f'{rate_svg}<span class="legend">peak <b class="k-rate">{_rate(peak_rate)}</b></span>',
        f'{latency_svg}<span class="legend"><b class="k-p50">p50</b> / <b class="k-p99">p99'
        f"</b> peak {_ms(peak_p99)}</span>",
    )


def _header(snapshot: Mapping[str, Any], text: _Text, refresh: int) -> str:
    return (
        "<header><h1>fmzokx status</h1>"
        f'<span id="version">version <b>{text(snapshot.get("version", "?"))}</b></span>'
        f'<span id="uptime">up <b>{_duration(snapshot.get("uptime_s"))}</b> '
        f'<span class="muted">(since {_utc(snapshot.get("started"))})</span></span>'
        f'<span class="muted" id="generated">as of {_utc(snapshot.get("now"))}; '
        f"refreshes every {refresh} s</span></header>"
    )


def _on_off(value: object) -> str:
    return "on" if value is True else "off" if value is False else _DASH


def _okx_section(okx: Mapping[str, Any], text: _Text) -> str:
    reachable = okx.get("reachable")
    if reachable is None:
        badge = '<span class="badge unknown">not checked yet</span>'
    elif reachable:
        badge = '<span class="badge ok">reachable</span>'
    else:
        badge = '<span class="badge bad">unreachable</span>'
    offset = okx.get("clock_offset_ms")
    rows = [
        ("clock offset (OKX minus ours)", _ms(offset) if offset is not None else _DASH),
        ("last clock sync", _utc(okx.get("clock_synced_at"))),
        ("sync round trip", _ms(okx.get("clock_sync_rtt_ms"))),
        ("OKX base URL", f"<code>{text(okx.get('base_url') or _DASH)}</code>"),
        ("requests to OKX in flight", _count(okx.get("in_flight"))),
        ("docker calls in flight", _count(okx.get("rpc_in_flight"))),
        ("rate-limit pacing", _on_off(okx.get("rate_limits"))),
    ]
    error = okx.get("clock_sync_error")
    if error:
        rows.insert(0, ("last sync error", f'<span class="err">{text(error)}</span>'))
    items = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows)
    return f'<section id="okx"><h2>OKX {badge}</h2><dl>{items}</dl></section>'


def _calls_section(
    items: Sequence[Mapping[str, Any]], key: str, title: str, text: _Text
) -> str:
    section_id = "services" if key == "label" else "endpoints"
    noun = "service label" if key == "label" else "endpoint"
    kinds = "errors by kind" if key == "label" else "OKX codes and HTTP errors"
    if not items:
        return (
            f'<section id="{section_id}"><h2>{title}</h2>'
            f'<p class="muted">No calls in the last 60 minutes.</p></section>'
        )
    head = (
        f'<tr><th rowspan="2">{noun}</th><th class="num grp" colspan="3">last 5 min</th>'
        '<th class="num grp" colspan="3">last 60 min</th>'
        f'<th rowspan="2">{kinds}, 60 min</th><th rowspan="2">calls/s, 60 min</th>'
        '<th rowspan="2">latency, 60 min</th></tr><tr>'
        + '<th class="num">calls</th><th class="num">errors</th><th class="num">p50 / p99</th>'
        * 2
        + "</tr>"
    )
    rows = []
    for item in items:
        name = str(item.get(key, ""))
        short, hour = _window(item, "5"), _window(item, "60")
        rate_chart, latency_chart = _charts(item, name, text)
        kinds_seen: dict[str, Any] = {}
        if key == "path":
            codes = hour.get("codes")
            kinds_seen.update(codes if isinstance(codes, Mapping) else {})
        statuses = hour.get("statuses")
        if isinstance(statuses, Mapping):
            kinds_seen.update({k: v for k, v in statuses.items() if k != "200"})
        cells = [f"<td><code>{text(name)}</code></td>"]
        for window in (short, hour):
            cells += [
                f'<td class="num">{_count(window.get("calls"))}</td>',
                _error_cell(window.get("errors")),
                f'<td class="num">{_ms(window.get("p50_ms"))} / {_ms(window.get("p99_ms"))}</td>',
            ]
        cells += [
            f"<td>{_words(kinds_seen, text)}</td>",
            f"<td>{rate_chart}</td>",
            f"<td>{latency_chart}</td>",
        ]
        rows.append(f'<tr data-{key}="{text(name)}">{"".join(cells)}</tr>')
    note = (
        '<p class="note">The 5-minute window is the current minute and the four before it. '
        "Latency percentiles come from 20%-wide bins.</p>"
    )
    return (
        f'<section id="{section_id}"><h2>{title}</h2><table>{head}{"".join(rows)}</table>'
        f"{note}</section>"
    )


def _error_cell(value: object) -> str:
    marked = ' err' if isinstance(value, int) and not isinstance(value, bool) and value else ""
    return f'<td class="num{marked}">{_count(value)}</td>'


def _share(used: object, limit: object) -> float:
    numerator, denominator = _number(used), _number(limit)
    if numerator is None or denominator is None or denominator <= 0:
        return 0.0
    return min(1.0, max(0.0, numerator / denominator))


def _budget_bar(used: object, limit: object) -> str:
    share = _share(used, limit)
    hot = " hot" if share >= 0.8 else ""
    return (
        f'<span class="bar{hot}"><span style="width:{share * 100:.0f}%"></span></span>'
        f"{_count(used)} of {_count(limit)}"
    )


def _budgets_section(
    budgets: Sequence[Mapping[str, Any]], pacing: Sequence[Mapping[str, Any]], text: _Text
) -> str:
    parts = ['<section id="budgets"><h2>Rate-limit budgets</h2>']
    if budgets:
        rows = []
        for budget in budgets:
            limit = budget.get("limit")
            window = _number(budget.get("window_s"))
            rows.append(
                f'<tr data-scope="{text(budget.get("scope", ""))}">'
                f'<td>{text(budget.get("scope", _DASH))}</td>'
                f'<td><code>{text(budget.get("path", _DASH))}</code></td>'
                f'<td class="num">{_count(budget.get("used"))}</td>'
                f'<td>{_budget_bar(budget.get("peak_5m"), limit)}</td>'
                f'<td>{_budget_bar(budget.get("peak_60m"), limit)}</td>'
                f'<td class="num">{f"{window:g} s" if window is not None else _DASH}</td>'
                "</tr>"
            )
        parts.append(
            '<table><tr><th>scope</th><th>endpoint</th><th class="num">in the window now</th>'
            "<th>peak, 5 min</th><th>peak, 60 min</th>"
            f'<th class="num">window</th></tr>{"".join(rows)}</table>'
            '<p class="note">Sends held in the busiest budget of each endpoint (per key or '
            "instrument where OKX counts that way) against OKX's limit; fmzokx queues calls "
            "rather than exceed it.</p>"
        )
    else:
        parts.append('<p class="muted">No rate-limited call in the last 60 minutes.</p>')
    if pacing:
        rows = []
        for item in pacing:
            short, hour = _window(item, "5"), _window(item, "60")
            rows.append(
                f'<tr><td>{text(item.get("scope", _DASH))}</td>'
                f'<td class="num">{_count(short.get("waits"))}</td>'
                f'<td class="num">{_count(hour.get("waits"))}</td>'
                f'<td class="num">{_ms(hour.get("longest_ms"))}</td></tr>'
            )
        parts.append(
            '<table><tr><th>calls that waited for budget</th><th class="num">5 min</th>'
            '<th class="num">60 min</th><th class="num">longest wait, 60 min</th></tr>'
            f'{"".join(rows)}</table>'
        )
    parts.append("</section>")
    return "".join(parts)


def _orders_section(orders: Mapping[str, Any]) -> str:
    short = _window(orders, "5")
    hour = _window(orders, "60")
    total = orders.get("total")
    total = total if isinstance(total, Mapping) else {}
    rows = []
    for outcome, meaning in _ORDER_NAMES.items():
        marked = " err" if outcome == "unknown" and total.get(outcome) else ""
        rows.append(
            f'<tr data-outcome="{outcome}"><td>{meaning}</td>'
            f'<td class="num{marked}">{_count(short.get(outcome, 0))}</td>'
            f'<td class="num{marked}">{_count(hour.get(outcome, 0))}</td>'
            f'<td class="num{marked}">{_count(total.get(outcome, 0))}</td></tr>'
        )
    return (
        '<section id="orders"><h2>Orders</h2><table><tr><th>outcome</th>'
        '<th class="num">5 min</th><th class="num">60 min</th><th class="num">since start</th>'
        f'</tr>{"".join(rows)}</table></section>'
    )


def _value(name: str, value: object, text: _Text) -> str:
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
        return f"<code>{text(shown)}</code>"
    if value is None:
        return _DASH
    return text(value)


def _stream_section(
    stream: Mapping[str, Any], text: _Text, section: str = "stream",
    title: str = "Market-data stream",
) -> str:
    """A state badge and the other fields of a component (the stream, the shared budget)."""
    state = stream.get("state")
    badge = ""
    if state is not None:
        kind = {
            "connected": "ok", "open": "ok", "subscribed": "ok", "live": "ok", "shared": "ok",
            "ok": "ok",
        }.get(str(state).lower(), "warn")
        badge = f' <span class="badge {kind}">{text(state)}</span>'
    items = "".join(
        f"<dt>{text(name)}</dt><dd>{_value(str(name), value, text)}</dd>"
        for name, value in stream.items()
        if name != "state"
    )
    body = f"<dl>{items}</dl>" if items else ""
    return f'<section id="{section}"><h2>{title}{badge}</h2>{body}</section>'


def _errors_section(errors: Sequence[Mapping[str, Any]], text: _Text) -> str:
    if not errors:
        return (
            '<section id="errors"><h2>Last errors</h2>'
            '<p class="muted">No errors since the daemon started.</p></section>'
        )
    rows = "".join(
        f'<tr><td class="num">{_clock(error.get("time"))}</td>'
        f'<td><code>{text(error.get("label", ""))}</code></td>'
        f'<td><code>{text(error.get("method", ""))}</code></td>'
        f'<td class="msg">{text(error.get("message", ""))}</td></tr>'
        for error in errors
    )
    return (
        f'<section id="errors"><h2>Last {len(errors)} errors (newest first, UTC)</h2>'
        '<table><tr><th class="num">time</th><th>label</th><th>method</th><th>message</th>'
        f"</tr>{rows}</table></section>"
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
    sections = [
        _header(snapshot, text, refresh),
        _okx_section(okx if isinstance(okx, Mapping) else {}, text),
        _calls_section(
            _list(snapshot.get("services")), "label", "Docker calls by service label", text
        ),
        _calls_section(_list(snapshot.get("endpoints")), "path", "OKX endpoints", text),
        _budgets_section(_list(snapshot.get("budgets")), _list(snapshot.get("pacing")), text),
        _orders_section(orders if isinstance(orders, Mapping) else {}),
    ]
    if isinstance(stream, Mapping):
        sections.append(_stream_section(stream, text))
    shared = snapshot.get("shared_state")
    if isinstance(shared, Mapping):
        sections.append(
            _stream_section(shared, text, "shared-state", "Shared rate budget (Redis)")
        )
    journal = snapshot.get("journal")
    if isinstance(journal, Mapping):
        sections.append(_stream_section(journal, text, "journal", "Order journal"))
    sections.append(_errors_section(_list(snapshot.get("errors")), text))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        f'<meta http-equiv="refresh" content="{int(refresh)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>fmzokx {text(snapshot.get('version', ''))} status</title>"
        f"<style>{_CSS}</style></head><body>"
        + "".join(sections)
        + "</body></html>\n"
    )
