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

The lines are for people and log pipelines, not for debugging Python: no object reprs
(``<... object at 0x...>`` in a message becomes the object's public class name, and a
field holding an object is left out, an exception field keeps its message), and
``namespace`` is the module that logged, without class names or private modules
(``fmzokx.fmz.resource``, not ``...resource.RpcServer``). Twisted's "Starting
factory"/"Stopping factory" events, which say nothing the listening and closing lines
do not, are left out, and its legacy "<factory> starting on <port>" reads
"listening on port <port>".
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timezone
from typing import IO, Any

from twisted.logger import (
    FileLogObserver,
    FilteringLogObserver,
    ILogFilterPredicate,
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    PredicateResult,
    formatEvent,
)
from twisted.python.failure import Failure
from zope.interface import implementer

from fmzokx.logs import redact_event

__all__ = ["debug_observer", "event_as_line", "observer", "public_message", "public_namespace"]

# Fields Twisted adds to every event; the line carries their useful content under
# shorter names instead.
_RESERVED = ("time", "level", "namespace", "message", "failure", "system")


# Twisted's per-factory start/stop chatter: an object repr and nothing an operator needs.
_DROPPED_FORMATS = frozenset({"Starting factory {factory!r}", "Stopping factory {factory!r}"})
_OBJECT_REPR = re.compile(r"<(?:\S*\.)?_*([A-Za-z]\w*) object at 0x[0-9a-fA-F]+>")
_LEGACY_LISTEN = re.compile(r"^\S+ starting on (\S+)$")
_JSON_SCALARS = (str, int, float, bool, type(None))
_SURROGATE = re.compile(r"[\ud800-\udfff]")


@implementer(ILogFilterPredicate)
class _DropNoise:
    """Leaves out the events in :data:`_DROPPED_FORMATS`."""

    def __call__(self, event: dict[str, Any]) -> Any:
        if event.get("log_format") in _DROPPED_FORMATS:
            return PredicateResult.no
        return PredicateResult.maybe


def observer(out: IO[str] | None = None, level: LogLevel = LogLevel.info) -> ILogObserver:
    """
    An observer writing one JSON object per line to ``out`` (default: standard output)
    for events at ``level`` and above (default: info).

    ``twistd`` calls it with no arguments before it redirects ``sys.stdout`` into the log,
    so the observer keeps the real stream.
    """
    stream = out if out is not None else sys.stdout
    predicate = LogLevelFilterPredicate(defaultLogLevel=level)
    return FilteringLogObserver(FileLogObserver(stream, event_as_line), [_DropNoise(), predicate])


def debug_observer(out: IO[str] | None = None) -> ILogObserver:
    """Like :func:`observer`, with debug events too (each upstream OKX call)."""
    return observer(out, LogLevel.debug)


def event_as_line(event: dict[str, Any]) -> str:
    """Render one log event as a JSON line; never raises."""
    try:
        redact_event(event)
        line = json.dumps(_document(event), ensure_ascii=False, default=_fallback) + "\n"
        if not line.isascii() and _SURROGATE.search(line):
            # A lone surrogate cannot be written as UTF-8 (the write would fail outside
            # this function): escape everything instead.
            line = json.dumps(_document(event), default=_fallback) + "\n"
        return line
    except Exception as error:  # a log sink must not take the daemon down
        message = f"unloggable event: {type(error).__name__}: {public_message(str(error))}"
        return json.dumps({"level": "error", "message": message}) + "\n"


def public_namespace(namespace: str) -> str:
    """
    The module that logged, for the ``namespace`` field: class names (capitalised
    components) and private modules (``_twistd_unix``) are dropped;
    ``log_legacy`` (Twisted's old-style ``log.msg``) becomes ``twisted``.
    """
    if namespace == "log_legacy":
        return "twisted"
    kept = []
    for part in namespace.split("."):
        if not part or part[0].isupper() or part.startswith("_"):
            break
        kept.append(part)
    return ".".join(kept) or "-"


def public_message(text: str) -> str:
    """``text`` without object reprs, and Twisted's legacy listening line reworded."""
    listening = _LEGACY_LISTEN.match(text)
    if listening:
        return f"listening on port {listening.group(1)}"
    return _OBJECT_REPR.sub(lambda match: match.group(1), text)


def _message(event: dict[str, Any]) -> str:
    text = formatEvent(event)
    # Twisted answers an event it cannot format with the event's repr and tracebacks.
    if text.startswith(("MESSAGE LOST", "Unable to format event")):
        raise ValueError(f"its format {event.get('log_format')!r} cannot be filled in")
    return public_message(text)


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
        "namespace": public_namespace(str(event.get("log_namespace", ""))),
        "message": _message(event),
    }
    system = event.get("log_system")
    if system and system != "-":
        document["system"] = system
    for key, value in event.items():
        if key.startswith("log_") or key in _RESERVED or key == "format":
            continue
        plain = _plain(value)
        if plain is not _LEFT_OUT:
            document[key] = plain
    failure = event.get("log_failure")
    if isinstance(failure, Failure):
        document["failure"] = failure.getTraceback()
    return document


_LEFT_OUT = object()


def _plain(value: Any, depth: int = 0) -> Any:
    """A JSON value for a field, or ``_LEFT_OUT`` for an object (no reprs in the log)."""
    if isinstance(value, _JSON_SCALARS):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, BaseException):
        return public_message(str(value))
    if depth > 10:
        return _LEFT_OUT
    if isinstance(value, (set, frozenset)):
        return sorted(str(item) for item in value)
    if isinstance(value, (list, tuple)):
        items = [_plain(item, depth + 1) for item in value]
        return [item for item in items if item is not _LEFT_OUT]
    if isinstance(value, dict):
        pairs = {str(k): _plain(v, depth + 1) for k, v in value.items()}
        return {k: v for k, v in pairs.items() if v is not _LEFT_OUT}
    return _LEFT_OUT


def _fallback(value: Any) -> Any:
    # Only reached for a value _plain let through that json cannot encode (it has none
    # today); a class name is safe where a repr is not.
    return type(value).__name__
