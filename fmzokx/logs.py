# -*- test-case-name: tests.test_logs -*-
"""
Structured logging that cannot leak secrets.

The docker sends the OKX key, secret and passphrase on every request, so redaction sits
at the log sink rather than at call sites: every fmzokx :class:`Logger` is built by
:func:`logger`, whose events pass through :func:`redact_event` before any observer sees
them, and :func:`install_redaction` puts the same rule in front of every other observer
in the process (Twisted's own events included).

The rule has two parts:

- a field whose *name* says it holds a credential (``secret``, ``passphrase``,
  ``access_key``, ``sign``, ``OK-ACCESS-*``, ``authorization``, ``token``...) has its value
  replaced, whatever the value is;
- any *value* equal to or containing a credential this process has seen (see
  :class:`SecretRegistry`) is masked, wherever it appears in the event: nested
  containers, the format string, and the text of an attached failure.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from time import time as wall_time
from typing import Any

from twisted.logger import ILogObserver, Logger, LogLevel, LogPublisher, globalLogPublisher
from twisted.python.failure import Failure
from zope.interface import implementer

__all__ = [
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "SecretRegistry",
    "enabled",
    "install_redaction",
    "logger",
    "redact_event",
    "secrets",
    "set_level",
]

REDACTED = "<redacted>"

# Field names that hold credentials, whatever their value. Matched case-insensitively
# against the whole name or a ``_``/``-`` separated part of it.
_SECRET_NAME = re.compile(
    r"(^|[_\-.])(secret|secrets|secret_key|passphrase|password|passwd|access_key|api_key|"
    r"apikey|sign|signature|authorization|token|ok-access-key|ok-access-sign|"
    r"ok-access-passphrase|credential|credentials)($|[_\-.])",
    re.IGNORECASE,
)

# Values shorter than this are not scanned for (a 1-character "secret" would mask
# every log line); real OKX keys, secrets and passphrases are much longer.
MIN_SECRET_LENGTH = _MIN_SECRET_LENGTH = 6
# Up to this many values, scrub() tests each with ``in`` (C speed); past it, one indexed
# walk over the text is cheaper.
_LINEAR_SCAN = 48


_secret_names: dict[str, bool] = {}
_SECRET_NAMES_CACHED = 4096


def _is_secret_name(name: str) -> bool:
    # Every event asks this of each of its field names, and fields are few and repeat:
    # remember the answer (bounded, so names built from data cannot grow it).
    known = _secret_names.get(name)
    if known is not None:
        return known
    found = bool(_SECRET_NAME.search(name)) and not name.startswith("log_")
    if len(_secret_names) < _SECRET_NAMES_CACHED:
        _secret_names[name] = found
    return found


class SecretRegistry:
    """
    The credentials this process has handled recently, so log values can be masked.

    Bounded: at most ``capacity`` values (least recently used first out; the default
    holds the key, secret and passphrase of the last ~4,000 API keys, a few hundred
    kilobytes), so a stream of distinct keys cannot grow it without limit. Values added
    with ``pinned=True`` (the access token) are never evicted. A secret evicted here is
    still caught by the name rule wherever it travels in a named field.

    Adding a value is O(1). :meth:`scrub` tests each value with ``in`` while there are
    few (:data:`_LINEAR_SCAN` or fewer: one key is three values); past that it walks the
    text once, looking each position up in an index of the values' first
    :data:`_MIN_SECRET_LENGTH` characters, so its cost no longer grows with the number of
    keys. (One regular expression of every value, as before, cost ~30 ms to recompile
    for each new key and ~60 us per scrubbed string at 256 values, and every recompiled
    pattern stayed in ``re``'s cache: ~35 MB.)
    """

    def __init__(self, capacity: int = 12_288) -> None:
        self._capacity = capacity
        self._values: OrderedDict[str, None] = OrderedDict()
        self._pinned: set[str] = set()
        # Prefix -> values with that prefix, longest first; tuples, so a scrub running
        # in another thread never sees one change under it.
        self._by_prefix: dict[str, tuple[str, ...]] = {}
        self._longest_first: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def add(self, *values: str, pinned: bool = False) -> None:
        """Remember credential strings (empty and very short ones are ignored)."""
        with self._lock:
            for value in values:
                if len(value) < _MIN_SECRET_LENGTH:
                    continue
                if pinned:
                    self._pinned.add(value)
                if value in self._values:
                    self._values.move_to_end(value)
                    continue
                self._values[value] = None
                self._index(value)
                while len(self._values) - len(self._pinned) > self._capacity:
                    self._evict_oldest()
            self._longest_first = (
                tuple(sorted(self._values, key=len, reverse=True))
                if len(self._values) <= _LINEAR_SCAN else ()
            )

    def _index(self, value: str) -> None:
        prefix = value[:_MIN_SECRET_LENGTH]
        same = self._by_prefix.get(prefix, ())
        self._by_prefix[prefix] = tuple(sorted((*same, value), key=len, reverse=True))

    def _evict_oldest(self) -> None:
        for value in self._values:
            if value not in self._pinned:
                break
        else:
            return
        del self._values[value]
        prefix = value[:_MIN_SECRET_LENGTH]
        rest = tuple(v for v in self._by_prefix.get(prefix, ()) if v != value)
        if rest:
            self._by_prefix[prefix] = rest
        else:
            self._by_prefix.pop(prefix, None)

    def clear(self) -> None:
        """Forget every remembered secret (tests)."""
        with self._lock:
            self._values.clear()
            self._pinned.clear()
            self._by_prefix = {}
            self._longest_first = ()

    def __len__(self) -> int:
        return len(self._values)

    def scrub(self, text: str) -> str:
        """Return ``text`` with every remembered secret replaced by ``<redacted>``."""
        few = self._longest_first
        if few:
            for value in few:
                if value in text:
                    text = text.replace(value, REDACTED)
            return text
        by_prefix = self._by_prefix
        width = _MIN_SECRET_LENGTH
        if not by_prefix or len(text) < width:
            return text
        parts: list[str] = []
        done = 0
        position = 0
        last = len(text) - width
        while position <= last:
            candidates = by_prefix.get(text[position:position + width])
            if candidates is not None:
                for value in candidates:  # longest first
                    if text.startswith(value, position):
                        parts.append(text[done:position])
                        parts.append(REDACTED)
                        position = done = position + len(value)
                        break
                else:
                    position += 1
                continue
            position += 1
        if not parts:
            return text
        parts.append(text[done:])
        return "".join(parts)

    def __contains__(self, value: object) -> bool:
        return value in self._values


secrets = SecretRegistry()
"""The process-wide registry fed by credential parsing."""


def _scrub_value(value: Any, registry: SecretRegistry, depth: int = 0) -> Any:
    if depth > 20:
        return value
    if isinstance(value, str):
        return registry.scrub(value)
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
        scrubbed = registry.scrub(text)
        return value if scrubbed == text else scrubbed.encode("utf-8")
    if isinstance(value, dict):
        return {
            key: (REDACTED if isinstance(key, str) and _is_secret_name(key)
                  else _scrub_value(item, registry, depth + 1))
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub_value(item, registry, depth + 1) for item in value)
    return value


class _RedactedError(Exception):
    """Stands in for an exception whose text carried a secret."""


def _scrub_failure(failure: Failure, registry: SecretRegistry) -> Failure:
    message = failure.getErrorMessage()
    scrubbed = registry.scrub(message)
    if scrubbed == message:
        return failure
    name = failure.type.__name__ if failure.type is not None else "Error"
    return Failure(_RedactedError(f"{name}: {scrubbed}"))


def redact_event(event: dict[str, Any], registry: SecretRegistry | None = None) -> dict[str, Any]:
    """
    Apply the redaction rule to a log event **in place** and return it.

    In place, because observers later in a publisher's list see the same dict: the
    first observer to redact protects all of them.
    """
    if registry is None:
        registry = secrets
    for key in list(event):
        value = event[key]
        if key == "log_failure" and isinstance(value, Failure):
            event[key] = _scrub_failure(value, registry)
        elif key.startswith("log_"):
            if key in ("log_format", "log_text") and isinstance(value, str):
                event[key] = registry.scrub(value)
        elif _is_secret_name(key):
            event[key] = REDACTED
        else:
            event[key] = _scrub_value(value, registry)
    return event


@implementer(ILogObserver)
class RedactingObserver:
    """
    An observer that redacts each event, then hands it on.

    :ivar levels: the levels passed on (events of other levels are dropped unformatted);
        ``None`` passes everything.
    """

    def __init__(
        self, downstream: ILogObserver | None = None, levels: frozenset[LogLevel] | None = None
    ) -> None:
        self._downstream = downstream
        self.levels = levels

    def __call__(self, event: dict[str, Any]) -> None:
        if self.levels is not None and event.get("log_level") not in self.levels:
            return
        if self._downstream is not None and _from_redacting_logger(event):
            # Already redacted by the publisher every fmzokx logger emits through.
            self._downstream(event)
            return
        redact_event(event)
        downstream = self._downstream if self._downstream is not None else globalLogPublisher
        downstream(event)


def _from_redacting_logger(event: dict[str, Any]) -> bool:
    return getattr(event.get("log_logger"), "observer", None) is _redacting_publisher


_LEVELS = list(LogLevel.iterconstants())
_redacting_publisher = RedactingObserver(levels=frozenset(_LEVELS[_LEVELS.index(LogLevel.info):]))


def set_level(name: str) -> None:
    """
    Drop fmzokx events below ``name`` (``debug``, ``info``, ``warn``, ``error``,
    ``critical``) before they are formatted; the default is ``info``.

    ``twistd`` writes every event it receives, so this is where per-upstream-call debug
    events are kept out of production logs (``twistd fmzokx --log-level debug`` shows them).
    """
    level = LogLevel.levelWithName(name.strip().lower())
    _redacting_publisher.levels = frozenset(_LEVELS[_LEVELS.index(level):])


def enabled(level: LogLevel) -> bool:
    """Whether fmzokx events at ``level`` are written (to skip building one that is not)."""
    levels = _redacting_publisher.levels
    return levels is None or level in levels


def get_level() -> str:
    """The current threshold's name."""
    levels = _redacting_publisher.levels
    if levels is None:
        return "debug"
    name: str = min(levels, key=_LEVELS.index).name
    return name


_LEVEL_SET = frozenset(_LEVELS)


class _RedactedLogger(Logger):
    """
    A :class:`Logger` that drops an event below the threshold before building it.

    ``Logger.emit`` checks the level against a freshly sorted list of every level and
    builds the whole event before any observer may drop it; on the hot path (a debug
    event per upstream call, one info line per docker call) that was a visible share of
    each call's CPU. The event is otherwise the one ``Logger.emit`` builds.
    """

    def emit(self, level: LogLevel, format: str | None = None, **kwargs: object) -> None:
        if level not in _LEVEL_SET:
            super().emit(level, format, **kwargs)  # Twisted's own complaint
            return
        if not enabled(level):
            return
        kwargs.update(
            log_logger=self,
            log_level=level,
            log_namespace=self.namespace,
            log_source=self.source,
            log_format=format,
            log_time=wall_time(),  # an event's time is wall-clock, as in Logger.emit
        )
        trace = kwargs.get("log_trace")
        if trace is not None:
            trace.append((self, self.observer))  # type: ignore[attr-defined]
        self.observer(kwargs)


def logger(namespace: str) -> Logger:
    """
    A :class:`twisted.logger.Logger` whose events are redacted before any observer.

    Use it like ``Logger()``: ``log = logger(__name__)`` at module or class level.
    """
    return _RedactedLogger(namespace=namespace, observer=_redacting_publisher)


_installed: list[LogPublisher] = []


def install_redaction(publisher: LogPublisher = globalLogPublisher) -> None:
    """
    Make redaction the first observer of ``publisher`` (idempotent).

    Events that other libraries log straight to the global publisher then reach file
    and JSON observers already redacted. Called by the service makers.
    """
    if any(existing is publisher for existing in _installed):
        return
    observer = RedactingObserver(downstream=_discard)
    # Private Twisted API (pinned by tests/okx/test_twisted_private.py): LogPublisher
    # delivers to its observers in list order and has no public way to
    # prepend; under ``twist`` logging starts before makeService, so appending would
    # let the file observer see an event before it is redacted.
    observers = getattr(publisher, "_observers", None)
    if isinstance(observers, list):
        observers.insert(0, observer)
    else:
        publisher.addObserver(observer)
    _installed.append(publisher)


@implementer(ILogObserver)
class _Discard:
    """The first-observer redactor only mutates; the publisher delivers to the rest."""

    def __call__(self, event: dict[str, Any]) -> None:
        pass


_discard = _Discard()


def remember_credentials(values: Iterable[str]) -> None:
    """Register credential strings with the process-wide :data:`secrets` registry."""
    secrets.add(*values)
