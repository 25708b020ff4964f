"""
The table ``bench/run.py`` prints: medians of every figure, each daemon figure also as a
ratio to the floor (``bench/floor.py``, a bare twisted.web + treq proxy) measured in the
same run, and the targets of issue 17.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Protocol

from bench.adversarial import rows as adversarial_rows
from bench.scenarios import scenarios
from bench.stream import stream_rows

__all__ = ["render", "table"]


class Medians(Protocol):
    startups: list[float]
    tls_note: str
    market_data: bool

    def median(self, key: str) -> float | None: ...

    def lowest(self, key: str) -> float | None: ...


def _fmt(value: float | None, unit: str, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f} {unit}".strip()


def table(run: Medians) -> list[tuple[str, str, str, str]]:
    """Rows of (figure, median, target, met)."""
    m = run.median
    rows: list[tuple[str, str, str, str]] = []

    def met(value: float | None, ok: Callable[[float], bool]) -> str:
        if value is None:
            return "n/a"
        return "yes" if ok(value) else "NO"

    for s in scenarios():
        name = s.name
        rows.append((
            f"overhead {name} p50 (daemon {_fmt(m(f'overhead.{name}.daemon.p50'), 'ms', 3)}"
            f" - direct {_fmt(m(f'overhead.{name}.direct.p50'), 'ms', 3)})",
            _fmt(m(f"overhead.{name}.p50"), "ms", 3),
            "<= 1.5 ms" if name == "trade" else "",
            met(m(f"overhead.{name}.p50"), lambda v: v <= 1.5) if name == "trade" else "",
        ))
        if name == "trade":  # the floor has no trade: read this one against its target
            rows.append((
                f"overhead {name} p99 (daemon {_fmt(m(f'overhead.{name}.daemon.p99'), 'ms', 3)}"
                f" - direct {_fmt(m(f'overhead.{name}.direct.p99'), 'ms', 3)})",
                _fmt(m(f"overhead.{name}.p99"), "ms", 3), "", "",
            ))
            continue
        rows.append((
            f"  floor {name} p50 overhead (floor {_fmt(m(f'overhead.{name}.floor.p50'), 'ms', 3)}"
            " - direct)",
            _fmt(m(f"overhead.{name}.floor_p50"), "ms", 3), "", "",
        ))
        ratio = m(f"overhead.{name}.floor_ratio")
        rows.append((
            f"  daemon / floor {name} overhead p50", _fmt(ratio, "x", 2),
            "<= 1.15x" if name == "ticker" else "",
            met(ratio, lambda v: v <= 1.15) if name == "ticker" else "",
        ))
        rows.append((
            f"overhead {name} p99 (daemon {_fmt(m(f'overhead.{name}.daemon.p99'), 'ms', 3)}"
            f" - direct {_fmt(m(f'overhead.{name}.direct.p99'), 'ms', 3)})",
            _fmt(m(f"overhead.{name}.p99"), "ms", 3), "", "",
        ))
    for s in scenarios():
        cpu = m(f"cpu.{s.name}.ms")
        signed = s.name == "accounts"
        rows.append((f"daemon CPU per {s.name} RPC, 1 connection (floor "
                     f"{_fmt(m(f'cpu.{s.name}.floor_ms'), 'ms', 2)})",
                     _fmt(cpu, "ms", 2), "<= 0.70 ms" if signed else "",
                     met(cpu, lambda v: v <= 0.7) if signed else ""))
    for name, label in (("accounts", "accounts (signed, 1 upstream call per RPC)"),
                        ("ticker", "ticker (one upstream call per RPC)")):
        primary = name == "accounts"
        rows.append((f"throughput {label}, 50 conn",
                     _fmt(m(f"throughput.{name}.daemon.rps"), "req/s", 0), "", ""))
        rows.append((f"  floor {name}, same run",
                     _fmt(m(f"throughput.{name}.floor.rps"), "req/s", 0), "", ""))
        ratio = m(f"throughput.{name}.floor_ratio")
        low = run.lowest(f"throughput.{name}.floor_ratio")
        rows.append((f"  daemon / floor {name} (lowest repeat {_fmt(low, '', 2)})",
                     _fmt(ratio, "x", 2), ">= 0.97x always" if primary else "",
                     met(low, lambda v: v >= 0.97) if primary else ""))
        rows.append((f"  okxsim direct {name}, same run",
                     _fmt(m(f"throughput.{name}.direct.rps"), "req/s", 0), "", ""))
        rows.append((f"  daemon / direct {name}", _fmt(m(f"throughput.{name}.ratio"), "", 2),
                     "", ""))
        rows.append((f"  upstream calls per {name} RPC",
                     _fmt(m(f"throughput.{name}.upstream_ratio"), "", 3), "", ""))
        rows.append(("  new upstream connections per 100 RPCs",
                     _fmt(m(f"throughput.{name}.new_per_100"), "", 1), "", ""))
    for name in ("accounts", "ticker"):
        primary = name == "accounts"
        for side in ("daemon", "floor", "direct"):
            label = {"daemon": f"concurrency {name} p50 / p99, 20 conn, 50 ms",
                     "floor": f"  floor {name} p50 / p99",
                     "direct": f"  okxsim direct {name} p50 / p99"}[side]
            rows.append((label,
                         f"{_fmt(m(f'concurrency.{name}.{side}.p50'), '', 1)} / "
                         f"{_fmt(m(f'concurrency.{name}.{side}.p99'), 'ms', 1)}", "", ""))
        ratio = m(f"concurrency.{name}.floor_ratio_p99")
        rows.append((f"  daemon / floor {name} p99", _fmt(ratio, "x", 2),
                     "<= 1.10x" if primary else "",
                     met(ratio, lambda v: v <= 1.10) if primary else ""))
    if m("tls.daemon.p50") is None:
        rows.append(("TLS daemon ticker p50, 1 connection", run.tls_note or "n/a", "", ""))
    else:
        rows.append(("TLS daemon ticker p50 (pooled upstream)", _fmt(m("tls.daemon.p50"), "ms", 3),
                     "", ""))
    rows.append(("TLS daemon accounts (signed), 50 conn",
                 _fmt(m("tls.accounts50.rps"), "req/s", 0), "", ""))
    rows.append(("  TLS daemon accounts p99, 50 conn",
                 _fmt(m("tls.accounts50.p99"), "ms", 1), "", ""))
    rows.append(("  new upstream TLS connections per 100 RPCs",
                 _fmt(m("tls.accounts50.new_per_100"), "", 1), "0 if pooled", ""))
    rows.append(("TLS okxsim direct p50, pooled connection",
                 _fmt(m("tls.direct_pooled.p50"), "ms", 3), "", ""))
    rows.append(("TLS okxsim direct p50, new handshake per call",
                 _fmt(m("tls.direct_fresh.p50"), "ms", 3), "", ""))
    rows.append(("TLS pooled gain (handshake cost per call)",
                 _fmt(m("tls.handshake_cost"), "ms", 3), "", ""))
    orders = m("pagination.orders")
    rows.append((f"pagination orders, {orders:.0f} open orders" if orders else "pagination",
                 _fmt(m("pagination.wall_ms"), "ms", 1), "", ""))
    rows.append(("pagination upstream pages", _fmt(m("pagination.pages"), "", 0), "", ""))
    growth = m("memory.growth_mib")
    requests = m("memory.requests")
    rows.append(("memory RSS after warm-up", _fmt(m("memory.warm_mib"), "MiB", 1), "", ""))
    rows.append((f"memory RSS after {requests or 0:,.0f} more requests",
                 _fmt(m("memory.after_mib"), "MiB", 1), "", ""))
    rows.append(("memory growth", _fmt(growth, "MiB", 1), "<= 5 MB",
                 met(growth, lambda v: v * 1.048576 <= 5)))
    rows.extend(adversarial_rows(m))
    if run.market_data:
        rows.extend(stream_rows(m, _fmt, met))
    else:
        rows.append(("stream (WebSocket market data)", "n/a (no --market-data)", "", ""))
    startup = statistics.median(run.startups) if run.startups else None
    rows.append((f"start-up to first served request ({len(run.startups)} starts)",
                 _fmt(startup, "s", 2), "<= 1.5 s", met(startup, lambda v: v <= 1.5)))
    return rows


def render(rows: list[tuple[str, str, str, str]]) -> str:
    """A reST simple table (readable as plain text too)."""
    headers = ("Figure", "Median", "Target", "Met")
    widths = [max(len(headers[i]), *(len(r[i]) for r in rows)) for i in range(4)]
    rule = "  ".join("=" * w for w in widths)

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([rule, line(headers), rule, *(line(r) for r in rows), rule])
