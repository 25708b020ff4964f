# -*- test-case-name: tests.status.test_page,tests.status.test_browser -*-
"""
The status page's stylesheet: inline (the page loads nothing, ``default-src 'none'``),
kept apart from the markup that uses it.
"""

from __future__ import annotations

__all__ = ["STYLESHEET"]

STYLESHEET = """
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
.bar span { display: block; height: 100%; background: var(--rate); }
.bar.hot span { background: var(--bad); }
h3 { font-size: 14px; margin: 12px 0 6px; font-weight: 600; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
"""
