# -*- test-case-name: tests.ops.test_jsonlog -*-
"""
One JSON object per line on stdout, for ``twistd --logger fmzokx.jsonlog.observer``
(``fmzokx.jsonlog.debug_observer`` adds debug events).

``twist --log-format=json`` already writes Twisted's own JSON event format, but each
record starts with an ASCII record separator (RFC 7464) and carries Twisted's internal
fields, which journald, Loki and ``jq`` without ``--seq`` handle poorly. ``twistd`` has
no JSON switch at all; its ``--logger`` option takes the dotted name of a callable that
returns an observer, which is what :func:`observer` is. Each line holds ``time`` (UTC,
ISO 8601), ``level``, ``namespace``, ``message`` (the formatted text), the event's own
fields (``method``, ``outcome``, ``duration``...) and, for errors, ``failure``.

Events pass through :func:`fmzokx.logs.redact_event` first (it is idempotent), so this
sink stays secret-free even if it is installed somewhere the daemon's own redaction is not.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from typing import IO, Any

from twisted.logger import (
    FileLogObserver,
    FilteringLogObserver,
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    formatEvent,
)
from twisted.python.failure import Failure

from fmzokx.logs import redact_event

__all__ = ["debug_observer", "event_as_line", "observer"]

# Fields Twisted adds to every event; the line carries their useful content under
# shorter names instead.
_RESERVED = ("time", "level", "namespace", "message", "failure", "system")


def observer(out: IO[str] | None = None, level: LogLevel = LogLevel.info) -> ILogObserver:
    """
    An observer writing one JSON object per line to ``out`` (default: standard output)
    for events at ``level`` and above (default: info).

    ``twistd`` calls it with no arguments before it redirects ``sys.stdout`` into the log,
    so the observer keeps the real stream.
    """
    stream = out if out is not None else sys.stdout
    predicate = LogLevelFilterPredicate(defaultLogLevel=level)
    return FilteringLogObserver(FileLogObserver(stream, event_as_line), [predicate])


def debug_observer(out: IO[str] | None = None) -> ILogObserver:
    """Like :func:`observer`, with debug events too (each upstream OKX call)."""
    return observer(out, LogLevel.debug)


def event_as_line(event: dict[str, Any]) -> str:
    """Render one log event as a JSON line; never raises."""
    try:
        redact_event(event)
        return json.dumps(_document(event), ensure_ascii=False, default=_fallback) + "\n"
    except Exception as error:  # a log sink must not take the daemon down
        return json.dumps({"level": "error", "message": f"unloggable event: {error!r}"}) + "\n"


def _document(event: dict[str, Any]) -> dict[str, Any]:
    level = event.get("log_level")
    stamp = event.get("log_time")
    document: dict[str, Any] = {
        "time": (
            datetime.fromtimestamp(stamp, tz=timezone.utc).isoformat(timespec="microseconds")
            if isinstance(stamp, (int, float))
            else None
        ),
        "level": getattr(level, "name", "info"),
        "namespace": event.get("log_namespace", ""),
        "message": formatEvent(event),
    }
    system = event.get("log_system")
    if system and system != "-":
        document["system"] = system
    for key, value in event.items():
        if key.startswith("log_") or key in _RESERVED or key == "format":
            continue
        document[key] = value
    failure = event.get("log_failure")
    if isinstance(failure, Failure):
        document["failure"] = failure.getTraceback()
    return document


def _fallback(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (set, frozenset)):
        return sorted(str(item) for item in value)
    return repr(value)
