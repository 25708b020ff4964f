# -*- test-case-name: tests.status.test_snapshot -*-
"""
Everything the status page shows, as one plain dict.

The page itself (:func:`fmzokx.status.page.render_page`) is a pure function of this
dict, so tests can render any state without a daemon. This module gathers the parts
that do not come from :class:`~fmzokx.status.history.History`: the version, the uptime,
OKX's reachability and clock offset (the ``/healthz`` document), rate-limit budget use
right now, and the market-data stream's state when the daemon has one. Free text that
did not come through the history (a clock-sync error, the stream's fields) is scrubbed
of known credentials here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fmzokx.logs import secrets
from fmzokx.status.history import History

__all__ = ["build_snapshot", "okx_health"]


def okx_health(health: Mapping[str, Any] | None, scrub: Callable[[str], str]) -> dict[str, Any]:
    """The OKX part of the page from the ``/healthz`` document (``None``: not known yet)."""
    if not health:
        return {"reachable": None}
    okx = health.get("okx")
    okx = okx if isinstance(okx, Mapping) else {}
    error = okx.get("clock_sync_error")
    offset = okx.get("clock_offset_s")
    rtt = okx.get("clock_sync_rtt_s")
    synced = bool(okx.get("clock_synced"))
    return {
        # Not yet synced and no error: the first clock sync is still under way.
        "reachable": (health.get("status") == "ok") if synced or error else None,
        "base_url": scrub(str(okx.get("okx_base_url") or "")),
        "clock_offset_ms": None if offset is None else round(float(offset) * 1000.0, 1),
        "clock_synced": synced,
        "clock_synced_at": okx.get("clock_synced_at"),
        "clock_sync_rtt_ms": None if rtt is None else round(float(rtt) * 1000.0, 1),
        "clock_sync_error": None if not error else scrub(str(error)),
        "in_flight": okx.get("in_flight"),
        "rate_limits": okx.get("rate_limits"),
        "rpc_in_flight": health.get("rpc_in_flight"),
    }


def _scrubbed(value: Any, scrub: Callable[[str], str], depth: int = 0) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if depth > 4:
        return None
    if isinstance(value, Mapping):
        return {scrub(str(k)): _scrubbed(v, scrub, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrubbed(v, scrub, depth + 1) for v in value[:50]]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return scrub(str(value))


def _journal_state(journal: Mapping[str, Any]) -> dict[str, Any]:
    state = (
        "stalled" if journal.get("stalled")
        else "ok" if journal.get("writable", True)
        else "unwritable"
    )
    return {"state": state, **journal}


def build_snapshot(
    history: History,
    *,
    version: str,
    started: float,
    health: Mapping[str, Any] | None = None,
    budgets: Iterable[Mapping[str, Any]] = (),
    stream: Mapping[str, Any] | None = None,
    shared: Mapping[str, Any] | None = None,
    journal: Mapping[str, Any] | None = None,
    private: Mapping[str, Any] | None = None,
    scrub: Callable[[str], str] = secrets.scrub,
) -> dict[str, Any]:
    """
    The status page's data.

    :param started: when the daemon started, on the history's clock.
    :param health: the ``/healthz`` document, or ``None`` before the first clock sync.
    :param budgets: rate-limit budget use right now, one mapping per limit with
        ``scope``, ``path``, ``used`` and ``limit`` (and ``window_s``).
    :param stream: the market-data stream's state (shown as given, scrubbed), if any.
    :param shared: the shared rate budget's state (``--shared-state``), if any.
    :param journal: the order journal's health (``Journal.health``), if it is open: its
        ``state`` is ``ok``, ``stalled`` (a frozen disk) or ``unwritable``.
    :param private: the private WebSocket sessions (``--private-stream on``): each by
        its key's fingerprint, never the key; scrubbed too.
    """
    snapshot = history.snapshot()
    snapshot.update(
        {
            "version": version,
            "started": started,
            "uptime_s": max(0.0, snapshot["now"] - started),
            "okx": okx_health(health, scrub),
            "budgets": [_scrubbed(dict(budget), scrub) for budget in budgets],
            "stream": None if stream is None else _scrubbed(dict(stream), scrub),
            "shared_state": None if shared is None else _scrubbed(dict(shared), scrub),
            "journal": None if journal is None else _scrubbed(_journal_state(journal), scrub),
            "private_stream": None if private is None else _scrubbed(dict(private), scrub),
        }
    )
    return snapshot
